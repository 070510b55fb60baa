//! What both backends share: how a paper record is merged into the stored paper it describes,
//! how rows turn into [`StoredPaper`]s, and how vectors are laid out. The backends differ only
//! in the SQL that reads and writes the rows.

use chrono::NaiveDate;
use paperscout_model::{Links, Paper, PaperId, Source};
use sha2::{Digest, Sha256};

use crate::{Error, PaperKey, Result, StoredPaper, UpsertReport};

pub(crate) fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn blob_to_vector(key: PaperKey, b: &[u8]) -> Result<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return Err(Error::Corrupt {
            key,
            message: format!(
                "embedding blob of {} bytes is not a whole number of f32s",
                b.len()
            ),
        });
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// A hash of every stored field, to tell an update that changes nothing from a real one.
pub(crate) fn record_hash(p: &Paper) -> String {
    let json = serde_json::to_vec(p).expect("a Paper always serialises");
    Sha256::digest(&json)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn arxiv_id(paper: &Paper) -> Option<&PaperId> {
    paper.ids().find(|id| id.scheme() == "arxiv")
}

/// When a paper published on `published` and added at `added` (Unix seconds) entered the feed.
pub(crate) fn listed_at(published: Option<NaiveDate>, added: i64) -> i64 {
    published
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp().min(added))
        .unwrap_or(added)
}

/// A paper's fields as both backends store them (JSON arrays in text columns, dates as
/// `YYYY-MM-DD`).
#[derive(Debug)]
pub(crate) struct PaperRow<'p> {
    pub paper: &'p Paper,
    pub id: &'p str,
    pub source: &'static str,
    pub authors: String,
    pub published: Option<String>,
    pub categories: String,
    pub links: String,
    pub content_hash: String,
    pub record_hash: String,
    pub aliases: String,
    pub updated: Option<String>,
    pub listed_at: i64,
    pub generation: i64,
    pub version: Option<i64>,
    pub upvotes: Option<i64>,
}

/// The row-level operations [`put`] needs from a backend's write transaction.
pub(crate) trait PaperRows {
    /// The smallest key known by `id` (an id, an alias or a title hash).
    fn key_by_id(&mut self, id: &str) -> Result<Option<PaperKey>>;
    /// The key of the paper whose own id is `id`.
    fn key_by_primary_id(&mut self, id: &str) -> Result<Option<PaperKey>>;
    /// The stored paper and its record hash.
    fn load(&mut self, key: PaperKey) -> Result<(Paper, String)>;
    fn update(&mut self, key: PaperKey, row: &PaperRow<'_>) -> Result<()>;
    fn insert(&mut self, row: &PaperRow<'_>) -> Result<PaperKey>;
    /// Maps `id` to `key` (nothing when already mapped).
    fn add_id(&mut self, id: &str, key: PaperKey) -> Result<()>;

    /// [`PaperRows::key_by_id`] of each of `ids`, in order. A backend for which each lookup
    /// is a round trip to a server answers them all at once.
    fn keys_by_ids(&mut self, ids: &[&str]) -> Result<Vec<Option<PaperKey>>> {
        ids.iter().map(|id| self.key_by_id(id)).collect()
    }

    /// [`PaperRows::add_id`] of each of `ids`.
    fn add_ids(&mut self, ids: &[&str], key: PaperKey) -> Result<()> {
        ids.iter().try_for_each(|id| self.add_id(id, key))
    }
}

/// Adds `paper`, or merges it into the stored paper it is a record of ([`Paper::merge`]): the
/// one known by any of its ids (arXiv id, DOI, …); failing that, when either side has no id but
/// a title hash, the one with the same normalised title.
pub(crate) fn put(
    rows: &mut impl PaperRows,
    paper: Paper,
    generation: u64,
    now: i64,
    report: &mut UpsertReport,
) -> Result<()> {
    let existing = find(rows, &paper)?;
    let (key, merged, old_hash) = match existing {
        Some((key, stored, old_hash)) => (Some(key), stored.merge(paper), Some(old_hash)),
        None => (None, paper, None),
    };
    let hash = record_hash(&merged);
    if old_hash.as_deref() == Some(hash.as_str()) {
        report.unchanged += 1;
        return Ok(());
    }
    let row = PaperRow {
        paper: &merged,
        id: merged.id.as_str(),
        source: merged.source.as_str(),
        authors: serde_json::to_string(&merged.authors).expect("strings serialise"),
        published: merged.published.map(|d| d.to_string()),
        categories: serde_json::to_string(&merged.categories).expect("strings serialise"),
        links: serde_json::to_string(&merged.links).expect("links serialise"),
        content_hash: merged.content_hash(),
        record_hash: hash,
        aliases: serde_json::to_string(&merged.aliases).expect("ids serialise"),
        updated: merged.updated.map(|d| d.to_string()),
        listed_at: if merged.source == paperscout_model::Source::Demo {
            crate::DEMO_LISTED_AT
        } else {
            listed_at(merged.published, now)
        },
        generation: generation as i64,
        version: merged.version.map(i64::from),
        upvotes: merged.upvotes.map(i64::from),
    };
    let key = match key {
        Some(key) => {
            rows.update(key, &row)?;
            report.updated += 1;
            key
        }
        None => {
            report.added += 1;
            rows.insert(&row)?
        }
    };
    let title = PaperId::from_title(&merged.title);
    let ids: Vec<&str> = merged
        .ids()
        .map(PaperId::as_str)
        .chain([title.as_str()])
        .collect();
    rows.add_ids(&ids, key)
}

/// The stored paper `paper` is a record of, with its key and record hash.
fn find(rows: &mut impl PaperRows, paper: &Paper) -> Result<Option<(PaperKey, Paper, String)>> {
    let strong: Vec<&str> = paper
        .ids()
        .filter(|id| !id.is_title())
        .map(PaperId::as_str)
        .collect();
    for key in rows.keys_by_ids(&strong)?.into_iter().flatten() {
        let (stored, hash) = rows.load(key)?;
        // Two different arXiv ids are two papers, even when they share a DOI (a paper and its
        // erratum, a mistake upstream).
        if arxiv_id(&stored).is_some_and(|s| arxiv_id(paper).is_some_and(|p| p != s)) {
            continue;
        }
        return Ok(Some((key, stored, hash)));
    }
    // Same title: the same paper when one side is known by nothing better. An id-less record
    // matches any paper with its title; a record with an id matches only a paper known by
    // nothing but its title (whose id is then that title's hash). Both are single index
    // lookups, whatever the number of papers sharing a title.
    let title = PaperId::from_title(&paper.title);
    let key = if paper.ids().all(PaperId::is_title) {
        rows.key_by_id(title.as_str())?
    } else {
        rows.key_by_primary_id(title.as_str())?
    };
    match key {
        Some(key) => {
            let (stored, hash) = rows.load(key)?;
            Ok(Some((key, stored, hash)))
        }
        None => Ok(None),
    }
}

/// The columns [`RawPaper`] is read from, in its order.
macro_rules! paper_columns {
    () => {
        "key, id, title, abstract, authors, published, categories, links, source, content_hash, \
         generation, listed_at, aliases, version, updated, upvotes"
    };
}
pub(crate) use paper_columns;

pub(crate) const COLUMNS: &str = paper_columns!();

/// A paper's row as read, before its fields are parsed.
#[derive(Debug)]
pub(crate) struct RawPaper {
    pub key: i64,
    pub id: String,
    pub title: String,
    pub abstract_text: String,
    pub authors: String,
    pub published: Option<String>,
    pub categories: String,
    pub links: String,
    pub source: String,
    pub content_hash: String,
    pub generation: i64,
    pub listed_at: i64,
    pub aliases: String,
    pub version: Option<i64>,
    pub updated: Option<String>,
    pub upvotes: Option<i64>,
}

pub(crate) fn parse_day(
    d: Option<String>,
) -> std::result::Result<Option<NaiveDate>, chrono::ParseError> {
    d.map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d"))
        .transpose()
}

impl RawPaper {
    pub(crate) fn into_stored(self) -> Result<StoredPaper> {
        let key = self.key;
        let corrupt = |message: String| Error::Corrupt { key, message };
        let small = |what: &str, n: Option<i64>| {
            n.map(u32::try_from)
                .transpose()
                .map_err(|_| corrupt(format!("{what}: {n:?} is out of range")))
        };
        let paper = Paper {
            id: self.id.parse().map_err(|e| corrupt(format!("id: {e}")))?,
            title: self.title,
            abstract_text: self.abstract_text,
            authors: serde_json::from_str(&self.authors)
                .map_err(|e| corrupt(format!("authors: {e}")))?,
            published: parse_day(self.published).map_err(|e| corrupt(format!("published: {e}")))?,
            categories: serde_json::from_str(&self.categories)
                .map_err(|e| corrupt(format!("categories: {e}")))?,
            links: serde_json::from_str::<Links>(&self.links)
                .map_err(|e| corrupt(format!("links: {e}")))?,
            source: Source::parse(&self.source)
                .ok_or_else(|| corrupt(format!("source `{}`", self.source)))?,
            aliases: serde_json::from_str(&self.aliases)
                .map_err(|e| corrupt(format!("aliases: {e}")))?,
            version: small("version", self.version)?,
            updated: parse_day(self.updated).map_err(|e| corrupt(format!("updated: {e}")))?,
            upvotes: small("upvotes", self.upvotes)?,
        };
        Ok(StoredPaper {
            key,
            paper,
            content_hash: self.content_hash,
            generation: self.generation as u64,
            listed_at: self.listed_at,
        })
    }
}

/// Parses the `published` and `categories` columns into [`crate::Facets`].
pub(crate) fn facets(
    key: PaperKey,
    published: Option<String>,
    categories: &str,
) -> Result<crate::Facets> {
    let corrupt = |message: String| Error::Corrupt { key, message };
    Ok(crate::Facets {
        published: parse_day(published).map_err(|e| corrupt(format!("published: {e}")))?,
        categories: serde_json::from_str(categories)
            .map_err(|e| corrupt(format!("categories: {e}")))?,
    })
}
