//! A BEIR corpus: one JSON object per line with `_id`, `title` (may be empty) and `text`.

use std::io::BufRead;

use paperscout_model::{normalize_whitespace, Paper, PaperId, Source};
use serde_json::Value;

use crate::lines::{per_line, FieldError, Lines};
use crate::RecordError;

pub(crate) fn parse<R: BufRead>(
    lines: Lines<R>,
    source: Source,
) -> impl Iterator<Item = Result<Paper, RecordError>> {
    per_line(lines, move |text| record(text, source))
}

fn field_err(field: &str, message: &str) -> FieldError {
    (Some(field.to_string()), message.to_string())
}

fn record(text: &str, source: Source) -> Result<Paper, FieldError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| (None, format!("not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err((None, "expected a JSON object".into()));
    };
    let id = match obj.get("_id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(field_err("_id", "must be a string")),
        None => return Err(field_err("_id", "missing")),
    };
    let id = PaperId::beir(&id).map_err(|e| field_err("_id", &e.to_string()))?;
    let title = optional_string(obj.get("title"), "title")?;
    let body = match obj.get("text") {
        Some(Value::String(s)) => normalize_whitespace(s),
        Some(_) => return Err(field_err("text", "must be a string")),
        None => return Err(field_err("text", "missing")),
    };
    let (mut title, mut body) = (title, body);
    paperscout_model::check_paper_text(&mut title, &mut body, &mut []).map_err(
        |(field, message)| field_err(if field == "abstract" { "text" } else { field }, &message),
    )?;
    if title.is_empty() && body.is_empty() {
        return Err(field_err("text", crate::error::EMPTY_RECORD));
    }
    Ok(Paper::new(id, title, body, source))
}

fn optional_string(value: Option<&Value>, field: &str) -> Result<String, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(normalize_whitespace(s)),
        Some(_) => Err(field_err(field, "must be a string")),
    }
}
