//! A BEIR corpus: one JSON object per line with `_id`, `title` (may be empty) and `text`.

use std::io::BufRead;

use paperscout_model::{normalize_whitespace, Links, Paper, PaperId, Source};
use serde_json::Value;

use crate::lines::Lines;
use crate::RecordError;

pub(crate) fn parse<R: BufRead>(lines: Lines<R>, source: Source) -> impl Iterator<Item = Result<Paper, RecordError>> {
    let name = lines.name().to_string();
    lines.filter_map(move |line| {
        let line = match line {
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        if line.text.trim().is_empty() {
            return None;
        }
        let err = |field: Option<&str>, message: String| RecordError {
            file: name.clone(),
            line: line.number,
            field: field.map(str::to_string),
            message,
        };
        Some(record(&line.text, source).map_err(|(field, msg)| err(field, msg)))
    })
}

type FieldError = (Option<&'static str>, String);

fn record(text: &str, source: Source) -> Result<Paper, FieldError> {
    let value: Value = serde_json::from_str(text).map_err(|e| (None, format!("not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err((None, "expected a JSON object".into()));
    };
    let id = match obj.get("_id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err((Some("_id"), "must be a string".into())),
        None => return Err((Some("_id"), "missing".into())),
    };
    let id = PaperId::beir(&id).map_err(|e| (Some("_id"), e.to_string()))?;
    let title = optional_string(obj.get("title"), "title")?;
    let body = match obj.get("text") {
        Some(Value::String(s)) => normalize_whitespace(s),
        Some(_) => return Err((Some("text"), "must be a string".into())),
        None => return Err((Some("text"), "missing".into())),
    };
    if title.is_empty() && body.is_empty() {
        return Err((Some("text"), "both `title` and `text` are empty".into()));
    }
    Ok(Paper {
        id,
        title,
        abstract_text: body,
        authors: Vec::new(),
        published: None,
        categories: Vec::new(),
        links: Links::default(),
        source,
    })
}

fn optional_string(value: Option<&Value>, field: &'static str) -> Result<String, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(normalize_whitespace(s)),
        Some(_) => Err((Some(field), "must be a string".into())),
    }
}
