//! paperscout's own JSONL: one [`Paper`] per line (the output of `paperscout export`).
//! Each field is checked on its own so that an error names the field at fault.

use std::io::BufRead;

use chrono::NaiveDate;
use paperscout_model::{normalize_whitespace, Links, Paper, PaperId, Source};
use serde_json::{Map, Value};

use crate::lines::{per_line, FieldError, Lines};
use crate::RecordError;

const FIELDS: [&str; 12] = [
    "id",
    "title",
    "abstract",
    "authors",
    "published",
    "categories",
    "links",
    "source",
    "aliases",
    "version",
    "updated",
    "upvotes",
];
const LINK_FIELDS: [&str; 3] = ["pdf", "code", "project"];

pub(crate) fn parse<R: BufRead>(
    lines: Lines<R>,
) -> impl Iterator<Item = Result<Paper, RecordError>> {
    per_line(lines, record)
}

fn field_err(field: &str, message: impl Into<String>) -> FieldError {
    (Some(field.to_string()), message.into())
}

fn record(text: &str) -> Result<Paper, FieldError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| (None, format!("not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err((None, "expected a JSON object (one paper per line)".into()));
    };
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(field_err(
            unknown,
            format!("unknown field; expected one of {}", FIELDS.join(", ")),
        ));
    }
    let id = match obj.get("id") {
        Some(Value::String(s)) => s
            .parse::<PaperId>()
            .map_err(|e| field_err("id", e.to_string()))?,
        Some(_) => return Err(field_err("id", "must be a string")),
        None => return Err(field_err("id", "missing")),
    };
    let title =
        normalize_whitespace(&string(&obj, "title")?.ok_or_else(|| field_err("title", "missing"))?);
    if title.is_empty() {
        return Err(field_err("title", "empty"));
    }
    let abstract_text = normalize_whitespace(&string(&obj, "abstract")?.unwrap_or_default());
    let published = day(&obj, "published")?;
    let updated = day(&obj, "updated")?;
    let aliases = strings(&obj, "aliases")?
        .iter()
        .enumerate()
        .map(|(i, a)| {
            a.parse::<PaperId>()
                .map_err(|e| field_err(&format!("aliases[{i}]"), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let links = match obj.get("links") {
        None | Some(Value::Null) => Links::default(),
        Some(Value::Object(links)) => {
            if let Some(unknown) = links.keys().find(|k| !LINK_FIELDS.contains(&k.as_str())) {
                return Err(field_err(
                    &format!("links.{unknown}"),
                    "unknown link; expected pdf, code or project",
                ));
            }
            Links {
                pdf: link(links, "pdf")?,
                code: link(links, "code")?,
                project: link(links, "project")?,
            }
        }
        Some(_) => return Err(field_err("links", "must be an object")),
    };
    let source = match string(&obj, "source")? {
        None => Source::Jsonl,
        Some(s) => {
            Source::parse(&s).ok_or_else(|| field_err("source", format!("unknown source `{s}`")))?
        }
    };
    let (mut title, mut abstract_text) = (title, abstract_text);
    let mut authors = strings(&obj, "authors")?;
    paperscout_model::check_paper_text(&mut title, &mut abstract_text, &mut authors)
        .map_err(|(field, message)| field_err(field, message))?;
    if title.trim().is_empty() {
        return Err(field_err("title", "empty"));
    }
    Ok(Paper {
        id,
        title,
        abstract_text,
        authors,
        published,
        categories: strings(&obj, "categories")?,
        links,
        source,
        aliases,
        version: count(&obj, "version")?,
        updated,
        upvotes: count(&obj, "upvotes")?,
    })
}

fn day(obj: &Map<String, Value>, field: &str) -> Result<Option<NaiveDate>, FieldError> {
    match string(obj, field)? {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .map(Some)
            .map_err(|e| field_err(field, format!("`{s}` is not a YYYY-MM-DD date: {e}"))),
    }
}

fn count(obj: &Map<String, Value>, field: &str) -> Result<Option<u32>, FieldError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| field_err(field, format!("`{v}` is not a whole number"))),
    }
}

fn string(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, FieldError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(field_err(field, "must be a string")),
    }
}

fn strings(obj: &Map<String, Value>, field: &str) -> Result<Vec<String>, FieldError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(normalize_whitespace(s)),
                _ => Err(field_err(&format!("{field}[{i}]"), "must be a string")),
            })
            .collect(),
        Some(_) => Err(field_err(field, "must be an array of strings")),
    }
}

fn link(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, FieldError> {
    let name = format!("links.{field}");
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.starts_with("https://") || s.starts_with("http://") => {
            Ok(Some(s.clone()))
        }
        Some(Value::String(s)) => Err(field_err(&name, format!("`{s}` is not an http(s) URL"))),
        Some(_) => Err(field_err(&name, "must be a string")),
    }
}
