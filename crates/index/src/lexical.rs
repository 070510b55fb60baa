use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query, Scorer, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::query::{self, Clause, Scope};
use crate::{Error, Key, Result};

const WRITER_MEMORY: usize = 64 << 20;

/// The most words one query searches (clauses' words together; later ones are ignored), so
/// that no query builds more than this many term queries per field.
pub const MAX_QUERY_WORDS: usize = 256;

/// How text is analysed and how a query's words are matched: each switch is one of the causes
/// measured against a standard BM25 (BENCHMARKS.md, "The lexical side against bm25s"); the
/// shipped choice is [`Analysis::DEFAULT`]. Only the ablation benchmark builds others.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Analysis {
    /// A clause without a field prefix searches one field holding title and abstract together
    /// (one BM25 over the paper's text, as standard BM25 does), plus the title alone times
    /// `title_boost` when that is above 0; otherwise it searches title (times `title_boost`)
    /// and abstract as two BM25 fields and adds their scores.
    pub combined: bool,
    pub title_boost: f32,
    /// Drop English stop words (Lucene's list) from documents and queries.
    pub stopwords: bool,
    /// Drop one-character words ("6" of "IL-6", "b" of "B cells"), as scikit-learn's and
    /// bm25s's `\w\w+` tokenisation does; only with `stopwords`.
    pub drop_single: bool,
    /// A bare word the analyzer splits ("IL-6", "0-dimensional", "BERT-based") counts as its
    /// separate words; otherwise as a phrase (its words in order), as quoted text does.
    pub split_joined: bool,
}

impl Analysis {
    pub const DEFAULT: Analysis = Analysis {
        combined: true,
        title_boost: 0.2,
        stopwords: true,
        drop_single: false,
        split_joined: true,
    };
    /// What paperscout shipped before issue 16.
    pub const BEFORE: Analysis = Analysis {
        combined: false,
        title_boost: 2.0,
        stopwords: false,
        drop_single: false,
        split_joined: false,
    };

    fn tokenizer(&self) -> &'static str {
        match (self.stopwords, self.drop_single) {
            (false, _) => "en_stem",
            (true, false) => "en_stem_stop",
            (true, true) => "en_stem_stop2",
        }
    }
}

/// What the lexical index needs of a paper.
#[derive(Debug, Clone, Copy)]
pub struct LexicalDoc<'a> {
    pub key: Key,
    pub title: &'a str,
    pub abstract_text: &'a str,
    /// Searched only through the `author:` prefix.
    pub authors: &'a [String],
}

#[derive(Clone, Copy, Debug)]
struct Fields {
    key: Field,
    title: Field,
    abstract_text: Field,
    /// Title and abstract as one text: what a clause without a field prefix searches.
    text: Field,
    authors: Field,
}

/// BM25 over title and abstract as one text (plus a small title bonus), English stems without
/// stop words (see [`Analysis`]). Each commit records the store
/// generation it reflects (in tantivy's commit payload), so an index left behind by a crash
/// is found stale and caught up on open.
pub struct LexicalIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    analysis: Analysis,
    location: Option<PathBuf>,
}

impl std::fmt::Debug for LexicalIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LexicalIndex")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

fn schema(analysis: Analysis) -> (Schema, Fields) {
    let mut b = Schema::builder();
    let key = b.add_i64_field("key", NumericOptions::default().set_indexed().set_fast());
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(analysis.tokenizer())
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let title = b.add_text_field("title", words.clone());
    let abstract_text = b.add_text_field("abstract", words.clone());
    let text = b.add_text_field("text", words);
    // Names are not stemmed: lower-cased words, so `author:hinton` finds "Geoffrey Hinton".
    let names = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("default")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let authors = b.add_text_field("authors", names);
    (
        b.build(),
        Fields {
            key,
            title,
            abstract_text,
            text,
            authors,
        },
    )
}

/// Lucene's English stop words, as tantivy and bm25s list them.
const STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Lower-cased words shorter than 40 bytes, English (Porter2) stems, without stop words (and,
/// with `drop_single`, without one-character ASCII words): Lucene's `EnglishAnalyzer` less
/// its possessive filter, which the tokenizer's split on `'` covers.
fn english(stopwords: bool, drop_single: bool) -> TextAnalyzer {
    let base = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser);
    if stopwords {
        let mut words: Vec<String> = STOP_WORDS.iter().map(|w| w.to_string()).collect();
        if drop_single {
            words.extend(('a'..='z').chain('0'..='9').map(String::from));
        }
        base.filter(StopWordFilter::remove(words))
            .filter(Stemmer::new(Language::English))
            .build()
    } else {
        base.filter(Stemmer::new(Language::English)).build()
    }
}

impl LexicalIndex {
    /// Opens the index in `dir`, creating it if absent. An index built with another schema
    /// (by an older paperscout) is set aside and a new, empty one created: it is derived data,
    /// and its generation 0 makes the caller rebuild it from the store.
    pub fn open(dir: &Path) -> Result<Self> {
        let open_error = |e: std::io::Error| Error::Open {
            path: dir.into(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(open_error)?;
        let analysis = Analysis::DEFAULT;
        let (schema, _) = schema(analysis);
        if dir.join("meta.json").exists() {
            let index = Index::open_in_dir(dir)?;
            if index.schema() == schema {
                return Self::with_index(index, analysis, Some(dir.to_path_buf()));
            }
            drop(index);
            tracing::warn!(dir = %dir.display(), "the lexical index has an older schema; rebuilding it from the store");
            let old = dir.with_extension("old");
            let _ = std::fs::remove_dir_all(&old);
            std::fs::rename(dir, &old).map_err(open_error)?;
            std::fs::create_dir_all(dir).map_err(open_error)?;
            let _ = std::fs::remove_dir_all(&old);
        }
        let index = Index::create_in_dir(dir, schema)?;
        Self::with_index(index, analysis, Some(dir.to_path_buf()))
    }

    /// An index in memory (for scratch work and tests).
    pub fn in_memory() -> Result<Self> {
        Self::in_memory_with(Analysis::DEFAULT)
    }

    /// An index in memory analysing text as `analysis` says (the ablation benchmark's).
    #[doc(hidden)]
    pub fn in_memory_with(analysis: Analysis) -> Result<Self> {
        Self::with_index(Index::create_in_ram(schema(analysis).0), analysis, None)
    }

    fn with_index(index: Index, analysis: Analysis, location: Option<PathBuf>) -> Result<Self> {
        let fields = schema(analysis).1;
        index
            .tokenizers()
            .register("en_stem", english(false, false));
        index
            .tokenizers()
            .register("en_stem_stop", english(true, false));
        index
            .tokenizers()
            .register("en_stem_stop2", english(true, true));
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(LexicalIndex {
            index,
            reader,
            fields,
            analysis,
            location,
        })
    }

    /// The store generation this index reflects (0 when never committed).
    pub fn generation(&self) -> Result<u64> {
        let metas = self.index.load_metas()?;
        Ok(metas.payload.and_then(|p| p.parse().ok()).unwrap_or(0))
    }

    /// Makes the latest commit searchable, including one made by another process.
    pub fn reload(&self) -> Result<()> {
        self.reader.reload()?;
        Ok(())
    }

    /// Bytes the index's segments take (postings, positions, norms, fast fields).
    pub fn size_bytes(&self) -> Result<u64> {
        let usage = self
            .reader
            .searcher()
            .space_usage()
            .map_err(tantivy::TantivyError::from)?;
        Ok(usage.total().get_bytes())
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    fn writer(&self, wait: Duration) -> Result<IndexWriter> {
        let start = Instant::now();
        loop {
            match self.index.writer(WRITER_MEMORY) {
                Err(tantivy::TantivyError::LockFailure(..)) if start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => return Ok(other?),
            }
        }
    }

    /// Adds or replaces (by key) `docs` and commits, recording `generation`. Nothing is
    /// visible until the commit, and a crash before it leaves the previous commit intact.
    pub fn apply<'a>(
        &self,
        docs: impl IntoIterator<Item = LexicalDoc<'a>>,
        generation: u64,
    ) -> Result<usize> {
        let mut batch = self.batch()?;
        for d in docs {
            batch.add(d)?;
        }
        batch.commit(generation)
    }

    /// Replaces the whole index with `docs`, committing once at the end.
    pub fn rebuild<'a>(
        &self,
        docs: impl IntoIterator<Item = LexicalDoc<'a>>,
        generation: u64,
    ) -> Result<usize> {
        let mut batch = self.batch()?;
        batch.clear()?;
        for d in docs {
            batch.add(d)?;
        }
        batch.commit(generation)
    }

    /// A writer for callers that stream documents in pieces (see [`LexicalIndex::apply`]).
    pub fn batch(&self) -> Result<LexicalBatch<'_>> {
        self.batch_waiting(Duration::ZERO)
    }

    /// [`LexicalIndex::batch`], waiting up to `wait` while another writer (another process's
    /// ingest, the server catching up) holds the index; past it, tantivy's `LockFailure`.
    pub fn batch_waiting(&self, wait: Duration) -> Result<LexicalBatch<'_>> {
        // Take the writer (exclusive) first, then read the latest commit: no other writer can
        // add a key above `indexed_max` meanwhile.
        let writer = self.writer(wait)?;
        self.reader.reload()?;
        Ok(LexicalBatch {
            index: self,
            writer,
            indexed_max: self.max_key()?,
            added: 0,
        })
    }

    /// The largest key in the index (deleted documents included), `None` when it is empty.
    fn max_key(&self) -> Result<Option<Key>> {
        let searcher = self.reader.searcher();
        let mut max = None;
        for segment in searcher.segment_readers() {
            if segment.max_doc() == 0 {
                continue;
            }
            let column = segment.fast_fields().i64("key")?;
            max = max.max(Some(column.max_value()));
        }
        Ok(max)
    }

    fn add(&self, writer: &mut IndexWriter, d: LexicalDoc<'_>, replace: bool) -> Result<()> {
        let f = self.fields;
        if replace {
            writer.delete_term(Term::from_field_i64(f.key, d.key));
        }
        let mut doc = TantivyDocument::default();
        doc.add_i64(f.key, d.key);
        doc.add_text(f.title, d.title);
        doc.add_text(f.abstract_text, d.abstract_text);
        if self.analysis.combined {
            // Two values of one field, one position apart: as in the single text a standard
            // BM25 indexes, a phrase can match from the title's end into the abstract's start.
            doc.add_text(f.text, d.title);
            doc.add_text(f.text, d.abstract_text);
        }
        for a in d.authors {
            doc.add_text(f.authors, a);
        }
        writer.add_document(doc)?;
        Ok(())
    }

    fn commit(&self, mut writer: IndexWriter, generation: u64) -> Result<()> {
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&generation.to_string());
        prepared.commit()?;
        writer.wait_merging_threads()?;
        self.reader.reload()?;
        Ok(())
    }

    /// The best `limit` papers for `query` by BM25. Every query parses (see [`crate::query`]
    /// for the syntax: phrases, `+`/`-`, `title:`/`abstract:`/`author:`); one with no words
    /// finds nothing.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<(Key, f32)>> {
        if limit == 0 || query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let Some(query) = self.build(&query::parse(query))? else {
            return Ok(Vec::new());
        };
        let searcher = self.reader.searcher();
        let top = searcher.search(&*query, &TopDocs::with_limit(limit).order_by_score())?;
        let mut columns: Vec<Option<tantivy::columnar::Column<i64>>> =
            vec![None; searcher.segment_readers().len()];
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let slot = &mut columns[addr.segment_ord as usize];
            if slot.is_none() {
                *slot = Some(
                    searcher
                        .segment_reader(addr.segment_ord)
                        .fast_fields()
                        .i64("key")?,
                );
            }
            if let Some(key) = slot.as_ref().and_then(|c| c.first(addr.doc_id)) {
                hits.push((key, score));
            }
        }
        Ok(hits)
    }
}

impl LexicalIndex {
    /// The BM25 score of each of `keys` for `query` (0 for a paper it does not match, or that
    /// the index lacks), as [`LexicalIndex::search`] would score it: what hybrid fusion uses
    /// for candidates found by similarity alone, so both sides are normalised over the same
    /// papers. One term lookup per key and segment, then each segment's scorer walked forward
    /// once.
    pub fn score_keys(&self, query: &str, keys: &[Key]) -> Result<Vec<(Key, f32)>> {
        let mut out: Vec<(Key, f32)> = keys.iter().map(|&k| (k, 0.0)).collect();
        if keys.is_empty() || query.trim().is_empty() {
            return Ok(out);
        }
        let Some(query) = self.build(&query::parse(query))? else {
            return Ok(out);
        };
        let searcher = self.reader.searcher();
        let weight = query.weight(tantivy::query::EnableScoring::enabled_from_searcher(
            &searcher,
        ))?;
        for segment in searcher.segment_readers() {
            let postings = segment.inverted_index(self.fields.key)?;
            // (doc, slot in `out`) for the keys this segment holds, in doc order.
            let mut docs: Vec<(tantivy::DocId, usize)> = Vec::new();
            for (slot, &key) in keys.iter().enumerate() {
                let term = Term::from_field_i64(self.fields.key, key);
                if let Some(mut p) = postings
                    .read_postings(&term, IndexRecordOption::Basic)
                    .map_err(tantivy::TantivyError::from)?
                {
                    // A replaced paper's deleted copy may come before its live one.
                    let mut doc = p.doc();
                    while doc != tantivy::TERMINATED && segment.is_deleted(doc) {
                        doc = p.advance();
                    }
                    if doc != tantivy::TERMINATED {
                        docs.push((doc, slot));
                    }
                }
            }
            if docs.is_empty() {
                continue;
            }
            docs.sort_unstable();
            let mut scorer = weight.scorer(segment, 1.0)?;
            for (doc, slot) in docs {
                let at = if scorer.doc() < doc {
                    scorer.seek(doc)
                } else {
                    scorer.doc()
                };
                if at == doc {
                    out[slot].1 = scorer.score();
                }
            }
        }
        Ok(out)
    }

    /// The tantivy query for `clauses`: a flat boolean query (one level of nesting per clause,
    /// whatever the input), or `None` when no clause has a word to search for.
    fn build(&self, clauses: &[Clause<'_>]) -> Result<Option<Box<dyn Query>>> {
        let f = self.fields;
        let a = self.analysis;
        let mut stem = self.index.tokenizer_for_field(f.title)?;
        let mut names = self.index.tokenizer_for_field(f.authors)?;
        let searcher = self.reader.searcher();
        let mut out: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut positive = false;
        let mut budget = MAX_QUERY_WORDS;
        let separate = [(f.title, a.title_boost), (f.abstract_text, 1.0)];
        let combined = [(f.text, 1.0), (f.title, a.title_boost)];
        let combined = &combined[..if a.title_boost > 0.0 { 2 } else { 1 }];
        for c in clauses {
            if budget == 0 {
                break;
            }
            let fields: &[(Field, f32)] = match c.scope {
                Scope::Default if a.combined => combined,
                Scope::Default => &separate,
                Scope::Title => &[(f.title, 1.0)],
                Scope::Abstract => &[(f.abstract_text, 1.0)],
                Scope::Author => &[(f.authors, 1.0)],
            };
            let analyzer = if c.scope == Scope::Author {
                &mut names
            } else {
                &mut stem
            };
            let mut words = tokens(analyzer, c.text);
            if words.is_empty() {
                continue;
            }
            // Joined words ("1-1-1-…") can hold hundreds of parts: the query's cost is bounded
            // by its words, not only its clauses.
            if words.len() > budget {
                words.truncate(budget);
            }
            budget -= words.len();
            // Quoted words must come in order; a word the analyzer splits ("IL-6") too,
            // unless `split_joined`, when each part of an optional word is a term of its own
            // (`-COVID-19` must still exclude the phrase, not every paper with a "19").
            let in_order =
                words.len() > 1 && (c.phrase || !a.split_joined || c.occur != query::Occur::Should);
            let term = |field: Field, w: &str| -> Box<dyn Query> {
                Box::new(TermQuery::new(
                    Term::from_field_text(field, w),
                    IndexRecordOption::WithFreqs,
                ))
            };
            let mut per_field: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            // A bare word also searches the author names (field-aware: a name is rare in the
            // text, so its BM25 over the short authors field puts that author's papers first).
            // Names are not stemmed, so they are analysed again.
            if c.scope == Scope::Default {
                let names_of = tokens(&mut names, c.text);
                if let Some(q) = name_query(&searcher, f.authors, &names_of, in_order)? {
                    per_field.push((Occur::Should, q));
                }
            }
            for &(field, boost) in fields {
                let q: Box<dyn Query> = if in_order {
                    // Positions as analysed: a dropped stop word leaves its gap.
                    let first = words[0].0;
                    let terms = words
                        .iter()
                        .map(|(pos, w)| (pos - first, Term::from_field_text(field, w)))
                        .collect();
                    Box::new(PhraseQuery::new_with_offset(terms))
                } else if words.len() > 1 {
                    let parts = words
                        .iter()
                        .map(|(_, w)| (Occur::Should, term(field, w)))
                        .collect();
                    Box::new(BooleanQuery::new(parts))
                } else {
                    term(field, &words[0].1)
                };
                let q: Box<dyn Query> = if boost == 1.0 {
                    q
                } else {
                    Box::new(BoostQuery::new(q, boost))
                };
                per_field.push((Occur::Should, q));
            }
            let q: Box<dyn Query> = if per_field.len() == 1 {
                per_field.pop().expect("one").1
            } else {
                Box::new(BooleanQuery::new(per_field))
            };
            let occur = match c.occur {
                query::Occur::Should => Occur::Should,
                query::Occur::Must => Occur::Must,
                query::Occur::MustNot => Occur::MustNot,
            };
            positive |= occur != Occur::MustNot;
            out.push((occur, q));
        }
        // Only exclusions: nothing to rank by.
        if !positive {
            return Ok(None);
        }
        Ok(Some(Box::new(BooleanQuery::new(out))))
    }
}

/// How much a bare word's match in the author names counts, against its IDF in the text.
const AUTHOR_BOOST: f32 = 1.0;

/// The query for `words` (as the names analyzer gives them) in the authors field, each word
/// that matches scoring a constant: its IDF (as BM25 computes it) times [`AUTHOR_BOOST`].
/// Not BM25 itself: the authors field is empty in many corpora (BEIR's, the demo), so its
/// average length is tiny and BM25's length normalisation would all but zero every name.
fn name_query(
    searcher: &tantivy::Searcher,
    field: Field,
    words: &[(usize, String)],
    in_order: bool,
) -> Result<Option<Box<dyn Query>>> {
    let n = searcher.num_docs() as f32;
    let idf = |t: &Term| -> Result<f32> {
        let df = searcher.doc_freq(t)? as f32;
        Ok((1.0 + (n - df + 0.5) / (df + 0.5)).ln())
    };
    let terms: Vec<(usize, Term)> = words
        .iter()
        .map(|(pos, w)| (*pos, Term::from_field_text(field, w)))
        .collect();
    let scored = |q: Box<dyn Query>, score: f32| -> Box<dyn Query> {
        Box::new(ConstScoreQuery::new(q, score * AUTHOR_BOOST))
    };
    let term = |t: &Term| -> Box<dyn Query> {
        Box::new(TermQuery::new(t.clone(), IndexRecordOption::Basic))
    };
    Ok(match terms.as_slice() {
        [] => None,
        [(_, t)] => Some(scored(term(t), idf(t)?)),
        _ if in_order => {
            let first = terms[0].0;
            let total = terms.iter().map(|(_, t)| idf(t)).sum::<Result<f32>>()?;
            let phrase = PhraseQuery::new_with_offset(
                terms.iter().map(|(p, t)| (p - first, t.clone())).collect(),
            );
            Some(scored(Box::new(phrase), total))
        }
        _ => {
            let mut parts = Vec::with_capacity(terms.len());
            for (_, t) in &terms {
                parts.push((Occur::Should, scored(term(t), idf(t)?)));
            }
            Some(Box::new(BooleanQuery::new(parts)))
        }
    })
}

/// The words of `text` as `analyzer` indexes them, with their positions.
fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    analyzer
        .token_stream(text)
        .process(&mut |t| out.push((t.position, t.text.clone())));
    out
}

/// Documents added in pieces and committed once.
pub struct LexicalBatch<'a> {
    index: &'a LexicalIndex,
    writer: IndexWriter,
    /// The largest key in the index when the batch began (`None`: empty).
    indexed_max: Option<Key>,
    added: usize,
}

impl std::fmt::Debug for LexicalBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LexicalBatch")
            .field("added", &self.added)
            .finish_non_exhaustive()
    }
}

impl LexicalBatch<'_> {
    /// Adds `d`, replacing the document with its key if the index may hold one. Keys only
    /// grow, so a key above the largest indexed one is new and needs no delete: tantivy keeps
    /// every pending delete until the commit, ~1 KB each, which for a first index of 1M papers
    /// was a gigabyte (BENCHMARKS.md).
    pub fn add(&mut self, d: LexicalDoc<'_>) -> Result<()> {
        let replace = self.indexed_max.is_some_and(|max| d.key <= max);
        self.index.add(&mut self.writer, d, replace)?;
        self.added += 1;
        Ok(())
    }

    pub fn clear(&mut self) -> Result<()> {
        self.writer.delete_all_documents()?;
        self.indexed_max = None;
        Ok(())
    }

    /// Removes paper `key` (a paper removed from the store).
    pub fn remove(&mut self, key: Key) {
        self.writer
            .delete_term(Term::from_field_i64(self.index.fields.key, key));
    }

    pub fn commit(self, generation: u64) -> Result<usize> {
        self.index.commit(self.writer, generation)?;
        Ok(self.added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs() -> Vec<LexicalDoc<'static>> {
        vec![
            LexicalDoc {
                key: 1,
                title: "Dense passage retrieval",
                abstract_text: "We embed passages with a dual encoder.",
                authors: &[],
            },
            LexicalDoc {
                key: 2,
                title: "Sparse lexical models",
                abstract_text: "BM25 remains strong for retrieving documents.",
                authors: &[],
            },
            LexicalDoc {
                key: 3,
                title: "Image segmentation",
                abstract_text: "Pixels and masks; retrieval is not discussed.",
                authors: &[],
            },
        ]
    }

    #[test]
    fn search_ranks_by_bm25_with_stemming_and_title_boost() {
        let idx = LexicalIndex::in_memory().unwrap();
        idx.apply(docs(), 1).unwrap();
        let hits = idx.search("retrieving", 10).unwrap();
        let keys: Vec<_> = hits.iter().map(|h| h.0).collect();
        // "retrieving" stems to "retriev": matches all three; the title match ranks first.
        assert_eq!(keys[0], 1);
        assert_eq!(keys.len(), 3);
        assert!(hits.windows(2).all(|w| w[0].1 >= w[1].1));
    }

    #[test]
    fn score_keys_gives_the_scores_search_gives_and_zero_elsewhere() {
        let idx = LexicalIndex::in_memory().unwrap();
        idx.apply(docs(), 1).unwrap();
        // A replaced paper: its old, deleted copy must not be scored.
        idx.apply(
            [LexicalDoc {
                key: 2,
                title: "Sparse lexical models",
                abstract_text: "BM25 remains strong for retrieving documents.",
                authors: &[],
            }],
            2,
        )
        .unwrap();
        // One batch replacing key 1 twice: the deleted copy (matching "dual" far more) must
        // not be the one scored, whichever segment it lands in.
        let mut batch = idx.batch().unwrap();
        for text in [
            "Dual dual dual dual.",
            "We embed passages with a dual encoder.",
        ] {
            batch
                .add(LexicalDoc {
                    key: 1,
                    title: "Dense passage retrieval",
                    abstract_text: text,
                    authors: &[],
                })
                .unwrap();
        }
        batch.commit(3).unwrap();
        let live = idx.search("dual", 10).unwrap();
        let live = live.iter().find(|h| h.0 == 1).unwrap().1;
        assert!((idx.score_keys("dual", &[1]).unwrap()[0].1 - live).abs() < 1e-6);
        for q in ["retrieval dual", "bm25 -pixels", "\"dual encoder\" masks"] {
            let found = idx.search(q, 10).unwrap();
            let scored = idx.score_keys(q, &[3, 1, 2, 42]).unwrap();
            assert_eq!(
                scored.iter().map(|s| s.0).collect::<Vec<_>>(),
                [3, 1, 2, 42]
            );
            for (key, score) in scored {
                match found.iter().find(|f| f.0 == key) {
                    Some(&(_, s)) => assert!((s - score).abs() < 1e-6, "{q}: {key}"),
                    None => assert_eq!(score, 0.0, "{q}: {key}"),
                }
            }
        }
        assert!(idx.score_keys("", &[1]).unwrap()[0].1 == 0.0);
    }

    #[test]
    fn stop_words_and_joined_words_match_as_standard_bm25_does() {
        let idx = LexicalIndex::in_memory().unwrap();
        idx.apply(
            [
                LexicalDoc {
                    key: 1,
                    title: "IL-6 levels in sepsis",
                    abstract_text: "Interleukin 6 rises.",
                    authors: &[],
                },
                LexicalDoc {
                    key: 2,
                    title: "The role of the microbiome",
                    abstract_text: "Gut bacteria and 6 diets.",
                    authors: &[],
                },
            ],
            1,
        )
        .unwrap();
        // Stop words match nothing: a query of only stop words finds nothing.
        assert!(keys(&idx, "the of and").is_empty());
        // "IL-6" is two words: a paper with either matches, the one with both ranks first.
        assert_eq!(keys(&idx, "IL-6"), [1, 2]);
        // Required or excluded, a joined word is its phrase: `-IL-6` keeps the paper with a
        // lone "6", `+IL-6` does not take it.
        assert_eq!(keys(&idx, "sepsis OR microbiome -IL-6"), [2]);
        assert_eq!(keys(&idx, "+IL-6 microbiome"), [1]);
        // Quoted, they must come in order; a dropped stop word keeps its place.
        assert_eq!(keys(&idx, "\"IL-6\""), [1]);
        assert_eq!(keys(&idx, "\"role of the microbiome\""), [2]);
        assert!(keys(&idx, "\"role microbiome\"").is_empty());
    }

    #[test]
    fn malformed_queries_do_not_fail() {
        let idx = LexicalIndex::in_memory().unwrap();
        idx.apply(docs(), 1).unwrap();
        for q in [
            "\"unclosed",
            "title:",
            "((",
            "AND OR",
            "+-",
            "*",
            "bm25 [x TO",
        ] {
            idx.search(q, 5).unwrap_or_else(|e| panic!("{q:?}: {e}"));
        }
        assert!(idx.search("   ", 5).unwrap().is_empty());
    }

    fn keys(idx: &LexicalIndex, q: &str) -> Vec<Key> {
        idx.search(q, 10)
            .unwrap_or_else(|e| panic!("{q:?}: {e}"))
            .iter()
            .map(|h| h.0)
            .collect()
    }

    #[test]
    fn phrases_exclusions_and_field_prefixes() {
        let idx = LexicalIndex::in_memory().unwrap();
        let ada = ["Ada Lovelace".to_string()];
        let mut d = docs();
        d[1].authors = &ada;
        idx.apply(d, 1).unwrap();
        assert_eq!(keys(&idx, "\"dual encoder\""), [1]);
        assert!(keys(&idx, "\"encoder dual\"").is_empty());
        let mut k = keys(&idx, "retrieval -pixels");
        k.sort();
        assert_eq!(k, [1, 2]);
        assert_eq!(keys(&idx, "+bm25 retrieval"), [2]);
        assert_eq!(keys(&idx, "title:segmentation"), [3]);
        assert!(keys(&idx, "title:masks").is_empty());
        assert_eq!(keys(&idx, "abstract:masks"), [3]);
        assert_eq!(keys(&idx, "author:lovelace"), [2]);
        assert_eq!(keys(&idx, "AUTHOR:\"ada lovelace\""), [2]);
        // A bare name searches the authors too, and puts that author's papers first.
        assert_eq!(keys(&idx, "lovelace"), [2]);
        assert_eq!(keys(&idx, "Ada Lovelace retrieval")[0], 2);
        assert_eq!(keys(&idx, "\"ada lovelace\""), [2]);
        assert!(keys(&idx, "\"lovelace ada\"").is_empty());
        // Only exclusions: nothing to rank by.
        assert!(keys(&idx, "-pixels").is_empty());
    }

    #[test]
    fn a_removed_paper_is_gone_from_the_index() {
        let idx = LexicalIndex::in_memory().unwrap();
        idx.apply(docs(), 1).unwrap();
        let mut batch = idx.batch().unwrap();
        batch.remove(2);
        batch.remove(99);
        batch.commit(2).unwrap();
        assert!(keys(&idx, "bm25").is_empty());
        assert_eq!(keys(&idx, "dual"), [1]);
        assert_eq!(idx.generation().unwrap(), 2);
    }

    #[test]
    fn nested_and_operator_queries_cannot_overflow_the_stack() {
        // tantivy's QueryParser recursed once per `(`: ~760 aborted the process.
        let idx = LexicalIndex::in_memory().unwrap();
        idx.apply(docs(), 1).unwrap();
        for open in ["(", "[", "{", "\"", "+", "-", "title:(", "NOT ", "(+"] {
            let q = format!("{}retrieval{}", open.repeat(50_000), ")".repeat(50_000));
            idx.search(&q, 5)
                .unwrap_or_else(|e| panic!("{open:?}: {e}"));
        }
        // A star on a text field used to fail with "not a fast field".
        for q in ["title:*", "*", "key:1", "title:[a TO z]", "abstract:>1"] {
            idx.search(q, 5).unwrap_or_else(|e| panic!("{q:?}: {e}"));
        }
    }

    #[test]
    fn apply_replaces_by_key_and_records_generation() {
        let dir = tempfile::tempdir().unwrap();
        {
            let idx = LexicalIndex::open(dir.path()).unwrap();
            assert_eq!(idx.generation().unwrap(), 0);
            idx.apply(docs(), 3).unwrap();
            idx.apply(
                [LexicalDoc {
                    key: 3,
                    title: "Cell segmentation",
                    abstract_text: "Masks.",
                    authors: &[],
                }],
                4,
            )
            .unwrap();
        }
        let idx = LexicalIndex::open(dir.path()).unwrap();
        assert_eq!(idx.generation().unwrap(), 4);
        assert_eq!(idx.num_docs(), 3);
        assert_eq!(
            idx.search("cell", 5)
                .unwrap()
                .iter()
                .map(|h| h.0)
                .collect::<Vec<_>>(),
            [3]
        );
        assert!(idx.search("pixels", 5).unwrap().is_empty());
        idx.rebuild(
            [LexicalDoc {
                key: 9,
                title: "Only",
                abstract_text: "one",
                authors: &[],
            }],
            5,
        )
        .unwrap();
        assert_eq!(idx.num_docs(), 1);
    }
}
