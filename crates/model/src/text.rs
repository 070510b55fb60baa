use unicode_normalization::UnicodeNormalization;

/// Collapses every run of whitespace (including newlines and tabs) into one space and trims.
pub fn normalize_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The form of a title used for identity: NFKC, lower case, punctuation dropped, whitespace
/// collapsed. Two listings of the same paper that differ only in case, spacing, dashes or
/// quotes map to the same string.
pub fn normalize_title(title: &str) -> String {
    let folded: String = title
        .nfkc()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    normalize_whitespace(&folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(normalize_title(input), expected, "input: {input:?}");
    }

    #[test]
    fn normalize_title_folds_case_punctuation_and_unicode() {
        check(
            "BERT: Pre-training of  Deep\nBidirectional Transformers",
            "bert pre training of deep bidirectional transformers",
        );
        check("  ＢＥＲＴ — “quoted”  ", "bert quoted");
        check("Café Naïve", "café naïve");
        check("", "");
    }

    #[test]
    fn normalize_whitespace_collapses_runs() {
        assert_eq!(normalize_whitespace(" a \t b\n\nc "), "a b c");
    }
}
