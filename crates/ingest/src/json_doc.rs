//! Whole-document JSON (API answers: Hugging Face, OpenAlex, Semantic Scholar): the document
//! is split into its records without parsing them, so each record is parsed on its own and an
//! error names the line where that record starts.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::Value;

use crate::common::line_of;
use crate::RecordError;

/// A JSON document's top level: an array of records, or an object.
pub(crate) enum Top<'a> {
    Array(Vec<&'a RawValue>),
    Object(HashMap<Cow<'a, str>, &'a RawValue>),
}

pub(crate) fn parse_top<'a>(name: &str, text: &'a str) -> Result<Top<'a>, RecordError> {
    let bad = |e: serde_json::Error| {
        RecordError::new(name, e.line().max(1), format!("not valid JSON: {e}"))
    };
    match text.trim_start().as_bytes().first() {
        Some(b'[') => Ok(Top::Array(serde_json::from_str(text).map_err(bad)?)),
        Some(b'{') => Ok(Top::Object(serde_json::from_str(text).map_err(bad)?)),
        Some(_) => Err(RecordError::new(
            name,
            1,
            "expected a JSON document (an object or an array); is this an error page?",
        )),
        None => Err(RecordError::new(name, 1, "the document is empty")),
    }
}

/// The 1-based line where `raw` (a slice of `text`) starts.
pub(crate) fn line(text: &str, raw: &RawValue) -> usize {
    let offset = (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    line_of(text, offset)
}

/// The lines of records met in file order, counted from the previous record on: a document
/// of many records costs one pass, where [`line`] for each would rescan from the start.
pub(crate) struct Lines<'a> {
    text: &'a str,
    offset: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Lines {
            text,
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line where `raw` starts.
    pub(crate) fn of(&mut self, raw: &RawValue) -> usize {
        let offset = (raw.get().as_ptr() as usize)
            .saturating_sub(self.text.as_ptr() as usize)
            .min(self.text.len());
        if offset < self.offset {
            return line(self.text, raw);
        }
        self.line += self.text.as_bytes()[self.offset..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.offset = offset;
        self.line
    }
}

/// Parses one record into a `Value`.
pub(crate) fn value(name: &str, text: &str, raw: &RawValue) -> Result<Value, RecordError> {
    serde_json::from_str(raw.get())
        .map_err(|e| RecordError::new(name, line(text, raw), format!("not valid JSON: {e}")))
}

/// A field as a string: `None` when absent, null or empty.
pub(crate) fn str_field<'v>(v: &'v Value, field: &str) -> Option<&'v str> {
    v.get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Follows a path of object keys.
pub(crate) fn path<'v>(v: &'v Value, keys: &[&str]) -> Option<&'v Value> {
    keys.iter().try_fold(v, |v, k| v.get(k))
}

/// An http(s) URL field, or `None`.
pub(crate) fn url_field(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .map(str::to_string)
}
