//! tf-idf features of abstracts, as arxiv-sanity-lite computes them with scikit-learn's
//! `TfidfVectorizer` (its settings: accents stripped, lower case, English stop words,
//! tokens of two or more ASCII word characters starting with a letter, unigrams and bigrams,
//! sublinear tf, smooth idf, rows L2-normalised, terms in too few or too many documents
//! dropped, the most frequent terms kept). Written here rather than taken from a crate: it is
//! a few dozen lines, it must match that definition exactly for the ranker's lexical half, and
//! the crates that offer tf-idf either tokenise differently or bring a matrix library along.

use std::collections::HashMap;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// How terms are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TfIdfParams {
    /// A term must appear in at least this many documents (scaled down for small pools: see
    /// `TfIdfParams::min_df_for`).
    pub min_df: usize,
    /// A term in more than this fraction of the documents says nothing about a reader.
    pub max_df: f64,
    /// The most terms kept (the most frequent ones).
    pub max_features: usize,
}

impl Default for TfIdfParams {
    /// arxiv-sanity-lite's settings (`compute.py`).
    fn default() -> Self {
        TfIdfParams {
            min_df: 5,
            max_df: 0.1,
            max_features: 20_000,
        }
    }
}

impl TfIdfParams {
    /// `min_df` for a pool of `n` documents: the full value from `500 · min_df` documents on,
    /// less below (a feed of 200 papers would keep hardly any term at 5).
    fn min_df_for(&self, n: usize) -> usize {
        (n / 500).clamp(1, self.min_df.max(1))
    }
}

/// The tf-idf rows of a pool of documents.
#[derive(Debug, Clone, Default)]
pub struct TfIdf {
    /// The kept terms ("transformer", "language model").
    pub terms: Vec<String>,
    /// Per document, its (term, weight) pairs by term index; each row has norm 1 (or is empty).
    pub rows: Vec<Vec<(u32, f32)>>,
}

/// scikit-learn's English stop words (`ENGLISH_STOP_WORDS`, from the Glasgow Information
/// Retrieval Group's list), which arxiv-sanity-lite uses.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "across",
    "after",
    "afterwards",
    "again",
    "against",
    "all",
    "almost",
    "alone",
    "along",
    "already",
    "also",
    "although",
    "always",
    "am",
    "among",
    "amongst",
    "amoungst",
    "amount",
    "an",
    "and",
    "another",
    "any",
    "anyhow",
    "anyone",
    "anything",
    "anyway",
    "anywhere",
    "are",
    "around",
    "as",
    "at",
    "back",
    "be",
    "became",
    "because",
    "become",
    "becomes",
    "becoming",
    "been",
    "before",
    "beforehand",
    "behind",
    "being",
    "below",
    "beside",
    "besides",
    "between",
    "beyond",
    "bill",
    "both",
    "bottom",
    "but",
    "by",
    "call",
    "can",
    "cannot",
    "cant",
    "co",
    "con",
    "could",
    "couldnt",
    "cry",
    "de",
    "describe",
    "detail",
    "do",
    "done",
    "down",
    "due",
    "during",
    "each",
    "eg",
    "eight",
    "either",
    "eleven",
    "else",
    "elsewhere",
    "empty",
    "enough",
    "etc",
    "even",
    "ever",
    "every",
    "everyone",
    "everything",
    "everywhere",
    "except",
    "few",
    "fifteen",
    "fifty",
    "fill",
    "find",
    "fire",
    "first",
    "five",
    "for",
    "former",
    "formerly",
    "forty",
    "found",
    "four",
    "from",
    "front",
    "full",
    "further",
    "get",
    "give",
    "go",
    "had",
    "has",
    "hasnt",
    "have",
    "he",
    "hence",
    "her",
    "here",
    "hereafter",
    "hereby",
    "herein",
    "hereupon",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "however",
    "hundred",
    "i",
    "ie",
    "if",
    "in",
    "inc",
    "indeed",
    "interest",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "keep",
    "last",
    "latter",
    "latterly",
    "least",
    "less",
    "ltd",
    "made",
    "many",
    "may",
    "me",
    "meanwhile",
    "might",
    "mill",
    "mine",
    "more",
    "moreover",
    "most",
    "mostly",
    "move",
    "much",
    "must",
    "my",
    "myself",
    "name",
    "namely",
    "neither",
    "never",
    "nevertheless",
    "next",
    "nine",
    "no",
    "nobody",
    "none",
    "noone",
    "nor",
    "not",
    "nothing",
    "now",
    "nowhere",
    "of",
    "off",
    "often",
    "on",
    "once",
    "one",
    "only",
    "onto",
    "or",
    "other",
    "others",
    "otherwise",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "part",
    "per",
    "perhaps",
    "please",
    "put",
    "rather",
    "re",
    "same",
    "see",
    "seem",
    "seemed",
    "seeming",
    "seems",
    "serious",
    "several",
    "she",
    "should",
    "show",
    "side",
    "since",
    "sincere",
    "six",
    "sixty",
    "so",
    "some",
    "somehow",
    "someone",
    "something",
    "sometime",
    "sometimes",
    "somewhere",
    "still",
    "such",
    "system",
    "take",
    "ten",
    "than",
    "that",
    "the",
    "their",
    "them",
    "themselves",
    "then",
    "thence",
    "there",
    "thereafter",
    "thereby",
    "therefore",
    "therein",
    "thereupon",
    "these",
    "they",
    "thick",
    "thin",
    "third",
    "this",
    "those",
    "though",
    "three",
    "through",
    "throughout",
    "thru",
    "thus",
    "to",
    "together",
    "too",
    "top",
    "toward",
    "towards",
    "twelve",
    "twenty",
    "two",
    "un",
    "under",
    "until",
    "up",
    "upon",
    "us",
    "very",
    "via",
    "was",
    "we",
    "well",
    "were",
    "what",
    "whatever",
    "when",
    "whence",
    "whenever",
    "where",
    "whereafter",
    "whereas",
    "whereby",
    "wherein",
    "whereupon",
    "wherever",
    "whether",
    "which",
    "while",
    "whither",
    "who",
    "whoever",
    "whole",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "within",
    "without",
    "would",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.binary_search(&w).is_ok()
}

/// The tokens of `text` as scikit-learn's `(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b` finds them after
/// stripping accents (NFKD, combining marks dropped) and lower-casing, stop words removed.
/// A match spans a whole run of word characters, so a run qualifies when it is all ASCII
/// letters, digits or `_`, starts with a letter or `_` and has two characters or more.
pub fn tokens(text: &str) -> Vec<String> {
    let folded: String = text
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    folded
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| {
            w.len() >= 2
                && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !w.as_bytes()[0].is_ascii_digit()
                && !is_stop_word(w)
        })
        .map(str::to_string)
        .collect()
}

/// A unigram or bigram of interned word ids: unigrams are `id`, bigrams `(a + 1) << 32 | b`.
fn gram(a: u32, b: Option<u32>) -> u64 {
    match b {
        None => a as u64,
        Some(b) => ((a as u64 + 1) << 32) | b as u64,
    }
}

/// Fits the terms on `texts` and returns every text's row.
pub fn fit_transform(texts: &[&str], params: &TfIdfParams) -> TfIdf {
    let n = texts.len();
    let mut words: HashMap<String, u32> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    // Per document, its grams and their counts.
    let mut counts: Vec<Vec<(u64, u32)>> = Vec::with_capacity(n);
    let mut df: HashMap<u64, (u32, u64)> = HashMap::new();
    for text in texts {
        let ids: Vec<u32> = tokens(text)
            .into_iter()
            .map(|w| {
                let next = names.len() as u32;
                *words.entry(w).or_insert_with_key(|w| {
                    names.push(w.clone());
                    next
                })
            })
            .collect();
        let mut doc: HashMap<u64, u32> = HashMap::new();
        for (i, &a) in ids.iter().enumerate() {
            *doc.entry(gram(a, None)).or_default() += 1;
            if let Some(&b) = ids.get(i + 1) {
                *doc.entry(gram(a, Some(b))).or_default() += 1;
            }
        }
        for (&g, &c) in &doc {
            let e = df.entry(g).or_default();
            e.0 += 1;
            e.1 += c as u64;
        }
        let mut doc: Vec<(u64, u32)> = doc.into_iter().collect();
        doc.sort_unstable();
        counts.push(doc);
    }
    let min_df = params.min_df_for(n) as u32;
    let max_df = ((params.max_df * n as f64).floor() as u32).max(min_df);
    let mut kept: Vec<(u64, u32, u64)> = df
        .into_iter()
        .filter(|(_, (d, _))| *d >= min_df && *d <= max_df)
        .map(|(g, (d, total))| (g, d, total))
        .collect();
    // The most frequent terms over the pool; ties by term so that the choice is stable.
    let name = |g: u64| -> String {
        let (hi, lo) = ((g >> 32) as u32, g as u32);
        if hi == 0 {
            names[lo as usize].clone()
        } else {
            format!("{} {}", names[hi as usize - 1], names[lo as usize])
        }
    };
    if kept.len() > params.max_features {
        kept.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| name(a.0).cmp(&name(b.0))));
        kept.truncate(params.max_features);
    }
    let mut terms: Vec<(String, u64, u32)> = kept.iter().map(|k| (name(k.0), k.0, k.1)).collect();
    terms.sort();
    let index: HashMap<u64, (u32, f32)> = terms
        .iter()
        .enumerate()
        .map(|(i, (_, g, d))| {
            let idf = ((1.0 + n as f64) / (1.0 + *d as f64)).ln() + 1.0;
            (*g, (i as u32, idf as f32))
        })
        .collect();
    let rows = counts
        .into_iter()
        .map(|doc| {
            let mut row: Vec<(u32, f32)> = doc
                .into_iter()
                .filter_map(|(g, c)| {
                    let (t, idf) = index.get(&g)?;
                    Some((*t, (1.0 + (c as f32).ln()) * idf))
                })
                .collect();
            let norm = row.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|(_, v)| *v /= norm);
            }
            row.sort_unstable_by_key(|(t, _)| *t);
            row
        })
        .collect();
    TfIdf {
        terms: terms.into_iter().map(|t| t.0).collect(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn tokens_follow_scikit_learns_pattern() {
        assert_eq!(
            tokens("The naïve Bayes-model in 3D, x2 and _id 42nd a"),
            vec!["naive", "bayes", "model", "x2", "_id"]
        );
    }

    #[test]
    fn rows_are_unit_length_and_rare_terms_are_dropped() {
        let texts = [
            "graph neural networks",
            "graph neural nets",
            "protein folding",
        ];
        let params = TfIdfParams {
            min_df: 1,
            max_df: 1.0,
            max_features: 100,
        };
        let t = fit_transform(&texts, &params);
        assert!(t.terms.contains(&"graph neural".to_string()));
        for row in &t.rows {
            let norm: f32 = row.iter().map(|(_, v)| v * v).sum();
            assert!((norm - 1.0).abs() < 1e-5);
        }
        let strict = TfIdfParams {
            max_df: 0.5,
            ..params
        };
        // "graph" and "neural" are in two of three documents: more than half.
        let t = fit_transform(&texts, &strict);
        assert!(!t.terms.contains(&"graph".to_string()));
        assert!(t.terms.contains(&"protein".to_string()));
    }
}
