//! Knowledge entries: question/answer pairs the agent may cite, whether typed
//! by a supervisor, learned from a resolved help request, or seeded.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::validate::{ValidationError, optional, required};

pub const MAX_KB_QUESTION: usize = 500;
pub const MAX_KB_ANSWER: usize = 8_000;
pub const MAX_KB_TOPIC: usize = 80;
/// Longest accepted search query.
pub const MAX_QUERY: usize = 500;

/// Where an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KnowledgeSource {
    /// Typed in the knowledge-base screen.
    Manual,
    /// A supervisor's answer to a help request.
    Learned,
    /// Seeded by `--demo`.
    Seed,
    /// A passage of a crawled web page (search results only; such passages
    /// are managed by crawl jobs, not edited as entries).
    Page,
    /// A fact of the business profile (hours, address, phone): evidence the
    /// agent reads, never a stored entry.
    Profile,
}

impl KnowledgeSource {
    /// Question/answer pairs (as opposed to crawled page passages): only
    /// these may be said verbatim.
    pub fn is_qa(self) -> bool {
        !matches!(self, KnowledgeSource::Page | KnowledgeSource::Profile)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KnowledgeSource::Manual => "manual",
            KnowledgeSource::Learned => "learned",
            KnowledgeSource::Seed => "seed",
            KnowledgeSource::Page => "page",
            KnowledgeSource::Profile => "profile",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "manual" => Some(KnowledgeSource::Manual),
            "learned" => Some(KnowledgeSource::Learned),
            "seed" => Some(KnowledgeSource::Seed),
            "page" => Some(KnowledgeSource::Page),
            "profile" => Some(KnowledgeSource::Profile),
            _ => None,
        }
    }
}

/// The uniqueness key of a question: lower-cased, whitespace folded, without
/// surrounding punctuation, so "Do you open Sundays?" and "do you open  sundays"
/// are one entry.
pub fn question_key(question: &str) -> String {
    let folded = question.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    folded.trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace()).to_string()
}

/// A stored knowledge entry. The database is the source of truth; the search
/// index is derived from it and can always be rebuilt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KnowledgeEntry {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub question: String,
    pub answer: String,
    pub topic: Option<String>,
    pub source: KnowledgeSource,
    /// The help request whose answer taught this entry.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub source_request_id: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// Input for creating or replacing an entry.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeInput {
    #[schema(
        max_length = 500,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub question: String,
    #[schema(
        max_length = 8000,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub answer: String,
    #[serde(default)]
    #[schema(max_length = 80, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub topic: Option<String>,
}

/// A validated [`KnowledgeInput`].
#[derive(Debug, Clone)]
pub struct ValidKnowledge {
    pub question: String,
    pub answer: String,
    pub topic: Option<String>,
}

impl KnowledgeInput {
    pub fn validate(&self) -> Result<ValidKnowledge, ValidationError> {
        Ok(ValidKnowledge {
            question: required("question", &self.question, MAX_KB_QUESTION)?,
            answer: required("answer", &self.answer, MAX_KB_ANSWER)?,
            topic: optional("topic", self.topic.as_deref(), MAX_KB_TOPIC)?,
        })
    }
}

/// What the search index stores for one searchable passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IndexDoc {
    /// Stable id (a knowledge entry's id); re-indexing replaces by id.
    pub id: String,
    /// `manual`, `learned`, `seed` (later also crawled `page` chunks).
    pub kind: KnowledgeSource,
    /// The question (or a page's title).
    pub question: String,
    /// The answer (or a page chunk's text).
    pub answer: String,
    pub topic: Option<String>,
    pub url: Option<String>,
    pub source_request_id: Option<String>,
}

impl From<&KnowledgeEntry> for IndexDoc {
    fn from(e: &KnowledgeEntry) -> Self {
        IndexDoc {
            id: e.id.to_string(),
            kind: e.source,
            question: e.question.clone(),
            answer: e.answer.clone(),
            topic: e.topic.clone(),
            url: None,
            source_request_id: e.source_request_id.map(|u| u.to_string()),
        }
    }
}

impl IndexDoc {
    /// A stable 64-bit fingerprint of everything the index stores of this
    /// document (FNV-1a, fields separated by a byte no text contains), so an
    /// index can be compared with the database by content, not only by count.
    pub fn fingerprint(&self) -> u64 {
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let fields = [
            Some(self.id.as_str()),
            Some(self.kind.as_str()),
            Some(self.question.as_str()),
            Some(self.answer.as_str()),
            self.topic.as_deref(),
            self.url.as_deref(),
            self.source_request_id.as_deref(),
        ];
        for f in fields {
            // `None` and `Some("")` differ: a marker byte says which.
            let bytes = f.map(str::as_bytes);
            for b in [u8::from(bytes.is_some())].iter().chain(bytes.unwrap_or_default()).chain(&[0xff]) {
                h ^= u64::from(*b);
                h = h.wrapping_mul(PRIME);
            }
        }
        h
    }
}

/// An order-free summary of a set of documents' contents: two sets with the
/// same digest hold, with overwhelming likelihood, the same documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContentDigest {
    pub count: u64,
    /// Wrapping sum of the documents' fingerprints.
    pub sum: u64,
}

impl ContentDigest {
    pub fn add(&mut self, fingerprint: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(fingerprint);
    }

    pub fn of<'a>(docs: impl IntoIterator<Item = &'a IndexDoc>) -> ContentDigest {
        let mut d = ContentDigest::default();
        for doc in docs {
            d.add(doc.fingerprint());
        }
        d
    }
}

/// One scored search result (BM25; higher is better).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    #[serde(flatten)]
    pub doc: IndexDoc,
    pub score: f32,
    /// Cosine similarity of the query's and the document's embeddings, when
    /// the embedding model is loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// For question/answer entries: the similarity to the entry's question
    /// alone (a paraphrase of a learned question scores high here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_similarity: Option<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_requires_question_and_answer() {
        let i = KnowledgeInput { question: "Hours?".into(), answer: " ".into(), topic: None };
        assert_eq!(i.validate().unwrap_err().field, "answer");
        let i = KnowledgeInput { question: "Hours?".into(), answer: "9-5".into(), topic: Some(" ".into()) };
        assert_eq!(i.validate().unwrap().topic, None);
    }

    #[test]
    fn question_key_folds_case_space_and_punctuation() {
        assert_eq!(question_key("  Do you open   Sundays? "), "do you open sundays");
        assert_eq!(question_key("do you open sundays"), question_key("DO YOU OPEN SUNDAYS?!"));
        assert_ne!(question_key("open sundays"), question_key("open mondays"));
    }

    #[test]
    fn source_round_trips() {
        for s in [KnowledgeSource::Manual, KnowledgeSource::Learned, KnowledgeSource::Seed, KnowledgeSource::Page] {
            assert_eq!(KnowledgeSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(KnowledgeSource::parse("nope"), None);
    }
}
