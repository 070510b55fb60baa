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
    /// A RIS file (Zotero, Mendeley, EndNote).
    Ris,
    /// A CSL-JSON file (Zotero, Mendeley).
    CslJson,
}

impl Source {
    pub const ALL: [Source; 14] = [
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
        Source::Ris,
        Source::CslJson,
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
            Source::Ris => "ris",
            Source::CslJson => "csl-json",
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

    /// Whether `self` describes the paper at least as recently as `other`: by arXiv version when
    /// both have one, else by the date of their latest version; when that cannot be told, the
    /// record that arrives later is taken as the newer.
    pub fn is_at_least_as_recent_as(&self, other: &Paper) -> bool {
        if let (Some(mine), Some(theirs)) = (self.version, other.version) {
            return mine >= theirs;
        }
        match (
            self.updated.or(self.published),
            other.updated.or(other.published),
        ) {
            (Some(mine), Some(theirs)) => mine >= theirs,
            _ => true,
        }
    }

    /// The paper as known after `incoming` (another record of the same paper, from any source)
    /// arrives on top of `self`:
    /// - the more recent record's text, authors and categories win (an older arXiv version
    ///   never replaces a newer one), and neither record's empty fields erase the other's;
    /// - `published` stays the earliest date known (the first version), `updated` the latest;
    /// - ids are pooled and the strongest becomes the id; links are merged per kind;
    /// - `upvotes` is the latest count reported; `source` stays where the paper came from first,
    ///   except that the bundled demo corpus yields to any real source (the paper then counts
    ///   as that source's, and leaves with it, not with `remove --source demo`).
    pub fn merge(self, incoming: Paper) -> Paper {
        let newer = incoming.is_at_least_as_recent_as(&self);
        let (mut base, other) = if newer {
            (incoming, self)
        } else {
            (self, incoming)
        };
        let (first, later) = if newer {
            (&other, &base)
        } else {
            (&base, &other)
        };
        let source = if first.source == Source::Demo {
            later.source
        } else {
            first.source
        };
        let upvotes = later.upvotes.or(first.upvotes);
        let published = match (base.published, other.published) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let updated = base.updated.max(other.updated);
        let version = base.version.max(other.version);
        if base.title.is_empty() {
            base.title = other.title.clone();
        }
        if base.abstract_text.is_empty() {
            base.abstract_text = other.abstract_text.clone();
        }
        if base.authors.is_empty() {
            base.authors = other.authors.clone();
        }
        if base.categories.is_empty() {
            base.categories = other.categories.clone();
        }
        base.links.pdf = base.links.pdf.take().or_else(|| other.links.pdf.clone());
        base.links.code = base.links.code.take().or_else(|| other.links.code.clone());
        base.links.project = base
            .links
            .project
            .take()
            .or_else(|| other.links.project.clone());
        for id in other.ids() {
            base.add_alias(id.clone());
        }
        base.settle_id();
        // The stored paper's id is kept unless a stronger one arrived, so links to it hold.
        if newer && base.id.rank() == other.id.rank() && base.id != other.id {
            let stored_id = other.id.clone();
            base.aliases.retain(|a| *a != stored_id);
            let replaced = std::mem::replace(&mut base.id, stored_id);
            base.add_alias(replaced);
        }
        base.published = published;
        base.updated = updated;
        base.version = version;
        base.upvotes = upvotes;
        base.source = source;
        base
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
        assert!(
            !json.contains("aliases"),
            "empty fields are left out: {json}"
        );
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

    fn arxiv(version: u32, day: u32, title: &str) -> Paper {
        let mut p = paper(title, "");
        p.id = "2101.00001".parse().unwrap();
        p.version = Some(version);
        p.published = NaiveDate::from_ymd_opt(2021, 1, day);
        p.updated = p.published;
        p.source = Source::ArxivApi;
        p
    }

    #[test]
    fn merge_keeps_the_latest_version_and_the_first_date() {
        let v1 = arxiv(1, 1, "Old title");
        let mut v2 = arxiv(2, 9, "New title");
        v2.published = None; // A replacement announcement does not date the paper.
        let merged = v1.clone().merge(v2.clone());
        assert_eq!(merged.title, "New title");
        assert_eq!(
            (merged.version, merged.published, merged.updated),
            (
                Some(2),
                NaiveDate::from_ymd_opt(2021, 1, 1),
                NaiveDate::from_ymd_opt(2021, 1, 9)
            )
        );
        // v1 arriving after v2 (an old snapshot) changes nothing.
        let again = merged.clone().merge(v1);
        assert_eq!(again, merged);
        assert_eq!(again.source, Source::ArxivApi);
    }

    #[test]
    fn merge_pools_ids_and_fills_gaps_without_erasing() {
        let mut openalex = paper("Same paper", "An abstract.");
        openalex.id = "10.1000/x".parse().unwrap();
        openalex.source = Source::OpenAlex;
        openalex.links.pdf = Some("https://example.org/x.pdf".into());
        let mut hf = paper("Same paper", "");
        hf.id = "2101.00001".parse().unwrap();
        hf.add_alias("10.1000/x".parse().unwrap());
        hf.upvotes = Some(12);
        hf.links.code = Some("https://github.com/a/b".into());
        hf.source = Source::HfDaily;
        let merged = openalex.merge(hf);
        assert_eq!(
            merged.id.as_str(),
            "arxiv:2101.00001",
            "the stronger id wins"
        );
        assert_eq!(
            merged
                .aliases
                .iter()
                .map(PaperId::as_str)
                .collect::<Vec<_>>(),
            ["doi:10.1000/x"]
        );
        assert_eq!(
            merged.abstract_text, "An abstract.",
            "an empty abstract erases nothing"
        );
        assert_eq!(
            (merged.upvotes, merged.source),
            (Some(12), Source::OpenAlex)
        );
        assert!(merged.links.pdf.is_some() && merged.links.code.is_some());
    }

    #[test]
    fn a_demo_paper_becomes_the_real_sources_either_way_round() {
        let mut demo = paper("Same paper", "An abstract.");
        demo.source = Source::Demo;
        let mut real = paper("Same paper", "An abstract.");
        real.source = Source::HfDaily;
        assert_eq!(demo.clone().merge(real.clone()).source, Source::HfDaily);
        assert_eq!(real.merge(demo).source, Source::HfDaily);
    }

    #[test]
    fn every_source_round_trips_by_name() {
        for s in Source::ALL {
            assert_eq!(Source::parse(s.as_str()), Some(s));
        }
    }
}
