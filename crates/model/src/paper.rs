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
    /// The arXiv API (`export.arxiv.org/api/query`, Atom).
    ArxivApi,
    /// arXiv's OAI-PMH interface (`export.arxiv.org/oai2`).
    ArxivOai,
    /// The arXiv metadata snapshot (Kaggle's `arxiv-metadata-oai-snapshot.json`).
    ArxivSnapshot,
    /// arXiv's daily listing feeds (`rss.arxiv.org`, RSS 2.0 or Atom).
    ArxivRss,
    /// Hugging Face's daily papers (`huggingface.co/api/daily_papers`).
    HfDaily,
    /// OpenAlex works (`api.openalex.org`).
    OpenAlex,
    /// The Semantic Scholar Graph API.
    SemanticScholar,
    /// A BibTeX file.
    Bibtex,
}

impl Source {
    pub const ALL: [Source; 12] = [
        Source::Demo,
        Source::Listing,
        Source::Beir,
        Source::Jsonl,
        Source::ArxivApi,
        Source::ArxivOai,
        Source::ArxivSnapshot,
        Source::ArxivRss,
        Source::HfDaily,
        Source::OpenAlex,
        Source::SemanticScholar,
        Source::Bibtex,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Demo => "demo",
            Source::Listing => "listing",
            Source::Beir => "beir",
            Source::Jsonl => "jsonl",
            Source::ArxivApi => "arxiv-api",
            Source::ArxivOai => "arxiv-oai",
            Source::ArxivSnapshot => "arxiv-snapshot",
            Source::ArxivRss => "arxiv-rss",
            Source::HfDaily => "hf-daily",
            Source::OpenAlex => "openalex",
            Source::SemanticScholar => "semantic-scholar",
            Source::Bibtex => "bibtex",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Source::ALL.into_iter().find(|src| src.as_str() == s)
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
    /// The paper's other ids (a DOI beside its arXiv id, say): a record that arrives under any
    /// of them is the same paper.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<PaperId>,
    /// The arXiv version this record describes (2 for `v2`); a record of an older version than
    /// the one stored does not replace its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// When the latest version appeared (`published` stays the first version's date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<NaiveDate>,
    /// Upvotes the paper had at its source (Hugging Face daily papers): its initial trending
    /// signal, before anyone votes here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upvotes: Option<u32>,
}

impl Paper {
    /// A paper with only an id, a title, an abstract and a source; the other fields empty.
    pub fn new(id: PaperId, title: String, abstract_text: String, source: Source) -> Paper {
        Paper {
            id,
            title,
            abstract_text,
            authors: Vec::new(),
            published: None,
            categories: Vec::new(),
            links: Links::default(),
            source,
            aliases: Vec::new(),
            version: None,
            updated: None,
            upvotes: None,
        }
    }

    /// Every id the paper is known by: its id, then its aliases.
    pub fn ids(&self) -> impl Iterator<Item = &PaperId> {
        std::iter::once(&self.id).chain(self.aliases.iter())
    }

    /// Adds `id` as an alias unless the paper already has it.
    pub fn add_alias(&mut self, id: PaperId) {
        if !self.ids().any(|known| *known == id) {
            self.aliases.push(id);
        }
    }

    /// Makes the strongest of the paper's ids its id (arXiv, then DOI, then the others; see
    /// [`PaperId::rank`]), keeping the rest as aliases.
    pub fn settle_id(&mut self) {
        if let Some(best) = (0..self.aliases.len()).min_by_key(|&i| self.aliases[i].rank()) {
            if self.aliases[best].rank() < self.id.rank() {
                std::mem::swap(&mut self.id, &mut self.aliases[best]);
            }
        }
    }

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
        Paper::new(
            PaperId::from_title(title),
            title.into(),
            abstract_text.into(),
            Source::Listing,
        )
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
        assert!(!json.contains("aliases"), "empty fields are left out: {json}");
    }

    #[test]
    fn settle_id_prefers_arxiv_then_doi() {
        let mut p = paper("T", "A");
        p.add_alias("10.1000/x".parse().unwrap());
        p.add_alias("2101.00001".parse().unwrap());
        p.add_alias("2101.00001v2".parse().unwrap());
        p.settle_id();
        assert_eq!(p.id.as_str(), "arxiv:2101.00001");
        assert_eq!(p.aliases.len(), 2, "{:?}", p.aliases);
        assert!(p.aliases.iter().any(|a| a.scheme() == "title"));
    }

    #[test]
    fn every_source_round_trips_by_name() {
        for s in Source::ALL {
            assert_eq!(Source::parse(s.as_str()), Some(s));
        }
    }
}
