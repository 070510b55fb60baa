//! Which papers go into a subscriber's digest: the day's trending papers, then the new papers
//! (arrived since their last digest) that match their interests by hybrid search, above a
//! similarity threshold. Never a paper they were sent before.
//!
//! One [`Context`] serves a whole run: what every digest shares (trending, the new papers,
//! each distinct interest's embedding and BM25 ranking) is computed once, so a run's cost
//! grows with the number of distinct interests, not of subscribers.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use paperscout_index::{dot, Key, VectorIndex};
use paperscout_model::Paper;
use paperscout_store::{Facets, Subscriber};

use super::{topics, DigestConfig};
use crate::{Engine, FeedItem, Filter, Ranking, Result, SearchMode, Window};

/// Trending candidates looked at per run (each digest takes its first unsent ones).
const TRENDING_POOL: usize = 100;
/// How deep each interest's BM25 ranking goes.
const LEXICAL_DEPTH: usize = 1000;
/// Up to this many new papers, each one's similarity to an interest is computed exactly;
/// beyond, only the interest's nearest neighbours in the whole corpus are considered.
const DIRECT_LIMIT: usize = 5000;
const SEMANTIC_DEPTH: usize = 1000;
const ENCODE_CHUNK: usize = 64;
/// New papers a collection in the digest adds, at most (its model's best).
const COLLECTION_PICKS: usize = 5;
/// How deep a collection's ranking is read for new papers.
const COLLECTION_DEPTH: usize = 500;

/// Why a paper is in a digest.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// Among the day's trending papers.
    Trending { votes: usize },
    /// New, and matches these interests (or categories).
    Matches(Vec<String>),
    /// New, and ranked high by the model of the reader's collection of this name.
    Collection(String),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Trending { votes: 0 } => f.write_str("trending"),
            Reason::Trending { votes: 1 } => f.write_str("trending · 1 upvote"),
            Reason::Trending { votes } => write!(f, "trending · {votes} upvotes"),
            Reason::Matches(what) => write!(f, "matches: {}", what.join(", ")),
            Reason::Collection(name) => write!(f, "for your collection “{name}”"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DigestItem {
    pub key: Key,
    pub paper: Paper,
    pub reason: Reason,
}

/// One subscriber's digest for one local day.
#[derive(Debug, Clone)]
pub struct Digest {
    pub local_date: NaiveDate,
    pub trending: Vec<DigestItem>,
    pub matches: Vec<DigestItem>,
    /// New papers looked at for matches.
    pub new_papers: usize,
    /// What the subscriber's `since_key` becomes once this digest is claimed.
    pub since_key: Key,
    /// Whether the subscriber has interests or categories to match.
    pub has_interests: bool,
}

impl Digest {
    pub fn is_empty(&self) -> bool {
        self.trending.is_empty() && self.matches.is_empty()
    }

    pub fn keys(&self) -> Vec<Key> {
        self.trending
            .iter()
            .chain(&self.matches)
            .map(|i| i.key)
            .collect()
    }
}

struct Interest {
    vector: Vec<f32>,
    /// BM25 ranking over the whole corpus, best first.
    lexical: Vec<(Key, f32)>,
    /// Nearest papers in the whole corpus (only when there are too many new papers to score).
    semantic: Vec<(Key, f32)>,
}

pub(crate) struct Context<'a> {
    engine: &'a Engine,
    config: &'a DigestConfig,
    now: DateTime<Utc>,
    max_key: Key,
    /// The day's trending papers, best first (shared by every digest of the run).
    trending: Vec<FeedItem>,
    /// Papers added after the oldest `since_key` among the run's subscribers, ascending.
    new: Vec<Key>,
    facets: HashMap<Key, Facets>,
    interests: HashMap<String, Interest>,
}

fn norm(topic: &str) -> String {
    topic.to_lowercase()
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        engine: &'a Engine,
        config: &'a DigestConfig,
        now: DateTime<Utc>,
        subscribers: &[&Subscriber],
    ) -> Result<Context<'a>> {
        let mut ctx = Context {
            engine,
            config,
            now,
            max_key: engine.store.max_paper_key()?,
            trending: Vec::new(),
            new: Vec::new(),
            facets: HashMap::new(),
            interests: HashMap::new(),
        };
        if subscribers.is_empty() {
            return Ok(ctx);
        }
        engine.refresh_for_request()?;
        ctx.trending = engine
            .trending(Window::Day, 0, TRENDING_POOL, now)?
            .into_iter()
            .filter(|i| i.in_window)
            .collect();
        let since = subscribers.iter().map(|s| s.since_key).min().unwrap_or(0);
        ctx.new = engine
            .store
            .keys_after(since)?
            .into_iter()
            .filter(|&k| k <= ctx.max_key)
            .collect();
        if subscribers
            .iter()
            .any(|s| !s.subscription.categories.is_empty())
        {
            ctx.facets = engine.store.facets(&ctx.new)?;
        }
        let mut wanted: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        for s in subscribers {
            for t in topics(&s.subscription.interests) {
                if seen.insert(norm(&t)) {
                    wanted.push(t);
                }
            }
        }
        if !wanted.is_empty() && !ctx.new.is_empty() {
            // Every paper needs its embedding before it can match.
            // (Under a server, its upkeep thread encodes them; the run waits for it below.)
            engine.encode_for_request()?;
            let encoder = engine.request_encoder()?;
            let everything = Filter::default();
            for chunk in wanted.chunks(ENCODE_CHUNK) {
                let vectors = encoder.embed_owned(chunk.to_vec())?;
                for (t, vector) in chunk.iter().zip(vectors) {
                    let ranking = |mode, depth| Ranking {
                        text: t,
                        vector: Some(&vector),
                        mode,
                        depth,
                        filter: &everything,
                        fusion: engine.config.fusion,
                    };
                    let lexical = engine.rank(&ranking(SearchMode::Lexical, LEXICAL_DEPTH))?;
                    let semantic = if ctx.new.len() > DIRECT_LIMIT {
                        engine.rank(&ranking(SearchMode::Semantic, SEMANTIC_DEPTH))?
                    } else {
                        Vec::new()
                    };
                    ctx.interests.insert(
                        norm(t),
                        Interest {
                            vector,
                            lexical,
                            semantic,
                        },
                    );
                }
            }
        }
        Ok(ctx)
    }

    /// `s`'s digest for `date`. Reads the store; records nothing.
    pub(crate) fn build(&mut self, s: &Subscriber, date: NaiveDate) -> Result<Digest> {
        let sent = self.engine.store.sent_papers(s.id)?;
        let trending: Vec<DigestItem> = self
            .trending
            .iter()
            .filter(|i| !sent.contains(&i.key))
            .take(self.config.trending)
            .map(|i| DigestItem {
                key: i.key,
                paper: i.paper.clone(),
                reason: Reason::Trending { votes: i.votes },
            })
            .collect();
        let taken: HashSet<Key> = trending.iter().map(|t| t.key).collect();
        let categories = &s.subscription.categories;
        let candidates: Vec<Key> = self
            .new
            .iter()
            .copied()
            .filter(|k| *k > s.since_key && !sent.contains(k) && !taken.contains(k))
            .filter(|k| {
                categories.is_empty()
                    || self.facets.get(k).is_some_and(|f| {
                        f.categories
                            .iter()
                            .any(|c| categories.iter().any(|w| w.eq_ignore_ascii_case(c)))
                    })
            })
            .collect();
        let topics = topics(&s.subscription.interests);
        let matches = if topics.is_empty() {
            if categories.is_empty() {
                Vec::new()
            } else {
                // Categories alone: the newest papers listed in them.
                candidates
                    .iter()
                    .rev()
                    .take(self.config.max_matches)
                    .map(|&k| {
                        let hit: Vec<String> = self
                            .facets
                            .get(&k)
                            .map(|f| {
                                f.categories
                                    .iter()
                                    .filter(|c| {
                                        categories.iter().any(|w| w.eq_ignore_ascii_case(c))
                                    })
                                    .cloned()
                                    .collect()
                            })
                            .unwrap_or_default();
                        (k, Reason::Matches(hit))
                    })
                    .collect()
            }
        } else {
            self.match_topics(&topics, &candidates)?
        };
        let keys: Vec<Key> = matches.iter().map(|t| t.0).collect();
        let mut papers: HashMap<Key, Paper> = self
            .engine
            .store
            .get_many(&keys)?
            .into_iter()
            .map(|p| (p.key, p.paper))
            .collect();
        let mut matches: Vec<DigestItem> = matches
            .into_iter()
            .filter_map(|(key, reason)| {
                papers
                    .remove(&key)
                    .map(|paper| DigestItem { key, paper, reason })
            })
            .collect();
        // The reader's collections with the digest on (an account with this address): each
        // adds its model's best new papers, none twice.
        let collections = self
            .engine
            .store
            .digest_collections(&s.subscription.email)?;
        if !collections.is_empty() {
            let fresh: HashSet<Key> = self
                .new
                .iter()
                .copied()
                .filter(|k| *k > s.since_key && !sent.contains(k) && !taken.contains(k))
                .collect();
            let mut chosen: HashSet<Key> = matches.iter().map(|m| m.key).collect();
            for c in &collections {
                let ranked = self.engine.for_you(
                    c.account_id,
                    Some(c.id),
                    Window::Week,
                    self.now,
                    COLLECTION_DEPTH,
                )?;
                if ranked.method == "empty" {
                    continue;
                }
                // In the model's order, only papers as close to one of the collection's as an
                // interest match must be (`min_similarity` to the nearest library paper: the
                // model's scores have no fixed scale), and followed authors' papers.
                let floor = f64::from(self.config.min_similarity);
                let best = ranked
                    .items
                    .into_iter()
                    .filter(|r| fresh.contains(&r.item.key) && !chosen.contains(&r.item.key))
                    .filter(|r| {
                        r.why.followed_author.is_some()
                            || r.why.nearest.first().is_some_and(|n| n.similarity >= floor)
                    })
                    .take(COLLECTION_PICKS)
                    .collect::<Vec<_>>();
                for r in best {
                    chosen.insert(r.item.key);
                    matches.push(DigestItem {
                        key: r.item.key,
                        paper: r.item.paper,
                        reason: Reason::Collection(c.name.clone()),
                    });
                }
            }
        }
        Ok(Digest {
            local_date: date,
            trending,
            matches,
            new_papers: candidates.len(),
            since_key: self.max_key,
            has_interests: !topics.is_empty() || !categories.is_empty() || !collections.is_empty(),
        })
    }

    /// The candidates matching any topic, best first: each topic ranks them by hybrid search
    /// (BM25 fused with similarity), keeping those whose similarity reaches the threshold.
    fn match_topics(&self, topics: &[String], candidates: &[Key]) -> Result<Vec<(Key, Reason)>> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let in_set: HashSet<Key> = candidates.iter().copied().collect();
        let min = self.config.min_similarity;
        let fusion = self.engine.config.fusion;
        // key -> (best fused score, topics it matches)
        let mut found: HashMap<Key, (f32, Vec<String>)> = HashMap::new();
        for topic in topics {
            let Some(interest) = self.interests.get(&norm(topic)) else {
                continue;
            };
            let mut semantic: Vec<(Key, f32)> = if candidates.len() <= DIRECT_LIMIT {
                self.engine.with_vectors(|index| {
                    Ok(candidates
                        .iter()
                        .filter_map(|&k| index.get(k).map(|v| (k, dot(&v, &interest.vector))))
                        .collect())
                })?
            } else {
                interest
                    .semantic
                    .iter()
                    .copied()
                    .filter(|(k, _)| in_set.contains(k))
                    .collect()
            };
            semantic.retain(|&(_, sim)| sim >= min);
            if semantic.is_empty() {
                continue;
            }
            semantic.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let passing: HashSet<Key> = semantic.iter().map(|s| s.0).collect();
            let mut lexical: Vec<(Key, f32)> = interest
                .lexical
                .iter()
                .copied()
                .filter(|(k, _)| passing.contains(k))
                .collect();
            // As in search: both sides scored over the same papers before they are fused.
            if fusion.uses_scores() {
                self.engine.complete_bm25(topic, &semantic, &mut lexical)?;
            }
            for (key, score) in Engine::fuse(&lexical, &semantic, fusion, semantic.len()) {
                let entry = found.entry(key).or_insert((f32::MIN, Vec::new()));
                entry.0 = entry.0.max(score);
                entry.1.push(topic.clone());
            }
        }
        let mut ranked: Vec<(Key, (f32, Vec<String>))> = found.into_iter().collect();
        ranked.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(b.0.cmp(&a.0)));
        Ok(ranked
            .into_iter()
            .take(self.config.max_matches)
            .map(|(k, (_, topics))| (k, Reason::Matches(topics)))
            .collect())
    }
}
