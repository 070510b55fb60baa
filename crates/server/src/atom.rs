//! Atom feeds (RFC 4287) of paper lists: trending, new, each day/week/month, each author, any
//! search. Written by hand: the document is a dozen element kinds, and writing it here keeps
//! control of what a feed reader relies on — a stable `id` per feed and per entry (the page's
//! and the paper's absolute URL, which do not change when the list does), `updated` on every
//! entry and on the feed, and text that is always escaped (and stripped of characters XML
//! 1.0 cannot carry). Tests parse every feed with `feed-rs`. Imports `respond`.

use std::fmt::Write;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use paperscout_app::{math_to_unicode, FeedItem, Hit, PaperId};

use crate::respond::paper_path;

/// Entries per feed.
pub(crate) const FEED_SIZE: usize = 50;

/// A feed's own fields.
pub(crate) struct FeedMeta<'a> {
    pub title: &'a str,
    /// The site's public address (no trailing slash).
    pub base_url: &'a str,
    /// The HTML page the feed mirrors (a path on the site, with its query).
    pub page: &'a str,
    /// The feed's own path (with its query).
    pub path: &'a str,
}

/// One entry.
pub(crate) struct Entry<'a> {
    pub id: &'a PaperId,
    pub title: &'a str,
    pub authors: &'a [String],
    pub published: Option<NaiveDate>,
    pub updated: Option<NaiveDate>,
    pub categories: &'a [String],
    pub summary: &'a str,
}

impl<'a> Entry<'a> {
    pub(crate) fn of_item(item: &'a FeedItem) -> Entry<'a> {
        let p = &item.paper;
        Entry {
            id: &p.id,
            title: &p.title,
            authors: &p.authors,
            published: p.published,
            updated: p.updated,
            categories: &p.categories,
            summary: &p.abstract_text,
        }
    }

    pub(crate) fn of_hit(hit: &'a Hit) -> Entry<'a> {
        Entry {
            id: &hit.id,
            title: &hit.title,
            authors: &hit.authors,
            published: hit.published,
            updated: None,
            categories: &hit.categories,
            summary: &hit.snippet.text,
        }
    }
}

/// `s` escaped for XML text and attribute values, without the characters XML 1.0 forbids.
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// The feed document.
pub(crate) fn document(meta: &FeedMeta<'_>, entries: &[Entry<'_>], now: DateTime<Utc>) -> String {
    let base = meta.base_url.trim_end_matches('/');
    // The feed changed when its newest entry did; an empty feed, now.
    let entry_updated = |e: &Entry<'_>| e.updated.or(e.published).map(midnight);
    let updated = entries
        .iter()
        .filter_map(entry_updated)
        .max()
        .unwrap_or(now)
        .min(now);
    let mut x = String::with_capacity(1024 + entries.len() * 1500);
    x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(x, "  <title>{}</title>", xml_escape(meta.title));
    let _ = writeln!(
        x,
        "  <id>{}</id>",
        xml_escape(&format!("{base}{}", meta.page))
    );
    let _ = writeln!(x, "  <updated>{}</updated>", updated.to_rfc3339());
    let _ = writeln!(
        x,
        "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>",
        xml_escape(&format!("{base}{}", meta.path))
    );
    let _ = writeln!(
        x,
        "  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
        xml_escape(&format!("{base}{}", meta.page))
    );
    x.push_str("  <author><name>paperscout</name></author>\n");
    x.push_str("  <generator>paperscout</generator>\n");
    for e in entries {
        let url = format!("{base}{}", paper_path(e.id));
        x.push_str("  <entry>\n");
        let _ = writeln!(
            x,
            "    <title>{}</title>",
            xml_escape(&math_to_unicode(e.title))
        );
        let _ = writeln!(x, "    <id>{}</id>", xml_escape(&url));
        let _ = writeln!(
            x,
            "    <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
            xml_escape(&url)
        );
        let _ = writeln!(
            x,
            "    <updated>{}</updated>",
            entry_updated(e).unwrap_or(updated).to_rfc3339()
        );
        if let Some(p) = e.published {
            let _ = writeln!(x, "    <published>{}</published>", midnight(p).to_rfc3339());
        }
        for a in e.authors {
            let _ = writeln!(x, "    <author><name>{}</name></author>", xml_escape(a));
        }
        for c in e.categories {
            let _ = writeln!(x, "    <category term=\"{}\"/>", xml_escape(c));
        }
        if !e.summary.is_empty() {
            let _ = writeln!(
                x,
                "    <summary type=\"text\">{}</summary>",
                xml_escape(&math_to_unicode(e.summary))
            );
        }
        x.push_str("  </entry>\n");
    }
    x.push_str("</feed>\n");
    x
}

/// The feed as an answer.
pub(crate) fn response(meta: &FeedMeta<'_>, entries: &[Entry<'_>]) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        document(meta, entries, Utc::now()),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_forbidden_characters_dropped() {
        assert_eq!(
            xml_escape("a<b & \"c\" 'd'>\u{1}\u{FFFF}\té"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\té"
        );
    }
}
