//! Atom feeds of the trending and new lists and of any search (the day, week, month and author
//! feeds are served by `browse`, beside their pages). See `crate::atom` for the format.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;

use crate::atom::{self, Entry, FeedMeta, FEED_SIZE};
use crate::error::ApiError;
use crate::extract::{mode, window, ApiQuery, SearchParams};
use crate::limit::ClientIp;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct WindowQuery {
    window: Option<String>,
}

/// `GET /trending.atom?window=day|week|month`.
pub(crate) async fn trending(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> Result<Response, ApiError> {
    let window = window(q.window.as_deref())?;
    let items = state
        .blocking(move |e| e.trending(window, 0, FEED_SIZE, Utc::now()))
        .await?;
    let entries: Vec<Entry<'_>> = items.iter().map(Entry::of_item).collect();
    let (page, path) = (
        format!("/?window={window}"),
        format!("/trending.atom?window={window}"),
    );
    let title = format!("paperscout: trending papers ({window})");
    Ok(respond(&state, &title, &page, &path, &entries))
}

/// `GET /new.atom`.
pub(crate) async fn newest(State(state): State<AppState>) -> Result<Response, ApiError> {
    let items = state.blocking(|e| e.newest(0, FEED_SIZE)).await?;
    let entries: Vec<Entry<'_>> = items.iter().map(Entry::of_item).collect();
    Ok(respond(
        &state,
        "paperscout: new papers",
        "/new",
        "/new.atom",
        &entries,
    ))
}

/// `GET /search.atom?q=…&mode=…&from=…&to=…&category=…`: a saved search as a feed (its best
/// matches, as the search page ranks them).
pub(crate) async fn search(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Response, ApiError> {
    let q = params.q.clone().unwrap_or_default();
    let mode = mode(params.mode.as_deref())?;
    let filter = params.filter()?;
    let permit = state.limits().admit_encoder(ip, mode, &q)?;
    let (text, f) = (q.clone(), filter.clone());
    let results = state
        .blocking(move |e| {
            let _permit = permit;
            e.search_page(&text, mode, &f, 0, FEED_SIZE)
        })
        .await?;
    let entries: Vec<Entry<'_>> = results.hits.iter().map(Entry::of_hit).collect();
    let mut query = vec![("q", q.clone()), ("mode", mode.to_string())];
    if let Some(d) = filter.from {
        query.push(("from", d.to_string()));
    }
    if let Some(d) = filter.to {
        query.push(("to", d.to_string()));
    }
    if let Some(c) = &filter.category {
        query.push(("category", c.clone()));
    }
    let qs = serde_urlencoded::to_string(&query).unwrap_or_default();
    let title = format!("paperscout: search for “{}”", q.trim());
    Ok(respond(
        &state,
        &title,
        &format!("/search?{qs}"),
        &format!("/search.atom?{qs}"),
        &entries,
    ))
}

fn respond(
    state: &AppState,
    title: &str,
    page: &str,
    path: &str,
    entries: &[Entry<'_>],
) -> Response {
    atom::response(
        &FeedMeta {
            title,
            base_url: &state.digests().config().base_url,
            page,
            path,
        },
        entries,
    )
    .into_response()
}
