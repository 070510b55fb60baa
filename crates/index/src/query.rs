//! The lexical query language, parsed by hand into a flat list of clauses.
//!
//! Why not tantivy's `QueryParser`: its grammar nests (parentheses, brackets), it recurses
//! once per level, and ~760 `(` overflowed the stack of the thread running it — an abort no
//! panic handler can catch. It also accepts syntax that fails at search time (`title:*` on a
//! field without fast values). The syntax readers actually use is flat, so this grammar is
//! flat: nothing here recurses, and every input parses.
//!
//! ```text
//! query   = clause*                      (separated by white space)
//! clause  = [ "+" | "-" ] [ field ":" ] ( '"' phrase '"' | word )
//! field   = "title" | "abstract" | "author"          (case-insensitive)
//! ```
//! - A clause without `+`/`-` is optional (scored when it matches); `+` requires it; `-`
//!   excludes papers that match it.
//! - Without a field, a clause searches title and abstract as one text (plus a small title
//!   bonus); a word the analyzer splits ("IL-6") searches its parts, in order only when quoted
//!   or required/excluded.
//! - A quoted phrase matches its words in order; an unclosed quote runs to the end.
//! - Anything else — parentheses, brackets, `AND`/`OR`, `*`, `^`, a `word:` that names no
//!   field — is plain text, and the analyzer keeps only its words.

/// What a clause demands of a paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occur {
    Should,
    Must,
    MustNot,
}

/// Which fields a clause searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Title (boosted) and abstract: a clause without a field prefix.
    Default,
    Title,
    Abstract,
    Author,
}

/// One clause: its text is analysed later, with the field's own analyzer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause<'a> {
    pub occur: Occur,
    pub scope: Scope,
    pub text: &'a str,
    /// Written in quotes: its words must appear in order.
    pub phrase: bool,
}

/// The most clauses one query keeps; later ones are ignored (a pasted abstract still searches
/// by its first 128 words; the words of all clauses together are capped as well, see
/// `lexical::MAX_QUERY_WORDS`).
pub const MAX_CLAUSES: usize = 128;

fn scope(name: &str) -> Option<Scope> {
    if name.eq_ignore_ascii_case("title") {
        Some(Scope::Title)
    } else if name.eq_ignore_ascii_case("abstract") {
        Some(Scope::Abstract)
    } else if name.eq_ignore_ascii_case("author") || name.eq_ignore_ascii_case("authors") {
        Some(Scope::Author)
    } else {
        None
    }
}

/// Splits `query` into at most [`MAX_CLAUSES`] clauses. Never fails; runs in linear time
/// with no recursion.
pub fn parse(query: &str) -> Vec<Clause<'_>> {
    let mut clauses = Vec::new();
    let mut rest = query;
    while clauses.len() < MAX_CLAUSES {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let mut occur = Occur::Should;
        if let Some(r) = rest.strip_prefix('+') {
            occur = Occur::Must;
            rest = r;
        } else if let Some(r) = rest.strip_prefix('-') {
            occur = Occur::MustNot;
            rest = r;
        }
        let mut scope_of = Scope::Default;
        // A field prefix: letters, then `:`, then something that is not white space.
        let letters = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        if letters > 0 && rest[letters..].starts_with(':') {
            if let Some(s) = scope(&rest[..letters]) {
                let after = &rest[letters + 1..];
                if after.starts_with(|c: char| !c.is_whitespace()) {
                    scope_of = s;
                    rest = after;
                }
            }
        }
        let (text, phrase, next) = if let Some(r) = rest.strip_prefix('"') {
            match r.find('"') {
                Some(end) => (&r[..end], true, &r[end + 1..]),
                None => (r, true, ""),
            }
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], false, &rest[end..])
        };
        rest = next;
        if !text.trim().is_empty() {
            clauses.push(Clause {
                occur,
                scope: scope_of,
                text,
                phrase,
            });
        }
    }
    clauses
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, expected: &[(Occur, Scope, &str, bool)]) {
        let got: Vec<_> = parse(query)
            .into_iter()
            .map(|c| (c.occur, c.scope, c.text, c.phrase))
            .collect();
        assert_eq!(got, expected, "{query:?}");
    }

    #[test]
    fn words_phrases_prefixes_and_fields() {
        use Occur::*;
        use Scope::*;
        check(
            "dense retrieval",
            &[
                (Should, Default, "dense", false),
                (Should, Default, "retrieval", false),
            ],
        );
        check(
            "+bert -\"masked language\" title:Transformers AUTHOR:\"ada lovelace\"",
            &[
                (Must, Default, "bert", false),
                (MustNot, Default, "masked language", true),
                (Should, Title, "Transformers", false),
                (Should, Author, "ada lovelace", true),
            ],
        );
        // Not a field: plain text. A prefix with nothing after it: plain text.
        check(
            "IL-6: levels",
            &[
                (Should, Default, "IL-6:", false),
                (Should, Default, "levels", false),
            ],
        );
        check(
            "title: x",
            &[
                (Should, Default, "title:", false),
                (Should, Default, "x", false),
            ],
        );
        check(
            "\"unclosed phrase",
            &[(Should, Default, "unclosed phrase", true)],
        );
        check("- + \"\" ", &[]);
    }

    #[test]
    fn hostile_input_is_flat_and_bounded() {
        let deep = "(".repeat(100_000) + "x" + &")".repeat(100_000);
        assert_eq!(parse(&deep).len(), 1);
        let many = "a ".repeat(10_000);
        assert_eq!(parse(&many).len(), MAX_CLAUSES);
        for q in [
            "title:*", "[x TO y]", "a^2~3", "\"\"\"", "+-+-", "ä:ö", "title:\"", "-",
        ] {
            parse(q);
        }
    }
}
