//! Streaming sample-rate conversion with rubato's FFT resampler. Callers run
//! it off the async runtime (the call's audio thread, or `spawn_blocking`).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler as _};
use switchboard_core::speech::{AudioFrame, SpeechError, check_rate};

/// Converts a stream of mono audio from one rate to another, chunk by chunk,
/// keeping the filter's state between pushes. The filter delay is trimmed
/// from the start and drained by [`Resampler::flush`], so the output
/// lines up with the input.
pub struct Resampler {
    from: u32,
    to: u32,
    inner: Option<Fft<f32>>,
    chunk: usize,
    pending: Vec<f32>,
    out: Vec<f32>,
    /// Output samples still to drop (the filter's delay).
    skip: usize,
    consumed: u64,
    produced: u64,
}

impl Resampler {
    pub fn new(from: u32, to: u32) -> Result<Self, SpeechError> {
        check_rate(from)?;
        check_rate(to)?;
        if from == to {
            return Ok(Self {
                from,
                to,
                inner: None,
                chunk: 0,
                pending: vec![],
                out: vec![],
                skip: 0,
                consumed: 0,
                produced: 0,
            });
        }
        // 10 ms chunks keep the added delay small for live audio.
        let chunk = (from as usize / 100).max(64);
        let inner = Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input)
            .map_err(|e| SpeechError::BadAudio(format!("cannot resample {from} Hz to {to} Hz: {e}")))?;
        let out = vec![0.0; inner.output_frames_max()];
        let skip = inner.output_delay();
        Ok(Self { from, to, inner: Some(inner), chunk, pending: Vec::new(), out, skip, consumed: 0, produced: 0 })
    }

    pub fn from(&self) -> u32 {
        self.from
    }

    /// Resamples what can be resampled now; the rest waits for more input.
    pub fn push(&mut self, input: &[f32]) -> Vec<f32> {
        self.consumed += input.len() as u64;
        let Some(inner) = self.inner.as_mut() else {
            self.produced += input.len() as u64;
            return input.to_vec();
        };
        self.pending.extend_from_slice(input);
        let mut result = Vec::with_capacity(input.len() * self.to as usize / self.from as usize + 16);
        let mut start = 0;
        while self.pending.len() - start >= self.chunk {
            let slice = &self.pending[start..start + self.chunk];
            Self::run(inner, slice, None, &mut self.out, &mut self.skip, &mut result);
            start += self.chunk;
        }
        self.pending.drain(..start);
        self.produced += result.len() as u64;
        result
    }

    /// Ends the stream: resamples what is pending and drains the filter, so
    /// the total output is the input's length converted to the new rate.
    pub fn flush(&mut self) -> Vec<f32> {
        let Some(inner) = self.inner.as_mut() else { return Vec::new() };
        let want = (self.consumed as f64 * self.to as f64 / self.from as f64).round() as u64;
        let mut result = Vec::new();
        let mut guard = 0;
        while self.produced + (result.len() as u64) < want && guard < 64 {
            let n = self.pending.len().min(self.chunk);
            let mut slice = vec![0.0; self.chunk];
            slice[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            Self::run(inner, &slice, Some(n), &mut self.out, &mut self.skip, &mut result);
            guard += 1;
        }
        let keep = want.saturating_sub(self.produced) as usize;
        result.truncate(keep);
        self.produced += result.len() as u64;
        inner.reset();
        self.skip = inner.output_delay();
        self.consumed = 0;
        self.produced = 0;
        result
    }

    fn run(
        inner: &mut Fft<f32>,
        input: &[f32],
        partial: Option<usize>,
        out: &mut [f32],
        skip: &mut usize,
        result: &mut Vec<f32>,
    ) {
        let frames = input.len();
        let out_len = out.len();
        let (Ok(buf_in), Ok(mut buf_out)) =
            (InterleavedSlice::new(input, 1, frames), InterleavedSlice::new_mut(out, 1, out_len))
        else {
            return;
        };
        let indexing = partial.map(|n| Indexing::new().partial_len(n));
        // Sizes are fixed at construction, so this cannot fail on our input.
        let Ok((_, written)) = inner.process_into_buffer(&buf_in, &mut buf_out, indexing.as_ref()) else { return };
        let drop = (*skip).min(written);
        *skip -= drop;
        result.extend_from_slice(&out[drop..written]);
    }

    /// Resamples a whole clip.
    pub fn convert(frame: &AudioFrame, to: u32) -> Result<AudioFrame, SpeechError> {
        if frame.rate == to {
            return Ok(frame.clone());
        }
        let mut r = Resampler::new(frame.rate, to)?;
        let mut samples = r.push(&frame.samples);
        samples.extend(r.flush());
        Ok(AudioFrame::new(to, samples))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (i as f32 * hz * std::f32::consts::TAU / rate as f32).sin() * 0.5)
            .collect()
    }

    /// Zero crossings per second: twice the frequency of a pure tone.
    fn frequency(samples: &[f32], rate: u32) -> f32 {
        let crossings = samples.windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count();
        crossings as f32 / (samples.len() as f32 / rate as f32)
    }

    #[test]
    fn a_tone_keeps_its_pitch_and_length_across_common_rates() {
        for (from, to) in
            [(48_000, 16_000), (44_100, 16_000), (22_050, 48_000), (16_000, 24_000), (8_000, 16_000), (16_000, 16_000)]
        {
            let input = tone(from, 440.0, 1.0);
            let mut r = Resampler::new(from, to).unwrap();
            let mut out = Vec::new();
            // Odd piece sizes, as a network delivers them.
            for piece in input.chunks(333) {
                out.extend(r.push(piece));
            }
            out.extend(r.flush());
            assert_eq!(out.len(), to as usize, "{from}->{to}: one second in, one second out");
            let f = frequency(&out[to as usize / 10..to as usize * 9 / 10], to);
            assert!((f - 440.0).abs() < 5.0, "{from}->{to}: {f} Hz");
        }
    }

    #[test]
    fn rates_outside_the_range_are_refused() {
        assert!(Resampler::new(1_000, 16_000).is_err());
        assert!(Resampler::new(16_000, 500_000).is_err());
    }
}
