//! Speakable replies: what a voice says, not what a page shows. Markdown,
//! lists, links and talk about "the evidence" are removed; prices, times and
//! symbols are written the way a text-to-speech voice reads them naturally.
//! Applied to every reply, the model's and read-back passages alike.

/// Phrases a small model wraps an answer in that a caller must not hear
/// ("According to the evidence, ..."). Matched case-insensitively at the
/// start of a sentence, longest first.
const META_OPENERS: &[&str] = &[
    "according to the information provided,",
    "according to the information provided",
    "according to the evidence,",
    "according to the evidence",
    "according to the facts,",
    "according to the facts",
    "according to our records,",
    "according to the notes,",
    "based on the evidence provided,",
    "based on the evidence,",
    "based on the information provided,",
    "based on the information,",
    "based on the facts provided,",
    "based on the facts,",
    "the evidence states that",
    "the evidence says that",
    "the evidence shows that",
    "the evidence indicates that",
    "the evidence states",
    "the evidence says",
    "the facts state that",
    "the facts say that",
    "the facts show that",
    "the information provided states that",
    "the information provided says that",
    "yes: ",
];

/// Cleans a reply for speech. Keeps the words; drops the markup.
pub fn speakable(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.lines() {
        let mut l = without_breadcrumb(raw.trim());
        // Headings and list markers.
        l = l.trim_start_matches('#').trim_start();
        for marker in ["- ", "* ", "• ", "+ "] {
            if let Some(rest) = l.strip_prefix(marker) {
                l = rest;
            }
        }
        let digits = l.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && digits < 3 && l[digits..].starts_with(". ") {
            l = &l[digits + 2..];
        }
        // Table rows read as cells separated by commas.
        let l = if l.starts_with('|') {
            if l.chars().all(|c| "|-: ".contains(c)) {
                continue;
            }
            l.trim_matches('|').split('|').map(str::trim).filter(|c| !c.is_empty()).collect::<Vec<_>>().join(", ")
        } else {
            l.to_string()
        };
        if !l.is_empty() {
            lines.push(l);
        }
    }
    // One line each was an item: join them as sentences.
    let joined = lines
        .iter()
        .map(|l| {
            let t = l.trim_end();
            if t.ends_with(['.', '!', '?', ':', ',', ';', '।', '॥']) { t.to_string() } else { format!("{t}.") }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut s = joined.replace("**", "").replace("__", "").replace('`', "").replace('*', "");
    s = drop_urls(&s);
    s = s.replace(" & ", " and ").replace('&', " and ").replace("e.g.", "for example").replace("i.e.", "that is");
    s = s.replace('%', " percent");
    s = prices(&s);
    s = on_the_hour(&s);
    s = sentences(&s).into_iter().map(|x| strip_meta(&x)).filter(|x| !x.is_empty()).collect::<Vec<_>>().join(" ");
    s.split_whitespace().collect::<Vec<_>>().join(" ").replace(" ,", ",").replace(" .", ".").replace("( ", "(")
}

/// A page's breadcrumb copied into a reply ("Shop › FAQ › Do you post
/// parts?: We can order…") is a heading, not speech: what follows its last
/// "›" is kept, from after the heading's colon when it has one.
fn without_breadcrumb(line: &str) -> &str {
    let Some(at) = line.rfind('›') else { return line };
    let rest = line[at + '›'.len_utf8()..].trim_start();
    let sentence_end = rest.find(". ").unwrap_or(rest.len());
    match rest[..sentence_end].find(": ") {
        Some(colon) => rest[colon + 2..].trim_start(),
        None => rest,
    }
}

/// Splits text into sentences (kept with their end mark).
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        cur.push(c);
        let end = matches!(c, '.' | '!' | '?' | '।') && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        // "9.30", "e.g." and initials stay inside their sentence.
        let abbreviation = c == '.' && {
            let word: String = cur.trim_end_matches('.').chars().rev().take_while(|c| c.is_alphabetic()).collect();
            word.chars().count() == 1 && word.chars().all(char::is_uppercase)
        };
        if (end && !abbreviation) || c == '\n' {
            let t = cur.trim();
            if !t.is_empty() {
                out.push(t.to_string());
            }
            cur.clear();
        }
    }
    let t = cur.trim();
    if !t.is_empty() {
        out.push(t.to_string());
    }
    out
}

fn strip_meta(sentence: &str) -> String {
    for m in META_OPENERS {
        // The openers are ASCII: compare bytes, so no cut falls inside a character.
        let head = sentence.as_bytes().get(..m.len());
        if head.is_some_and(|h| h.eq_ignore_ascii_case(m.as_bytes())) && sentence.is_char_boundary(m.len()) {
            let rest = sentence[m.len()..].trim_start_matches([',', ' ']);
            let mut c = rest.chars();
            return match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            };
        }
    }
    sentence.to_string()
}

/// `[text](url)` → `text`.
fn link_texts(s: &str) -> String {
    let mut out = s.to_string();
    while let Some(mid) = out.find("](") {
        let (Some(open), Some(close)) = (out[..mid].rfind('['), out[mid..].find(')').map(|i| mid + i)) else { break };
        out = format!("{}{}{}", &out[..open], &out[open + 1..mid], &out[close + 1..]);
    }
    out
}

fn drop_urls(s: &str) -> String {
    link_texts(s)
        .split(' ')
        .filter_map(|w| {
            let bare = w.trim_matches(|c: char| "()[]<>\"'".contains(c));
            let lower = bare.to_lowercase();
            if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("www.") {
                // Said as where it is, with the sentence's end mark.
                return Some(if w.ends_with('.') { "our website.".to_string() } else { "our website".to_string() });
            }
            Some(w.to_string())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `$45` → `45 dollars`, `$12.50` → `12 dollars 50`, `£8` → `8 pounds`.
fn prices(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let unit = match chars[i] {
            '$' => Some(("dollars", "cents")),
            '£' => Some(("pounds", "pence")),
            '€' => Some(("euros", "cents")),
            _ => None,
        };
        if let Some((big, _small)) = unit
            && chars.get(i + 1).is_some_and(char::is_ascii_digit)
        {
            let mut j = i + 1;
            let mut whole = String::new();
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == ',') {
                if chars[j] != ',' {
                    whole.push(chars[j]);
                }
                j += 1;
            }
            let mut frac = String::new();
            if j + 2 < chars.len() + 1
                && chars.get(j) == Some(&'.')
                && chars.get(j + 1).is_some_and(char::is_ascii_digit)
                && chars.get(j + 2).is_some_and(char::is_ascii_digit)
            {
                frac = chars[j + 1..j + 3].iter().collect();
                j += 3;
            }
            out.push_str(&whole);
            out.push(' ');
            out.push_str(big);
            if !frac.is_empty() && frac != "00" {
                out.push(' ');
                out.push_str(frac.trim_start_matches('0'));
            }
            i = j;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// `9:00 am` → `9 am`: a voice says "nine o'clock", not "nine zero zero".
fn on_the_hour(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < s.len() {
        if b.get(i..i + 3) == Some(b":00".as_slice())
            && i > 0
            && b[i - 1].is_ascii_digit()
            && b.get(i + 3).is_none_or(|c| !c.is_ascii_digit())
        {
            i += 3;
            continue;
        }
        let c = s[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_and_lists_become_sentences() {
        let md = "Here are our hours:\n1. **Monday**: 9:00 am - 5:00 pm\n2. **Sunday**: closed";
        assert_eq!(speakable(md), "Here are our hours: Monday: 9 am - 5 pm. Sunday: closed.");
        assert_eq!(speakable("# Parking\n- Free parking behind the shop"), "Parking. Free parking behind the shop.");
        assert_eq!(speakable("| Day | Hours |\n|---|---|\n| Mon | 9-5 |"), "Day, Hours. Mon, 9-5.");
    }

    #[test]
    fn evidence_talk_links_and_symbols_go() {
        assert_eq!(speakable("The evidence states that we open at 9 am."), "We open at 9 am.");
        assert_eq!(speakable("According to the evidence, parking is free."), "Parking is free.");
        assert_eq!(
            speakable("Book online at https://example.com/book or call us."),
            "Book online at our website or call us."
        );
        assert_eq!(speakable("See [our prices](https://x.example/p)."), "See our prices.");
        assert_eq!(
            speakable("A tune-up is $45 & a flat fix $12.50."),
            "A tune-up is 45 dollars and a flat fix 12 dollars 50."
        );
        assert_eq!(speakable("10% off"), "10 percent off.");
    }

    #[test]
    fn any_text_is_safe() {
        let odd = "Spokesmith Cycles › Workshop: open 9:00–17:00 · “ok” — é 10:00€ ✓";
        assert_eq!(speakable(odd), "open 9–17 · “ok” — é 10€ ✓.");
        assert_eq!(speakable("Según the evidence, café."), "Según the evidence, café.");
    }

    #[test]
    fn breadcrumbs_copied_from_a_page_are_not_said() {
        assert_eq!(
            speakable("Shop › FAQ › Do you post parts?: We can order parts in for you."),
            "We can order parts in for you."
        );
        assert_eq!(speakable("Shop › Classes › Learn to fix your bike."), "Learn to fix your bike.");
        assert_eq!(speakable("We open at 9: come early."), "We open at 9: come early.");
    }

    #[test]
    fn sentences_split_on_end_marks_only() {
        assert_eq!(
            sentences("We open at 9.30 on Monday. Closed Sunday! Why?"),
            ["We open at 9.30 on Monday.", "Closed Sunday!", "Why?"]
        );
        assert_eq!(sentences("Ask for J. Smith at the desk."), ["Ask for J. Smith at the desk."]);
    }
}
