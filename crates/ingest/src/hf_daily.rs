//! Hugging Face's daily papers (`huggingface.co/api/daily_papers`): an array of items, each
//! `{"paper": {...}, "title", "summary", "publishedAt", ...}`. The nested `paper` has the shape
//! of `/api/papers/<arxiv id>`, and is accepted bare too. Its `upvotes` become the paper's
//! initial trending signal and `githubRepo` its code link.

use paperscout_model::{Paper, Source};
use serde_json::Value;

use crate::common::{arxiv_id, arxiv_pdf, date, document_text, finish};
use crate::json_doc::{self, str_field, url_field, Top};
use crate::lines::Fault;
use crate::RecordError;

pub fn parse_document(
    name: &str,
    bytes: &[u8],
) -> Result<Vec<Result<Paper, RecordError>>, RecordError> {
    let text = document_text(name, bytes)?;
    let items = match json_doc::parse_top(name, text)? {
        Top::Array(items) => items,
        Top::Object(obj) if obj.contains_key("error") => {
            let message = obj.get("error").map(|e| e.get()).unwrap_or_default();
            return Err(RecordError::new(
                name,
                1,
                format!("Hugging Face answered an error: {message}"),
            ));
        }
        // One paper, as `/api/papers/<id>` answers.
        Top::Object(_) => {
            let v: Value = serde_json::from_str(text)
                .map_err(|e| RecordError::new(name, e.line().max(1), e.to_string()))?;
            return Ok(vec![paper(&v).map_err(|f| f.at(name, 1))]);
        }
    };
    let mut lines = json_doc::Lines::new(text);
    Ok(items
        .into_iter()
        .map(|raw| {
            let line = lines.of(raw);
            let v = json_doc::value(name, text, raw)?;
            paper(&v).map_err(|f| f.at(name, line))
        })
        .collect())
}

fn paper(item: &Value) -> Result<Paper, Fault> {
    if !item.is_object() {
        return Err(Fault::new("expected an object (a daily paper)"));
    }
    let inner = item.get("paper").filter(|p| p.is_object()).unwrap_or(item);
    let raw_id = str_field(inner, "id").ok_or_else(|| Fault::field("paper.id", "missing"))?;
    let (id, version) = arxiv_id(raw_id).map_err(|f| f.record(Some(raw_id)))?;
    let fault = |field: &str, message: String| Fault::field(field, message).record(Some(raw_id));
    let title = str_field(inner, "title").or_else(|| str_field(item, "title"));
    let summary = str_field(inner, "summary").or_else(|| str_field(item, "summary"));
    let mut paper = Paper::new(
        id,
        title.unwrap_or_default().to_string(),
        summary.unwrap_or_default().to_string(),
        Source::HfDaily,
    );
    paper.version = version;
    if let Some(p) = str_field(inner, "publishedAt").or_else(|| str_field(item, "publishedAt")) {
        paper.published = Some(date("publishedAt", p).map_err(|f| f.record(Some(raw_id)))?);
    }
    paper.authors = match inner.get("authors") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(authors)) => authors
            .iter()
            .filter(|a| a.get("hidden").and_then(Value::as_bool) != Some(true))
            .filter_map(|a| str_field(a, "name"))
            .map(paperscout_model::clean_text)
            .collect(),
        Some(_) => return Err(fault("paper.authors", "must be an array".into())),
    };
    paper.upvotes = match inner.get("upvotes") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .map(|n| n.min(u32::MAX as u64) as u32)
                .ok_or_else(|| fault("paper.upvotes", format!("`{v}` is not a count")))?,
        ),
    };
    paper.links.code = url_field(inner.get("githubRepo"));
    paper.links.project = url_field(inner.get("projectPage"));
    paper.links.pdf = arxiv_pdf(&paper.id);
    finish(paper).map_err(|f| f.record(Some(raw_id)))
}
