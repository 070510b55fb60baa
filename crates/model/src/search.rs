use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::PaperId;

/// How a query is matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Both rankings fused (the default).
    #[default]
    Hybrid,
    /// Nearest neighbours of the query's sentence embedding.
    Semantic,
    /// BM25 over title and abstract.
    Lexical,
}

impl SearchMode {
    pub const ALL: [SearchMode; 3] = [
        SearchMode::Lexical,
        SearchMode::Semantic,
        SearchMode::Hybrid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Hybrid => "hybrid",
            SearchMode::Semantic => "semantic",
            SearchMode::Lexical => "lexical",
        }
    }

    /// Whether the mode needs the sentence encoder.
    pub fn needs_encoder(self) -> bool {
        !matches!(self, SearchMode::Lexical)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown search mode `{0}`: expected hybrid, semantic or lexical")]
pub struct SearchModeError(String);

impl FromStr for SearchMode {
    type Err = SearchModeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hybrid" => Ok(SearchMode::Hybrid),
            "semantic" => Ok(SearchMode::Semantic),
            "lexical" => Ok(SearchMode::Lexical),
            _ => Err(SearchModeError(s.to_string())),
        }
    }
}

impl fmt::Display for SearchMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A short excerpt of a paper with the byte ranges that matched the query, so that each front
/// end highlights in its own way (ANSI, `<mark>`, JSON) and escapes the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snippet {
    pub text: String,
    /// Byte ranges `[start, end)` into `text`, sorted, not overlapping.
    pub highlights: Vec<(usize, usize)>,
}

impl Snippet {
    /// Renders the snippet with every highlight wrapped by `open` and `close`, passing every
    /// piece of text through `escape`.
    pub fn render(&self, open: &str, close: &str, escape: impl Fn(&str) -> String) -> String {
        let mut out = String::with_capacity(
            self.text.len() + self.highlights.len() * (open.len() + close.len()),
        );
        let mut at = 0;
        for &(start, end) in &self.highlights {
            out.push_str(&escape(&self.text[at..start]));
            out.push_str(open);
            out.push_str(&escape(&self.text[start..end]));
            out.push_str(close);
            at = end;
        }
        out.push_str(&escape(&self.text[at..]));
        out
    }
}

/// One search result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub id: PaperId,
    pub title: String,
    pub authors: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<NaiveDate>,
    /// Higher is better. Lexical: BM25; semantic: cosine similarity; hybrid: the fused score.
    pub score: f32,
    pub snippet: Snippet,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(default)]
    pub links: crate::Links,
    /// All-time upvotes (the source's count plus this site's).
    #[serde(default)]
    pub votes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        for mode in SearchMode::ALL {
            assert_eq!(mode.as_str().parse::<SearchMode>().unwrap(), mode);
        }
        assert_eq!(
            " Hybrid ".parse::<SearchMode>().unwrap(),
            SearchMode::Hybrid
        );
        let err = "fuzzy".parse::<SearchMode>().unwrap_err().to_string();
        assert!(err.contains("fuzzy") && err.contains("lexical"), "{err}");
    }

    #[test]
    fn snippet_render_escapes_and_marks() {
        let s = Snippet {
            text: "a <b> & c".into(),
            highlights: vec![(2, 5)],
        };
        let html = s.render("<mark>", "</mark>", |t| {
            t.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        });
        assert_eq!(html, "a <mark>&lt;b&gt;</mark> &amp; c");
        assert_eq!(s.render("[", "]", str::to_string), "a [<b>] & c");
    }
}
