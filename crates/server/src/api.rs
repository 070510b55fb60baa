//! The JSON API under `/api`, described by the OpenAPI document at `/api/openapi.json`.

use axum::extract::{FromRequestParts, State};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::Json;
use axum_extra::extract::SignedCookieJar;
use chrono::{NaiveDate, Utc};
use paperscout_app::{Engine, FeedItem, Filter, Hit, PaperId, SearchMode, Window, MAX_RESULTS};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::ErrorBody;
use crate::limit::{check_vote, ClientIp};
use crate::voter::Visitor;
use crate::{ApiError, AppState};

/// Most results one request may ask for.
pub(crate) const MAX_LIMIT: usize = 100;
const DEFAULT_LIMIT: usize = 10;
/// Furthest a feed can be paged.
const MAX_FEED_OFFSET: usize = 1_000_000_000;

/// `Query` whose failures are JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct ApiQuery<T>(pub T);

/// `Path` whose failures are JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct ApiPath<T>(pub T);

/// Runs engine work on the blocking pool (it encodes, reads SQLite and searches indexes).
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Engine) -> paperscout_app::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let engine = state.engine().clone();
    Ok(tokio::task::spawn_blocking(move || f(&engine)).await??)
}

/// Parses a paper id from a URL; an id that cannot exist is simply not found.
pub(crate) fn paper_id(raw: &str) -> Result<PaperId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no paper with id `{raw}`")))
}

/// The site path of a paper's page, with the id percent-encoded (DOIs contain `/`); the app
/// builds the links in mail with the same function.
pub(crate) use paperscout_app::paper_path;

pub(crate) fn limit_or_default(limit: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match limit.unwrap_or(default) {
        0 => Err(ApiError::invalid("limit must be at least 1")),
        n if n > MAX_LIMIT => Err(ApiError::invalid(format!(
            "limit is {n}; the most is {MAX_LIMIT}"
        ))),
        n => Ok(n),
    }
}

pub(crate) fn check_offset(offset: Option<usize>) -> Result<usize, ApiError> {
    match offset.unwrap_or(0) {
        n if n > MAX_RESULTS => Err(ApiError::invalid(format!(
            "offset is {n}; results go {MAX_RESULTS} deep"
        ))),
        n => Ok(n),
    }
}

fn date(name: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                ApiError::invalid(format!(
                    "`{name}` must be a date like 2024-05-31, not `{s}`"
                ))
            }),
    }
}

pub(crate) fn mode(raw: Option<&str>) -> Result<SearchMode, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(SearchMode::default()),
        Some(s) => s.parse().map_err(|e| ApiError::invalid(format!("{e}"))),
    }
}

pub(crate) fn window(raw: Option<&str>) -> Result<Window, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Window::default()),
        Some(s) => Ok(s.parse::<Window>()?),
    }
}

/// The search modes, for the OpenAPI document.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum ModeParam {
    Hybrid,
    Semantic,
    Lexical,
}

/// The trending windows, for the OpenAPI document.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum WindowParam {
    Day,
    Week,
    Month,
}

/// The feed orders, for the OpenAPI document.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum SortParam {
    New,
    Trending,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchParams {
    /// The query (1 to 1,000 characters, not only spaces).
    #[param(required = true, min_length = 1, max_length = 1000, pattern = r"\S")]
    pub q: Option<String>,
    /// hybrid (default), semantic or lexical.
    #[param(value_type = Option<ModeParam>)]
    pub mode: Option<String>,
    /// Results per page, 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// Results to skip (at most 1,000).
    #[param(maximum = 1000)]
    pub offset: Option<usize>,
    /// Published on or after this date (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Published on or before this date (YYYY-MM-DD; not before `from`).
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// Only papers listed in this category (e.g. cs.IR).
    pub category: Option<String>,
}

impl SearchParams {
    pub(crate) fn filter(&self) -> Result<Filter, ApiError> {
        Ok(Filter {
            from: date("from", self.from.as_deref())?,
            to: date("to", self.to.as_deref())?,
            category: self
                .category
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from),
        })
    }
}

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
                html: h.snippet.render("<mark>", "</mark>", crate::web::escape),
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
    let permit = crate::limit::admit_encoder(&state, ip, mode, &query)?;
    let page = blocking(&state, move |e| {
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
    let (stored, votes) = blocking(&state, move |e| {
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
    let hits = blocking(&state, move |e| e.similar(&key, limit)).await?;
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
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct FeedResponse {
    /// trending or new.
    sort: String,
    /// The trending window (trending only).
    window: Option<String>,
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
    /// new (default) or trending.
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
}

/// All papers, newest first or trending.
#[utoipa::path(get, path = "/api/papers", params(PapersParams), responses(
    (status = 200, body = FeedResponse),
    (status = 400, body = ErrorBody),
    (status = 429, description = "Rate-limited", body = ErrorBody),
))]
pub(crate) async fn papers(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PapersParams>,
) -> Result<Json<FeedResponse>, ApiError> {
    let sort = match params.sort.as_deref().map(str::trim) {
        None | Some("") | Some("new") => "new",
        Some("trending") => "trending",
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "unknown sort `{other}`; expected new or trending"
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
    let items = blocking(state, move |e| {
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

/// Casts or takes back `visitor`'s vote, rate-limited per IP.
pub(crate) async fn cast(
    state: &AppState,
    ip: ClientIp,
    visitor: &Visitor,
    id: PaperId,
    up: bool,
) -> Result<paperscout_app::VoteState, ApiError> {
    if visitor.is_new {
        // Every request without the cookie would otherwise be a new voter: one client could
        // vote any number of times. The cookie comes with any page or API answer.
        return Err(ApiError::forbidden(
            "voting needs the cookie this site sets on your first visit: GET any page or API route first, then vote sending the cookie it set",
        ));
    }
    check_vote(state, ip)?;
    let voter = visitor.id.clone();
    let result = blocking(state, move |e| {
        if up {
            e.upvote(&id, &voter, Utc::now())
        } else {
            e.unvote(&id, &voter)
        }
    })
    .await?;
    if up {
        state.0.metrics.votes.inc();
    }
    Ok(result)
}

/// Refuses a vote that a browser sends on behalf of another site (a page elsewhere making its
/// visitors' browsers vote). The API takes no CSRF token, so it relies on what browsers say:
/// `Sec-Fetch-Site` (every current browser), else `Origin` against `Host`. Clients that are
/// not browsers (curl, scripts) send neither and are let through, rate-limited.
pub(crate) fn check_same_site(headers: &HeaderMap) -> Result<(), ApiError> {
    let refuse = || {
        Err(ApiError::forbidden(
            "votes are only accepted from this site's own pages or from API clients",
        ))
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.to_str().unwrap_or("") {
            "same-origin" | "none" => Ok(()),
            _ => refuse(),
        };
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin = origin.to_str().unwrap_or("");
            let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
            if origin_host.eq_ignore_ascii_case(host.to_str().unwrap_or("")) {
                Ok(())
            } else {
                refuse()
            }
        }
        (Some(_), None) => refuse(),
        (None, _) => Ok(()),
    }
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
    let result = cast(&state, ip, &visitor, id.clone(), up).await?;
    Ok((
        visitor.jar,
        Json(VoteResponse {
            id: id.to_string(),
            votes: result.votes,
            voted: result.voted,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct EncodingDto {
    done: usize,
    total: usize,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always "ok" when the server answers and its store is readable.
    status: String,
    papers: usize,
    /// Progress of the encoding running now, if any.
    encoding: Option<EncodingDto>,
    /// The sentence encoder: not_loaded, loading, ready or failed.
    model: String,
}

/// Liveness and readiness.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health), (status = 500, body = ErrorBody)))]
pub(crate) async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let status = blocking(&state, |e| e.status()).await?;
    Ok(Json(Health {
        status: "ok".into(),
        papers: status.papers,
        encoding: status
            .encoding
            .map(|(done, total)| EncodingDto { done, total }),
        model: status.model.as_str().to_string(),
    }))
}

#[derive(OpenApi, Debug)]
#[openapi(
    info(
        title = "paperscout",
        description = "Search, browse and upvote research papers. Errors are JSON `{\"error\", \"kind\"}`: 400 invalid, 404 not_found, 429 rate_limited (with Retry-After), 503 unavailable, 500 internal."
    ),
    paths(
        search,
        paper,
        similar,
        papers,
        trending,
        upvote,
        unvote,
        crate::digest::api_subscribe,
        crate::harvest::api_harvests,
        healthz
    ),
    components(schemas(ErrorBody, ModeParam, WindowParam, SortParam))
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`.
pub(crate) async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn votes_from_other_sites_are_refused_and_our_pages_and_api_clients_pass() {
        let ok = |pairs| check_same_site(&headers(pairs)).is_ok();
        assert!(ok(&[]), "curl and scripts send neither header");
        assert!(ok(&[("sec-fetch-site", "same-origin")]));
        assert!(ok(&[("sec-fetch-site", "none")]), "typed by the user");
        assert!(!ok(&[("sec-fetch-site", "cross-site")]));
        assert!(
            !ok(&[("sec-fetch-site", "same-site")]),
            "a sibling subdomain is another site"
        );
        assert!(ok(&[
            ("origin", "http://127.0.0.1:7878"),
            ("host", "127.0.0.1:7878")
        ]));
        assert!(!ok(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:7878")
        ]));
        assert!(!ok(&[("origin", "null"), ("host", "127.0.0.1:7878")]));
        assert!(!ok(&[("origin", "https://evil.example")]));
    }
}
