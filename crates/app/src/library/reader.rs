//! A reader's library inside the engine: "For you" (the ranker over recent papers, with
//! reasons and rules; fitted models cached per library), and reference import and BibTeX
//! export of a collection.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use paperscout_model::sync::MutexExt;

use chrono::{DateTime, Utc};
use paperscout_index::Key;
use paperscout_model::{Paper, PaperId};
use paperscout_store::{Rules, StoredPaper, MAX_COLLECTION_PAPERS};
use serde::Serialize;

use paperscout_encoder::Encoder;

use super::{
    features, matches_rules, nearest, Doc, Method, Ranker, RankerParams, RuleCheck, TfIdf,
};
use crate::{Engine, Error, FeedItem, Result, Window};

/// The most recent papers a "For you" page ranks (and trains against as background).
pub const POOL: usize = 3_000;
/// The most library papers a model trains on (the most recently saved).
pub const MAX_TRAINING: usize = 2_000;

/// One library paper a recommendation is near.
#[derive(Debug, Clone, Serialize)]
pub struct Near {
    pub id: PaperId,
    pub title: String,
    pub similarity: f64,
}

/// Why a paper is recommended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reasons {
    /// The two nearest library papers.
    pub nearest: Vec<Near>,
    /// The terms that counted most for it (learned models only).
    pub terms: Vec<String>,
    /// A followed author who wrote it (shown whatever the model says).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followed_author: Option<String>,
}

/// One recommended paper.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    #[serde(flatten)]
    pub item: FeedItem,
    pub score: f64,
    /// Listed inside the window (the rest are the best of the latest papers, after them).
    pub in_window: bool,
    pub why: Reasons,
}

/// A "For you" page.
#[derive(Debug, Clone, Serialize)]
pub struct ForYou {
    /// "learned", "cold start" or "empty" (no library papers yet).
    pub method: &'static str,
    /// Library papers the model learned from.
    pub library: usize,
    /// Papers marked "not interested".
    pub dismissed: usize,
    /// Recent papers ranked.
    pub candidates: usize,
    /// Papers the rules left out.
    pub excluded_by_rules: usize,
    /// Milliseconds the model in use took to fit and score its pool, when it was fitted (a
    /// fitted model is reused while the library, the dismissals and the papers stay the same).
    pub train_ms: f64,
    pub items: Vec<Recommendation>,
}

/// How an imported entry was matched to a corpus paper.
#[derive(Debug, Clone, Serialize)]
pub struct ImportMatch {
    pub key: Option<String>,
    pub line: usize,
    pub id: PaperId,
    pub title: String,
    /// "arXiv id", "DOI" or "title".
    pub by: &'static str,
}

/// An entry that parsed but matches no corpus paper, or did not parse.
#[derive(Debug, Clone, Serialize)]
pub struct ImportMiss {
    pub key: Option<String>,
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// What the file was: `bibtex`, `ris` or `csl-json` (told from its content).
    pub format: &'static str,
    pub entries: usize,
    pub matched: Vec<ImportMatch>,
    /// Entries with no matching paper in the corpus.
    pub unmatched: Vec<ImportMiss>,
    /// Entries that could not be read.
    pub broken: Vec<ImportMiss>,
    /// Papers newly added to the collection (matched ones already in it are not counted).
    pub added: usize,
}

/// How many fitted library models [`Engine::for_you`] keeps (each holds its pool's
/// embeddings, texts and tf-idf rows: about 10 MB at the [`POOL`] of 3,000 papers).
pub(crate) const FITTED_CACHE: usize = 16;

/// What a fitted model depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FitKey {
    library: Vec<Key>,
    dismissed: Vec<Key>,
    generation: u64,
    embeddings: u64,
    model: String,
}

/// A library's model over its pool: the pool's papers with their embeddings and texts (in
/// the same order), the tf-idf rows, the ranker and which pool papers trained it.
pub(crate) struct Fitted {
    papers: Vec<StoredPaper>,
    vectors: Vec<Vec<f32>>,
    texts: Vec<String>,
    tfidf: TfIdf,
    ranker: Ranker,
    positives: Vec<usize>,
    negatives: Vec<usize>,
}

fn docs<'a>(vectors: &'a [Vec<f32>], texts: &'a [String]) -> Vec<Doc<'a>> {
    vectors
        .iter()
        .zip(texts)
        .map(|(v, t)| Doc { vector: v, text: t })
        .collect()
}

impl Engine {
    /// Recommendations for account `account_id` from one collection (or from all of them
    /// when `collection` is None: their papers together, and their followed authors; keyword
    /// and category rules belong to a collection's own page), among the latest [`POOL`]
    /// papers: those listed inside `window` first, then the rest of the latest.
    pub fn for_you(
        &self,
        account_id: i64,
        collection: Option<i64>,
        window: Window,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<ForYou> {
        let (library, rules) = match collection {
            Some(cid) => {
                let c = self.owned(account_id, cid)?;
                (self.store.collection_papers(account_id, cid)?, c.rules)
            }
            None => {
                let mut papers = Vec::new();
                let mut authors = Vec::new();
                for c in self.store.collections(account_id)? {
                    papers.extend(self.store.collection_papers(account_id, c.id)?);
                    authors.extend(c.rules.authors);
                }
                let rules = Rules {
                    authors,
                    ..Rules::default()
                };
                (papers, rules)
            }
        };
        let mut library = library;
        library.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut seen = HashSet::new();
        let library: Vec<Key> = library
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| seen.insert(*k))
            .take(MAX_TRAINING)
            .collect();
        let dismissed: Vec<Key> = self.store.dismissed(account_id)?;
        self.recommend(&library, &dismissed, &rules, window, now, limit)
    }

    /// The model fitted for a library over the latest papers: from the cache while the
    /// library, the dismissals, the store's papers and its embeddings stay as they were (a
    /// reader paging through windows, or coming back, costs no refit), fitted otherwise.
    fn fitted(&self, library: &[Key], dismissed: &[Key]) -> Result<Arc<Fitted>> {
        let model = self.request_encoder()?.model_key().to_string();
        let key = FitKey {
            library: library.to_vec(),
            dismissed: dismissed.to_vec(),
            generation: self.store.generation()?,
            embeddings: self.store.embedding_stamp()?,
            model,
        };
        if let Some(hit) = self.fitted_cache.lock_unpoisoned().get(&key) {
            return Ok(Arc::clone(hit));
        }
        let mut keys: Vec<Key> = Vec::new();
        let mut seen = HashSet::new();
        for k in library
            .iter()
            .chain(dismissed)
            .copied()
            .chain(self.store.newest(0, POOL)?)
        {
            if seen.insert(k) {
                keys.push(k);
            }
        }
        let mut vectors = self.store.embeddings(&key.model, &keys)?;
        let papers: Vec<StoredPaper> = self
            .store
            .get_many(&keys)?
            .into_iter()
            .filter(|p| vectors.contains_key(&p.key))
            .collect();
        let vectors: Vec<Vec<f32>> = papers
            .iter()
            .map(|p| vectors.remove(&p.key).unwrap_or_default())
            .collect();
        let texts: Vec<String> = papers
            .iter()
            .map(|p| format!("{} {}", p.paper.title, p.paper.abstract_text))
            .collect();
        let pool = docs(&vectors, &texts);
        let at: HashMap<Key, usize> = papers.iter().enumerate().map(|(i, p)| (p.key, i)).collect();
        let positives: Vec<usize> = library.iter().filter_map(|k| at.get(k).copied()).collect();
        let negatives: Vec<usize> = dismissed
            .iter()
            .filter_map(|k| at.get(k).copied())
            .collect();
        let params = RankerParams::default();
        let tfidf = features(&pool, &params);
        let ranker = Ranker::fit(&pool, &tfidf, &positives, &negatives, &params);
        drop(pool);
        let fitted = Arc::new(Fitted {
            papers,
            vectors,
            texts,
            tfidf,
            ranker,
            positives,
            negatives,
        });
        self.fitted_cache
            .lock_unpoisoned()
            .put(key, Arc::clone(&fitted));
        Ok(fitted)
    }

    /// Ranks the latest papers for a library (see [`Engine::for_you`]).
    pub(crate) fn recommend(
        &self,
        library: &[Key],
        dismissed: &[Key],
        rules: &Rules,
        window: Window,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<ForYou> {
        let fitted = self.fitted(library, dismissed)?;
        let Fitted {
            papers,
            vectors,
            texts,
            tfidf,
            ranker,
            positives,
            negatives,
        } = &*fitted;
        let pool = docs(vectors, texts);
        let since = now.timestamp() - window.hours() * 3600;
        let skip: HashSet<usize> = positives.iter().chain(negatives).copied().collect();
        let mut excluded = 0;
        let mut ranked: Vec<(usize, bool, Option<String>)> = Vec::new();
        for (i, p) in papers.iter().enumerate() {
            if skip.contains(&i) {
                continue;
            }
            match matches_rules(&p.paper, rules) {
                RuleCheck::Excluded(_) => excluded += 1,
                RuleCheck::Allowed => ranked.push((i, p.listed_at >= since, None)),
                RuleCheck::Followed(a) => ranked.push((i, p.listed_at >= since, Some(a))),
            }
        }
        let candidates = ranked.len();
        let empty = ranker.method == Method::Empty;
        ranked.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then(b.2.is_some().cmp(&a.2.is_some()))
                .then(if empty {
                    // Nothing learned yet: newest first.
                    papers[b.0].listed_at.cmp(&papers[a.0].listed_at)
                } else {
                    ranker.scores[b.0].total_cmp(&ranker.scores[a.0])
                })
                .then(papers[a.0].key.cmp(&papers[b.0].key))
        });
        // Without a library, only followed authors' papers are recommendations.
        if empty {
            ranked.retain(|r| r.2.is_some());
        }
        ranked.truncate(limit);
        let shown: Vec<Key> = ranked.iter().map(|r| papers[r.0].key).collect();
        let mut items: HashMap<Key, FeedItem> = self
            .feed_items(&shown, |_| None)?
            .into_iter()
            .map(|i| (i.key, i))
            .collect();
        let items = ranked
            .into_iter()
            .filter_map(|(i, in_window, followed)| {
                let item = items.remove(&papers[i].key)?;
                let why = Reasons {
                    nearest: nearest(&pool, positives, i, 2)
                        .into_iter()
                        .map(|(j, similarity)| Near {
                            id: papers[j].paper.id.clone(),
                            title: papers[j].paper.title.clone(),
                            similarity,
                        })
                        .collect(),
                    terms: ranker.top_terms(tfidf, i, 3),
                    followed_author: followed,
                };
                Some(Recommendation {
                    item,
                    score: ranker.scores[i],
                    in_window,
                    why,
                })
            })
            .collect();
        Ok(ForYou {
            method: ranker.method.as_str(),
            library: positives.len(),
            dismissed: negatives.len(),
            candidates,
            excluded_by_rules: excluded,
            train_ms: ranker.train_ms,
            items,
        })
    }

    /// Adds the papers of a reference file (BibTeX, RIS or CSL-JSON, as Zotero and the other
    /// reference managers export; told from the content) to collection `collection_id`,
    /// matching each entry to a corpus paper by its arXiv id, then its DOI, then its
    /// normalised title, and reports entry by entry (a broken entry is named by key and line;
    /// the others still count).
    pub fn import_references(
        &self,
        account_id: i64,
        collection_id: i64,
        name: &str,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> Result<ImportReport> {
        self.owned(account_id, collection_id)?;
        let (format, entries) = paperscout_ingest::reference::parse_entries(name, bytes)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        if entries.len() > MAX_COLLECTION_PAPERS {
            return Err(Error::Invalid(format!(
                "{name} has {} entries; a collection holds at most {MAX_COLLECTION_PAPERS} papers",
                entries.len()
            )));
        }
        let mut report = ImportReport {
            format: format.as_str(),
            entries: entries.len(),
            ..ImportReport::default()
        };
        let mut keys = Vec::new();
        for e in entries {
            let paper = match e.paper {
                Ok(p) => p,
                Err(err) => {
                    report.broken.push(ImportMiss {
                        key: e.key,
                        line: e.line,
                        title: None,
                        reason: err.message,
                    });
                    continue;
                }
            };
            match self.match_paper(&paper)? {
                Some((found, by)) => {
                    keys.push(found.key);
                    report.matched.push(ImportMatch {
                        key: e.key,
                        line: e.line,
                        id: found.paper.id,
                        title: found.paper.title,
                        by,
                    });
                }
                None => {
                    let ids: Vec<String> = paper
                        .ids()
                        .filter(|id| !id.is_title())
                        .map(|id| id.to_string())
                        .collect();
                    report.unmatched.push(ImportMiss {
                        key: e.key,
                        line: e.line,
                        title: Some(paper.title.clone()),
                        reason: if ids.is_empty() {
                            "no paper in the corpus has this title".into()
                        } else {
                            format!(
                                "no paper in the corpus has {} or this title",
                                ids.join(" or ")
                            )
                        },
                    });
                }
            }
        }
        report.added =
            self.store
                .add_to_collection(account_id, collection_id, &keys, now.timestamp())?;
        Ok(report)
    }

    /// The corpus paper an imported entry names: by arXiv id, then DOI, then title.
    fn match_paper(&self, entry: &Paper) -> Result<Option<(StoredPaper, &'static str)>> {
        for (scheme, by) in [("arxiv", "arXiv id"), ("doi", "DOI")] {
            for id in entry.ids().filter(|id| id.scheme() == scheme) {
                if let Some(p) = self.store.get(id)? {
                    return Ok(Some((p, by)));
                }
            }
        }
        Ok(self
            .store
            .get(&PaperId::from_title(&entry.title))?
            .map(|p| (p, "title")))
    }

    /// Collection `collection_id` as a BibTeX file, most recently saved first.
    pub fn export_bibtex(&self, account_id: i64, collection_id: i64) -> Result<String> {
        self.owned(account_id, collection_id)?;
        let mut saved = self.store.collection_papers(account_id, collection_id)?;
        saved.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let keys: Vec<Key> = saved.iter().map(|s| s.0).collect();
        let mut by_key: HashMap<Key, StoredPaper> = self
            .store
            .get_many(&keys)?
            .into_iter()
            .map(|p| (p.key, p))
            .collect();
        let mut used = HashSet::new();
        let mut out = String::new();
        for k in keys {
            if let Some(p) = by_key.remove(&k) {
                out.push_str(&bibtex_entry(&p.paper, &mut used, true));
                out.push('\n');
            }
        }
        Ok(out)
    }
}

/// Whether the braces of `s` pair up; with `escapes`, as a BibTeX parser reads them (the
/// character after a backslash does not count).
fn braces_pair(s: &str, escapes: bool) -> bool {
    let mut depth = 0i32;
    let mut escaped = false;
    for c in s.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if escapes => escaped = true,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// A field value inside braces. The text stays as the paper has it (TeX included, as arXiv's
/// own export does) when its braces pair up however a reader counts them (`\{` is a brace to
/// some and an escape to others); otherwise braces become parentheses so the entry still
/// parses. Control characters become spaces, and a trailing backslash (which would escape
/// the closing brace) gets a space after it.
fn braced(s: &str) -> String {
    let s = s.trim();
    let keep = braces_pair(s, false) && braces_pair(s, true);
    let mut out: String = s
        .chars()
        .map(|c| match c {
            '{' if !keep => '(',
            '}' if !keep => ')',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    if out.ends_with('\\') {
        out.push(' ');
    }
    format!("{{{out}}}")
}

/// One BibTeX entry for `paper`, keyed `surnameYEARword` (made unique against `used` with a
/// letter): `@misc` with `eprint`/`archivePrefix`/`primaryClass`/`url` for an arXiv paper,
/// `@article` for one known only by DOI. The library export adds the abstract
/// (`with_abstract`); a paper page's citation leaves it out, as arXiv's does.
pub fn bibtex_entry(paper: &Paper, used: &mut HashSet<String>, with_abstract: bool) -> String {
    let surname: String = paper
        .authors
        .first()
        .and_then(|a| a.split_whitespace().last())
        .unwrap_or("anon")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    let year = paper
        .published
        .map(|d| d.format("%Y").to_string())
        .unwrap_or_default();
    let word: String = paper
        .title
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_lowercase()
        })
        .find(|w| w.len() > 3)
        .unwrap_or_default();
    let base = format!(
        "{}{year}{word}",
        if surname.is_empty() { "anon" } else { &surname }
    );
    let mut key = base.clone();
    let mut n = 0u32;
    while !used.insert(key.clone()) {
        key = format!("{base}{}", (b'a' + (n % 26) as u8) as char);
        if n >= 26 {
            key.push_str(&(n / 26).to_string());
        }
        n += 1;
    }
    let arxiv = paper.ids().find(|i| i.scheme() == "arxiv");
    let doi = paper.ids().find(|i| i.scheme() == "doi");
    let mut fields = vec![("title", braced(&paper.title))];
    if !paper.authors.is_empty() {
        fields.push(("author", braced(&paper.authors.join(" and "))));
    }
    if !year.is_empty() {
        fields.push(("year", braced(&year)));
    }
    if let Some(a) = &arxiv {
        fields.push(("eprint", braced(a.value())));
        fields.push(("archivePrefix", braced("arXiv")));
        if let Some(c) = paper.categories.first() {
            fields.push(("primaryClass", braced(c)));
        }
        fields.push((
            "url",
            braced(&format!("https://arxiv.org/abs/{}", a.value())),
        ));
    }
    if let Some(d) = &doi {
        fields.push(("doi", braced(d.value())));
    }
    if with_abstract && !paper.abstract_text.is_empty() {
        fields.push(("abstract", braced(&paper.abstract_text)));
    }
    let body: Vec<String> = fields
        .into_iter()
        .map(|(k, v)| format!("  {k} = {v}"))
        .collect();
    let kind = if arxiv.is_none() && doi.is_some() {
        "article"
    } else {
        "misc"
    };
    format!("@{kind}{{{key},\n{}\n}}\n", body.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_entries_read_back() {
        let mut p = Paper::new(
            PaperId::arxiv("2401.00001").unwrap(),
            "Attention {is} all you need".into(),
            "We propose } a thing.".into(),
            paperscout_model::Source::Jsonl,
        );
        p.authors = vec!["Ashish Vaswani".into(), "Noam Shazeer".into()];
        p.published = chrono::NaiveDate::from_ymd_opt(2017, 6, 12);
        p.add_alias(PaperId::doi("10.1000/xyz").unwrap());
        let mut used = HashSet::new();
        let a = bibtex_entry(&p, &mut used, true);
        let b = bibtex_entry(&p, &mut used, true);
        assert!(a.starts_with("@misc{vaswani2017attention,"), "{a}");
        assert!(b.starts_with("@misc{vaswani2017attentiona,"), "{b}");
        let both = format!("{a}\n{b}");
        let back = paperscout_ingest::bibtex::parse_entries("x.bib", both.as_bytes()).unwrap();
        assert_eq!(back.len(), 2);
        let first = back[0].paper.as_ref().unwrap();
        assert_eq!(first.id, p.id);
        assert!(first.ids().any(|i| i.scheme() == "doi"));
        // The export keeps the TeX grouping; reading it back drops it, as BibTeX does.
        assert!(a.contains("title = {Attention {is} all you need}"), "{a}");
        assert_eq!(first.title, "Attention is all you need");
        assert!(a.contains("abstract = {We propose ) a thing.}"), "{a}");
        // `\{` is an escape to biblatex: kept, the entry would end early.
        let mut q = p.clone();
        q.title = "Sets \\{a, b} of papers\\".into();
        let e = bibtex_entry(&q, &mut HashSet::new(), false);
        assert!(e.contains("title = {Sets \\(a, b) of papers\\ }"), "{e}");
        let back = paperscout_ingest::bibtex::parse_entries("q.bib", e.as_bytes()).unwrap();
        assert_eq!(back.len(), 1);
        assert!(back[0].paper.is_ok(), "{:?}", back[0].paper);
    }
}
