//! # switchboard-interview
//!
//! Owns the interview transcript of one LiveKit room — interviewer, candidate and the AI agent — as pure data
//! and logic: no IO, no async, no framework. The app feeds it final speech-to-text segments and asks it for
//! evaluation windows and downloadable exports.
//!
//! - [`Transcript`]: speakers (by LiveKit identity, insertion ordered) and final lines.
//! - [`WindowBuffer`]: groups lines into overlapping [`EvaluationWindow`]s for the AI evaluator.
//! - [`export`]: TXT, WebVTT, SRT, Markdown and JSON renderings.
//!
//! Invariants:
//! - Only final transcripts are lines; times are milliseconds since the room's transcript started.
//! - [`Transcript::lines`] is always sorted by `start_ms` (ties: arrival order), even when lines are pushed out of
//!   order, and each line has a unique `seq` assigned in arrival order from 1.
//! - Speaker identities are unique; display names set by [`Transcript::rename`] are 1–80 characters after
//!   trimming with no control characters. Lines always reference speakers by identity, so renaming re-labels
//!   the whole transcript.
//! - A [`WindowBuffer`] emits every pushed line in at least one and at most two windows (the second time only
//!   as context at the start of the next window); every window but the final flush brings at least `min_lines`
//!   new lines.
//! - Exported subtitle cues always end after they start and never span more than one text line.
//!
//! Every error is an [`InterviewError`] with a stable [`code`](InterviewError::code).

mod error;
mod export;
mod transcript;
mod window;

pub use error::InterviewError;
pub use export::{ExportFormat, ExportedLine, MIN_CUE_MS, TranscriptExport, export};
pub use transcript::{MAX_NAME_CHARS, Speaker, SpeakerRole, Transcript, TranscriptLine};
pub use window::{EvaluationWindow, WindowBuffer, WindowConfig, WindowReason};

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::*;

    /// The public data types are meant to be documented in the app's OpenAPI spec under these names.
    #[test]
    fn schemas_have_stable_names() {
        use utoipa::ToSchema;
        assert_eq!(SpeakerRole::name(), "SpeakerRole");
        assert_eq!(Speaker::name(), "Speaker");
        assert_eq!(TranscriptLine::name(), "TranscriptLine");
        assert_eq!(EvaluationWindow::name(), "EvaluationWindow");
        assert_eq!(WindowReason::name(), "WindowReason");
        assert_eq!(WindowConfig::name(), "WindowConfig");
        assert_eq!(ExportFormat::name(), "ExportFormat");
        assert_eq!(TranscriptExport::name(), "TranscriptExport");
        let role = serde_json::to_value(SpeakerRole::schema()).unwrap();
        assert_eq!(role["enum"], serde_json::json!(["interviewer", "candidate", "agent", "participant"]));
    }

    /// The flow the app runs: lines arrive, go into the transcript and the window buffer, then get exported.
    #[test]
    fn end_to_end() {
        let mut t = Transcript::new();
        t.add_speaker("i", "Ivy", SpeakerRole::Interviewer);
        t.add_speaker("c", "Cal", SpeakerRole::Candidate);
        let mut windows = WindowBuffer::new(WindowConfig::default()).unwrap();
        let mut emitted = Vec::new();
        for (i, (who, text)) in
            [("i", "Hi"), ("i", "Ready?"), ("c", "Yes"), ("c", "Go"), ("i", "Ok")].iter().enumerate()
        {
            let start = i as u64 * 2_000;
            let seq = t.push(TranscriptLine::new(*who, *text, start, start + 1_500));
            let line = t.lines().iter().find(|l| l.seq == seq).unwrap().clone();
            emitted.extend(windows.push(&line));
        }
        emitted.extend(windows.finish());
        let reasons: Vec<_> = emitted.iter().map(|w| w.reason).collect();
        assert_eq!(reasons, [WindowReason::SpeakerChange, WindowReason::SpeakerChange, WindowReason::Final]);
        assert_eq!(export(&t, "txt".parse().unwrap()).lines().count(), 5);
    }
}
