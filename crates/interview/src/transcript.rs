//! Speakers and the time-ordered list of final transcript lines.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::InterviewError;

/// Longest display name accepted by [`Transcript::rename`], in Unicode scalar values (not bytes).
pub const MAX_NAME_CHARS: usize = 80;

/// What a participant is in the interview room.
///
/// Named `SpeakerRole` rather than `Role` so its OpenAPI schema cannot clash with an access-control role elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpeakerRole {
    /// The human running the interview.
    Interviewer,
    /// The person being interviewed.
    Candidate,
    /// The AI voice agent in the room.
    Agent,
    /// Anyone else (observer, note taker…).
    Participant,
}

impl SpeakerRole {
    /// Human-readable label used in exports.
    pub fn label(self) -> &'static str {
        match self {
            SpeakerRole::Interviewer => "interviewer",
            SpeakerRole::Candidate => "candidate",
            SpeakerRole::Agent => "AI agent",
            SpeakerRole::Participant => "participant",
        }
    }
}

/// A participant known to the transcript. `identity` is the LiveKit participant identity (stable key);
/// `name` is what people see and can be changed with [`Transcript::rename`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Speaker {
    pub identity: String,
    pub name: String,
    pub role: SpeakerRole,
}

/// One final transcript segment.
///
/// Times are milliseconds since the room's transcript started. `seq` is assigned by [`Transcript::push`] in
/// arrival order starting at 1; `0` means "not pushed yet".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TranscriptLine {
    pub seq: u64,
    /// Identity of the speaker (not the display name, which can change).
    pub speaker: String,
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

impl TranscriptLine {
    /// A line that has not been pushed yet (`seq == 0`).
    pub fn new(speaker: impl Into<String>, text: impl Into<String>, start_ms: u64, end_ms: u64) -> Self {
        TranscriptLine { seq: 0, speaker: speaker.into(), text: text.into(), start_ms, end_ms }
    }
}

/// The transcript of one interview room.
///
/// Invariants:
/// - speakers are unique by identity and kept in the order they were first added;
/// - `lines()` is always sorted by `start_ms`, ties broken by `seq` (arrival order). Lines may be pushed slightly
///   out of order — each speaker is transcribed on its own thread and a later utterance can finish first — so
///   `push` inserts at the right place instead of appending;
/// - every pushed line gets a unique, increasing `seq` (1, 2, 3… in arrival order), independent of its position.
///
/// Lines may name a speaker that was never added; [`display_name`](Transcript::display_name) then falls back to
/// the identity, so late `add_speaker` calls never lose text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    // A Vec with linear lookup: a room holds a handful of participants, and it keeps insertion order for free.
    speakers: Vec<Speaker>,
    lines: Vec<TranscriptLine>,
    next_seq: u64,
}

impl Transcript {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a speaker, or updates name and role of an existing identity (a participant re-joining), keeping its
    /// original position.
    ///
    /// Never fails, because the name comes from the room, not from a user form: it is sanitised instead of
    /// validated — control characters become spaces, whitespace runs collapse, the result is trimmed and cut to
    /// [`MAX_NAME_CHARS`]; an empty result falls back to the identity.
    pub fn add_speaker(&mut self, identity: impl Into<String>, name: impl Into<String>, role: SpeakerRole) {
        let identity = identity.into();
        let mut name: String = collapse_whitespace(&name.into()).chars().take(MAX_NAME_CHARS).collect();
        if name.is_empty() {
            name = identity.chars().take(MAX_NAME_CHARS).collect();
        }
        match self.speakers.iter_mut().find(|s| s.identity == identity) {
            Some(existing) => {
                existing.name = name;
                existing.role = role;
            }
            None => self.speakers.push(Speaker { identity, name, role }),
        }
    }

    /// Changes a speaker's display name. The name is trimmed and must then be 1–[`MAX_NAME_CHARS`] characters
    /// with no control characters (a newline would break the line-based exports).
    ///
    /// Errors: `not_found` for an unknown identity, `invalid` for a bad name.
    pub fn rename(&mut self, identity: &str, new_name: &str) -> Result<(), InterviewError> {
        let speaker = self
            .speakers
            .iter_mut()
            .find(|s| s.identity == identity)
            .ok_or_else(|| InterviewError::NotFound { identity: identity.to_owned() })?;
        let name = new_name.trim();
        let len = name.chars().count();
        if len == 0 {
            return Err(InterviewError::invalid("name", "must not be empty"));
        }
        if len > MAX_NAME_CHARS {
            return Err(InterviewError::invalid("name", format!("must be at most {MAX_NAME_CHARS} characters")));
        }
        if name.chars().any(char::is_control) {
            return Err(InterviewError::invalid("name", "must not contain control characters"));
        }
        speaker.name = name.to_owned();
        Ok(())
    }

    /// Appends a final line, assigning its `seq` (any `seq` on the argument is ignored) and inserting it so that
    /// lines stay sorted by `start_ms` (ties: arrival order). Returns the assigned `seq`.
    pub fn push(&mut self, mut line: TranscriptLine) -> u64 {
        self.next_seq += 1;
        line.seq = self.next_seq;
        // Everything starting at or before this line stays in front, so equal starts keep arrival order. Lines
        // usually arrive in order, making this an append.
        let at = self.lines.partition_point(|l| l.start_ms <= line.start_ms);
        self.lines.insert(at, line);
        self.next_seq
    }

    /// All lines, sorted by `start_ms` then `seq`.
    pub fn lines(&self) -> &[TranscriptLine] {
        &self.lines
    }

    /// All speakers in the order they were first added.
    pub fn speakers(&self) -> &[Speaker] {
        &self.speakers
    }

    /// The speaker with this identity, if added.
    pub fn speaker(&self, identity: &str) -> Option<&Speaker> {
        self.speakers.iter().find(|s| s.identity == identity)
    }

    /// The display name for an identity, or the identity itself when the speaker is unknown.
    pub fn display_name<'a>(&'a self, identity: &'a str) -> &'a str {
        self.speaker(identity).map_or(identity, |s| s.name.as_str())
    }
}

/// Replaces control characters (newlines included) with spaces, collapses whitespace runs and trims, so the
/// result is one visual line.
pub(crate) fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> Transcript {
        let mut t = Transcript::new();
        t.add_speaker("int-1", "Alice", SpeakerRole::Interviewer);
        t.add_speaker("cand-1", "Bob", SpeakerRole::Candidate);
        t.add_speaker("agent", "Switchboard", SpeakerRole::Agent);
        t
    }

    #[test]
    fn speakers_keep_insertion_order_and_update_in_place() {
        let mut t = room();
        t.add_speaker("int-1", "Alice B.", SpeakerRole::Participant);
        let ids: Vec<_> = t.speakers().iter().map(|s| s.identity.as_str()).collect();
        assert_eq!(ids, ["int-1", "cand-1", "agent"]);
        assert_eq!(t.speaker("int-1").unwrap().name, "Alice B.");
        assert_eq!(t.speaker("int-1").unwrap().role, SpeakerRole::Participant);
    }

    #[test]
    fn add_speaker_sanitises_instead_of_failing() {
        let mut t = Transcript::new();
        t.add_speaker("p1", "  Ann\n\tLee \u{7} ", SpeakerRole::Candidate);
        t.add_speaker("p2", " \n ", SpeakerRole::Participant);
        t.add_speaker("p3", "x".repeat(200), SpeakerRole::Participant);
        assert_eq!(t.display_name("p1"), "Ann Lee");
        assert_eq!(t.display_name("p2"), "p2");
        assert_eq!(t.display_name("p3").chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn display_name_falls_back_to_identity() {
        let t = room();
        assert_eq!(t.display_name("cand-1"), "Bob");
        assert_eq!(t.display_name("ghost"), "ghost");
    }

    #[test]
    fn rename_accepts_valid_names_and_trims() {
        let mut t = room();
        t.rename("cand-1", "  Robert  ").unwrap();
        assert_eq!(t.display_name("cand-1"), "Robert");
        // Limit counts characters, not bytes: 80 multi-byte characters are fine.
        let long = "é".repeat(MAX_NAME_CHARS);
        t.rename("cand-1", &long).unwrap();
        assert_eq!(t.display_name("cand-1"), long);
        t.rename("cand-1", "x").unwrap();
        // Inner spaces and punctuation are fine; only control characters are rejected.
        t.rename("cand-1", "Dr. <Bob> & co").unwrap();
        assert_eq!(t.display_name("cand-1"), "Dr. <Bob> & co");
    }

    #[test]
    fn rename_rejects_bad_names_without_changing_anything() {
        let mut t = room();
        for bad in ["", "   ", "\t\n", "a\nb", "bell\u{7}", "tab\tinside", "del\u{7f}"] {
            let err = t.rename("cand-1", bad).unwrap_err();
            assert_eq!(err.code(), "invalid", "{bad:?}");
        }
        let err = t.rename("cand-1", &"x".repeat(MAX_NAME_CHARS + 1)).unwrap_err();
        assert_eq!(err.code(), "invalid");
        assert!(matches!(err, InterviewError::Invalid { field: "name", .. }));
        assert_eq!(t.display_name("cand-1"), "Bob");
    }

    #[test]
    fn rename_unknown_identity_is_not_found() {
        let mut t = room();
        let err = t.rename("nobody", "Valid Name").unwrap_err();
        assert_eq!(err.code(), "not_found");
        assert_eq!(err, InterviewError::NotFound { identity: "nobody".into() });
    }

    #[test]
    fn push_assigns_seq_in_arrival_order() {
        let mut t = room();
        let mut line = TranscriptLine::new("int-1", "hi", 0, 500);
        line.seq = 99; // ignored
        assert_eq!(t.push(line), 1);
        assert_eq!(t.push(TranscriptLine::new("cand-1", "hello", 600, 900)), 2);
        assert_eq!(t.lines().iter().map(|l| l.seq).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn out_of_order_push_is_sorted_by_start() {
        let mut t = room();
        t.push(TranscriptLine::new("int-1", "first", 1_000, 2_000));
        t.push(TranscriptLine::new("int-1", "third", 5_000, 6_000));
        // The candidate's thread finished late: this line started before "third".
        t.push(TranscriptLine::new("cand-1", "second", 3_000, 7_000));
        // Same start as "first": keeps arrival order, so it comes after it.
        t.push(TranscriptLine::new("agent", "first-bis", 1_000, 1_500));
        // Earlier than everything.
        t.push(TranscriptLine::new("agent", "zeroth", 0, 100));
        let texts: Vec<_> = t.lines().iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["zeroth", "first", "first-bis", "second", "third"]);
        let seqs: Vec<_> = t.lines().iter().map(|l| l.seq).collect();
        assert_eq!(seqs, [5, 1, 4, 3, 2]);
        assert!(t.lines().windows(2).all(|w| (w[0].start_ms, w[0].seq) < (w[1].start_ms, w[1].seq)));
    }

    #[test]
    fn collapse_whitespace_makes_one_line() {
        assert_eq!(collapse_whitespace("  a\n\nb\r\n c\t d\u{0}e "), "a b c d e");
        assert_eq!(collapse_whitespace("\n\n"), "");
    }

    #[test]
    fn role_serialises_snake_case() {
        assert_eq!(serde_json::to_string(&SpeakerRole::Interviewer).unwrap(), "\"interviewer\"");
        assert_eq!(serde_json::from_str::<SpeakerRole>("\"agent\"").unwrap(), SpeakerRole::Agent);
    }
}
