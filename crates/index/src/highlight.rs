//! Snippets with the query's terms highlighted, matched the way the lexical index matches
//! them (same tokenizer, lower case, English stems), so `retrieving` lights up `retrieval`.

use std::collections::HashSet;

use paperscout_model::Snippet;
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer, TokenStream,
};

/// Words too common to be worth highlighting (they still count for BM25).
const STOP: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it", "of", "on",
    "or", "that", "the", "to", "with",
];

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// `(start, end, stem)` of every token of `text`.
fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        let t = stream.token();
        out.push((t.offset_from, t.offset_to, t.text.clone()));
    }
    out
}

/// An excerpt of `text` of about `max_chars` characters around the densest cluster of query
/// terms (or its beginning when none occur), with those terms highlighted.
pub fn snippet(text: &str, query: &str, max_chars: usize) -> Snippet {
    let mut analyzer = analyzer();
    let terms: HashSet<String> = tokens(&mut analyzer, query)
        .into_iter()
        .map(|t| t.2)
        .filter(|t| !STOP.contains(&t.as_str()))
        .collect();
    let matches: Vec<(usize, usize)> = if terms.is_empty() {
        Vec::new()
    } else {
        tokens(&mut analyzer, text)
            .into_iter()
            .filter(|t| terms.contains(&t.2))
            .map(|t| (t.0, t.1))
            .collect()
    };
    let max_bytes = byte_budget(text, max_chars);

    // Pick the window start (at a match, backed off a little for context) covering most matches.
    let mut start = 0;
    if text.len() > max_bytes && !matches.is_empty() {
        let context = max_bytes / 6;
        let mut best = (0usize, 0usize);
        for (i, &(m_start, _)) in matches.iter().enumerate() {
            let s = floor_word(text, m_start.saturating_sub(context));
            let covered = matches[i..]
                .iter()
                .take_while(|m| m.1 <= s + max_bytes)
                .count();
            if covered > best.0 {
                best = (covered, s);
            }
        }
        start = best.1;
        if start > 0 && text.len() - start < max_bytes {
            start = floor_word(text, text.len() - max_bytes);
        }
    }
    let mut end = (start + max_bytes).min(text.len());
    if end < text.len() {
        end = floor_word(text, end).max(start);
    }
    let (prefix, suffix) = (
        if start > 0 { "…" } else { "" },
        if end < text.len() { "…" } else { "" },
    );
    let body = text[start..end].trim_end();
    let highlights = matches
        .iter()
        .filter(|m| m.0 >= start && m.1 <= start + body.len())
        .map(|m| (m.0 - start + prefix.len(), m.1 - start + prefix.len()))
        .collect();
    Snippet {
        text: format!("{prefix}{body}{suffix}"),
        highlights,
    }
}

/// How many bytes of `text` the first `max_chars` characters take.
fn byte_budget(text: &str, max_chars: usize) -> usize {
    text.char_indices()
        .nth(max_chars)
        .map(|(i, _)| i)
        .unwrap_or(text.len())
}

/// The start of the word at or before byte `i` (a char boundary at whitespace).
fn floor_word(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    match text[..i].rfind(char::is_whitespace) {
        Some(ws) => ws + text[ws..].chars().next().map_or(1, char::len_utf8),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(s: &Snippet) -> String {
        s.render("[", "]", str::to_string)
    }

    #[test]
    fn highlights_stemmed_matches_in_short_text() {
        let s = snippet(
            "Retrieval with dense encoders beats retrieving with BM25.",
            "retrieving encoder",
            200,
        );
        assert_eq!(
            marked(&s),
            "[Retrieval] with dense [encoders] beats [retrieving] with BM25."
        );
    }

    #[test]
    fn long_text_windows_onto_the_matches() {
        let text = format!(
            "{} The contrastive loss aligns sentence embeddings. {}",
            "Filler words here. ".repeat(30),
            "More filler. ".repeat(30)
        );
        let s = snippet(&text, "contrastive sentence embeddings", 120);
        assert!(
            s.text.starts_with('…') && s.text.ends_with('…'),
            "{}",
            s.text
        );
        assert!(
            marked(&s).contains("[contrastive] loss aligns [sentence] [embeddings]"),
            "{}",
            marked(&s)
        );
        assert!(s.text.chars().count() <= 122);
    }

    #[test]
    fn no_match_gives_the_beginning_and_unicode_is_safe() {
        let text = "深度编码器 ".repeat(100);
        let s = snippet(&text, "nothing", 50);
        assert!(s.highlights.is_empty());
        assert!(s.text.starts_with("深度编码器") && s.text.ends_with('…'));
        let s = snippet("Ünïcödé naïve café", "cafe naive", 100);
        assert_eq!(
            marked(&s),
            "Ünïcödé naïve café",
            "accents are not folded by the stemmer"
        );
        let s = snippet("", "x", 10);
        assert_eq!(s.text, "");
        let s = snippet("the of and", "the of", 10);
        assert!(s.highlights.is_empty(), "stop words are not highlighted");
    }
}
