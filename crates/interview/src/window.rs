//! Sliding evaluation windows over final transcript lines, fed to the AI evaluator while the interview runs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::InterviewError;
use crate::transcript::TranscriptLine;

/// How transcript lines are grouped into [`EvaluationWindow`]s. See [`WindowBuffer`] for the exact semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct WindowConfig {
    /// A window is emitted as `full` once its lines span at least this long. Must be > 0.
    pub window_ms: u64,
    /// Lines ending within this much of a window's end are repeated at the start of the next window as context.
    /// Must be < `window_ms`.
    pub overlap_ms: u64,
    /// Minimum number of new lines before a window is emitted early or full. Must be ≥ 1.
    pub min_lines: usize,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig { window_ms: 20_000, overlap_ms: 10_000, min_lines: 2 }
    }
}

impl WindowConfig {
    /// Checks `window_ms > 0`, `overlap_ms < window_ms` and `min_lines >= 1`.
    pub fn validate(&self) -> Result<(), InterviewError> {
        if self.window_ms == 0 {
            return Err(InterviewError::invalid("window_ms", "must be greater than 0"));
        }
        if self.overlap_ms >= self.window_ms {
            return Err(InterviewError::invalid("overlap_ms", "must be less than window_ms"));
        }
        if self.min_lines == 0 {
            return Err(InterviewError::invalid("min_lines", "must be at least 1"));
        }
        Ok(())
    }
}

/// Why a window was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowReason {
    /// The buffered lines spanned at least `window_ms`.
    Full,
    /// The speaker changed, closing a turn early.
    SpeakerChange,
    /// [`WindowBuffer::finish`] flushed what was left at the end of the interview.
    Final,
}

/// A group of consecutive lines handed to the evaluator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EvaluationWindow {
    /// 0, 1, 2… in emission order.
    pub index: u64,
    /// `start_ms` of the first line.
    pub start_ms: u64,
    /// Latest end among the lines (a line with `end_ms < start_ms` counts as ending at its start).
    pub end_ms: u64,
    /// Sorted by `start_ms`, ties in push order. Starts with the context lines carried over from the previous
    /// window, if any.
    pub lines: Vec<TranscriptLine>,
    pub reason: WindowReason,
}

/// Groups final lines into overlapping [`EvaluationWindow`]s.
///
/// Terms: the buffer holds lines not yet dropped, sorted by `start_ms` (ties in push order, so a line transcribed
/// late still lands in place). A buffered line is *new* until it has been emitted in a window; lines kept from the
/// previous window are *context*. The span of the buffer is the latest line end minus the first `start_ms`.
///
/// [`push`](WindowBuffer::push) does, in order:
/// 1. **Speaker change.** If the pushed line's speaker differs from the previously pushed line's speaker and the
///    buffer holds at least `min_lines` new lines, the buffer *without* the pushed line is emitted as
///    [`WindowReason::SpeakerChange`]. The pushed line then joins the carried-over context (step 3) and `push`
///    returns.
/// 2. **Full.** Otherwise the line is added, and if the buffer now spans at least `window_ms` and holds at least
///    `min_lines` new lines, the whole buffer is emitted as [`WindowReason::Full`]. The window therefore covers at
///    least `window_ms` and exceeds it by at most the tail of the line that completed it (or of a long line).
/// 3. **Carry-over.** After any emission the buffer keeps only the lines that were new in that window and end within
///    its last `overlap_ms` (`end_ms + overlap_ms > window.end_ms`); they become context at the start of the next
///    window, so consecutive windows overlap by about `overlap_ms`. With `overlap_ms == 0` nothing is carried.
///
/// Consequences, which the tests check on random input:
/// - `min_lines` counts only new lines. Context alone never triggers a window, so a window always brings at least
///   `min_lines` lines the evaluator has not seen (and so has at least `min_lines` lines) — except the final one.
/// - A line is in at most two windows: the one where it is new and, as context, the next one. Context is never
///   carried twice, so rapid turn-taking does not re-send the same lines window after window.
/// - Every pushed line ends up in some window once [`finish`](WindowBuffer::finish) has run; no window is empty.
/// - `push` returns at most one window. If a speaker-change flush leaves a buffer that is already due, it is
///   emitted by the next `push` or by `finish`.
///
/// [`finish`](WindowBuffer::finish) emits the buffer as [`WindowReason::Final`] if it holds at least one new line,
/// even fewer than `min_lines`, since there will be no later chance; context-only leftovers are dropped silently.
/// The buffer is then empty, and the speaker history is forgotten, so it can be reused; `index` keeps counting.
#[derive(Debug, Clone)]
pub struct WindowBuffer {
    cfg: WindowConfig,
    buffer: Vec<Buffered>,
    new_lines: usize,
    last_speaker: Option<String>,
    next_index: u64,
}

#[derive(Debug, Clone)]
struct Buffered {
    line: TranscriptLine,
    is_new: bool,
}

impl WindowBuffer {
    /// Fails with `invalid` if the configuration does not pass [`WindowConfig::validate`].
    pub fn new(cfg: WindowConfig) -> Result<Self, InterviewError> {
        cfg.validate()?;
        Ok(WindowBuffer { cfg, buffer: Vec::new(), new_lines: 0, last_speaker: None, next_index: 0 })
    }

    pub fn config(&self) -> &WindowConfig {
        &self.cfg
    }

    /// Adds a final line; returns a window when one is due. See the type docs for the rules.
    pub fn push(&mut self, line: &TranscriptLine) -> Option<EvaluationWindow> {
        let speaker_changed = self.last_speaker.as_deref().is_some_and(|prev| prev != line.speaker);
        self.last_speaker = Some(line.speaker.clone());

        if speaker_changed && self.new_lines >= self.cfg.min_lines {
            let window = self.emit(WindowReason::SpeakerChange);
            self.insert(line.clone());
            return Some(window);
        }

        self.insert(line.clone());
        if self.new_lines >= self.cfg.min_lines && self.span() >= self.cfg.window_ms {
            return Some(self.emit(WindowReason::Full));
        }
        None
    }

    /// Flushes the remaining lines as a [`WindowReason::Final`] window if any of them is new.
    pub fn finish(&mut self) -> Option<EvaluationWindow> {
        let window = (self.new_lines > 0).then(|| self.emit(WindowReason::Final));
        self.buffer.clear();
        self.new_lines = 0;
        self.last_speaker = None;
        window
    }

    fn insert(&mut self, line: TranscriptLine) {
        let at = self.buffer.partition_point(|b| b.line.start_ms <= line.start_ms);
        self.buffer.insert(at, Buffered { line, is_new: true });
        self.new_lines += 1;
    }

    fn span(&self) -> u64 {
        match self.buffer.first() {
            Some(first) => self.latest_end().saturating_sub(first.line.start_ms),
            None => 0,
        }
    }

    fn latest_end(&self) -> u64 {
        self.buffer.iter().map(|b| effective_end(&b.line)).max().unwrap_or(0)
    }

    /// Emits the whole buffer and keeps the carry-over context. Callers guarantee the buffer is not empty.
    fn emit(&mut self, reason: WindowReason) -> EvaluationWindow {
        let start_ms = self.buffer.first().map_or(0, |b| b.line.start_ms);
        let end_ms = self.latest_end();
        let lines = self.buffer.iter().map(|b| b.line.clone()).collect();

        let overlap = self.cfg.overlap_ms;
        // Only lines new in this window are carried: context already carried once is not repeated again.
        self.buffer.retain(|b| b.is_new && effective_end(&b.line).saturating_add(overlap) > end_ms);
        for b in &mut self.buffer {
            b.is_new = false;
        }
        self.new_lines = 0;

        let index = self.next_index;
        self.next_index += 1;
        EvaluationWindow { index, start_ms, end_ms, lines, reason }
    }
}

/// A line whose end precedes its start (clock skew in the transcriber) is treated as instantaneous.
fn effective_end(line: &TranscriptLine) -> u64 {
    line.end_ms.max(line.start_ms)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn line(seq: u64, speaker: &str, start_s: u64, end_s: u64) -> TranscriptLine {
        TranscriptLine {
            seq,
            speaker: speaker.into(),
            text: format!("line {seq}"),
            start_ms: start_s * 1000,
            end_ms: end_s * 1000,
        }
    }

    fn seqs(w: &EvaluationWindow) -> Vec<u64> {
        w.lines.iter().map(|l| l.seq).collect()
    }

    /// Pushes all lines, then finishes; returns (index of the push that emitted, window).
    fn run(cfg: WindowConfig, lines: &[TranscriptLine]) -> Vec<(Option<usize>, EvaluationWindow)> {
        let mut buf = WindowBuffer::new(cfg).unwrap();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if let Some(w) = buf.push(l) {
                out.push((Some(i), w));
            }
        }
        if let Some(w) = buf.finish() {
            out.push((None, w));
        }
        out
    }

    #[test]
    fn config_validation() {
        assert_eq!(WindowConfig::default(), WindowConfig { window_ms: 20_000, overlap_ms: 10_000, min_lines: 2 });
        WindowConfig::default().validate().unwrap();
        WindowConfig { window_ms: 1, overlap_ms: 0, min_lines: 1 }.validate().unwrap();
        let bad = [
            (WindowConfig { window_ms: 0, overlap_ms: 0, min_lines: 1 }, "window_ms"),
            (WindowConfig { window_ms: 10, overlap_ms: 10, min_lines: 1 }, "overlap_ms"),
            (WindowConfig { window_ms: 10, overlap_ms: 11, min_lines: 1 }, "overlap_ms"),
            (WindowConfig { window_ms: 10, overlap_ms: 5, min_lines: 0 }, "min_lines"),
        ];
        for (cfg, field) in bad {
            let err = cfg.validate().unwrap_err();
            assert_eq!(err.code(), "invalid");
            assert!(matches!(err, InterviewError::Invalid { field: f, .. } if f == field), "{cfg:?}");
            assert!(WindowBuffer::new(cfg).is_err());
        }
    }

    #[test]
    fn config_deserialises_with_defaults() {
        let cfg: WindowConfig = serde_json::from_str(r#"{"window_ms": 30000}"#).unwrap();
        assert_eq!(cfg, WindowConfig { window_ms: 30_000, overlap_ms: 10_000, min_lines: 2 });
    }

    #[test]
    fn full_windows_overlap_by_overlap_ms() {
        // One speaker, back-to-back 5 s lines.
        let lines: Vec<_> = (0..7).map(|i| line(i + 1, "cand", i * 5, i * 5 + 5)).collect();
        let out = run(WindowConfig::default(), &lines);
        assert_eq!(out.len(), 3);

        let (at, w0) = &out[0];
        assert_eq!((*at, w0.index, w0.reason), (Some(3), 0, WindowReason::Full));
        assert_eq!((w0.start_ms, w0.end_ms), (0, 20_000));
        assert_eq!(seqs(w0), [1, 2, 3, 4]);

        // Lines 3 and 4 end within the last 10 s of window 0 and open window 1.
        let (at, w1) = &out[1];
        assert_eq!((*at, w1.index, w1.reason), (Some(5), 1, WindowReason::Full));
        assert_eq!((w1.start_ms, w1.end_ms), (10_000, 30_000));
        assert_eq!(seqs(w1), [3, 4, 5, 6]);

        let (at, w2) = &out[2];
        assert_eq!((*at, w2.index, w2.reason), (None, 2, WindowReason::Final));
        assert_eq!((w2.start_ms, w2.end_ms), (20_000, 35_000));
        assert_eq!(seqs(w2), [5, 6, 7]);
    }

    #[test]
    fn speaker_change_flushes_early_and_respects_min_lines() {
        let lines = [
            line(1, "int", 0, 3),
            line(2, "int", 3, 6),
            line(3, "cand", 6, 9), // change, 2 new lines buffered -> flush [1, 2]
            line(4, "cand", 9, 12),
            line(5, "int", 12, 14),  // change, new lines 3, 4 -> flush with context 1, 2
            line(6, "cand", 14, 16), // change, but only line 5 is new -> no flush
            line(7, "cand", 16, 17),
        ];
        let out = run(WindowConfig::default(), &lines);
        assert_eq!(out.len(), 3);

        let (at, w0) = &out[0];
        assert_eq!((*at, w0.index, w0.reason), (Some(2), 0, WindowReason::SpeakerChange));
        assert_eq!(seqs(w0), [1, 2]);
        assert_eq!((w0.start_ms, w0.end_ms), (0, 6_000));

        let (at, w1) = &out[1];
        assert_eq!((*at, w1.index, w1.reason), (Some(4), 1, WindowReason::SpeakerChange));
        assert_eq!(seqs(w1), [1, 2, 3, 4]);
        assert_eq!((w1.start_ms, w1.end_ms), (0, 12_000));

        // Lines 1 and 2 were context in window 1 and are not carried again.
        let (at, w2) = &out[2];
        assert_eq!((*at, w2.index, w2.reason), (None, 2, WindowReason::Final));
        assert_eq!(seqs(w2), [3, 4, 5, 6, 7]);
        assert_eq!((w2.start_ms, w2.end_ms), (6_000, 17_000));
    }

    #[test]
    fn single_line_turns_flush_with_min_lines_one() {
        let cfg = WindowConfig { min_lines: 1, ..WindowConfig::default() };
        let lines = [line(1, "a", 0, 1), line(2, "b", 1, 2), line(3, "a", 2, 3)];
        let out = run(cfg, &lines);
        let got: Vec<_> = out.iter().map(|(at, w)| (*at, w.reason, seqs(w))).collect();
        assert_eq!(
            got,
            [
                (Some(1), WindowReason::SpeakerChange, vec![1]),
                (Some(2), WindowReason::SpeakerChange, vec![1, 2]),
                (None, WindowReason::Final, vec![2, 3]),
            ]
        );
    }

    #[test]
    fn context_alone_never_makes_a_window() {
        let lines = [
            line(1, "a", 0, 5),
            line(2, "a", 5, 25),  // span 25 s, 2 new -> full [1, 2]; line 2 carried
            line(3, "a", 25, 50), // span 45 s but only 1 new line -> wait
            line(4, "a", 50, 52), // 2 new -> full [2, 3, 4]
        ];
        let out = run(WindowConfig::default(), &lines);
        let got: Vec<_> = out.iter().map(|(at, w)| (*at, w.reason, seqs(w), w.start_ms, w.end_ms)).collect();
        assert_eq!(
            got,
            [
                (Some(1), WindowReason::Full, vec![1, 2], 0, 25_000),
                (Some(3), WindowReason::Full, vec![2, 3, 4], 5_000, 52_000),
            ]
        );
        // Nothing new is left, so finish has nothing to say: only carried context remained.
    }

    #[test]
    fn no_overlap_carries_nothing() {
        let cfg = WindowConfig { window_ms: 10_000, overlap_ms: 0, min_lines: 1 };
        let lines: Vec<_> = (0..5).map(|i| line(i + 1, "a", i * 5, i * 5 + 5)).collect();
        let out = run(cfg, &lines);
        let got: Vec<_> = out.iter().map(|(_, w)| (w.reason, seqs(w))).collect();
        assert_eq!(
            got,
            [(WindowReason::Full, vec![1, 2]), (WindowReason::Full, vec![3, 4]), (WindowReason::Final, vec![5]),]
        );
    }

    #[test]
    fn finish_on_empty_and_twice() {
        let mut buf = WindowBuffer::new(WindowConfig::default()).unwrap();
        assert_eq!(buf.finish(), None);
        assert_eq!(buf.push(&line(1, "a", 0, 1)), None);
        let w = buf.finish().unwrap();
        assert_eq!((w.index, w.reason, seqs(&w)), (0, WindowReason::Final, vec![1]));
        assert_eq!(buf.finish(), None);
        // Reusable after finish; the speaker history is gone, so "b" is not a change, and indices keep counting.
        assert_eq!(buf.push(&line(2, "b", 5, 6)), None);
        assert_eq!(buf.push(&line(3, "c", 6, 7)), None);
        assert_eq!(buf.push(&line(4, "d", 7, 8)).map(|w| (w.index, seqs(&w))), Some((1, vec![2, 3])));
    }

    #[test]
    fn late_line_is_placed_in_time_order() {
        let mut buf = WindowBuffer::new(WindowConfig::default()).unwrap();
        assert_eq!(buf.push(&line(1, "a", 0, 2)), None);
        assert_eq!(buf.push(&line(2, "a", 6, 8)), None);
        // Transcribed late, started before line 2.
        let w = buf.push(&line(3, "a", 3, 21)).unwrap();
        assert_eq!(seqs(&w), [1, 3, 2]);
        assert_eq!((w.start_ms, w.end_ms, w.reason), (0, 21_000, WindowReason::Full));
    }

    /// Deterministic 64-bit LCG (Knuth's MMIX constants); the high bits are the usable ones.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_lines(seed: u64, n: usize) -> Vec<TranscriptLine> {
        let mut rng = Lcg(seed);
        let speakers = ["int", "cand", "agent"];
        let mut speaker = 0;
        let mut clock = 0u64;
        (1..=n as u64)
            .map(|seq| {
                if rng.below(10) < 4 {
                    speaker = rng.below(3) as usize;
                }
                clock += rng.below(3_000);
                let mut start = clock;
                if rng.below(10) == 0 {
                    start = start.saturating_sub(rng.below(4_000)); // finished late on another thread
                }
                let end = match rng.below(20) {
                    0 => start,                              // zero-length
                    1 => start.saturating_sub(50),           // skewed clock
                    2 => start + 30_000 + rng.below(30_000), // long monologue
                    _ => start + rng.below(8_000),
                };
                TranscriptLine {
                    seq,
                    speaker: speakers[speaker].into(),
                    text: format!("t{seq}"),
                    start_ms: start,
                    end_ms: end,
                }
            })
            .collect()
    }

    fn check_invariants(cfg: WindowConfig, lines: &[TranscriptLine]) -> Vec<WindowReason> {
        let out = run(cfg, lines);
        let windows: Vec<_> = out.into_iter().map(|(_, w)| w).collect();
        let mut seen_in: HashMap<u64, Vec<u64>> = HashMap::new();
        for (i, w) in windows.iter().enumerate() {
            assert_eq!(w.index, i as u64, "indices count from 0");
            assert!(!w.lines.is_empty(), "no empty window");
            let is_last = i + 1 == windows.len();
            if w.reason == WindowReason::Final {
                assert!(is_last, "only the last window may be final");
            } else {
                assert!(w.lines.len() >= cfg.min_lines, "{cfg:?} window {i} has {} lines", w.lines.len());
                let new = w.lines.iter().filter(|l| !seen_in.contains_key(&l.seq)).count();
                assert!(new >= cfg.min_lines, "{cfg:?} window {i} brings only {new} new lines");
            }
            assert!(w.lines.windows(2).all(|p| p[0].start_ms <= p[1].start_ms), "window {i} out of time order");
            assert_eq!(w.start_ms, w.lines[0].start_ms);
            assert_eq!(w.end_ms, w.lines.iter().map(|l| l.end_ms.max(l.start_ms)).max().unwrap());
            if w.reason == WindowReason::Full {
                assert!(w.end_ms - w.start_ms >= cfg.window_ms);
            }
            for l in &w.lines {
                seen_in.entry(l.seq).or_default().push(w.index);
            }
        }
        for l in lines {
            let ws = seen_in.get(&l.seq).unwrap_or_else(|| panic!("{cfg:?}: line {} never emitted", l.seq));
            assert!(ws.len() <= 2, "{cfg:?}: line {} in windows {ws:?}", l.seq);
            if let [a, b] = ws[..] {
                assert_eq!(b, a + 1, "a repeated line is context in the very next window only");
            }
        }
        windows.iter().map(|w| w.reason).collect()
    }

    #[test]
    fn random_streams_keep_invariants() {
        let configs = [
            WindowConfig::default(),
            WindowConfig { min_lines: 1, ..WindowConfig::default() },
            WindowConfig { window_ms: 5_000, overlap_ms: 0, min_lines: 1 },
            WindowConfig { window_ms: 10_000, overlap_ms: 9_999, min_lines: 3 },
            WindowConfig { window_ms: 60_000, overlap_ms: 30_000, min_lines: 5 },
            WindowConfig { window_ms: 1, overlap_ms: 0, min_lines: 1 },
        ];
        let mut reasons = std::collections::HashSet::new();
        for seed in 0..20 {
            let lines = random_lines(seed, 400);
            for cfg in configs {
                reasons.extend(check_invariants(cfg, &lines));
            }
        }
        // Guard against a generator too tame to exercise every path.
        assert_eq!(reasons.len(), 3, "{reasons:?}");
    }
}
