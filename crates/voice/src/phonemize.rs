//! Phonemization through the `espeak-ng` program (run as a subprocess, never linked).
//!
//! Piper was trained on `espeak_TextToPhonemes` output, taken clause by clause, with the
//! clause punctuation appended. The command-line program prints one line per clause via a
//! different code path (the synthesis path), so three things have to be undone here:
//!  * clause punctuation is not printed -> we re-derive clause ends with a port of the
//!    relevant `ReadClause` rules and zip them with the output lines;
//!  * the synthesis path runs `CalcPitches`, which promotes the strongest syllable of a
//!    clause without primary stress to primary (`bˌʌt,` -> `bˈʌt`). We stop that by padding
//!    each clause with spaces before its punctuation, so espeak breaks the clause on its
//!    buffer limit (intonation "none" => no tonic promotion); the punctuation is re-added by us;
//!  * the linking phoneme `;` is shown as `ʲ` by TextToPhonemes but dropped in the synthesis
//!    path -> we also run `-x` (mnemonics) with a phoneme separator and put `ʲ` back.
//! Also espeak-ng 1.51 data says `oː` for the `o@` phoneme where 1.52 (bundled by piper-tts)
//! says `ɔː`; the mnemonic run tells us where to rewrite it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Phoneme separator passed with `--sep`; a character espeak never emits itself.
const SEP: char = '\u{a6}';
/// espeak's clause buffer is 800 bytes and it breaks a clause at a non-letter once more than
/// 725 bytes are used (`n_buf - 75` in ReadClause).
const BREAK_AT: usize = 725;

#[derive(Clone, Debug)]
pub struct Phonemizer {
    pub program: PathBuf,
    /// Optional `--path` (directory holding `espeak-ng-data`), e.g. piper-tts' bundled 1.52 data.
    pub data_path: Option<PathBuf>,
    /// Pad clauses so the CLI does not promote stress (see module docs); off only for experiments.
    pub pad_clauses: bool,
}

impl Default for Phonemizer {
    fn default() -> Self {
        Phonemizer { program: PathBuf::from("espeak-ng"), data_path: None, pad_clauses: true }
    }
}

/// One clause as espeak's ReadClause would cut it.
#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    /// Byte range of the clause text in the (sanitised) input, punctuation excluded.
    pub start: usize,
    pub end: usize,
    /// Punctuation Piper appends ("" when TextToPhonemes' terminator matches none of . ? ! , : ;).
    pub punct: &'static str,
    pub sentence_end: bool,
    /// Byte range of the terminating punctuation run, if padding may replace it.
    pad_at: Option<(usize, usize)>,
    /// Estimated bytes in espeak's clause buffer when the terminator was reached.
    buf_len: usize,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Period,
    Question,
    Exclamation,
    Comma,
    Colon,
    Semicolon,
    /// Terminators whose full value matches no Piper punctuation (ellipsis, CJK forms, ...).
    Other {
        sentence: bool,
    },
}

impl Kind {
    fn punct(self) -> &'static str {
        match self {
            Kind::Period => ".",
            Kind::Question => "?",
            Kind::Exclamation => "!",
            Kind::Comma => ",",
            Kind::Colon => ":",
            Kind::Semicolon => ";",
            Kind::Other { .. } => "",
        }
    }
    fn sentence(self) -> bool {
        match self {
            Kind::Period | Kind::Question | Kind::Exclamation => true,
            Kind::Comma | Kind::Colon | Kind::Semicolon => false,
            Kind::Other { sentence } => sentence,
        }
    }
}

struct Punct {
    kind: Kind,
    optional_space: bool,
}

/// Subset of espeak's clause_type_from_codepoint() relevant to Latin-script text.
fn punct_of(c: char) -> Option<Punct> {
    let p = |kind, optional_space| Some(Punct { kind, optional_space });
    let other = |sentence| Kind::Other { sentence };
    match c {
        '.' | '\u{fe52}' | '\u{ff61}' | '\u{2e3c}' => p(Kind::Period, false),
        '?' | '\u{2047}' | '\u{fe56}' | '\u{37e}' => p(Kind::Question, false),
        '!' | '\u{203c}' | '\u{fe57}' => p(Kind::Exclamation, false),
        ',' | '\u{fe50}' | '\u{fe51}' | '\u{ff64}' | '\u{2e41}' => p(Kind::Comma, false),
        ':' | '\u{fe55}' => p(Kind::Colon, false),
        // en/em dashes count as semicolons in espeak
        ';' | '\u{fe54}' | '\u{2013}' | '\u{2014}' | '\u{2e3a}' | '\u{2e3b}' => p(Kind::Semicolon, false),
        // "optional space after" variants carry an extra flag, so Piper maps them to ""
        '\u{3002}' | '\u{ff0e}' => p(other(true), true),
        '\u{ff1f}' => p(other(true), true),
        '\u{ff01}' => p(other(true), true),
        '\u{3001}' | '\u{ff0c}' | '\u{ff1a}' | '\u{ff1b}' | '\u{a1}' | '\u{bf}' => p(other(false), true),
        '\u{2026}' => p(other(false), true),
        _ => None,
    }
}

/// Words whose dictionary entry needs a following dot ($dot in en_list). Padding would move
/// the dot out of their clause and change the word, so such clauses are not padded.
const NEEDS_DOT: [&str; 7] = ["mr", "mrs", "dr", "lt", "prof", "rev", "st"];

/// Padding turns the terminator into "none"; harmless for the phonemes except for $dot words.
fn can_pad(kind: Kind, before: &str) -> bool {
    match kind {
        Kind::Comma | Kind::Colon | Kind::Semicolon | Kind::Question | Kind::Exclamation => true,
        Kind::Other { .. } => true,
        Kind::Period => {
            let word: String = before
                .chars()
                .rev()
                .take_while(|c| c.is_alphabetic())
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .flat_map(char::to_lowercase)
                .collect();
            !NEEDS_DOT.contains(&word.as_str())
        }
    }
}

/// espeak's IsBracket(): such a character right after punctuation still ends the clause.
fn is_bracket(c: char) -> bool {
    matches!(
        c,
        '(' | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '<'
            | '>'
            | '"'
            | '\''
            | '`'
            | '\u{ab}'
            | '\u{bb}'
            | '\u{300a}'
            | '\u{300b}'
    ) || ('\u{2014}'..='\u{201f}').contains(&c)
}

/// Remove what must not reach the espeak program: control characters (embedded commands),
/// `[[`/`]]` (the CLI enables phoneme input, TextToPhonemes does not) and characters espeak
/// ignores anyway (soft hyphen, ZWNJ, ZWJ).
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push('\n'),
            '\t' | '\r' => out.push(' '),
            '\u{ad}' | '\u{200c}' | '\u{200d}' => {}
            c if c.is_control() => out.push(' '),
            '[' if out.ends_with('[') => out.push_str(" ["),
            ']' if out.ends_with(']') => out.push_str(" ]"),
            c => out.push(c),
        }
    }
    out
}

/// Port of the clause-ending rules of espeak-ng's ReadClause() (no SSML, English rules).
pub fn split_clauses(text: &str) -> Vec<Clause> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let at = |i: usize| -> char { if i < n { chars[i].1 } else { '\0' } };
    let pos = |i: usize| -> usize { if i < n { chars[i].0 } else { text.len() } };
    let mut clauses = Vec::new();
    let mut start = 0usize; // char index where the current clause starts
    let mut ix = 0usize; // bytes in espeak's clause buffer
    let mut any_alnum = false;
    let mut i = 0usize;
    let push = |clauses: &mut Vec<Clause>, s: usize, e: usize, kind: Kind, pad: Option<(usize, usize)>, ix| {
        clauses.push(Clause {
            start: pos(s),
            end: pos(e),
            punct: kind.punct(),
            sentence_end: kind.sentence(),
            pad_at: pad,
            buf_len: ix,
        })
    };
    while i < n {
        let mut c1 = chars[i].1;
        let mut next = i + 1; // index of c2
        if c1 == '\n' {
            let mut j = i + 1;
            let mut parag = 0;
            while j < n && at(j).is_whitespace() {
                if at(j) == '\n' {
                    parag += 1;
                }
                j += 1;
            }
            if parag > 0 {
                // blank line: paragraph terminator, value 70 => Piper gets "" but a sentence end
                push(&mut clauses, start, i, Kind::Other { sentence: true }, Some((pos(i), pos(j))), ix);
                start = j;
                i = j;
                ix = 0;
                any_alnum = false;
                continue;
            }
        }
        if c1 == '.' && at(next) == '.' {
            let mut j = next + 1;
            while j < n && at(j) == '.' {
                j += 1;
            }
            if j > next + 1 {
                c1 = '\u{2026}'; // three or more dots become an ellipsis
                next = j;
            }
        }
        if c1.is_alphanumeric() {
            any_alnum = true;
        }
        if let Some(p) = punct_of(c1) {
            // runs like "?!" or ",.": the first character decides, the rest is swallowed
            // (espeak tests `type & (QUESTION|EXCLAMATION)`, which every terminator matches)
            while next < n && punct_of(at(next)).is_some() {
                next += 1;
            }
            let c2 = at(next);
            let eof = next >= n;
            let mut end = c2.is_whitespace() || p.optional_space || is_bracket(c2) || c2 == '?' || eof;
            if end {
                // skip whitespace after the punctuation, counting newlines (espeak's input
                // ends with a NUL character, so trailing whitespace is all seen)
                let mut j = next;
                let mut nl = 0;
                while j < n && at(j).is_whitespace() {
                    if at(j) == '\n' {
                        nl += 1;
                    }
                    j += 1;
                }
                let c_next = at(j);
                if nl == 0 {
                    if c1 == '.' {
                        if c_next == '\'' && at(j + 1) == 's' {
                            end = false; // "U.S.A.'s"
                        }
                        if c_next.is_lowercase() {
                            end = false; // abbreviation followed by lower case
                        }
                    }
                    if !any_alnum {
                        end = false;
                    }
                }
                if end {
                    let mut kind = p.kind;
                    if nl > 1 {
                        // paragraph after punctuation: different terminator value => ""
                        kind = Kind::Other { sentence: true };
                    }
                    // padding replaces the punctuation and the whitespace espeak skipped
                    let pad = if can_pad(kind, &text[..pos(i)]) { Some((pos(i), pos(j))) } else { None };
                    push(&mut clauses, start, i, kind, pad, ix);
                    start = j;
                    i = j;
                    ix = 0;
                    any_alnum = false;
                    continue;
                }
            }
        }
        ix += c1.len_utf8();
        if (ix > BREAK_AT && !c1.is_alphabetic() && !c1.is_numeric()) || ix >= 796 {
            // clause too long for espeak's buffer: it breaks here with no terminator
            push(&mut clauses, start, next, Kind::Other { sentence: false }, None, ix);
            start = next;
            ix = 0;
            any_alnum = false;
        }
        i = next;
    }
    // a whitespace-only remainder yields no clause
    if chars[start.min(n)..].iter().any(|(_, c)| !c.is_whitespace()) {
        push(&mut clauses, start, n, Kind::Other { sentence: true }, Some((text.len(), text.len())), ix);
    }
    clauses
}

/// Text for the espeak program: the clause punctuation is replaced by enough spaces that
/// espeak cuts the clause on its buffer limit (terminator "none", so no tonic promotion).
/// Returns the text and whether the last clause was padded (espeak then reports one extra,
/// empty clause at the end).
fn padded_text(text: &str, clauses: &[Clause]) -> (String, bool) {
    let mut out = String::with_capacity(text.len() + 800 * clauses.len());
    let mut last = 0;
    let mut carry = 0usize; // bytes already in espeak's buffer when the clause starts
    let mut last_padded = false;
    for c in clauses {
        last_padded = false;
        let used = c.buf_len + carry;
        carry = 0;
        // A clause without letters/digits has nothing to promote; and padding right after a
        // punctuation mark would be swallowed by espeak's skip-whitespace-after-punctuation.
        let body = text[c.start..c.end].trim_end();
        let worth =
            body.chars().any(char::is_alphanumeric) && !body.chars().last().map_or(true, |ch| punct_of(ch).is_some());
        if let (Some((p0, p1)), true) = (c.pad_at, worth) {
            if used + 2 < BREAK_AT {
                out.push_str(&text[last..p0]);
                out.extend(std::iter::repeat(' ').take(BREAK_AT + 3 - used));
                out.extend(text[p0..p1].chars().map(|_| ' '));
                last = p1;
                // 2 spare pad spaces plus the blanked punctuation/whitespace start the next clause
                carry = 2 + text[p0..p1].chars().count();
                last_padded = true;
            }
        }
    }
    out.push_str(&text[last..]);
    (out, last_padded)
}

impl Phonemizer {
    /// Start espeak-ng on a text file. `-f` hands espeak the exact bytes plus a NUL, like
    /// TextToPhonemes gets them; `--stdin` appends a stray byte that changes how the text end is
    /// read (e.g. a final lone "!" is no longer spoken), and arguments have a length limit.
    fn run(&self, args: &[&str], file: &Path) -> Result<std::process::Child, String> {
        let mut cmd = Command::new(&self.program);
        cmd.arg("-q");
        if let Some(p) = &self.data_path {
            cmd.arg(format!("--path={}", p.display()));
        }
        cmd.args(args).arg("-f").arg(file).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().map_err(|e| format!("cannot run {}: {e}", self.program.display()))
    }

    fn collect(child: std::process::Child) -> Result<Vec<String>, String> {
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("espeak-ng failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
        }
        let s = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
        Ok(s.lines().map(|l| l.trim().to_string()).collect())
    }

    /// IPA per clause, in TextToPhonemes form (ʲ restored, 1.52 `ɔː`).
    fn clause_phonemes(&self, text: &str, clauses: &[Clause], voice: &str, pad: bool) -> Result<Vec<String>, String> {
        let (input, last_padded) = if pad { padded_text(text, clauses) } else { (text.to_string(), false) };
        let sep = format!("--sep={SEP}");
        let file = TempFile::new(&input)?;
        // both runs in parallel: the second costs no extra wall time on >= 2 cores
        let ipa = self.run(&["--ipa", &sep, "-v", voice], &file.0)?;
        let mnem = self.run(&["-x", &sep, "-v", voice], &file.0)?;
        let ipa = Self::collect(ipa)?;
        let mnem = Self::collect(mnem)?;
        if ipa.len() != mnem.len() {
            return Err("espeak-ng --ipa and -x disagree on clause count".into());
        }
        let mut lines: Vec<String> = ipa.iter().zip(&mnem).map(|(a, b)| merge_line(a, b)).collect();
        if std::env::var("PIPER_DEBUG").map_or(false, |v| v == "2") {
            tracing::debug!(input = %input.replace("   ", ""), ?clauses, ?lines, "espeak-ng clauses");
        }
        if last_padded && lines.len() == clauses.len() + 1 && lines.last().map_or(false, |l| l.is_empty()) {
            lines.pop();
        }
        Ok(lines)
    }

    /// Phonemes per sentence, exactly as Piper builds them (punctuation kept, NFD not applied).
    pub fn phonemize(&self, text: &str, voice: &str) -> Result<Vec<String>, String> {
        let text = sanitize(text);
        let clauses = split_clauses(&text);
        let mut lines = self.clause_phonemes(&text, &clauses, voice, self.pad_clauses)?;
        if lines.len() != clauses.len() && self.pad_clauses {
            // padding estimate failed somewhere: plain run (stress may be promoted)
            if std::env::var_os("PIPER_DEBUG").is_some() {
                tracing::debug!(
                    got = lines.len(),
                    expected = clauses.len(),
                    "padded espeak-ng run gave another clause count"
                );
            }
            lines = self.clause_phonemes(&text, &clauses, voice, false)?;
        }
        let mut sentences = Vec::new();
        let mut cur = String::new();
        if lines.len() == clauses.len() {
            for (ph, c) in lines.iter().zip(&clauses) {
                cur.push_str(&strip_lang_flags(ph));
                cur.push_str(c.punct);
                if matches!(c.punct, "," | ":" | ";") {
                    cur.push(' ');
                }
                if c.sentence_end {
                    sentences.push(std::mem::take(&mut cur));
                }
            }
        } else {
            // Could not align clauses: keep the phonemes, join clauses with a space, one sentence.
            tracing::debug!(
                "piper: espeak gave {} clauses, expected {}; punctuation dropped",
                lines.len(),
                clauses.len()
            );
            let joined: Vec<String> = lines.iter().map(|l| strip_lang_flags(l)).collect();
            cur = joined.join(" ");
        }
        if !cur.is_empty() {
            sentences.push(cur);
        }
        sentences.retain(|s| !s.is_empty());
        Ok(sentences)
    }
}

/// Input file for espeak-ng, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(text: &str) -> Result<Self, String> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "piper-espeak-{}-{}.txt",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        f.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        Ok(TempFile(path))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Combine one `--ipa --sep` line with the matching `-x --sep` line.
fn merge_line(ipa: &str, mnem: &str) -> String {
    let iw: Vec<&str> = ipa.split(' ').collect();
    let mw: Vec<&str> = mnem.split(' ').collect();
    if iw.len() != mw.len() {
        return ipa.replace(SEP, "");
    }
    let mut out = String::with_capacity(ipa.len());
    for (k, (wi, wm)) in iw.iter().zip(&mw).enumerate() {
        if k > 0 {
            out.push(' ');
        }
        let ti: Vec<&str> = wi.split(SEP).collect();
        let tm: Vec<&str> = wm.split(SEP).collect();
        if ti.len() != tm.len() {
            out.push_str(&wi.replace(SEP, ""));
            continue;
        }
        for (a, b) in ti.iter().zip(&tm) {
            let core = b.trim_start_matches(['\'', ',']);
            if core == ";" && a.is_empty() {
                out.push('ʲ'); // linking j, shown by TextToPhonemes
            } else if core == "o@" {
                out.push_str(&a.replace("oː", "ɔː")); // 1.51 data -> 1.52 IPA
            } else {
                out.push_str(a);
            }
        }
    }
    out
}

/// Piper removes language-switch flags such as "(fr)" / "(en)".
pub fn strip_lang_flags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('(') {
        out.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        match after.find(')') {
            Some(q) if q > 0 => rest = &after[q + 1..],
            _ => {
                out.push('(');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn puncts(t: &str) -> Vec<(&'static str, bool)> {
        split_clauses(t).iter().map(|c| (c.punct, c.sentence_end)).collect()
    }

    #[test]
    fn clause_rules() {
        assert_eq!(
            puncts("Hello, world. Dr. Smith paid $45 at 9:30; really? Yes! The end"),
            vec![(",", false), (".", true), (".", true), (";", false), ("?", true), ("!", true), ("", true)]
        );
        assert_eq!(puncts("Wait... what?"), vec![("", false), ("?", true)]);
        assert_eq!(puncts("e.g. this one. U.S.A.'s army."), vec![(".", true), (".", true)]);
        assert_eq!(puncts("Hi?! Hey!!! ok"), vec![("?", true), ("!", true), ("", true)]);
        assert_eq!(puncts("Hello.\n\nWorld"), vec![("", true), ("", true)]);
        assert_eq!(puncts(" . , leading"), vec![("", true)]);
        assert_eq!(puncts("Wait — what"), vec![(";", false), ("", true)]);
    }

    #[test]
    fn merge() {
        assert_eq!(merge_line("ð¦ɪ¦ ˈɛ¦n¦d", "D¦I2¦; 'E¦n¦d"), "ðɪʲ ˈɛnd");
        assert_eq!(merge_line("m¦ˈoːɹ", "m¦'o@"), "mˈɔːɹ");
        assert_eq!(strip_lang_flags("(fr)bɔ̃(en) ok ()"), "bɔ̃ ok ()");
    }

    #[test]
    fn sanitize_text() {
        assert_eq!(sanitize("a [[b]] \u{1}c\u{ad}d"), "a [ [b] ]  cd");
    }
}
