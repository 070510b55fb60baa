//! Harvesting inside `serve`: the scheduler that keeps the corpus current (each configured
//! harvest at each scheduled time), and the ingestion status — `GET /api/harvests` and the
//! `/sources` page — that says when each source was last harvested, what it added, and why
//! nothing came.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use maud::html;
use paperscout_app::harvest::last_runs;
use paperscout_app::{HarvestRun, SourceCount};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::respond::{error_page, layout, Nav};
use crate::state::AppState;

/// One harvest's latest run.
#[derive(Serialize, ToSchema)]
pub(crate) struct HarvestDto {
    /// `arxiv:SET` or `hf-daily`.
    harvest: String,
    /// running, ok, empty (the source had nothing new; `message` says why) or failed.
    status: String,
    /// RFC 3339.
    started_at: Option<String>,
    finished_at: Option<String>,
    pages: u64,
    records: u64,
    added: u64,
    updated: u64,
    message: Option<String>,
    /// When the scheduler runs it next (RFC 3339), if `serve` harvests it.
    next_run: Option<String>,
}

/// How many papers one source gave the corpus.
#[derive(Serialize, ToSchema)]
pub(crate) struct SourceDto {
    /// demo, arxiv-api, arxiv-oai, hf-daily, openalex, … (what `ingest` and `harvest` record).
    source: String,
    papers: usize,
    /// When the last paper of this source was added or changed (RFC 3339).
    last_change: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Harvests {
    /// Whether this server harvests on a schedule.
    scheduled: bool,
    harvests: Vec<HarvestDto>,
    /// Papers per source (from harvests and ingests alike).
    sources: Vec<SourceDto>,
    /// Papers in all.
    papers: usize,
}

fn time(t: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp(t, 0).map(|t| t.to_rfc3339())
}

async fn status(state: &AppState) -> Result<Harvests, ApiError> {
    let plan = state.harvest_plan().cloned();
    let (runs, counts): (Vec<HarvestRun>, Vec<SourceCount>) = state
        .blocking(|e| Ok((last_runs(e)?, e.store().source_counts()?)))
        .await?;
    let now = Utc::now();
    let next = plan
        .as_ref()
        .and_then(|p| p.schedule.next_run(now))
        .map(|t| t.to_rfc3339());
    let scheduled: Vec<String> = plan
        .as_ref()
        .map(|p| p.schedule.harvests.iter().map(|h| h.name()).collect())
        .unwrap_or_default();
    let mut out: Vec<HarvestDto> = runs
        .into_iter()
        .map(|r| HarvestDto {
            next_run: scheduled
                .contains(&r.harvest)
                .then(|| next.clone())
                .flatten(),
            harvest: r.harvest,
            status: r.status.as_str().into(),
            started_at: time(r.started_at),
            finished_at: r.finished_at.and_then(time),
            pages: r.pages,
            records: r.records,
            added: r.added,
            updated: r.updated,
            message: r.message,
        })
        .collect();
    // Scheduled harvests that have not run yet.
    for name in &scheduled {
        if !out.iter().any(|h| &h.harvest == name) {
            out.push(HarvestDto {
                harvest: name.clone(),
                status: "never".into(),
                started_at: None,
                finished_at: None,
                pages: 0,
                records: 0,
                added: 0,
                updated: 0,
                message: Some("not harvested yet".into()),
                next_run: next.clone(),
            });
        }
    }
    Ok(Harvests {
        scheduled: plan.is_some(),
        harvests: out,
        papers: counts.iter().map(|c| c.papers).sum(),
        sources: counts
            .into_iter()
            .map(|c| SourceDto {
                source: c.source,
                papers: c.papers,
                last_change: c.last_change.and_then(time),
            })
            .collect(),
    })
}

/// Ingestion status: papers per source, each harvest's latest run, and when it runs next.
#[utoipa::path(get, path = "/api/harvests", tag = "crate::harvest", responses((status = 200, body = Harvests), (status = 429, body = ErrorBody), (status = 500, body = ErrorBody)))]
pub(crate) async fn api_harvests(
    State(state): State<AppState>,
) -> Result<Json<Harvests>, ApiError> {
    Ok(Json(status(&state).await?))
}

/// A source's name for people.
fn source_label(source: &str) -> String {
    match source {
        "demo" => "Demo corpus (bundled)".into(),
        "hf-daily" => "Hugging Face daily papers".into(),
        "arxiv-api" => "arXiv API".into(),
        "arxiv-oai" => "arXiv OAI-PMH".into(),
        "arxiv-rss" => "arXiv RSS".into(),
        "arxiv-snapshot" => "arXiv metadata snapshot".into(),
        "openalex" => "OpenAlex".into(),
        "semantic-scholar" => "Semantic Scholar".into(),
        "bibtex" => "BibTeX files".into(),
        "ris" => "RIS files".into(),
        "csl-json" => "CSL-JSON files".into(),
        "beir" => "BEIR dataset".into(),
        "jsonl" => "JSON lines".into(),
        "listing" => "Papers listings".into(),
        other => other.into(),
    }
}

/// `GET /sources`: the same, for people.
pub(crate) async fn page(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let s = match status(&state).await {
        Ok(s) => s,
        Err(e) => return error_page(e),
    };
    let label = |name: &str| match name {
        "hf-daily" => "Hugging Face daily papers".to_string(),
        other => match other.strip_prefix("arxiv:") {
            Some(set) => format!("arXiv {set}"),
            None => other.to_string(),
        },
    };
    let day = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "—".into())
    };
    layout(
        "Sources",
        Nav::Sources,
        "",
        None,
        html! {
            h1 { "Sources" }
            p.count { (s.papers) " paper" @if s.papers != 1 { "s" } " in this corpus" }
            @if !s.sources.is_empty() {
                table.sources.counts {
                    thead { tr { th { "Source" } th { "Papers" } th { "Last added or changed" } } }
                    tbody {
                        @for c in &s.sources {
                            tr {
                                td { (source_label(&c.source)) }
                                td { (c.papers) }
                                td { (day(&c.last_change)) }
                            }
                        }
                    }
                }
                @if s.sources.iter().any(|c| c.source == "demo") {
                    p.note { "The demo papers are the bundled sample corpus. Once real papers are in, "
                        code { "paperscout remove --source demo" } " removes them." }
                }
            }
            h2 { "Harvests" }
            @if s.harvests.is_empty() {
                p { "No harvest has run, and none is scheduled on this server; the papers above came from "
                    code { "paperscout ingest" } ". " code { "paperscout harvest arxiv" } " or "
                    code { "serve --harvest" } " fetch new ones." }
            } @else {
                @if !s.scheduled {
                    p { "No harvest is scheduled on this server; these are the last runs of "
                        code { "paperscout harvest" } "." }
                }
                table.sources.harvests {
                    thead { tr { th { "Source" } th { "Last run" } th { "Result" } th { "Added" } th { "Updated" } th { "Next run" } } }
                    tbody {
                        @for h in &s.harvests {
                            tr {
                                td { (label(&h.harvest)) }
                                td { (day(&h.started_at)) }
                                td {
                                    span class=(format!("status {}", h.status)) { (h.status) }
                                    @if let Some(m) = &h.message { br; small { (m) } }
                                }
                                td { (h.added) }
                                td { (h.updated) }
                                td { (day(&h.next_run)) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}
