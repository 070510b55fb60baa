//! How a paper looks in a list, on every page that lists papers (trending, new, daily pages,
//! author pages, search results, similar papers): title, authors (each a link to their page),
//! date, votes, categories, PDF and code chips, the real id (arXiv, DOI) when there is one, and
//! an excerpt or the search snippet; for a signed-in reader, save and "not interested" buttons,
//! and on "For you" why each paper is there. Math in titles and abstracts is shown as Unicode
//! ([`paperscout_app::math_to_unicode`]). Imports `respond`, `voter` and `state`.

use std::collections::HashSet;

use chrono::NaiveDate;
use maud::{html, Markup, PreEscaped};
use paperscout_app::library::Reasons;
use paperscout_app::{math_to_unicode, FeedItem, Hit, Links, PaperId, Snippet};

use crate::respond::{escape, paper_path};
use crate::state::AppState;
use crate::voter::Visitor;

pub(crate) const PAGE_SIZE: usize = 20;
const EXCERPT_CHARS: usize = 320;
const MAX_AUTHORS: usize = 6;

/// The text under a card's title.
pub(crate) enum Text<'a> {
    /// The abstract, cut to an excerpt.
    Excerpt(&'a str),
    /// A search snippet with the matched words highlighted.
    Snippet(&'a Snippet),
}

/// One paper in a list.
pub(crate) struct Card<'a> {
    pub key: Option<i64>,
    pub id: &'a PaperId,
    pub title: &'a str,
    pub authors: &'a [String],
    pub published: Option<NaiveDate>,
    pub categories: &'a [String],
    pub links: &'a Links,
    pub votes: usize,
    pub text: Text<'a>,
    /// Why it is recommended (on "For you").
    pub why: Option<&'a Reasons>,
}

impl<'a> Card<'a> {
    pub(crate) fn of_item(item: &'a FeedItem) -> Card<'a> {
        let p = &item.paper;
        Card {
            key: Some(item.key),
            id: &p.id,
            title: &p.title,
            authors: &p.authors,
            published: p.published,
            categories: &p.categories,
            links: &p.links,
            votes: item.votes,
            text: Text::Excerpt(&p.abstract_text),
            why: None,
        }
    }

    pub(crate) fn of_hit(hit: &'a Hit) -> Card<'a> {
        Card {
            key: None,
            id: &hit.id,
            title: &hit.title,
            authors: &hit.authors,
            published: hit.published,
            categories: &hit.categories,
            links: &hit.links,
            votes: hit.votes,
            text: Text::Snippet(&hit.snippet),
            why: None,
        }
    }
}

/// Where an author's page is.
pub(crate) fn author_path(name: &str) -> String {
    format!(
        "/authors/{}",
        percent_encoding::utf8_percent_encode(name.trim(), percent_encoding::NON_ALPHANUMERIC)
    )
}

/// `s` cut at a word to at most `max_chars` characters, with an ellipsis when cut.
pub(crate) fn excerpt(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let cut: String = text.chars().take(max_chars).collect();
    let cut = cut.rsplit_once(' ').map(|(a, _)| a).unwrap_or(&cut);
    format!("{cut}…")
}

/// The authors, each a link to their page; the first few, then "et al." (or all of them).
pub(crate) fn authors(list: &[String], all: bool) -> Markup {
    let shown = if all { list.len() } else { MAX_AUTHORS };
    html! {
        @if !list.is_empty() {
            span.authors {
                @for (i, name) in list.iter().take(shown).enumerate() {
                    @if i > 0 { ", " }
                    a href=(author_path(name)) { (name) }
                }
                @if list.len() > shown { " et al." }
            }
        }
    }
}

pub(crate) fn date(d: Option<NaiveDate>) -> Markup {
    html! {
        @if let Some(d) = d {
            a.date href=(format!("/papers/date/{d}")) title="Papers of that day" {
                time datetime=(d) { (d.format("%b %-d, %Y")) }
            }
        }
    }
}

/// Authors and date, or nothing when both are unknown.
pub(crate) fn meta(list: &[String], published: Option<NaiveDate>, all_authors: bool) -> Markup {
    html! {
        @if !list.is_empty() || published.is_some() {
            p.meta { (authors(list, all_authors)) " " (date(published)) }
        }
    }
}

/// An http(s) link, or nothing: a `javascript:` URL in the data never becomes a link.
pub(crate) fn safe_url(url: Option<&str>) -> Option<&str> {
    url.map(str::trim)
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

/// The id worth showing: arXiv's or a DOI (not a title hash or a BEIR number).
pub(crate) fn shown_id(id: &PaperId) -> Option<String> {
    match id.scheme() {
        "arxiv" => Some(format!("arXiv:{}", id.value())),
        "doi" => Some(format!("doi:{}", id.value())),
        _ => None,
    }
}

/// Votes, categories, PDF and code links, and the real id, as small chips.
fn chips(card: &Card<'_>, with_votes: bool) -> Markup {
    let pdf = safe_url(card.links.pdf.as_deref());
    let code = safe_url(card.links.code.as_deref());
    html! {
        p.chips {
            @if with_votes {
                span.chip.votes title="Upvotes" { "▲ " (card.votes) }
            }
            @for c in card.categories.iter().take(4) {
                span.chip.tag { (c) }
            }
            @if let Some(url) = pdf { a.chip href=(url) rel="noopener noreferrer nofollow" { "PDF" } }
            @if let Some(url) = code { a.chip href=(url) rel="noopener noreferrer nofollow" { "Code" } }
            @if let Some(id) = shown_id(card.id) { span.chip.id { (id) } }
        }
    }
}

/// The upvote button (a form: works without JavaScript; `app.js` makes it skip the reload).
pub(crate) fn vote_button(
    state: &AppState,
    visitor: &Visitor,
    id: &PaperId,
    votes: usize,
    voted: bool,
) -> Markup {
    let path = paper_path(id);
    let action = if voted {
        format!("{path}/unvote")
    } else {
        format!("{path}/upvote")
    };
    html! {
        form.vote method="post" action=(action) data-api=(format!("/api{path}/upvote")) data-voted=(voted) {
            input type="hidden" name="csrf" value=(state.voters().csrf_token(visitor));
            button type="submit" aria-pressed=(voted) title=(if voted { "Take back your upvote" } else { "Upvote" }) {
                span.arrow aria-hidden="true" { "▲" }
                span.count { (votes) }
            }
        }
    }
}

/// What a list needs to draw vote buttons: the visitor and what they voted for; and for a
/// signed-in reader, their shelf.
pub(crate) struct Voting<'a> {
    pub state: &'a AppState,
    pub visitor: &'a Visitor,
    pub voted: &'a HashSet<i64>,
    pub shelf: Option<&'a Shelf>,
}

/// A signed-in reader's marks on the papers of a list: which are saved (in any collection)
/// and which are "not interested"; the cards then offer save and "not interested" in place.
pub(crate) struct Shelf {
    pub saved: HashSet<i64>,
    pub dismissed: HashSet<i64>,
    /// The path the buttons come back to.
    pub back: String,
}

impl Shelf {
    /// The signed-in visitor's marks on the papers `keys`, or none for a visitor who is not
    /// signed in (or when the store cannot say: the list is shown without the buttons).
    pub(crate) async fn of(
        state: &AppState,
        visitor: &Visitor,
        keys: Vec<i64>,
        back: String,
    ) -> Option<Shelf> {
        let account = visitor.account_id?;
        let marks = state
            .blocking(move |e| {
                let saved: HashSet<i64> = e.store().saved_in(account, &keys)?.into_keys().collect();
                let dismissed: HashSet<i64> = e.store().dismissed(account)?.into_iter().collect();
                Ok((saved, dismissed))
            })
            .await;
        match marks {
            Ok((saved, dismissed)) => Some(Shelf {
                saved,
                dismissed,
                back,
            }),
            Err(e) => {
                tracing::warn!(error = %e.message, "a reader's marks could not be read");
                None
            }
        }
    }
}

/// Save / "not interested" buttons for one paper (forms: they work without JavaScript).
pub(crate) fn shelf_buttons(
    state: &AppState,
    visitor: &Visitor,
    shelf: &Shelf,
    id: &PaperId,
    key: Option<i64>,
) -> Markup {
    let path = paper_path(id);
    let saved = key.is_some_and(|k| shelf.saved.contains(&k));
    let dismissed = key.is_some_and(|k| shelf.dismissed.contains(&k));
    let csrf = state.voters().csrf_token(visitor);
    html! {
        div.shelf {
            form.inline method="post" action=(format!("{path}/save")) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="back" value=(shelf.back);
                @if saved {
                    input type="hidden" name="undo" value="1";
                    button.save type="submit" aria-pressed="true" title="Take it out of your Saved collection" { "★ Saved" }
                } @else {
                    button.save type="submit" aria-pressed="false" title="Save it to your library" { "☆ Save" }
                }
            }
            form.inline method="post" action=(format!("{path}/not-interested")) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="back" value=(shelf.back);
                @if dismissed {
                    input type="hidden" name="undo" value="1";
                    button.dismiss type="submit" aria-pressed="true" title="Take back \"not interested\"" { "Not interested ✓ (undo)" }
                } @else {
                    button.dismiss type="submit" aria-pressed="false" title="Show fewer papers like this" { "Not interested" }
                }
            }
        }
    }
}

/// Why a paper is recommended: its nearest library papers, the terms that counted, a followed
/// author.
pub(crate) fn reasons(why: &Reasons) -> Markup {
    html! {
        p.why {
            @if let Some(a) = &why.followed_author {
                "By " a href=(author_path(a)) { (a) } ", whom you follow. "
            }
            @if !why.nearest.is_empty() {
                "Near your "
                @for (i, n) in why.nearest.iter().enumerate() {
                    @if i > 0 { " and " }
                    a href=(paper_path(&n.id)) { "“" (math_to_unicode(&excerpt(&n.title, 80))) "”" }
                }
                ". "
            }
            @if !why.terms.is_empty() {
                "Terms: "
                @for (i, t) in why.terms.iter().enumerate() {
                    @if i > 0 { ", " }
                    span.term { (t) }
                }
                "."
            }
        }
    }
}

/// A numbered list of cards, with vote buttons when `voting` is given (else the votes as a
/// chip).
pub(crate) fn list(cards: &[Card<'_>], first_rank: usize, voting: Option<&Voting<'_>>) -> Markup {
    html! {
        ol.papers start=(first_rank) {
            @for card in cards {
                li.paper {
                    @if let Some(v) = voting {
                        (vote_button(v.state, v.visitor, card.id, card.votes, card.key.is_some_and(|k| v.voted.contains(&k))))
                    }
                    div.body {
                        h2 { a href=(paper_path(card.id)) { (math_to_unicode(card.title)) } }
                        (meta(card.authors, card.published, false))
                        @match card.text {
                            Text::Excerpt(t) => p.excerpt { (math_to_unicode(&excerpt(t, EXCERPT_CHARS))) },
                            Text::Snippet(s) => p.excerpt { (PreEscaped(s.render("<mark>", "</mark>", |t| escape(&math_to_unicode(t))))) },
                        }
                        (chips(card, voting.is_none()))
                        @if let Some(why) = card.why { (reasons(why)) }
                        @if let Some((v, shelf)) = voting.and_then(|v| v.shelf.map(|s| (v, s))) {
                            (shelf_buttons(v.state, v.visitor, shelf, card.id, card.key))
                        }
                    }
                }
            }
        }
    }
}

/// "← Previous · Page N · Next →" for `base` (which may have a query string already).
pub(crate) fn pager(base: &str, page: usize, has_next: bool) -> Markup {
    let sep = if base.contains('?') { '&' } else { '?' };
    html! {
        @if page > 1 || has_next {
            nav.pager aria-label="Pages" {
                @if page > 1 { a rel="prev" href=(format!("{base}{sep}page={}", page - 1)) { "← Previous" } }
                span { "Page " (page) }
                @if has_next { a rel="next" href=(format!("{base}{sep}page={}", page + 1)) { "Next →" } }
            }
        }
    }
}

/// The description of a paper for link previews: its abstract's start, math rendered.
pub(crate) fn description(abstract_text: &str) -> String {
    excerpt(&math_to_unicode(abstract_text), 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_links_are_rendered() {
        // Ingest refuses other schemes; this is the second line of defence.
        assert_eq!(safe_url(Some(" https://a.org/x ")), Some("https://a.org/x"));
        assert_eq!(safe_url(Some("http://a.org")), Some("http://a.org"));
        assert_eq!(safe_url(Some("javascript:alert(1)")), None);
        assert_eq!(safe_url(Some("data:text/html,hi")), None);
        assert_eq!(safe_url(None), None);
    }

    #[test]
    fn excerpts_cut_at_a_word_and_only_real_ids_show() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("one two three four", 10), "one two…");
        assert_eq!(
            escape("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(
            shown_id(&"2401.00001".parse().unwrap()).as_deref(),
            Some("arXiv:2401.00001")
        );
        assert_eq!(shown_id(&PaperId::from_title("x")), None);
        assert_eq!(
            author_path("Ada Lovelace/<x>"),
            "/authors/Ada%20Lovelace%2F%3Cx%3E"
        );
    }
}
