use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::PaperId;

/// The text the encoder sees for a paper: title and abstract joined by a space (as BEIR does).
pub fn embedding_text(title: &str, abstract_text: &str) -> String {
    match (title.is_empty(), abstract_text.is_empty()) {
        (false, false) => format!("{title} {abstract_text}"),
        (false, true) => title.to_string(),
        (true, _) => abstract_text.to_string(),
    }
}

/// Where a paper came from, kept for provenance and `stats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The bundled demo corpus (a papers-page listing).
    Demo,
    /// A papers-page listing file (title line, abstract line).
    Listing,
    /// A BEIR `corpus.jsonl`.
    Beir,
    /// paperscout's own JSONL, as written by `paperscout export`.
    Jsonl,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Demo => "demo",
            Source::Listing => "listing",
            Source::Beir => "beir",
            Source::Jsonl => "jsonl",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "demo" => Source::Demo,
            "listing" => Source::Listing,
            "beir" => Source::Beir,
            "jsonl" => Source::Jsonl,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// A research paper. `id` is its identity: ingesting a paper with an id already in the store
/// updates that paper.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paper {
    pub id: PaperId,
    pub title: String,
    #[serde(rename = "abstract", default)]
    pub abstract_text: String,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<NaiveDate>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub links: Links,
    pub source: Source,
}

impl Paper {
    /// The text the encoder sees: title and abstract joined by a space (as in BEIR).
    pub fn embedding_text(&self) -> String {
        embedding_text(&self.title, &self.abstract_text)
    }

    /// A hash of everything the derived indexes depend on (title and abstract); an embedding
    /// stored with a matching hash need not be recomputed.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.title.as_bytes());
        h.update([0]);
        h.update(self.abstract_text.as_bytes());
        h.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(title: &str, abstract_text: &str) -> Paper {
        Paper {
            id: PaperId::from_title(title),
            title: title.into(),
            abstract_text: abstract_text.into(),
            authors: vec![],
            published: None,
            categories: vec![],
            links: Links::default(),
            source: Source::Listing,
        }
    }

    #[test]
    fn embedding_text_joins_title_and_abstract() {
        assert_eq!(paper("T", "A b.").embedding_text(), "T A b.");
        assert_eq!(paper("T", "").embedding_text(), "T");
        assert_eq!(paper("", "A").embedding_text(), "A");
    }

    #[test]
    fn content_hash_depends_on_title_and_abstract_only() {
        let a = paper("T", "A");
        let mut b = a.clone();
        b.authors.push("Someone".into());
        assert_eq!(a.content_hash(), b.content_hash());
        assert_ne!(a.content_hash(), paper("T", "B").content_hash());
        assert_ne!(
            paper("TA", "").content_hash(),
            paper("T", "A").content_hash()
        );
    }

    #[test]
    fn json_round_trip_uses_abstract_key() {
        let mut p = paper("Title", "Abstract");
        p.published = NaiveDate::from_ymd_opt(2024, 2, 29);
        p.links.pdf = Some("https://arxiv.org/pdf/2402.00001".into());
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"abstract\":\"Abstract\""), "{json}");
        assert!(json.contains("\"published\":\"2024-02-29\""), "{json}");
        let back: Paper = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }
}
