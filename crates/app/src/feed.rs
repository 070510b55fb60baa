//! The feed: trending and newest papers, and upvotes.
//!
//! Trending is Hacker News' gravity over upvotes and age, computed on each request from the
//! votes in the store (nothing is cached):
//!
//! ```text
//! score = (votes_in_window + prior) / (age_hours + 2) ^ gravity
//! ```
//!
//! `age_hours` counts from when the paper entered the feed (its publication date, else when it
//! was added). Papers listed or voted for inside the window come first, ranked by score; the
//! rest follow in the same order, so a quiet day still shows the most recent papers and the
//! home page is never empty. With no votes anywhere, the order is newest first.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use paperscout_index::Key;
use paperscout_model::{Paper, PaperId};
use paperscout_store::{Candidate, Neighbours, DEMO_LISTED_AT};
use serde::Serialize;

use crate::{Engine, Error, Result};

/// How far back trending looks for votes and new papers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    #[default]
    Day,
    Week,
    Month,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Day, Window::Week, Window::Month];

    pub fn hours(self) -> i64 {
        match self {
            Window::Day => 24,
            Window::Week => 24 * 7,
            Window::Month => 24 * 30,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Window::Day => "day",
            Window::Week => "week",
            Window::Month => "month",
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Window {
    type Err = Error;

    fn from_str(s: &str) -> Result<Window> {
        match s {
            "day" => Ok(Window::Day),
            "week" => Ok(Window::Week),
            "month" => Ok(Window::Month),
            other => Err(Error::Invalid(format!(
                "unknown trending window `{other}`; expected day, week or month"
            ))),
        }
    }
}

/// The trending formula's knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendingParams {
    /// How fast age pulls a paper down (Hacker News uses 1.8).
    pub gravity: f64,
    /// Votes every paper starts with, so unvoted papers still rank by age.
    pub prior: f64,
}

impl Default for TrendingParams {
    fn default() -> Self {
        TrendingParams {
            gravity: 1.8,
            prior: 1.0,
        }
    }
}

impl TrendingParams {
    /// The trending score of a paper with `votes` votes in the window, `age_hours` old.
    pub fn score(&self, votes: usize, age_hours: f64) -> f64 {
        (votes as f64 + self.prior) / (age_hours.max(0.0) + 2.0).powf(self.gravity)
    }
}

/// One paper in a feed.
#[derive(Debug, Clone, Serialize)]
pub struct FeedItem {
    #[serde(skip)]
    pub key: Key,
    #[serde(flatten)]
    pub paper: Paper,
    /// All-time upvotes.
    pub votes: usize,
    /// Listed or voted for inside the trending window (trending feeds only).
    #[serde(skip)]
    pub in_window: bool,
    /// The trending score (trending feeds only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trending_score: Option<f64>,
}

/// The most papers an author page lists.
pub const MAX_AUTHOR_PAPERS: usize = 500;
/// The most index matches of a name looked at (a very common name's oldest ones beyond this
/// are left out).
const AUTHOR_MATCHES: usize = 10_000;

/// A name compared without case, accents kept, white space and dots folded ("J.  Smith" and
/// "j. smith" are one name).
pub fn normalize_name(name: &str) -> String {
    name.split(|c: char| c.is_whitespace() || c == '.')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A paper's votes after a vote or unvote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VoteState {
    pub votes: usize,
    pub voted: bool,
}

/// Orders candidates: those inside the window first, then by score, then newest, then in the
/// order they were added.
pub(crate) fn rank_candidates(
    mut candidates: Vec<Candidate>,
    params: &TrendingParams,
    now: i64,
) -> Vec<(Candidate, f64)> {
    let mut scored: Vec<(Candidate, f64)> = candidates
        .drain(..)
        .map(|c| {
            let age_hours = (now - c.listed_at) as f64 / 3600.0;
            (c, params.score(c.votes, age_hours))
        })
        .collect();
    // The bundled demo corpus never "entered the feed": after every real paper, votes or not.
    let demo = |c: &Candidate| c.listed_at == DEMO_LISTED_AT;
    scored.sort_by(|(a, sa), (b, sb)| {
        demo(a)
            .cmp(&demo(b))
            .then(b.in_window.cmp(&a.in_window))
            .then(sb.total_cmp(sa))
            .then(b.listed_at.cmp(&a.listed_at))
            .then(a.key.cmp(&b.key))
    });
    scored
}

impl Engine {
    /// Page `offset..offset+limit` of the trending papers for `window`, as of `now`.
    pub fn trending(
        &self,
        window: Window,
        offset: usize,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<FeedItem>> {
        let now = now.timestamp();
        let since = now - window.hours() * 3600;
        let candidates = self
            .store
            .trending_candidates(since, offset.saturating_add(limit))?;
        let ranked = rank_candidates(candidates, &self.config.trending, now);
        let page: Vec<(Candidate, f64)> = ranked.into_iter().skip(offset).take(limit).collect();
        let mut items = self
            .feed_items(&page.iter().map(|p| p.0.key).collect::<Vec<_>>(), |key| {
                page.iter().find(|p| p.0.key == key).map(|p| p.1)
            })?;
        for item in &mut items {
            item.in_window = page.iter().any(|p| p.0.key == item.key && p.0.in_window);
        }
        Ok(items)
    }

    /// Page `offset..offset+limit` of the papers, newest first.
    pub fn newest(&self, offset: usize, limit: usize) -> Result<Vec<FeedItem>> {
        let keys = self.store.newest(offset, limit)?;
        self.feed_items(&keys, |_| None)
    }

    /// Page `offset..offset+limit` of the papers published from `from` to `to`, most upvoted
    /// first (the daily, weekly and monthly pages), and how many there are in all.
    pub fn published(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<FeedItem>, usize)> {
        let (keys, total) = self.store.published_between(from, to, offset, limit)?;
        Ok((self.feed_items(&keys, |_| None)?, total))
    }

    /// The nearest dates before `from` and after `to` with papers.
    pub fn published_neighbours(&self, from: NaiveDate, to: NaiveDate) -> Result<Neighbours> {
        Ok(self.store.published_neighbours(from, to)?)
    }

    /// Page `offset..offset+limit` of the papers `name` wrote (the name as the papers give it,
    /// compared without case and extra white space), newest first, and how many there are
    /// (at most [`MAX_AUTHOR_PAPERS`]). Found through the lexical index's author field, then
    /// checked name by name, so "Li" finds Li's papers, not every paper with a "Li" in a name.
    pub fn author_papers(
        &self,
        name: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<FeedItem>, usize)> {
        let wanted = normalize_name(name);
        if wanted.is_empty() || name.chars().count() > 300 {
            return Ok((Vec::new(), 0));
        }
        self.refresh_for_request()?;
        // A phrase of the name's words: every paper with those words in order in a name.
        let phrase = name.replace('"', " ");
        let found = self
            .lexical
            .search(&format!("author:\"{phrase}\""), AUTHOR_MATCHES)?;
        let mut keys: Vec<Key> = found.iter().map(|f| f.0).collect();
        let candidates = MAX_AUTHOR_PAPERS * 4;
        if keys.len() > candidates {
            // A common name: the newest of its matches (by date alone, one small read each)
            // are the ones checked name by name, not the best by BM25.
            let facets = self.store.facets(&keys)?;
            let date = |k: &Key| facets.get(k).and_then(|f| f.published);
            keys.sort_by(|a, b| date(b).cmp(&date(a)).then(b.cmp(a)));
            keys.truncate(candidates);
        }
        let mut papers: Vec<_> = self
            .store
            .get_many(&keys)?
            .into_iter()
            .filter(|p| p.paper.authors.iter().any(|a| normalize_name(a) == wanted))
            .collect();
        // Newest first; undated papers last, then the order they were added.
        papers.sort_by(|a, b| {
            b.paper
                .published
                .cmp(&a.paper.published)
                .then(b.key.cmp(&a.key))
        });
        papers.truncate(MAX_AUTHOR_PAPERS);
        let total = papers.len();
        let page: Vec<Key> = papers
            .iter()
            .skip(offset)
            .take(limit)
            .map(|p| p.key)
            .collect();
        Ok((self.feed_items(&page, |_| None)?, total))
    }

    pub(crate) fn feed_items(
        &self,
        keys: &[Key],
        score: impl Fn(Key) -> Option<f64>,
    ) -> Result<Vec<FeedItem>> {
        let votes = self.store.vote_counts(keys)?;
        Ok(self
            .store
            .get_many(keys)?
            .into_iter()
            .map(|p| FeedItem {
                key: p.key,
                votes: votes.get(&p.key).copied().unwrap_or(0),
                in_window: false,
                trending_score: score(p.key),
                paper: p.paper,
            })
            .collect())
    }

    /// Records `voter`'s upvote for paper `id` (once; voting again changes nothing).
    pub fn upvote(&self, id: &PaperId, voter: &str, now: DateTime<Utc>) -> Result<VoteState> {
        let key = self.paper(id)?.key;
        self.store.vote(key, voter, now.timestamp())?;
        self.vote_state(key, voter)
    }

    /// Takes back `voter`'s upvote for paper `id`, if any.
    pub fn unvote(&self, id: &PaperId, voter: &str) -> Result<VoteState> {
        let key = self.paper(id)?.key;
        self.store.unvote(key, voter)?;
        self.vote_state(key, voter)
    }

    /// Paper `key`'s votes, and whether `voter` is among them.
    pub fn vote_state(&self, key: Key, voter: &str) -> Result<VoteState> {
        Ok(VoteState {
            votes: self
                .store
                .vote_counts(&[key])?
                .get(&key)
                .copied()
                .unwrap_or(0),
            voted: self.store.voted_by(voter, &[key])?.contains(&key),
        })
    }

    /// Which of `keys` `voter` has upvoted.
    pub fn voted_by(&self, voter: &str, keys: &[Key]) -> Result<std::collections::HashSet<Key>> {
        Ok(self.store.voted_by(voter, keys)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(key: Key, listed_at: i64, votes: usize, in_window: bool) -> Candidate {
        Candidate {
            key,
            listed_at,
            votes,
            in_window,
        }
    }

    #[test]
    fn score_follows_the_formula() {
        let p = TrendingParams::default();
        assert!((p.score(0, 0.0) - 1.0 / 2f64.powf(1.8)).abs() < 1e-12);
        assert!((p.score(3, 10.0) - 4.0 / 12f64.powf(1.8)).abs() < 1e-12);
        // A clock a little behind the listing time does not make a paper score higher than new.
        assert_eq!(p.score(0, -5.0), p.score(0, 0.0));
    }

    #[test]
    fn votes_lift_a_paper_and_age_pulls_it_down() {
        let now = 100 * 3600;
        let p = TrendingParams::default();
        let ranked = rank_candidates(
            vec![
                c(1, now - 3600, 0, true),      // an hour old, no votes
                c(2, now - 10 * 3600, 5, true), // ten hours old, 5 votes
                c(3, now - 3600, 1, true),      // an hour old, 1 vote
                c(4, now - 2 * 3600, 0, false), // outside the window
                c(5, now - 3600, 0, true),      // ties with 1: order added
            ],
            &p,
            now,
        );
        let keys: Vec<Key> = ranked.iter().map(|r| r.0.key).collect();
        // 3: 2/3^1.8 = 0.276; 2: 6/12^1.8 = 0.069; 1 and 5: 1/3^1.8 = 0.138.
        assert_eq!(keys, vec![3, 1, 5, 2, 4]);
    }

    #[test]
    fn demo_papers_come_after_real_ones_whatever_their_votes() {
        let now = 100 * 3600;
        let ranked = rank_candidates(
            vec![
                c(1, DEMO_LISTED_AT, 50, true),
                c(2, now - 90 * 3600, 0, false),
                c(3, DEMO_LISTED_AT, 0, false),
            ],
            &TrendingParams::default(),
            now,
        );
        let keys: Vec<Key> = ranked.iter().map(|r| r.0.key).collect();
        assert_eq!(keys, vec![2, 1, 3]);
    }

    #[test]
    fn windows_parse_and_refuse_nonsense() {
        assert_eq!("week".parse::<Window>().unwrap(), Window::Week);
        let err = "year".parse::<Window>().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Invalid);
        assert!(err.to_string().contains("`year`"));
    }
}
