//! The listing a papers page prints: a title line, then an abstract line, repeated.
//!
//! A copy of such a page starts with chrome: the lines `Get trending papers in your email
//! inbox…` and the word `Subscribe` glued to the first title. Those are dropped.

use std::io::BufRead;

use paperscout_model::{normalize_whitespace, Paper, PaperId, Source};

use crate::lines::Lines;
use crate::RecordError;

/// Longer than any real title; a "title" this long is an abstract whose title line is missing.
const MAX_TITLE_CHARS: usize = 400;
const CHROME_PREFIX: &str = "Get trending papers in your email inbox";
const SUBSCRIBE: &str = "Subscribe";

pub(crate) fn parse<R: BufRead>(
    lines: Lines<R>,
    source: Source,
) -> impl Iterator<Item = Result<Paper, RecordError>> {
    Listing {
        lines,
        source,
        at_start: true,
        saw_chrome: false,
    }
}

struct Listing<R> {
    lines: Lines<R>,
    source: Source,
    at_start: bool,
    saw_chrome: bool,
}

impl<R: BufRead> Listing<R> {
    /// The next non-blank line, skipping page chrome at the start.
    fn next_content(&mut self) -> Option<Result<(usize, String), RecordError>> {
        loop {
            let line = match self.lines.next()? {
                Ok(line) => line,
                Err(e) => return Some(Err(e)),
            };
            let text = normalize_whitespace(&line.text);
            if text.is_empty() {
                continue;
            }
            if self.at_start && text.starts_with(CHROME_PREFIX) {
                self.saw_chrome = true;
                continue;
            }
            return Some(Ok((line.number, text)));
        }
    }
}

impl<R: BufRead> Iterator for Listing<R> {
    type Item = Result<Paper, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (title_line, mut title) = match self.next_content()? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        if std::mem::take(&mut self.at_start) && self.saw_chrome {
            if let Some(rest) = title.strip_prefix(SUBSCRIBE) {
                if rest.chars().next().is_some_and(|c| !c.is_lowercase()) {
                    title = rest.trim_start().to_string();
                }
            }
        }
        let title_chars = title.chars().count();
        if title_chars > MAX_TITLE_CHARS {
            // Report this line alone: the next line is then read as a title, which puts the
            // pairing right again when it was a title line that went missing.
            return Some(Err(self.lines.error(
                title_line,
                Some("title"),
                format!(
                    "a title line of {title_chars} characters (at most {MAX_TITLE_CHARS}); \
                     is the title line above this abstract missing?"
                ),
            )));
        }
        let abstract_text = match self.next_content() {
            Some(Ok((_, text))) => text,
            Some(Err(e)) => return Some(Err(e)),
            None => {
                return Some(Err(self.lines.error(
                    title_line,
                    Some("abstract"),
                    format!("the title `{title}` has no abstract line after it"),
                )))
            }
        };
        let mut abstract_text = abstract_text;
        if let Err((field, message)) =
            paperscout_model::check_paper_text(&mut title, &mut abstract_text, &mut [])
        {
            return Some(Err(self.lines.error(title_line, Some(field), message)));
        }
        Some(Ok(Paper::new(
            PaperId::from_title(&title),
            title,
            abstract_text,
            self.source,
        )))
    }
}
