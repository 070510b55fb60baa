//! The JSON API under `/api`, described by the OpenAPI document at `/api/openapi.json`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use axum_extra::extract::SignedCookieJar;
use chrono::{NaiveDate, Utc};
use paperscout_app::{FeedItem, Hit};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{
    check_offset, check_same_site, limit_or_default, mode, paper_id, window, ApiPath, ApiQuery,
    Period, SearchParams, SortParam, WindowParam,
};
use crate::limit::ClientIp;
use crate::respond::{escape, paper_path};
use crate::state::AppState;
use crate::voter::Visitor;

const DEFAULT_LIMIT: usize = 10;
/// Furthest a feed can be paged.
const MAX_FEED_OFFSET: usize = 1_000_000_000;

#[derive(Serialize, ToSchema)]
pub(crate) struct SnippetDto {
    /// An excerpt of the abstract.
    text: String,
    /// Byte ranges `[start, end)` of `text` that match the query.
    highlights: Vec<[usize; 2]>,
    /// `text` as HTML, escaped, with the matches in `<mark>`.
    html: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct HitDto {
    id: String,
    title: String,
    authors: Vec<String>,
    published: Option<NaiveDate>,
    /// Higher is better; comparable only within one result list.
    score: f32,
    snippet: SnippetDto,
    /// The paper's page on this site.
    url: String,
}

impl From<Hit> for HitDto {
    fn from(h: Hit) -> HitDto {
        HitDto {
            url: paper_path(&h.id),
            snippet: SnippetDto {
                html: h.snippet.render("<mark>", "</mark>", escape),
                highlights: h.snippet.highlights.iter().map(|&(a, b)| [a, b]).collect(),
                text: h.snippet.text,
            },
            id: h.id.to_string(),
            title: h.title,
            authors: h.authors,
            published: h.published,
            score: h.score,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SearchResponse {
    query: String,
    mode: String,
    /// Results in all (the result list goes at most 1,000 deep; hybrid, 200).
    total: usize,
    offset: usize,
    limit: usize,
    hits: Vec<HitDto>,
}

/// Search papers by meaning, by words, or both.
#[utoipa::path(get, path = "/api/search", params(SearchParams), responses(
    (status = 200, body = SearchResponse),
    (status = 400, description = "Malformed or oversized query", body = ErrorBody),
    (status = 429, description = "Rate-limited, or too many of this address's searches need the encoder at once", body = ErrorBody),
    (status = 503, description = "Busy: the encoder's queue is full or the model is loading; retry after Retry-After", body = ErrorBody),
))]
pub(crate) async fn search(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<SearchResponse>, ApiError> {
    let query = params.q.clone().unwrap_or_default();
    let mode = mode(params.mode.as_deref())?;
    let filter = params.filter()?;
    let limit = limit_or_default(params.limit, DEFAULT_LIMIT)?;
    let offset = check_offset(params.offset)?;
    let q = query.clone();
    let permit = state.limits().admit_encoder(ip, mode, &query)?;
    let page = state
        .blocking(move |e| {
            let _permit = permit;
            e.search_page(&q, mode, &filter, offset, limit)
        })
        .await?;
    Ok(Json(SearchResponse {
        query: query.trim().to_string(),
        mode: mode.to_string(),
        total: page.total,
        offset,
        limit,
        hits: page.hits.into_iter().map(HitDto::from).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct LinksDto {
    pdf: Option<String>,
    code: Option<String>,
    project: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PaperDto {
    id: String,
    title: String,
    #[serde(rename = "abstract")]
    abstract_text: String,
    authors: Vec<String>,
    published: Option<NaiveDate>,
    categories: Vec<String>,
    links: LinksDto,
    /// Where the paper came from: demo, listing, beir or jsonl.
    source: String,
    /// All-time upvotes.
    votes: usize,
    /// Whether the visitor making the request has upvoted it.
    voted: bool,
    url: String,
}

/// One paper.
#[utoipa::path(get, path = "/api/papers/{id}", params(("id" = String, Path, description = "Paper id, e.g. arxiv:2401.00001 or doi:10.1145/… (percent-encode `/`)")), responses(
    (status = 200, body = PaperDto),
    (status = 404, body = ErrorBody),
    (status = 429, description = "Rate-limited", body = ErrorBody),
))]
pub(crate) async fn paper(
    State(state): State<AppState>,
    visitor: Visitor,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<PaperDto>, ApiError> {
    let id = paper_id(&raw)?;
    let voter = visitor.id.clone();
    let (stored, votes) = state
        .blocking(move |e| {
            let stored = e.paper(&id)?;
            let votes = e.vote_state(stored.key, &voter)?;
            Ok((stored, votes))
        })
        .await?;
    let p = stored.paper;
    Ok(Json(PaperDto {
        url: paper_path(&p.id),
        id: p.id.to_string(),
        title: p.title,
        abstract_text: p.abstract_text,
        authors: p.authors,
        published: p.published,
        categories: p.categories,
        links: LinksDto {
            pdf: p.links.pdf,
            code: p.links.code,
            project: p.links.project,
        },
        source: p.source.as_str().to_string(),
        votes: votes.votes,
        voted: votes.voted,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LimitParams {
    /// 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SimilarResponse {
    id: String,
    papers: Vec<HitDto>,
}

/// The papers nearest in meaning to one paper.
#[utoipa::path(get, path = "/api/papers/{id}/similar", params(("id" = String, Path, description = "Paper id"), LimitParams), responses(
    (status = 200, body = SimilarResponse),
    (status = 400, description = "Malformed limit", body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 429, description = "Rate-limited", body = ErrorBody),
))]
pub(crate) async fn similar(
    State(state): State<AppState>,
    ApiPath(raw): ApiPath<String>,
    ApiQuery(params): ApiQuery<LimitParams>,
) -> Result<Json<SimilarResponse>, ApiError> {
    let id = paper_id(&raw)?;
    let limit = limit_or_default(params.limit, DEFAULT_LIMIT)?;
    let key = id.clone();
    let hits = state.blocking(move |e| e.similar(&key, limit)).await?;
    Ok(Json(SimilarResponse {
        id: id.to_string(),
        papers: hits.into_iter().map(HitDto::from).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct FeedPaperDto {
    id: String,
    title: String,
    #[serde(rename = "abstract")]
    abstract_text: String,
    authors: Vec<String>,
    published: Option<NaiveDate>,
    votes: usize,
    /// (votes in window + prior) / (age in hours + 2) ^ gravity; trending feeds only.
    trending_score: Option<f64>,
    url: String,
    categories: Vec<String>,
    /// PDF, code and project links, when known.
    #[schema(value_type = Object)]
    links: paperscout_app::Links,
}

impl From<FeedItem> for FeedPaperDto {
    fn from(item: FeedItem) -> FeedPaperDto {
        let p = item.paper;
        FeedPaperDto {
            url: paper_path(&p.id),
            id: p.id.to_string(),
            title: p.title,
            abstract_text: p.abstract_text,
            authors: p.authors,
            published: p.published,
            votes: item.votes,
            trending_score: item.trending_score,
            categories: p.categories,
            links: p.links,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct FeedResponse {
    /// trending, new, or votes (the papers of a date).
    sort: String,
    /// The trending window (trending only).
    window: Option<String>,
    /// The day, week or month asked for (`date=` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<String>,
    /// How many papers that date has (`date=` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<usize>,
    offset: usize,
    limit: usize,
    papers: Vec<FeedPaperDto>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TrendingParams {
    /// day (default), week or month.
    #[param(value_type = Option<WindowParam>)]
    window: Option<String>,
    /// 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// Papers to skip.
    #[param(maximum = 1_000_000_000)]
    offset: Option<usize>,
}

/// Trending papers: (votes in window + prior) / (age in hours + 2) ^ gravity.
#[utoipa::path(get, path = "/api/trending", params(TrendingParams), responses(
    (status = 200, body = FeedResponse),
    (status = 400, body = ErrorBody),
    (status = 429, description = "Rate-limited", body = ErrorBody),
))]
pub(crate) async fn trending(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<TrendingParams>,
) -> Result<Json<FeedResponse>, ApiError> {
    feed(&state, "trending", params).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PapersParams {
    /// new (default) or trending; votes with `date`.
    #[param(value_type = Option<SortParam>)]
    sort: Option<String>,
    /// The trending window: day (default), week or month.
    #[param(value_type = Option<WindowParam>)]
    window: Option<String>,
    /// 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// Papers to skip.
    #[param(maximum = 1_000_000_000)]
    offset: Option<usize>,
    /// Only the papers published on this day (`2026-05-04`), ISO week (`2026-W19`) or month
    /// (`2026-05`), most upvoted first (as the daily pages list them); `sort` must then be
    /// absent or `votes`.
    date: Option<String>,
}

/// All papers, newest first or trending; or the papers of one day, week or month by votes.
#[utoipa::path(get, path = "/api/papers", params(PapersParams), responses(
    (status = 200, body = FeedResponse),
    (status = 400, body = ErrorBody),
    (status = 429, description = "Rate-limited", body = ErrorBody),
))]
pub(crate) async fn papers(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PapersParams>,
) -> Result<Json<FeedResponse>, ApiError> {
    if let Some(date) = params.date.as_deref().filter(|d| !d.trim().is_empty()) {
        if !matches!(
            params.sort.as_deref().map(str::trim),
            None | Some("") | Some("votes")
        ) {
            return Err(ApiError::invalid(
                "papers of a date are sorted by votes: leave out `sort` (or say `votes`)",
            ));
        }
        let period = Period::parse(date)?;
        let limit = limit_or_default(params.limit, DEFAULT_LIMIT)?;
        let offset = params.offset.unwrap_or(0);
        if offset > MAX_FEED_OFFSET {
            return Err(ApiError::invalid(format!(
                "offset is {offset}; the most is {MAX_FEED_OFFSET}"
            )));
        }
        let (from, to) = period.range();
        let (items, total) = state
            .blocking(move |e| e.published(from, to, offset, limit))
            .await?;
        return Ok(Json(FeedResponse {
            sort: "votes".into(),
            window: None,
            date: Some(period.key()),
            total: Some(total),
            offset,
            limit,
            papers: items.into_iter().map(FeedPaperDto::from).collect(),
        }));
    }
    let sort = match params.sort.as_deref().map(str::trim) {
        None | Some("") | Some("new") => "new",
        Some("trending") => "trending",
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "unknown sort `{other}`; expected new or trending (or votes, with a date)"
            )))
        }
    };
    let rest = TrendingParams {
        window: params.window,
        limit: params.limit,
        offset: params.offset,
    };
    feed(&state, sort, rest).await
}

async fn feed(
    state: &AppState,
    sort: &str,
    params: TrendingParams,
) -> Result<Json<FeedResponse>, ApiError> {
    let window = window(params.window.as_deref())?;
    let limit = limit_or_default(params.limit, DEFAULT_LIMIT)?;
    let offset = match params.offset.unwrap_or(0) {
        n if n > MAX_FEED_OFFSET => {
            return Err(ApiError::invalid(format!(
                "offset is {n}; the most is {MAX_FEED_OFFSET}"
            )))
        }
        n => n,
    };
    let trending = sort == "trending";
    let items = state
        .blocking(move |e| {
            if trending {
                e.trending(window, offset, limit, Utc::now())
            } else {
                e.newest(offset, limit)
            }
        })
        .await?;
    Ok(Json(FeedResponse {
        sort: sort.to_string(),
        window: trending.then(|| window.to_string()),
        date: None,
        total: None,
        offset,
        limit,
        papers: items.into_iter().map(FeedPaperDto::from).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct VoteResponse {
    id: String,
    votes: usize,
    voted: bool,
}

/// Upvote a paper, once per visitor. A signed cookie identifies the visitor: every answer of
/// this server sets it when the request came without it, and a vote without it is refused.
#[utoipa::path(post, path = "/api/papers/{id}/upvote", params(("id" = String, Path, description = "Paper id")), responses(
    (status = 200, body = VoteResponse),
    (status = 403, description = "Sent by a browser on behalf of another site, or without the cookie the site sets", body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 429, body = ErrorBody),
    (status = 503, description = "Busy: another process is writing the store; retry after Retry-After", body = ErrorBody),
))]
pub(crate) async fn upvote(
    State(state): State<AppState>,
    ip: ClientIp,
    visitor: Visitor,
    headers: HeaderMap,
    ApiPath(raw): ApiPath<String>,
) -> Result<(SignedCookieJar, Json<VoteResponse>), ApiError> {
    vote(state, ip, visitor, headers, raw, true).await
}

/// Take back an upvote.
#[utoipa::path(delete, path = "/api/papers/{id}/upvote", params(("id" = String, Path, description = "Paper id")), responses(
    (status = 200, body = VoteResponse),
    (status = 403, description = "Sent by a browser on behalf of another site, or without the cookie the site sets", body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 429, body = ErrorBody),
    (status = 503, description = "Busy: another process is writing the store; retry after Retry-After", body = ErrorBody),
))]
pub(crate) async fn unvote(
    State(state): State<AppState>,
    ip: ClientIp,
    visitor: Visitor,
    headers: HeaderMap,
    ApiPath(raw): ApiPath<String>,
) -> Result<(SignedCookieJar, Json<VoteResponse>), ApiError> {
    vote(state, ip, visitor, headers, raw, false).await
}

async fn vote(
    state: AppState,
    ip: ClientIp,
    visitor: Visitor,
    headers: HeaderMap,
    raw: String,
    up: bool,
) -> Result<(SignedCookieJar, Json<VoteResponse>), ApiError> {
    check_same_site(&headers)?;
    let id = paper_id(&raw)?;
    let result = state.vote(ip, &visitor, id.clone(), up).await?;
    Ok((
        visitor.jar,
        Json(VoteResponse {
            id: id.to_string(),
            votes: result.votes,
            voted: result.voted,
        }),
    ))
}
