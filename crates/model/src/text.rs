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
    let folded: String = clean_latex(title)
        .nfkc()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    normalize_whitespace(&folded)
}

/// Text for display: LaTeX markup outside math turned into Unicode (`Schr\\"{o}dinger` →
/// `Schrödinger`, `{BERT}` → `BERT`, `\\emph{x}` → `x`, `--` → `–`), then NFC and whitespace
/// collapsed. Math (`$…$`) is kept as written. arXiv and BibTeX text needs this; titles from
/// other sources go through it too, so that the same title reads (and dedups) the same.
pub fn clean_text(s: &str) -> String {
    normalize_whitespace(&clean_latex(s).nfc().collect::<String>())
}

/// The LaTeX half of [`clean_text`]. Written here rather than taken from a crate: the crates
/// that convert LaTeX to Unicode pull in a full TeX tokenizer, while arXiv metadata uses a
/// small, well-known subset (accents, a few letters, escapes, font commands).
fn clean_latex(s: &str) -> String {
    if !s.contains(['\\', '{', '}', '~', '-', '`', '\'']) {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut in_math = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '$' && (i == 0 || chars[i - 1] != '\\') {
            in_math = !in_math;
            out.push(c);
            i += 1;
            continue;
        }
        if in_math {
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            '\\' => i = command(&chars, i + 1, &mut out),
            '{' | '}' => i += 1,
            '~' => {
                out.push(' ');
                i += 1;
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                if chars.get(i + 2) == Some(&'-') {
                    out.push('—');
                    i += 3;
                } else {
                    out.push('–');
                    i += 2;
                }
            }
            '`' if chars.get(i + 1) == Some(&'`') => {
                out.push('“');
                i += 2;
            }
            '\'' if chars.get(i + 1) == Some(&'\'') => {
                out.push('”');
                i += 2;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Handles the command whose name starts at `chars[i]` (just after a backslash); returns
/// where reading goes on.
fn command(chars: &[char], i: usize, out: &mut String) -> usize {
    let Some(&first) = chars.get(i) else {
        out.push('\\');
        return i;
    };
    if let Some(mark) = accent(first) {
        // \"o, \"{o}, \" o, \c{c}, \'{\i}
        let mut j = i + 1;
        if first.is_ascii_alphabetic() {
            // A letter accent (\c, \v …) must not swallow a longer command name (\cite).
            if chars.get(j).is_some_and(|c| c.is_ascii_alphabetic()) {
                return named(chars, i, out);
            }
            while chars.get(j) == Some(&' ') {
                j += 1;
            }
        }
        let braced = chars.get(j) == Some(&'{');
        if braced {
            j += 1;
        }
        let base = match chars.get(j) {
            Some('\\') if matches!(chars.get(j + 1), Some('i' | 'j')) => {
                let dotless = chars[j + 1];
                j += 2;
                // A control word ends at a space that is not text: `\"\i ve` is `ïve`.
                if !braced && chars.get(j) == Some(&' ') {
                    j += 1;
                }
                Some(dotless)
            }
            Some(&c) if c.is_alphanumeric() => {
                j += 1;
                Some(c)
            }
            _ => None,
        };
        if braced && chars.get(j) == Some(&'}') {
            j += 1;
        }
        match base {
            Some(b) => {
                out.push(b);
                out.push(mark);
            }
            None => out.push(first),
        }
        return j;
    }
    if !first.is_ascii_alphabetic() {
        // An escaped character: \& \% \_ \# \$ \{ \} and a forced space.
        out.push(if first == '\\' { ' ' } else { first });
        return i + 1;
    }
    named(chars, i, out)
}

fn named(chars: &[char], i: usize, out: &mut String) -> usize {
    let mut j = i;
    while chars.get(j).is_some_and(|c| c.is_ascii_alphabetic()) {
        j += 1;
    }
    let name: String = chars[i..j].iter().collect();
    let letter = match name.as_str() {
        "ss" => Some("ß"),
        "o" => Some("ø"),
        "O" => Some("Ø"),
        "ae" => Some("æ"),
        "AE" => Some("Æ"),
        "oe" => Some("œ"),
        "OE" => Some("Œ"),
        "aa" => Some("å"),
        "AA" => Some("Å"),
        "l" => Some("ł"),
        "L" => Some("Ł"),
        "i" => Some("ı"),
        "j" => Some("ȷ"),
        "textendash" => Some("–"),
        "textemdash" => Some("—"),
        "LaTeX" => Some("LaTeX"),
        "TeX" => Some("TeX"),
        "ldots" | "dots" => Some("…"),
        _ => None,
    };
    if let Some(letter) = letter {
        out.push_str(letter);
        // `\ss{}` and `\ss ` end the command; the space is not text.
        if chars.get(j) == Some(&' ') {
            j += 1;
        }
        return j;
    }
    match name.as_str() {
        // Font and markup commands: their argument is the text.
        "emph" | "textit" | "textbf" | "textrm" | "textsc" | "texttt" | "textsf" | "textup"
        | "textsl" | "mbox" | "text" | "url" | "it" | "bf" | "em" | "rm" | "sc" | "tt" => j,
        // Anything else is kept as written, with its argument: better a visible `\foo{x}`
        // than lost text.
        _ => {
            out.push('\\');
            out.push_str(&name);
            if chars.get(j) == Some(&'{') {
                let mut depth = 0usize;
                while let Some(&c) = chars.get(j) {
                    out.push(c);
                    j += 1;
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            j
        }
    }
}

fn accent(c: char) -> Option<char> {
    Some(match c {
        '\'' => '\u{301}',
        '`' => '\u{300}',
        '^' => '\u{302}',
        '"' => '\u{308}',
        '~' => '\u{303}',
        '=' => '\u{304}',
        '.' => '\u{307}',
        'c' => '\u{327}',
        'v' => '\u{30c}',
        'u' => '\u{306}',
        'H' => '\u{30b}',
        'k' => '\u{328}',
        'r' => '\u{30a}',
        _ => return None,
    })
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
    fn clean_text_turns_latex_into_unicode_outside_math() {
        let check = |input: &str, expected: &str| {
            assert_eq!(clean_text(input), expected, "input: {input:?}");
        };
        check(r#"Schr\"{o}dinger and Erd\H{o}s"#, "Schrödinger and Erdős");
        check(r#"Schr\"odinger"#, "Schrödinger");
        check(
            r"{BERT}: Pre-training of {D}eep",
            "BERT: Pre-training of Deep",
        );
        check(r"Fran\c{c}ois and G\'{\i}rard", "François and Gírard");
        check(r#"na\"\i ve"#, "naïve");
        check(r"\emph{Attention} is \textbf{all}", "Attention is all");
        check(r"Q\&A, 50\% and x\_y", "Q&A, 50% and x_y");
        check(r"pages 1--2 --- ok", "pages 1–2 — ok");
        check(r"``quoted''", "“quoted”");
        check(
            r"The $\alpha$-divergence of {$O(n^{2})$}",
            r"The $\alpha$-divergence of $O(n^{2})$",
        );
        check(r"\ss{} and \o", "ß and ø");
        check(r"\cite{x} stays", r"\cite{x} stays");
        check(r"trailing \", r"trailing \");
        check("plain – already “unicode”", "plain – already “unicode”");
        check("e\u{301}", "é");
    }

    #[test]
    fn latex_titles_share_an_identity_with_their_plain_form() {
        assert_eq!(
            normalize_title(r#"{BERT}: Schr\"{o}dinger"#),
            normalize_title("BERT: Schrödinger")
        );
    }

    #[test]
    fn normalize_whitespace_collapses_runs() {
        assert_eq!(normalize_whitespace(" a \t b\n\nc "), "a b c");
    }
}

/// The longest title a paper may have, in characters (real ones stay under 300).
pub const MAX_TITLE_CHARS: usize = 1_000;
/// The longest abstract, in characters (arXiv allows 1,920; some sources send full texts).
pub const MAX_ABSTRACT_CHARS: usize = 50_000;
/// The most authors, and the longest name, a paper may have (large collaborations list a few
/// thousand).
pub const MAX_AUTHORS: usize = 10_000;
pub const MAX_AUTHOR_CHARS: usize = 1_000;

/// `s` without control characters (white space aside), which no source means to send: the
/// C1 controls that text decoded as Latin-1 instead of Windows-1252 carries (SciFact has
/// U+0096 for an en dash) become the characters they stood for, and the rest are dropped, so
/// nothing stored or shown can move a terminal's cursor or hide text.
pub fn strip_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return std::borrow::Cow::Borrowed(s);
    }
    // Windows-1252's printable characters at 0x80..=0x9F (`\0`: undefined there).
    const CP1252: [char; 32] = [
        '€', '\0', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\0', 'Ž', '\0', '\0',
        '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\0', 'ž', 'Ÿ',
    ];
    s.chars()
        .filter_map(|c| {
            if !c.is_control() || c.is_whitespace() {
                return Some(c);
            }
            match c as u32 {
                n @ 0x80..=0x9f => Some(CP1252[(n - 0x80) as usize]).filter(|&m| m != '\0'),
                _ => None,
            }
        })
        .collect::<String>()
        .into()
}

/// Cleans a paper's text of control characters ([`strip_controls`]) and checks it is within
/// the size limits above. On failure, the field and what is wrong.
pub fn check_paper_text(
    title: &mut String,
    abstract_text: &mut String,
    authors: &mut [String],
) -> Result<(), (&'static str, String)> {
    fn check(
        field: &'static str,
        text: &mut String,
        max: usize,
    ) -> Result<(), (&'static str, String)> {
        if let std::borrow::Cow::Owned(clean) = strip_controls(text) {
            *text = clean;
        }
        let n = text.chars().count();
        if n > max {
            return Err((field, format!("{n} characters long; the limit is {max}")));
        }
        Ok(())
    }
    check("title", title, MAX_TITLE_CHARS)?;
    check("abstract", abstract_text, MAX_ABSTRACT_CHARS)?;
    if authors.len() > MAX_AUTHORS {
        return Err((
            "authors",
            format!("{} authors; the limit is {MAX_AUTHORS}", authors.len()),
        ));
    }
    for a in authors {
        check("authors", a, MAX_AUTHOR_CHARS)?;
    }
    Ok(())
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    fn check(
        title: &str,
        abstract_text: &str,
        authors: &[&str],
    ) -> Result<(String, String, Vec<String>), &'static str> {
        let (mut t, mut a) = (title.to_string(), abstract_text.to_string());
        let mut au: Vec<String> = authors.iter().map(|s| s.to_string()).collect();
        check_paper_text(&mut t, &mut a, &mut au).map_err(|e| e.0)?;
        Ok((t, a, au))
    }

    #[test]
    fn control_characters_are_cleaned_and_sizes_limited() {
        let (t, a, au) = check(
            "A\u{7}bell",
            "Fast\u{96}slow, \u{93}q\u{94}\n\u{0}x",
            &["\u{1b}[31mred"],
        )
        .unwrap();
        assert_eq!(t, "Abell");
        assert_eq!(a, "Fast–slow, “q”\nx");
        assert_eq!(au, ["[31mred"]);
        assert_eq!(strip_controls("plain\ttext"), "plain\ttext");
        let long = "x".repeat(200_000);
        assert_eq!(check(&long, "", &[]).unwrap_err(), "title");
        assert_eq!(check("t", &long, &[]).unwrap_err(), "abstract");
        let many: Vec<&str> = vec!["a"; MAX_AUTHORS + 1];
        assert_eq!(check("t", "", &many).unwrap_err(), "authors");
    }
}
