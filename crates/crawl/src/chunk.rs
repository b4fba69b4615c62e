//! The `Chunker` stage: main-content blocks to passages of a few hundred
//! words, split at headings, each carrying its heading path.

use crate::config::ChunkConfig;
use crate::extract::{Block, Extracted};

/// One passage of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The headings above the passage's start, outermost first.
    pub heading_path: Vec<String>,
    pub text: String,
    pub words: usize,
}

pub trait Chunker: Send + Sync {
    fn chunk(&self, page: &Extracted) -> Vec<Chunk>;
}

/// Greedy packing by headings:
/// - a passage never exceeds `max_words`, overlap included;
/// - a new heading starts a new passage once the current one has
///   `min_words`; shorter sections are merged forward, their headings kept
///   inline as lines so the text still reads;
/// - when a section continues into a new passage, its last
///   `overlap_sentences` sentences are repeated (if they fit in a third of
///   the budget), so no sentence loses its context at a cut.
#[derive(Debug, Clone, Default)]
pub struct HeadingChunker {
    pub config: ChunkConfig,
}

impl HeadingChunker {
    pub fn new(config: ChunkConfig) -> Self {
        HeadingChunker { config }
    }
}

/// One packable unit: a sentence (or a heading line) of one section.
struct Unit {
    section: usize,
    text: String,
    words: usize,
    /// Starts a new paragraph (joined with a blank line, not a space).
    para_start: bool,
    /// A sentence (may be repeated as overlap), not a heading line.
    sentence: bool,
}

/// Splits prose into sentences at `.`, `!` or `?` followed by whitespace.
/// Abbreviations split too; harmless for retrieval.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        cur.push(c);
        if matches!(c, '.' | '!' | '?') && chars.peek().is_some_and(|n| n.is_whitespace()) {
            let s = cur.trim();
            if !s.is_empty() {
                out.push(s.to_string());
            }
            cur.clear();
        }
    }
    let s = cur.trim();
    if !s.is_empty() {
        out.push(s.to_string());
    }
    out
}

fn word_count(s: &str) -> usize {
    s.split_whitespace().count()
}

/// Splits an over-long sentence into pieces of at most `max` words.
fn split_words(s: &str, max: usize) -> Vec<String> {
    let words: Vec<&str> = s.split_whitespace().collect();
    words.chunks(max.max(1)).map(|w| w.join(" ")).collect()
}

impl Chunker for HeadingChunker {
    fn chunk(&self, page: &Extracted) -> Vec<Chunk> {
        let max = self.config.max_words.max(1);
        let min = self.config.min_words.min(max);

        // Sections: heading paths, and the units under each.
        let mut paths: Vec<Vec<String>> = vec![Vec::new()];
        let mut stack: Vec<(u8, String)> = Vec::new();
        let mut units: Vec<Unit> = Vec::new();
        for block in &page.blocks {
            match block {
                Block::Heading { level, text } => {
                    while stack.last().is_some_and(|(l, _)| *l >= *level) {
                        stack.pop();
                    }
                    stack.push((*level, text.clone()));
                    paths.push(stack.iter().map(|(_, t)| t.clone()).collect());
                    let section = paths.len() - 1;
                    for (i, piece) in split_words(text, max).into_iter().enumerate() {
                        let words = word_count(&piece);
                        units.push(Unit { section, text: piece, words, para_start: i == 0, sentence: false });
                    }
                }
                other => {
                    let section = paths.len() - 1;
                    let text = match other {
                        Block::ListItem(t) => format!("- {t}"),
                        b => b.text().to_string(),
                    };
                    let mut first = true;
                    for s in sentences(&text) {
                        for piece in split_words(&s, max) {
                            let words = word_count(&piece);
                            units.push(Unit { section, text: piece, words, para_start: first, sentence: true });
                            first = false;
                        }
                    }
                }
            }
        }

        let mut chunks = Vec::new();
        let mut cur: Vec<&Unit> = Vec::new();
        let mut cur_words = 0usize;
        let emit = |cur: &mut Vec<&Unit>, cur_words: &mut usize, chunks: &mut Vec<Chunk>| {
            // A passage of only heading lines says nothing; its headings are
            // already on the next passage's path.
            if cur.iter().any(|u| u.sentence) {
                chunks.push(Chunk { heading_path: paths[cur[0].section].clone(), text: join(cur), words: *cur_words });
            }
            cur.clear();
            *cur_words = 0;
        };
        for u in &units {
            let new_section = cur.last().is_some_and(|l| l.section != u.section);
            if new_section && cur_words >= min {
                emit(&mut cur, &mut cur_words, &mut chunks);
            }
            if cur_words + u.words > max && !cur.is_empty() {
                let section = cur.last().map(|l| l.section);
                let overlap = overlap_of(&cur, self.config.overlap_sentences, max / 3);
                emit(&mut cur, &mut cur_words, &mut chunks);
                if section == Some(u.section) {
                    let ow: usize = overlap.iter().map(|o| o.words).sum();
                    if ow + u.words <= max {
                        cur_words = ow;
                        cur = overlap;
                    }
                }
            }
            // Heading-only openings: a passage must not start with a heading
            // line of its own section (the path already carries it).
            if cur.is_empty() && !u.sentence {
                continue;
            }
            cur_words += u.words;
            cur.push(u);
        }
        emit(&mut cur, &mut cur_words, &mut chunks);
        chunks
    }
}

/// The last `n` sentences of a passage that fit in `budget` words.
fn overlap_of<'a>(cur: &[&'a Unit], n: usize, budget: usize) -> Vec<&'a Unit> {
    let mut out: Vec<&Unit> = Vec::new();
    let mut words = 0;
    let last_section = cur.last().map(|u| u.section);
    for u in cur.iter().rev() {
        if out.len() == n || !u.sentence || Some(u.section) != last_section || words + u.words > budget {
            break;
        }
        words += u.words;
        out.push(u);
    }
    out.reverse();
    out
}

fn join(units: &[&Unit]) -> String {
    let mut out = String::new();
    for (i, u) in units.iter().enumerate() {
        if i > 0 {
            out.push_str(if u.para_start || !u.sentence { "\n\n" } else { " " });
        }
        out.push_str(&u.text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A paragraph of `n` sentences of ten words each, numbered so cuts and
    /// overlaps can be checked.
    fn para(tag: &str, n: usize) -> Block {
        let s: Vec<String> = (0..n).map(|i| format!("{tag}{i} w2 w3 w4 w5 w6 w7 w8 w9 end.")).collect();
        Block::Paragraph(s.join(" "))
    }

    fn page(blocks: Vec<Block>) -> Extracted {
        Extracted { title: "T".into(), blocks, ..Default::default() }
    }

    fn h(level: u8, t: &str) -> Block {
        Block::Heading { level, text: t.into() }
    }

    #[test]
    fn sizes_and_overlap() {
        let c = HeadingChunker::new(ChunkConfig { max_words: 100, min_words: 50, overlap_sentences: 1 });
        // 35 sentences of 10 words = 350 words in one section.
        let chunks = c.chunk(&page(vec![h(2, "Menu"), para("s", 35)]));
        assert!(chunks.len() >= 4);
        for w in chunks.windows(2) {
            // The last sentence of one passage opens the next.
            let last = sentences(&w[0].text).pop().unwrap();
            assert!(w[1].text.starts_with(&last), "{:?} / {:?}", last, &w[1].text[..40]);
        }
        for ch in &chunks {
            assert!(ch.words <= 100, "{}", ch.words);
            assert_eq!(ch.words, word_count(&ch.text));
            assert_eq!(ch.heading_path, vec!["Menu".to_string()]);
        }
        // All but the last are full (100 words: 10 sentences).
        for ch in &chunks[..chunks.len() - 1] {
            assert_eq!(ch.words, 100);
        }
        // Every sentence appears somewhere.
        let all: String = chunks.iter().map(|c| c.text.clone()).collect::<Vec<_>>().join(" ");
        for i in 0..35 {
            assert!(all.contains(&format!("s{i} ")), "s{i}");
        }
    }

    #[test]
    fn headings_split_and_short_sections_merge() {
        let c = HeadingChunker::new(ChunkConfig { max_words: 100, min_words: 50, overlap_sentences: 1 });
        let chunks = c.chunk(&page(vec![
            h(1, "Cafe"),
            para("a", 6), // 60 words: reaches min, so the next heading splits
            h(2, "Hours"),
            para("b", 2), // 20 words: short, merged with the next section
            h(2, "Prices"),
            h(3, "Coffee"),
            para("c", 2),
        ]));
        assert_eq!(chunks.len(), 2, "{chunks:#?}");
        assert_eq!(chunks[0].heading_path, vec!["Cafe".to_string()]);
        assert_eq!(chunks[1].heading_path, vec!["Cafe".to_string(), "Hours".to_string()]);
        assert!(chunks[1].text.contains("\n\nPrices\n\nCoffee\n\nc0"), "{}", chunks[1].text);
        // No overlap across a heading split.
        assert!(!chunks[1].text.contains("a5"));
    }

    #[test]
    fn overlong_sentences_are_cut() {
        let c = HeadingChunker::new(ChunkConfig { max_words: 30, min_words: 10, overlap_sentences: 2 });
        let long = (0..100).map(|i| format!("x{i}")).collect::<Vec<_>>().join(" ");
        let chunks = c.chunk(&page(vec![Block::Paragraph(long)]));
        assert!(chunks.iter().all(|c| c.words <= 30));
        assert_eq!(chunks.iter().map(|c| c.words).sum::<usize>(), 100);
        assert!(c.chunk(&page(vec![h(1, "Only a heading")])).is_empty());
    }
}
