//! A collection's rules: keywords a paper must or must never mention, categories, and
//! followed authors whose papers are always shown.

use paperscout_model::Paper;
use paperscout_store::Rules;

use crate::normalize_name;

/// What the rules say about one paper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleCheck {
    /// A followed author wrote it: shown whatever the model and the other rules say.
    Followed(String),
    /// Shown if the model ranks it.
    Allowed,
    /// Left out, and why.
    Excluded(String),
}

/// Whether `needle` (lower case) occurs in `hay` (lower case) as whole words.
fn mentions(hay: &str, needle: &str) -> bool {
    let needle = needle.trim();
    if needle.is_empty() {
        return false;
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    let mut from = 0;
    while let Some(at) = hay[from..].find(needle) {
        let start = from + at;
        let end = start + needle.len();
        if !word(hay[..start].chars().next_back()) && !word(hay[end..].chars().next()) {
            return true;
        }
        from = start + needle.chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Checks `paper` against `rules`. Keywords match whole words without case in the title and
/// abstract; "must" keeps papers mentioning at least one of its keywords, "never" drops papers
/// mentioning any of its keywords; categories keep papers in at least one of them (by prefix:
/// `cs` keeps `cs.CL`); followed authors match names as author pages do.
pub fn matches_rules(paper: &Paper, rules: &Rules) -> RuleCheck {
    if !rules.authors.is_empty() {
        let followed: Vec<String> = rules.authors.iter().map(|a| normalize_name(a)).collect();
        if let Some(a) = paper
            .authors
            .iter()
            .find(|a| followed.contains(&normalize_name(a)))
        {
            return RuleCheck::Followed(a.clone());
        }
    }
    let text = format!("{}\n{}", paper.title, paper.abstract_text).to_lowercase();
    if let Some(k) = rules
        .never
        .iter()
        .find(|k| mentions(&text, &k.to_lowercase()))
    {
        return RuleCheck::Excluded(format!("mentions \"{k}\""));
    }
    if !rules.must.is_empty()
        && !rules
            .must
            .iter()
            .any(|k| mentions(&text, &k.to_lowercase()))
    {
        return RuleCheck::Excluded("mentions none of the required keywords".into());
    }
    if !rules.categories.is_empty()
        && !paper.categories.iter().any(|c| {
            rules.categories.iter().any(|r| {
                let r = r.trim();
                c.eq_ignore_ascii_case(r)
                    || (c.len() > r.len()
                        && c[..r.len()].eq_ignore_ascii_case(r)
                        && c.as_bytes()[r.len()] == b'.')
            })
        })
    {
        return RuleCheck::Excluded("in none of the chosen categories".into());
    }
    RuleCheck::Allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(title: &str, authors: &[&str], cats: &[&str]) -> Paper {
        let mut p = Paper::new(
            paperscout_model::PaperId::arxiv("2401.00001").unwrap(),
            title.to_string(),
            String::new(),
            paperscout_model::Source::Jsonl,
        );
        p.authors = authors.iter().map(|s| s.to_string()).collect();
        p.categories = cats.iter().map(|s| s.to_string()).collect();
        p
    }

    #[test]
    fn rules_keep_drop_and_follow() {
        let rules = Rules {
            must: vec!["retrieval".into(), "RAG".into()],
            never: vec!["survey".into()],
            categories: vec!["cs".into()],
            authors: vec!["Ada  Lovelace".into()],
        };
        let ok = paper("Dense retrieval at scale", &["B. Smith"], &["cs.IR"]);
        assert_eq!(matches_rules(&ok, &rules), RuleCheck::Allowed);
        let survey = paper("A survey of retrieval", &[], &["cs.IR"]);
        assert!(matches!(
            matches_rules(&survey, &rules),
            RuleCheck::Excluded(_)
        ));
        // "rag" inside "fragment" is not the word RAG.
        let fragment = paper("Fragment assembly", &[], &["cs.IR"]);
        assert!(matches!(
            matches_rules(&fragment, &rules),
            RuleCheck::Excluded(_)
        ));
        let physics = paper("Retrieval of spectra", &[], &["astro-ph.GA"]);
        assert!(matches!(
            matches_rules(&physics, &rules),
            RuleCheck::Excluded(_)
        ));
        let followed = paper("A survey of everything", &["ada lovelace"], &["math.HO"]);
        assert_eq!(
            matches_rules(&followed, &rules),
            RuleCheck::Followed("ada lovelace".into())
        );
    }
}
