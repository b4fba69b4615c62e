//! Splits a streamed reply into clauses, so speech can start on the first
//! complete clause instead of waiting for the whole reply.

/// Shortest clause worth a synthesis call on a comma (a full stop always
/// ends one): "Yes," alone would sound choppy.
const MIN_COMMA_CLAUSE: usize = 24;

/// Titles and the like after which a full stop does not end a sentence.
const ABBREVIATIONS: &[&str] = &["dr", "mr", "mrs", "ms", "st", "vs", "etc", "approx", "jr", "sr", "prof"];

#[derive(Default)]
pub struct ClauseSplitter {
    buf: String,
}

impl ClauseSplitter {
    /// Adds streamed text; returns the clauses it completed.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.buf.push_str(text);
        let mut out = Vec::new();
        loop {
            let Some(cut) = self.boundary() else { break };
            let clause: String = self.buf.drain(..cut).collect();
            let clause = tidy(&clause);
            if !clause.is_empty() {
                out.push(clause);
            }
        }
        out
    }

    /// The rest, at the end of the reply.
    pub fn finish(&mut self) -> Option<String> {
        let rest = tidy(&std::mem::take(&mut self.buf));
        (!rest.is_empty()).then_some(rest)
    }

    /// Byte index just past a clause end followed by whitespace.
    fn boundary(&self) -> Option<usize> {
        let b = &self.buf;
        let mut it = b.char_indices().peekable();
        while let Some((i, c)) = it.next() {
            let next_is_space = it.peek().is_some_and(|(_, n)| n.is_whitespace());
            if !next_is_space {
                continue;
            }
            let end = i + c.len_utf8();
            match c {
                '.' | '!' | '?' | '।' | ';' | ':' => {
                    // "Dr." or "9.30" are not sentence ends: a single capital
                    // or a digit before the dot is too risky to cut after.
                    let word: String = b[..i]
                        .chars()
                        .rev()
                        .take_while(|c| c.is_alphanumeric())
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    let abbreviation = word.chars().count() == 1
                        || (!word.is_empty() && word.chars().all(|c| c.is_ascii_digit()))
                        || ABBREVIATIONS.contains(&word.to_lowercase().as_str());
                    if c == '.' && abbreviation {
                        continue;
                    }
                    return Some(end);
                }
                ',' if end >= MIN_COMMA_CLAUSE => return Some(end),
                '\n' => return Some(end),
                _ => {}
            }
        }
        None
    }
}

/// Markup a model may leave in is not read out.
fn tidy(s: &str) -> String {
    let cleaned: String = s.chars().filter(|c| !matches!(c, '*' | '#' | '`' | '_')).collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_come_out_as_soon_as_they_end() {
        let mut s = ClauseSplitter::default();
        let mut got = Vec::new();
        for piece in [
            "We are open ",
            "from 9.30 to five. On Sun",
            "days we are closed, but you can ",
            "book online any time",
            "!",
        ] {
            got.extend(s.push(piece));
        }
        got.extend(s.finish());
        assert_eq!(
            got,
            vec!["We are open from 9.30 to five.", "On Sundays we are closed,", "but you can book online any time!"]
        );
    }

    #[test]
    fn a_long_clause_is_cut_at_a_comma_and_markup_is_dropped() {
        let mut s = ClauseSplitter::default();
        let got = s.push("**Parking** is free behind the building on Elm Street, and the bus stops outside ");
        assert_eq!(got, vec!["Parking is free behind the building on Elm Street,"]);
        assert_eq!(s.finish().as_deref(), Some("and the bus stops outside"));
        let mut s = ClauseSplitter::default();
        assert!(s.push("Ask Dr. Patel").is_empty());
    }
}
