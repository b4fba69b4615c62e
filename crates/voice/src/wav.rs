//! WAV in and out (hound): the batch endpoint, the CLI and the tests.

use std::io::Cursor;

use switchboard_core::speech::{AudioFrame, SpeechError, check_rate};

/// Longest WAV accepted, in seconds.
pub const MAX_WAV_SECONDS: f64 = 120.0;

/// Decodes a WAV (PCM 8/16/24/32-bit or float, any channel count: channels
/// are averaged to mono).
pub fn decode(bytes: &[u8]) -> Result<AudioFrame, SpeechError> {
    let mut reader =
        hound::WavReader::new(Cursor::new(bytes)).map_err(|e| SpeechError::BadAudio(format!("not a WAV file: {e}")))?;
    let spec = reader.spec();
    check_rate(spec.sample_rate)?;
    let channels = spec.channels.max(1) as usize;
    let frames = reader.duration() as f64;
    if frames / spec.sample_rate as f64 > MAX_WAV_SECONDS {
        return Err(SpeechError::BadAudio(format!("the audio is longer than {MAX_WAV_SECONDS} s")));
    }
    let bad = |e: hound::Error| SpeechError::BadAudio(format!("the WAV data is damaged: {e}"));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>().map_err(bad)?,
        hound::SampleFormat::Int => {
            let scale = (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader.samples::<i32>().map(|s| s.map(|v| v as f32 / scale)).collect::<Result<_, _>>().map_err(bad)?
        }
    };
    let samples = interleaved.chunks(channels).map(|c| c.iter().sum::<f32>() / channels as f32).collect();
    Ok(AudioFrame::new(spec.sample_rate, samples))
}

/// Decodes 16-bit PCM written by a program that streams it (espeak-ng
/// `--stdout`, PulseAudio's `parec`): the header is written before the
/// length is known, so its sizes are placeholders. Reads the format, then
/// every byte after `data`; channels are averaged to mono.
pub fn decode_streamed(bytes: &[u8]) -> Result<AudioFrame, SpeechError> {
    let bad = || SpeechError::BadAudio("not a 16-bit PCM WAV stream".into());
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad());
    }
    let mut pos = 12;
    let mut format = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().map_err(|_| bad())?) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            if body + 16 > bytes.len() {
                return Err(bad());
            }
            let channels = u16::from_le_bytes([bytes[body + 2], bytes[body + 3]]).max(1) as usize;
            let rate = u32::from_le_bytes(bytes[body + 4..body + 8].try_into().map_err(|_| bad())?);
            let bits = u16::from_le_bytes([bytes[body + 14], bytes[body + 15]]);
            if bits != 16 {
                return Err(bad());
            }
            format = Some((rate, channels));
        } else if id == b"data" {
            let (rate, channels) = format.ok_or_else(bad)?;
            let data = &bytes[body..];
            let interleaved = AudioFrame::from_pcm16_le(rate, &data[..data.len() - data.len() % 2])?;
            let samples =
                interleaved.samples.chunks(channels).map(|c| c.iter().sum::<f32>() / channels as f32).collect();
            return Ok(AudioFrame::new(rate, samples));
        }
        pos = body.saturating_add(size);
    }
    Err(bad())
}

/// Encodes mono 16-bit PCM.
pub fn encode(frame: &AudioFrame) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: frame.rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + frame.samples.len() * 2));
    {
        // Writing to memory cannot fail.
        let mut w = hound::WavWriter::new(&mut out, spec).expect("in-memory WAV");
        for s in &frame.samples {
            w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).expect("in-memory WAV");
        }
        w.finalize().expect("in-memory WAV");
    }
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let f = AudioFrame::new(22_050, (0..2205).map(|i| (i as f32 / 50.0).sin() * 0.3).collect());
        let bytes = encode(&f);
        let back = decode(&bytes).unwrap();
        assert_eq!((back.rate, back.samples.len()), (22_050, 2205));
        assert!(matches!(decode(b"RIFF....WAVEjunk"), Err(SpeechError::BadAudio(_))));
        assert!(matches!(decode(&bytes[..30]), Err(SpeechError::BadAudio(_))));
        assert!(matches!(decode(b""), Err(SpeechError::BadAudio(_))));
    }

    #[test]
    fn a_streamed_header_with_placeholder_sizes_is_read_to_the_end_and_mixed_to_mono() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"RIFF\xff\xff\xff\x7fWAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
        bytes.extend_from_slice(&2u16.to_le_bytes()); // stereo
        bytes.extend_from_slice(&16_000u32.to_le_bytes());
        bytes.extend_from_slice(&64_000u32.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&16u16.to_le_bytes());
        bytes.extend_from_slice(b"data\xff\xff\xff\x7f");
        for (l, r) in [(16384i16, 0i16), (-16384, -16384)] {
            bytes.extend_from_slice(&l.to_le_bytes());
            bytes.extend_from_slice(&r.to_le_bytes());
        }
        let a = decode_streamed(&bytes).unwrap();
        assert_eq!((a.rate, a.samples.len()), (16_000, 2));
        assert!((a.samples[0] - 0.25).abs() < 1e-3 && (a.samples[1] + 0.5).abs() < 1e-3, "{:?}", a.samples);
        assert!(decode_streamed(b"RIFF0000WAVE").is_err());
        assert!(decode_streamed(&bytes[..30]).is_err());
    }
}
