//! Rendering a [`Transcript`] as a downloadable file.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::InterviewError;
use crate::transcript::{Speaker, Transcript, collapse_whitespace};

/// Display duration given to a subtitle cue whose line has `end_ms <= start_ms` (zero-length or clock-skewed
/// segments): subtitle formats need end > start, and one second is long enough to read a short utterance.
pub const MIN_CUE_MS: u64 = 1_000;

/// File formats [`export`] can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Txt,
    Vtt,
    Srt,
    #[serde(alias = "md")]
    Markdown,
    Json,
}

impl ExportFormat {
    /// Value for an HTTP `Content-Type` header.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Txt => "text/plain; charset=utf-8",
            ExportFormat::Vtt => "text/vtt; charset=utf-8",
            ExportFormat::Srt => "application/x-subrip; charset=utf-8",
            ExportFormat::Markdown => "text/markdown; charset=utf-8",
            ExportFormat::Json => "application/json",
        }
    }

    /// File extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Txt => "txt",
            ExportFormat::Vtt => "vtt",
            ExportFormat::Srt => "srt",
            ExportFormat::Markdown => "md",
            ExportFormat::Json => "json",
        }
    }
}

impl FromStr for ExportFormat {
    type Err = InterviewError;

    /// Accepts `txt`, `vtt`, `srt`, `md`, `markdown`, `json`, ignoring ASCII case and surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "txt" => Ok(ExportFormat::Txt),
            "vtt" => Ok(ExportFormat::Vtt),
            "srt" => Ok(ExportFormat::Srt),
            "md" | "markdown" => Ok(ExportFormat::Markdown),
            "json" => Ok(ExportFormat::Json),
            _ => Err(InterviewError::invalid("format", "expected one of txt, vtt, srt, md, markdown, json")),
        }
    }
}

impl fmt::Display for ExportFormat {
    /// The same name serde uses, which [`FromStr`] accepts back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExportFormat::Markdown => "markdown",
            other => other.extension(),
        })
    }
}

/// The JSON export document: all speakers and all lines, each line with its speaker's current display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TranscriptExport {
    pub speakers: Vec<Speaker>,
    pub lines: Vec<ExportedLine>,
}

/// A [`TranscriptLine`](crate::TranscriptLine) with the speaker name resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExportedLine {
    pub seq: u64,
    /// Speaker identity.
    pub speaker: String,
    /// Display name at export time (the identity if the speaker is unknown).
    pub speaker_name: String,
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

impl From<&Transcript> for TranscriptExport {
    fn from(t: &Transcript) -> Self {
        let lines = t
            .lines()
            .iter()
            .map(|l| ExportedLine {
                seq: l.seq,
                speaker: l.speaker.clone(),
                speaker_name: t.display_name(&l.speaker).to_owned(),
                text: l.text.clone(),
                start_ms: l.start_ms,
                end_ms: l.end_ms,
            })
            .collect();
        TranscriptExport { speakers: t.speakers().to_vec(), lines }
    }
}

/// Renders the transcript, lines in transcript order (by start time).
///
/// - `Txt`: `[mm:ss] Name: text` per line; minutes are not wrapped into hours (`75:03`).
/// - `Vtt`: WebVTT with one cue per line, `HH:MM:SS.mmm` timings and a voice span `<v Name>text`; `&`, `<`, `>`
///   in names and text are written as character references.
/// - `Srt`: cues numbered from 1, `HH:MM:SS,mmm` timings, `Name: text`. SRT has no escaping; text is verbatim.
/// - `Markdown`: a heading, the speakers with their roles, then `**Name** (mm:ss): text` paragraphs. Markdown
///   punctuation in names and text is backslash-escaped, so `*bob*` stays literal.
/// - `Json`: [`TranscriptExport`], pretty-printed; text and times are the raw stored values.
///
/// In every format but JSON, newlines and other control characters in text and names become single spaces:
/// a blank line would end a subtitle cue or a Markdown paragraph. Subtitle cues need end > start, so a line with
/// `end_ms <= start_ms` is shown for [`MIN_CUE_MS`] from its start.
pub fn export(transcript: &Transcript, format: ExportFormat) -> String {
    match format {
        ExportFormat::Txt => export_txt(transcript),
        ExportFormat::Vtt => export_vtt(transcript),
        ExportFormat::Srt => export_srt(transcript),
        ExportFormat::Markdown => export_markdown(transcript),
        ExportFormat::Json => {
            // Plain strings and integers only: serialisation cannot fail.
            serde_json::to_string_pretty(&TranscriptExport::from(transcript))
                .expect("transcript export is always serialisable")
        }
    }
}

/// Display name reduced to one line, never empty (an empty identity would otherwise vanish from the output).
fn name_for(t: &Transcript, identity: &str) -> String {
    let name = collapse_whitespace(t.display_name(identity));
    if name.is_empty() { "Unknown speaker".to_owned() } else { name }
}

fn cue_end_ms(start_ms: u64, end_ms: u64) -> u64 {
    if end_ms > start_ms { end_ms } else { start_ms.saturating_add(MIN_CUE_MS) }
}

fn minutes_seconds(ms: u64) -> String {
    let secs = ms / 1000;
    format!("{:02}:{:02}", secs / 60, secs % 60)
}

/// `HH:MM:SS<sep>mmm`; hours grow past two digits rather than wrap.
fn cue_timestamp(ms: u64, sep: char) -> String {
    let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}{sep}{milli:03}")
}

fn export_txt(t: &Transcript) -> String {
    let mut out = String::new();
    for l in t.lines() {
        let _ = writeln!(
            out,
            "[{}] {}: {}",
            minutes_seconds(l.start_ms),
            name_for(t, &l.speaker),
            collapse_whitespace(&l.text)
        );
    }
    out
}

fn escape_vtt(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn export_vtt(t: &Transcript) -> String {
    let mut out = String::from("WEBVTT\n");
    for l in t.lines() {
        let end = cue_end_ms(l.start_ms, l.end_ms);
        let _ = write!(
            out,
            "\n{} --> {}\n<v {}>{}\n",
            cue_timestamp(l.start_ms, '.'),
            cue_timestamp(end, '.'),
            escape_vtt(&name_for(t, &l.speaker)),
            escape_vtt(&collapse_whitespace(&l.text)),
        );
    }
    out
}

fn export_srt(t: &Transcript) -> String {
    let mut out = String::new();
    for (i, l) in t.lines().iter().enumerate() {
        let end = cue_end_ms(l.start_ms, l.end_ms);
        let name = name_for(t, &l.speaker);
        let text = collapse_whitespace(&l.text);
        let _ = write!(
            out,
            "{}\n{} --> {}\n{}:{}{}\n\n",
            i + 1,
            cue_timestamp(l.start_ms, ','),
            cue_timestamp(end, ','),
            name,
            if text.is_empty() { "" } else { " " },
            text,
        );
    }
    out
}

/// Backslash-escapes the ASCII punctuation that CommonMark or common extensions (GFM tables and strikethrough,
/// math, superscript) read as inline markup anywhere in a line. Block-level markers (`#`, `-`, `+`, `1.`, `=`)
/// are left alone because user text never starts a line: every name sits inside `**…**` and every text follows
/// `(mm:ss): `, and the text is collapsed to one line. Keeping `.`/`!`/`-` unescaped keeps the source readable.
fn escape_markdown(text: &str) -> String {
    const SPECIAL: &str = "\\`*_[]<>&~|$^{}";
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if SPECIAL.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn export_markdown(t: &Transcript) -> String {
    let mut out = String::from("# Interview transcript\n\n## Speakers\n\n");
    if t.speakers().is_empty() {
        out.push_str("No speakers.\n");
    }
    for s in t.speakers() {
        let _ = writeln!(out, "- **{}** ({})", escape_markdown(&name_for(t, &s.identity)), s.role.label());
    }
    out.push_str("\n## Transcript\n");
    for l in t.lines() {
        let _ = write!(
            out,
            "\n**{}** ({}): {}\n",
            escape_markdown(&name_for(t, &l.speaker)),
            minutes_seconds(l.start_ms),
            escape_markdown(&collapse_whitespace(&l.text)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{SpeakerRole, TranscriptLine};

    /// A transcript exercising the awkward cases: markup characters in names and text, newlines, a zero-length
    /// and a skewed line, an unknown speaker, a time past one hour, and an out-of-order push.
    fn sample() -> Transcript {
        let mut t = Transcript::new();
        t.add_speaker("int-1", "Ann <AT&T>", SpeakerRole::Interviewer);
        t.add_speaker("cand-1", "*bob* _the_ [dev]", SpeakerRole::Candidate);
        t.add_speaker("agent", "Switchboard", SpeakerRole::Agent);
        // Never speaks; its name would start a Markdown block if it were not wrapped in strong emphasis.
        t.add_speaker("obs", "1. + # - === Obs", SpeakerRole::Participant);
        t.push(TranscriptLine::new("int-1", "Welcome! Tell me about x < y && y > z.", 1_234, 4_567));
        t.push(TranscriptLine::new("cand-1", "Sure.\n\nFirst line\r\nsecond --> line\tthird", 5_000, 9_001));
        t.push(TranscriptLine::new(
            "agent",
            "# not a heading, 1. not a list, `code`, <b>html</b>, &amp;",
            12_000,
            12_000,
        ));
        // Arrives before the agent line finished transcribing but started earlier.
        t.push(TranscriptLine::new("int-1", "Go on \\ please ~~ok~~ | table |", 10_500, 11_999));
        t.push(TranscriptLine::new("ghost", "unknown speaker still shows", 3_725_042, 3_725_000));
        t
    }

    /// What cue payloads should contain: one line, text collapsed.
    fn expected(t: &Transcript) -> Vec<(u64, u64, String, String)> {
        t.lines()
            .iter()
            .map(|l| {
                let end = if l.end_ms > l.start_ms { l.end_ms } else { l.start_ms + MIN_CUE_MS };
                (l.start_ms, end, collapse_whitespace(t.display_name(&l.speaker)), collapse_whitespace(&l.text))
            })
            .collect()
    }

    fn decode_entities(s: &str) -> String {
        // &amp; last so "&amp;lt;" decodes to "&lt;", not "<".
        s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    }

    /// Splits a `<v Name>text` payload the way a WebVTT renderer does: annotation up to the first `>`.
    fn voice_span(payload: &str) -> (String, String) {
        let rest = payload.strip_prefix("<v ").unwrap_or_else(|| panic!("no voice span in {payload:?}"));
        let (annotation, text) = rest.split_once('>').expect("voice tag is closed");
        assert!(!text.contains('<'), "payload has no other tags: {payload:?}");
        (decode_entities(annotation), decode_entities(text))
    }

    #[test]
    fn vtt_parses_back_with_webvtt_parser() {
        let t = sample();
        let out = export(&t, ExportFormat::Vtt);
        let vtt = webvtt_parser::Vtt::parse(&out).expect("valid WebVTT");
        let want = expected(&t);
        assert_eq!(vtt.cues.len(), want.len());
        for (cue, (start, end, name, text)) in vtt.cues.iter().zip(&want) {
            assert!(cue.start.as_milliseconds().abs_diff(*start) <= 1);
            assert!(cue.end.as_milliseconds().abs_diff(*end) <= 1);
            assert!(cue.end.as_milliseconds() > cue.start.as_milliseconds());
            assert!(!cue.text.contains('\n'), "one line per cue: {:?}", cue.text);
            assert!(!cue.text.contains("-->"), "WebVTT payloads must not contain -->");
            assert_eq!(voice_span(cue.text), (name.clone(), text.clone()));
        }
        assert_eq!(voice_span(vtt.cues[0].text).0, "Ann <AT&T>");
        assert_eq!(voice_span(vtt.cues[4].text).0, "ghost");
        assert_eq!(vtt.cues[4].start.as_milliseconds(), 3_725_042); // 01:02:05.042
    }

    #[test]
    fn vtt_parses_back_with_subtp() {
        let t = sample();
        let vtt = subtp::vtt::WebVtt::parse(&export(&t, ExportFormat::Vtt)).expect("valid WebVTT");
        let cues: Vec<_> = vtt
            .blocks
            .iter()
            .filter_map(|b| match b {
                subtp::vtt::VttBlock::Que(c) => Some(c),
                _ => None,
            })
            .collect();
        let want = expected(&t);
        assert_eq!(cues.len(), want.len());
        let ms = |ts: &subtp::vtt::VttTimestamp| {
            u64::from(ts.hours) * 3_600_000
                + u64::from(ts.minutes) * 60_000
                + u64::from(ts.seconds) * 1000
                + u64::from(ts.milliseconds)
        };
        for (cue, (start, end, name, text)) in cues.iter().zip(&want) {
            assert!(ms(&cue.timings.start).abs_diff(*start) <= 1);
            assert!(ms(&cue.timings.end).abs_diff(*end) <= 1);
            assert_eq!(cue.payload.len(), 1);
            assert_eq!(voice_span(&cue.payload[0]), (name.clone(), text.clone()));
        }
    }

    #[test]
    fn empty_vtt_is_valid() {
        let out = export(&Transcript::new(), ExportFormat::Vtt);
        assert!(webvtt_parser::Vtt::parse(&out).unwrap().cues.is_empty());
    }

    #[test]
    fn srt_parses_back_with_srtlib() {
        let t = sample();
        let subs = srtlib::Subtitles::parse_from_str(export(&t, ExportFormat::Srt)).expect("valid SRT").to_vec();
        let want = expected(&t);
        assert_eq!(subs.len(), want.len());
        let ms = |ts: &srtlib::Timestamp| {
            let (h, m, s, milli) = ts.get();
            u64::from(h) * 3_600_000 + u64::from(m) * 60_000 + u64::from(s) * 1000 + u64::from(milli)
        };
        for (i, (sub, (start, end, name, text))) in subs.iter().zip(&want).enumerate() {
            assert_eq!(sub.num, i + 1);
            assert!(ms(&sub.start_time).abs_diff(*start) <= 1);
            assert!(ms(&sub.end_time).abs_diff(*end) <= 1);
            assert_eq!(sub.text.trim_end_matches('\n'), format!("{name}: {text}"));
        }
    }

    #[test]
    fn srt_parses_back_with_subtp() {
        let t = sample();
        let srt = subtp::srt::SubRip::parse(&export(&t, ExportFormat::Srt)).expect("valid SRT");
        let want = expected(&t);
        assert_eq!(srt.subtitles.len(), want.len());
        let ms = |ts: &subtp::srt::SrtTimestamp| {
            u64::from(ts.hours) * 3_600_000
                + u64::from(ts.minutes) * 60_000
                + u64::from(ts.seconds) * 1000
                + u64::from(ts.milliseconds)
        };
        for (i, (sub, (start, end, name, text))) in srt.subtitles.iter().zip(&want).enumerate() {
            assert_eq!(sub.sequence as usize, i + 1);
            assert!(ms(&sub.start).abs_diff(*start) <= 1);
            assert!(ms(&sub.end).abs_diff(*end) <= 1);
            assert_eq!(sub.text, [format!("{name}: {text}")]);
        }
    }

    #[test]
    fn json_round_trips_with_names_resolved() {
        let t = sample();
        let out = export(&t, ExportFormat::Json);
        let doc: TranscriptExport = serde_json::from_str(&out).unwrap();
        assert_eq!(doc.speakers, t.speakers());
        assert_eq!(doc.lines.len(), t.lines().len());
        for (got, l) in doc.lines.iter().zip(t.lines()) {
            assert_eq!((got.seq, &got.speaker, &got.text), (l.seq, &l.speaker, &l.text));
            assert_eq!((got.start_ms, got.end_ms), (l.start_ms, l.end_ms), "JSON keeps raw times");
            assert_eq!(got.speaker_name, t.display_name(&l.speaker));
        }
        // Field names are part of the contract.
        let raw: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(raw["lines"][0]["speaker_name"], "Ann <AT&T>");
        assert_eq!(raw["speakers"][1]["role"], "candidate");
        assert_eq!(raw["lines"][1]["text"], "Sure.\n\nFirst line\r\nsecond --> line\tthird");
    }

    #[test]
    fn txt_is_one_line_per_transcript_line() {
        let t = sample();
        let out = export(&t, ExportFormat::Txt);
        let rows: Vec<_> = out.lines().collect();
        assert_eq!(
            rows,
            [
                "[00:01] Ann <AT&T>: Welcome! Tell me about x < y && y > z.",
                "[00:05] *bob* _the_ [dev]: Sure. First line second --> line third",
                "[00:10] Ann <AT&T>: Go on \\ please ~~ok~~ | table |",
                "[00:12] Switchboard: # not a heading, 1. not a list, `code`, <b>html</b>, &amp;",
                "[62:05] ghost: unknown speaker still shows",
            ]
        );
    }

    #[test]
    fn rename_is_reflected_in_exports() {
        let mut t = sample();
        t.rename("cand-1", "Robert").unwrap();
        assert!(export(&t, ExportFormat::Txt).contains("[00:05] Robert: Sure."));
    }

    /// Parses the Markdown with a CommonMark parser (GFM extensions on, to be strict) and checks that the only
    /// markup is ours and that every name and text comes back literally.
    #[test]
    fn markdown_escapes_user_text() {
        use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

        let t = sample();
        let out = export(&t, ExportFormat::Markdown);
        let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_MATH;

        #[derive(Debug, Default, PartialEq)]
        struct Block {
            kind: String,
            strong: String,
            text: String,
        }
        let mut blocks: Vec<Block> = Vec::new();
        let mut in_strong = false;
        for event in Parser::new_ext(&out, opts) {
            match event {
                Event::Start(Tag::Heading { .. }) => blocks.push(Block { kind: "heading".into(), ..Block::default() }),
                Event::Start(Tag::Item) => blocks.push(Block { kind: "item".into(), ..Block::default() }),
                Event::Start(Tag::Paragraph) => blocks.push(Block { kind: "paragraph".into(), ..Block::default() }),
                Event::Start(Tag::List(_)) | Event::End(TagEnd::List(_)) => {}
                Event::End(TagEnd::Heading(_) | TagEnd::Item | TagEnd::Paragraph) => {}
                Event::Start(Tag::Strong) => in_strong = true,
                Event::End(TagEnd::Strong) => in_strong = false,
                Event::Text(s) => {
                    let b = blocks.last_mut().unwrap();
                    if in_strong { b.strong.push_str(&s) } else { b.text.push_str(&s) }
                }
                other => panic!("unexpected markup {other:?} in\n{out}"),
            }
        }

        let mut want = vec![
            Block { kind: "heading".into(), text: "Interview transcript".into(), ..Block::default() },
            Block { kind: "heading".into(), text: "Speakers".into(), ..Block::default() },
        ];
        for s in t.speakers() {
            want.push(Block { kind: "item".into(), strong: s.name.clone(), text: format!(" ({})", s.role.label()) });
        }
        want.push(Block { kind: "heading".into(), text: "Transcript".into(), ..Block::default() });
        for l in t.lines() {
            want.push(Block {
                kind: "paragraph".into(),
                strong: t.display_name(&l.speaker).to_owned(),
                text: format!(" ({}): {}", minutes_seconds(l.start_ms), collapse_whitespace(&l.text)),
            });
        }
        assert_eq!(blocks, want);
    }

    #[test]
    fn format_parsing_and_metadata() {
        for (s, f) in [
            ("txt", ExportFormat::Txt),
            ("vtt", ExportFormat::Vtt),
            ("SRT", ExportFormat::Srt),
            ("md", ExportFormat::Markdown),
            (" markdown ", ExportFormat::Markdown),
            ("json", ExportFormat::Json),
        ] {
            assert_eq!(s.parse::<ExportFormat>().unwrap(), f);
        }
        for bad in ["", "pdf", "text", ".vtt", "mark down"] {
            assert_eq!(bad.parse::<ExportFormat>().unwrap_err().code(), "invalid", "{bad:?}");
        }
        let all = [ExportFormat::Txt, ExportFormat::Vtt, ExportFormat::Srt, ExportFormat::Markdown, ExportFormat::Json];
        let meta: Vec<_> = all.iter().map(|f| (f.extension(), f.content_type())).collect();
        assert_eq!(
            meta,
            [
                ("txt", "text/plain; charset=utf-8"),
                ("vtt", "text/vtt; charset=utf-8"),
                ("srt", "application/x-subrip; charset=utf-8"),
                ("md", "text/markdown; charset=utf-8"),
                ("json", "application/json"),
            ]
        );
        for f in all {
            // Display and serde agree, and both parse back.
            assert_eq!(f.to_string().parse::<ExportFormat>().unwrap(), f);
            assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{f}\""));
            assert_eq!(f.extension().parse::<ExportFormat>().unwrap(), f);
        }
        assert_eq!(serde_json::from_str::<ExportFormat>("\"md\"").unwrap(), ExportFormat::Markdown);
    }

    #[test]
    fn timestamps() {
        assert_eq!(cue_timestamp(0, '.'), "00:00:00.000");
        assert_eq!(cue_timestamp(3_725_042, ','), "01:02:05,042");
        assert_eq!(cue_timestamp(100 * 3_600_000 + 1, '.'), "100:00:00.001");
        assert_eq!(minutes_seconds(59_999), "00:59");
        assert_eq!(minutes_seconds(4_503_000), "75:03");
    }
}
