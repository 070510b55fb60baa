//! The JSON API of accounts and libraries: asking for a sign-in link, the account (export,
//! deletion, sign-out everywhere, API tokens), collections (papers, rules, digest, private
//! feed, BibTeX import and export), "not interested", and "For you".
//!
//! A request is someone's by the session cookie or by `Authorization: Bearer ps_…` (a
//! personal API token); without either it is answered 401. A change made with the session
//! cookie must come from this site's pages (a browser sends the cookie with any request);
//! a change made with a token needs nothing more.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use paperscout_app::library::{ForYou, ImportMatch, ImportMiss, ImportReport, Recommendation};
use paperscout_app::store::{ApiToken, Collection, Rules};
use paperscout_app::FeedItem;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::account::{Reader, Via};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{
    json_body, limit_or_default, paper_id, window, ApiPath, ApiQuery, WindowParam,
};
use crate::limit::ClientIp;
use crate::respond::paper_path;
use crate::state::AppState;

fn rfc3339(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// A collection's rules: what its "For you", feed and digest keep to.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RulesDto {
    /// Keep only papers mentioning at least one of these (whole words, any case).
    #[schema(max_items = 50)]
    must: Vec<String>,
    /// Leave out papers mentioning any of these.
    #[schema(max_items = 50)]
    never: Vec<String>,
    /// Keep only papers in one of these categories (`cs` keeps `cs.CL`).
    #[schema(max_items = 50)]
    categories: Vec<String>,
    /// Papers by these authors are always shown.
    #[schema(max_items = 50)]
    authors: Vec<String>,
}

impl From<Rules> for RulesDto {
    fn from(r: Rules) -> RulesDto {
        RulesDto {
            must: r.must,
            never: r.never,
            categories: r.categories,
            authors: r.authors,
        }
    }
}

impl From<RulesDto> for Rules {
    fn from(r: RulesDto) -> Rules {
        Rules {
            must: r.must,
            never: r.never,
            categories: r.categories,
            authors: r.authors,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct CollectionDto {
    id: i64,
    name: String,
    created_at: String,
    /// Papers in it.
    papers: usize,
    /// Whether the account's daily digest includes its new matches.
    digest: bool,
    /// Whether it has a private feed (its address is shown once, when made).
    has_feed: bool,
    rules: RulesDto,
}

impl From<Collection> for CollectionDto {
    fn from(c: Collection) -> CollectionDto {
        CollectionDto {
            id: c.id,
            name: c.name,
            created_at: rfc3339(c.created_at),
            papers: c.papers,
            digest: c.digest,
            has_feed: c.has_feed,
            rules: c.rules.into(),
        }
    }
}

/// A paper as lists show it.
#[derive(Serialize, ToSchema)]
pub(crate) struct PaperRefDto {
    id: String,
    title: String,
    authors: Vec<String>,
    published: Option<NaiveDate>,
    categories: Vec<String>,
    votes: usize,
    /// The paper's page on this site.
    url: String,
}

impl From<&FeedItem> for PaperRefDto {
    fn from(i: &FeedItem) -> PaperRefDto {
        PaperRefDto {
            id: i.paper.id.to_string(),
            title: i.paper.title.clone(),
            authors: i.paper.authors.clone(),
            published: i.paper.published,
            categories: i.paper.categories.clone(),
            votes: i.votes,
            url: paper_path(&i.paper.id),
        }
    }
}

// ---- sign-in -------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInBody {
    /// Where the sign-in link goes.
    #[schema(format = "email", max_length = 254, example = "ada@example.org")]
    email: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SignInAccepted {
    /// Always "sent" (whether or not the address has an account).
    status: &'static str,
    message: &'static str,
}

const CHECK_INBOX: &str = "If this address can receive mail, a sign-in link is on its way to it. It works once, for 30 minutes. No account yet? The link makes one.";

/// Mail a sign-in link (it makes the account on first use). The answer is the same whether
/// the address has an account or not.
#[utoipa::path(post, path = "/api/signin", tag = "accounts", request_body = SignInBody, responses(
    (status = 202, body = SignInAccepted),
    (status = 400, body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 415, body = ErrorBody),
    (status = 429, body = ErrorBody),
    (status = 503, description = "No SMTP server is configured", body = ErrorBody),
))]
pub(crate) async fn signin(
    State(state): State<AppState>,
    ip: ClientIp,
    body: Result<Json<SignInBody>, JsonRejection>,
) -> Result<(StatusCode, Json<SignInAccepted>), ApiError> {
    let body = json_body(body)?;
    state.limits().check_subscribe(ip)?;
    state
        .blocking_digests(move |d| d.request_signin(&body.email, Utc::now()))
        .await?;
    state.mail_wakeup().notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(SignInAccepted {
            status: "sent",
            message: CHECK_INBOX,
        }),
    ))
}

// ---- the account ---------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub(crate) struct AccountDto {
    email: String,
    created_at: String,
    collections: Vec<CollectionDto>,
}

/// The signed-in account and its collections.
#[utoipa::path(get, path = "/api/account", tag = "accounts", security(("token" = []), ("session" = [])), responses(
    (status = 200, body = AccountDto),
    (status = 401, description = "Not signed in, or the API token is not valid", body = ErrorBody),
))]
pub(crate) async fn account(
    State(state): State<AppState>,
    reader: Reader,
) -> Result<Json<AccountDto>, ApiError> {
    let id = reader.account.id;
    let collections = state
        .blocking(move |e| Ok(e.store().collections(id)?))
        .await?;
    Ok(Json(AccountDto {
        email: reader.account.email,
        created_at: rfc3339(reader.account.created_at),
        collections: collections.into_iter().map(Into::into).collect(),
    }))
}

/// Everything held about the account: collections with their papers, "not interested" marks,
/// votes, API tokens (names and dates), the digest subscription.
#[utoipa::path(get, path = "/api/account/export", tag = "accounts", security(("token" = []), ("session" = [])), responses(
    (status = 200, description = "The account's data", content_type = "application/json", body = Object),
    (status = 401, body = ErrorBody),
))]
pub(crate) async fn export(State(state): State<AppState>, reader: Reader) -> Response {
    let id = reader.account.id;
    match state.blocking(move |e| e.export_account(id)).await {
        Ok(export) => Json(export).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Delete the account and every personal row with it (library, marks, votes, tokens,
/// sessions, the digest subscription of its address).
#[utoipa::path(delete, path = "/api/account", tag = "accounts", security(("token" = []), ("session" = [])), responses(
    (status = 204, description = "Deleted"),
    (status = 401, body = ErrorBody),
    (status = 403, description = "Sent by a browser on behalf of another site", body = ErrorBody),
))]
pub(crate) async fn delete_account(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    reader.check_write(&headers)?;
    let id = reader.account.id;
    state.blocking(move |e| e.delete_account(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SignedOut {
    /// Sessions ended.
    sessions_ended: usize,
}

/// Sign out: with `everywhere=true`, every session of the account (API tokens stay; revoke
/// them one by one); else the session of this request.
#[utoipa::path(post, path = "/api/account/signout", tag = "accounts", params(SignOutParams), security(("token" = []), ("session" = [])), responses(
    (status = 200, body = SignedOut),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 403, description = "Sent by a browser on behalf of another site", body = ErrorBody),
))]
pub(crate) async fn signout(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SignOutParams>,
) -> Result<Json<SignedOut>, ApiError> {
    reader.check_write(&headers)?;
    let id = reader.account.id;
    let ended = match (q.everywhere.unwrap_or(false), reader.via) {
        (true, _) => state.blocking(move |e| e.end_all_sessions(id)).await?,
        (false, Via::Session(secret)) => {
            state.blocking(move |e| e.end_session(&secret)).await?;
            1
        }
        (false, Via::Token) => 0,
    };
    Ok(Json(SignedOut {
        sessions_ended: ended,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SignOutParams {
    /// End every session of the account, not only this one.
    everywhere: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TokenDto {
    id: i64,
    name: String,
    created_at: String,
    last_used_at: Option<String>,
}

impl From<ApiToken> for TokenDto {
    fn from(t: ApiToken) -> TokenDto {
        TokenDto {
            id: t.id,
            name: t.name,
            created_at: rfc3339(t.created_at),
            last_used_at: t.last_used_at.map(rfc3339),
        }
    }
}

/// The account's API tokens (names and dates; the secrets were shown once).
#[utoipa::path(get, path = "/api/account/tokens", tag = "accounts", security(("token" = []), ("session" = [])), responses(
    (status = 200, body = Vec<TokenDto>),
    (status = 401, body = ErrorBody),
))]
pub(crate) async fn tokens(
    State(state): State<AppState>,
    reader: Reader,
) -> Result<Json<Vec<TokenDto>>, ApiError> {
    let id = reader.account.id;
    let tokens = state
        .blocking(move |e| Ok(e.store().api_tokens(id)?))
        .await?;
    Ok(Json(tokens.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NameBody {
    /// 1 to 100 characters, one line.
    #[schema(min_length = 1, max_length = 100, example = "laptop script")]
    name: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct NewToken {
    id: i64,
    name: String,
    created_at: String,
    /// The secret, shown this once: send it as `Authorization: Bearer ps_…`.
    token: String,
}

/// Make a personal API token.
#[utoipa::path(post, path = "/api/account/tokens", tag = "accounts", request_body = NameBody, security(("token" = []), ("session" = [])), responses(
    (status = 201, body = NewToken),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 403, description = "Sent by a browser on behalf of another site", body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 415, body = ErrorBody),
))]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    body: Result<Json<NameBody>, JsonRejection>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    reader.check_write(&headers)?;
    let body = json_body(body)?;
    let id = reader.account.id;
    let (t, secret) = state
        .blocking(move |e| e.create_api_token(id, &body.name, Utc::now()))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewToken {
            id: t.id,
            name: t.name,
            created_at: rfc3339(t.created_at),
            token: secret,
        }),
    ))
}

/// Revoke an API token.
#[utoipa::path(delete, path = "/api/account/tokens/{token_id}", tag = "accounts", params(("token_id" = i64, Path, description = "The token's id")), security(("token" = []), ("session" = [])), responses(
    (status = 204, description = "Revoked"),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 403, description = "Sent by a browser on behalf of another site", body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    ApiPath(token_id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    reader.check_write(&headers)?;
    let id = reader.account.id;
    let revoked = state
        .blocking(move |e| Ok(e.store().revoke_api_token(id, token_id)?))
        .await?;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "you have no API token {token_id}"
        )))
    }
}

// ---- collections ---------------------------------------------------------------------------

/// The account's collections.
#[utoipa::path(get, path = "/api/collections", tag = "library", security(("token" = []), ("session" = [])), responses(
    (status = 200, body = Vec<CollectionDto>),
    (status = 401, body = ErrorBody),
))]
pub(crate) async fn collections(
    State(state): State<AppState>,
    reader: Reader,
) -> Result<Json<Vec<CollectionDto>>, ApiError> {
    let id = reader.account.id;
    let list = state
        .blocking(move |e| Ok(e.store().collections(id)?))
        .await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Make a collection.
#[utoipa::path(post, path = "/api/collections", tag = "library", request_body = NameBody, security(("token" = []), ("session" = [])), responses(
    (status = 201, body = CollectionDto),
    (status = 400, description = "A bad name, one in use, or too many collections", body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 403, description = "Sent by a browser on behalf of another site", body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 415, body = ErrorBody),
))]
pub(crate) async fn create_collection(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    body: Result<Json<NameBody>, JsonRejection>,
) -> Result<(StatusCode, Json<CollectionDto>), ApiError> {
    reader.check_write(&headers)?;
    let body = json_body(body)?;
    let id = reader.account.id;
    let c = state
        .blocking(move |e| e.create_collection(id, &body.name, Utc::now()))
        .await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct CollectionPapers {
    collection: CollectionDto,
    /// The most recently saved first (at most `limit`).
    papers: Vec<PaperRefDto>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LimitParam {
    /// How many papers (default 100, at most 1,000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

const MAX_COLLECTION_LIST: usize = 1_000;

/// A collection and its papers.
#[utoipa::path(get, path = "/api/collections/{collection_id}", tag = "library", params(("collection_id" = i64, Path, description = "The collection's id"), LimitParam), security(("token" = []), ("session" = [])), responses(
    (status = 200, body = CollectionPapers),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub(crate) async fn collection(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(cid): ApiPath<i64>,
    ApiQuery(q): ApiQuery<LimitParam>,
) -> Result<Json<CollectionPapers>, ApiError> {
    let limit = match q.limit {
        Some(l) if l == 0 || l > MAX_COLLECTION_LIST => {
            return Err(ApiError::invalid(format!(
                "limit must be 1 to {MAX_COLLECTION_LIST}"
            )))
        }
        l => l.unwrap_or(100),
    };
    let id = reader.account.id;
    let (c, items) = state
        .blocking(move |e| e.collection_items(id, cid, limit))
        .await?;
    Ok(Json(CollectionPapers {
        collection: c.into(),
        papers: items.iter().map(PaperRefDto::from).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CollectionPatch {
    /// A new name.
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    /// New rules (replacing the old ones).
    rules: Option<RulesDto>,
    /// Whether the daily digest includes the collection.
    digest: Option<bool>,
}

/// Change a collection's name, rules or digest.
#[utoipa::path(patch, path = "/api/collections/{collection_id}", tag = "library", params(("collection_id" = i64, Path, description = "The collection's id")), request_body = CollectionPatch, security(("token" = []), ("session" = [])), responses(
    (status = 200, body = CollectionDto),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 403, description = "Sent by a browser on behalf of another site", body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 415, body = ErrorBody),
))]
pub(crate) async fn patch_collection(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    ApiPath(cid): ApiPath<i64>,
    body: Result<Json<CollectionPatch>, JsonRejection>,
) -> Result<Json<CollectionDto>, ApiError> {
    reader.check_write(&headers)?;
    let patch = json_body(body)?;
    let id = reader.account.id;
    let c = state
        .blocking(move |e| {
            // Everything is checked before anything changes.
            let rules = patch
                .rules
                .map(|r| paperscout_app::library::tidy_rules(&r.into()))
                .transpose()?;
            let name = patch
                .name
                .as_deref()
                .map(paperscout_app::library::collection_name)
                .transpose()?;
            let mut c = e.owned(id, cid)?;
            if let Some(name) = name {
                c = e.rename_collection(id, cid, &name)?;
            }
            if let Some(rules) = rules {
                c = e.set_collection_rules(id, cid, &rules)?;
            }
            if let Some(on) = patch.digest {
                c = e.set_collection_digest(id, cid, on)?;
            }
            Ok(c)
        })
        .await?;
    Ok(Json(c.into()))
}

/// Delete a collection (its list; the papers stay in the corpus).
#[utoipa::path(delete, path = "/api/collections/{collection_id}", tag = "library", params(("collection_id" = i64, Path, description = "The collection's id")), security(("token" = []), ("session" = [])), responses(
    (status = 204, description = "Deleted"),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 403, description = "Sent by a browser on behalf of another site", body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub(crate) async fn delete_collection(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    ApiPath(cid): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    reader.check_write(&headers)?;
    let id = reader.account.id;
    state
        .blocking(move |e| e.delete_collection(id, cid))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Saved {
    id: String,
    collection_id: i64,
    /// Whether the paper is in the collection now.
    saved: bool,
    /// Whether this request changed that.
    changed: bool,
}

/// Save a paper into a collection (it also takes the paper off "not interested").
#[utoipa::path(put, path = "/api/collections/{collection_id}/papers/{id}", tag = "library", params(("collection_id" = i64, Path, description = "The collection's id"), ("id" = String, Path, description = "Paper id")), security(("token" = []), ("session" = [])), responses(
    (status = 200, body = Saved),
    (status = 400, description = "A bad id, or the collection is full", body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 403, description = "Sent by a browser on behalf of another site", body = ErrorBody),
    (status = 404, description = "No such collection or paper", body = ErrorBody),
))]
pub(crate) async fn save(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    ApiPath((cid, raw)): ApiPath<(i64, String)>,
) -> Result<Json<Saved>, ApiError> {
    reader.check_write(&headers)?;
    let id = paper_id(&raw)?;
    let account = reader.account.id;
    let paper = id.clone();
    let changed = state
        .blocking(move |e| e.save_paper(account, cid, &paper, Utc::now()))
        .await?;
    Ok(Json(Saved {
        id: id.to_string(),
        collection_id: cid,
        saved: true,
        changed,
    }))
}

/// Take a paper out of a collection.
#[utoipa::path(delete, path = "/api/collections/{collection_id}/papers/{id}", tag = "library", params(("collection_id" = i64, Path, description = "The collection's id"), ("id" = String, Path, description = "Paper id")), security(("token" = []), ("session" = [])), responses(
    (status = 200, body = Saved),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 403, description = "Sent by a browser on behalf of another site", body = ErrorBody),
    (status = 404, description = "No such collection or paper", body = ErrorBody),
))]
pub(crate) async fn unsave(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    ApiPath((cid, raw)): ApiPath<(i64, String)>,
) -> Result<Json<Saved>, ApiError> {
    reader.check_write(&headers)?;
    let id = paper_id(&raw)?;
    let account = reader.account.id;
    let paper = id.clone();
    let changed = state
        .blocking(move |e| e.unsave_paper(account, cid, &paper))
        .await?;
    Ok(Json(Saved {
        id: id.to_string(),
        collection_id: cid,
        saved: false,
        changed,
    }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct MatchDto {
    /// The entry's citation key.
    key: Option<String>,
    /// The line the entry starts on.
    line: usize,
    id: String,
    title: String,
    /// "arXiv id", "DOI" or "title".
    by: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct MissDto {
    key: Option<String>,
    line: usize,
    title: Option<String>,
    reason: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ImportReportDto {
    /// What the file was, told from its content: `bibtex`, `ris` or `csl-json`.
    format: String,
    /// Entries read.
    entries: usize,
    matched: Vec<MatchDto>,
    /// Entries that name no paper in this corpus.
    unmatched: Vec<MissDto>,
    /// Entries that could not be read.
    broken: Vec<MissDto>,
    /// Papers new to the collection.
    added: usize,
}

impl From<ImportReport> for ImportReportDto {
    fn from(r: ImportReport) -> ImportReportDto {
        let miss = |m: ImportMiss| MissDto {
            key: m.key,
            line: m.line,
            title: m.title,
            reason: m.reason,
        };
        ImportReportDto {
            format: r.format.to_string(),
            entries: r.entries,
            matched: r
                .matched
                .into_iter()
                .map(|m: ImportMatch| MatchDto {
                    key: m.key,
                    line: m.line,
                    id: m.id.to_string(),
                    title: m.title,
                    by: m.by.to_string(),
                })
                .collect(),
            unmatched: r.unmatched.into_iter().map(miss).collect(),
            broken: r.broken.into_iter().map(miss).collect(),
            added: r.added,
        }
    }
}

/// Import a reference file (as the body, up to 2 MiB: BibTeX, RIS or CSL-JSON, told from the
/// content) into a collection: entries are matched to the corpus by arXiv id, then DOI, then
/// title; the report names each entry by key and line.
#[utoipa::path(post, path = "/api/collections/{collection_id}/import", tag = "library", params(("collection_id" = i64, Path, description = "The collection's id")), request_body(content = String, content_type = "text/plain", description = "A BibTeX, RIS or CSL-JSON file, as Zotero, Mendeley or JabRef export it (the format is told from the content, whatever the content type)"), security(("token" = []), ("session" = [])), responses(
    (status = 200, body = ImportReportDto),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 403, description = "Sent by a browser on behalf of another site", body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 413, body = ErrorBody),
))]
pub(crate) async fn import(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    ApiPath(cid): ApiPath<i64>,
    body: Bytes,
) -> Result<Json<ImportReportDto>, ApiError> {
    reader.check_write(&headers)?;
    let id = reader.account.id;
    let report = state
        .blocking(move |e| e.import_references(id, cid, "request body", &body, Utc::now()))
        .await?;
    Ok(Json(report.into()))
}

/// A collection as a BibTeX file.
#[utoipa::path(get, path = "/api/collections/{collection_id}/export.bib", tag = "library", params(("collection_id" = i64, Path, description = "The collection's id")), security(("token" = []), ("session" = [])), responses(
    (status = 200, description = "BibTeX", content_type = "application/x-bibtex", body = String),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub(crate) async fn export_bibtex(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(cid): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let id = reader.account.id;
    let bib = state.blocking(move |e| e.export_bibtex(id, cid)).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/x-bibtex; charset=utf-8")],
        bib,
    )
        .into_response())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct FeedAddress {
    /// The private Atom feed's address: anyone with it can read the feed. Shown once.
    url: String,
}

/// Give a collection a private Atom feed, with a new unguessable address (an earlier address
/// stops working).
#[utoipa::path(post, path = "/api/collections/{collection_id}/feed", tag = "library", params(("collection_id" = i64, Path, description = "The collection's id")), security(("token" = []), ("session" = [])), responses(
    (status = 201, body = FeedAddress),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 403, description = "Sent by a browser on behalf of another site", body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub(crate) async fn feed_on(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    ApiPath(cid): ApiPath<i64>,
) -> Result<(StatusCode, Json<FeedAddress>), ApiError> {
    reader.check_write(&headers)?;
    let id = reader.account.id;
    let secret = state
        .blocking(move |e| e.set_feed(id, cid, true))
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(FeedAddress {
            url: format!("{}/feeds/{secret}.atom", state.digests().config().base_url),
        }),
    ))
}

/// Revoke a collection's private feed (its address answers 404 from now on).
#[utoipa::path(delete, path = "/api/collections/{collection_id}/feed", tag = "library", params(("collection_id" = i64, Path, description = "The collection's id")), security(("token" = []), ("session" = [])), responses(
    (status = 204, description = "Revoked"),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 403, description = "Sent by a browser on behalf of another site", body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub(crate) async fn feed_off(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    ApiPath(cid): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    reader.check_write(&headers)?;
    let id = reader.account.id;
    state.blocking(move |e| e.set_feed(id, cid, false)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Mark {
    id: String,
    not_interested: bool,
    /// Whether this request changed that.
    changed: bool,
}

/// Mark a paper "not interested": the feed shows fewer papers like it.
#[utoipa::path(put, path = "/api/papers/{id}/not-interested", tag = "library", params(("id" = String, Path, description = "Paper id")), security(("token" = []), ("session" = [])), responses(
    (status = 200, body = Mark),
    (status = 401, body = ErrorBody),
    (status = 403, description = "Sent by a browser on behalf of another site", body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub(crate) async fn dismiss(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<Mark>, ApiError> {
    mark(state, reader, headers, raw, true).await
}

/// Take a "not interested" mark back.
#[utoipa::path(delete, path = "/api/papers/{id}/not-interested", tag = "library", params(("id" = String, Path, description = "Paper id")), security(("token" = []), ("session" = [])), responses(
    (status = 200, body = Mark),
    (status = 401, body = ErrorBody),
    (status = 403, description = "Sent by a browser on behalf of another site", body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub(crate) async fn undismiss(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<Mark>, ApiError> {
    mark(state, reader, headers, raw, false).await
}

async fn mark(
    state: AppState,
    reader: Reader,
    headers: HeaderMap,
    raw: String,
    on: bool,
) -> Result<Json<Mark>, ApiError> {
    reader.check_write(&headers)?;
    let id = paper_id(&raw)?;
    let account = reader.account.id;
    let paper = id.clone();
    let changed = state
        .blocking(move |e| e.set_not_interested(account, &paper, on, Utc::now()))
        .await?;
    Ok(Json(Mark {
        id: id.to_string(),
        not_interested: on,
        changed,
    }))
}

// ---- For you -------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ForYouParams {
    /// One collection's recommendations (default: from all of them).
    collection: Option<i64>,
    /// Papers listed in this window come first (default week).
    #[param(value_type = Option<WindowParam>)]
    window: Option<String>,
    /// How many (default 20, at most 100).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct NearDto {
    id: String,
    title: String,
    /// Cosine similarity of the embeddings.
    similarity: f64,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct WhyDto {
    /// The two nearest library papers.
    nearest: Vec<NearDto>,
    /// The terms that counted most (learned models only).
    terms: Vec<String>,
    /// A followed author who wrote it.
    followed_author: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct RecommendationDto {
    paper: PaperRefDto,
    /// The model's score; comparable within one answer.
    score: f64,
    /// Listed inside the window (the others follow, best first).
    in_window: bool,
    why: WhyDto,
}

impl From<&Recommendation> for RecommendationDto {
    fn from(r: &Recommendation) -> RecommendationDto {
        RecommendationDto {
            paper: PaperRefDto::from(&r.item),
            score: if r.score.is_finite() { r.score } else { 0.0 },
            in_window: r.in_window,
            why: WhyDto {
                nearest: r
                    .why
                    .nearest
                    .iter()
                    .map(|n| NearDto {
                        id: n.id.to_string(),
                        title: n.title.clone(),
                        similarity: n.similarity,
                    })
                    .collect(),
                terms: r.why.terms.clone(),
                followed_author: r.why.followed_author.clone(),
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ForYouDto {
    /// "learned", "cold start" (one or two library papers) or "empty".
    method: String,
    /// Library papers learned from.
    library: usize,
    /// "Not interested" papers learned from.
    dismissed: usize,
    /// Recent papers ranked.
    candidates: usize,
    /// Papers the rules left out.
    excluded_by_rules: usize,
    papers: Vec<RecommendationDto>,
}

impl From<&ForYou> for ForYouDto {
    fn from(f: &ForYou) -> ForYouDto {
        ForYouDto {
            method: f.method.to_string(),
            library: f.library,
            dismissed: f.dismissed,
            candidates: f.candidates,
            excluded_by_rules: f.excluded_by_rules,
            papers: f.items.iter().map(RecommendationDto::from).collect(),
        }
    }
}

/// Recent papers ranked for the reader by a model of their library (one collection's, or all
/// of them), each with why.
#[utoipa::path(get, path = "/api/for-you", tag = "library", params(ForYouParams), security(("token" = []), ("session" = [])), responses(
    (status = 200, body = ForYouDto),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 404, description = "No such collection", body = ErrorBody),
))]
pub(crate) async fn for_you(
    State(state): State<AppState>,
    reader: Reader,
    ApiQuery(q): ApiQuery<ForYouParams>,
) -> Result<Json<ForYouDto>, ApiError> {
    let window = window(q.window.as_deref())?;
    let limit = limit_or_default(q.limit, 20)?;
    let id = reader.account.id;
    let fy = state
        .blocking(move |e| e.for_you(id, q.collection, window, Utc::now(), limit))
        .await?;
    Ok(Json(ForYouDto::from(&fy)))
}
