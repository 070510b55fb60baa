use std::io::BufRead;

use paperscout_model::Paper;

use crate::RecordError;

/// One line of input with its 1-based number.
#[derive(Debug)]
pub(crate) struct Line {
    pub number: usize,
    pub text: String,
}

/// Reads lines one at a time, tolerating bad bytes per line: a line that is not UTF-8 becomes
/// a [`RecordError`] for that line and reading goes on with the next one.
pub(crate) struct Lines<R> {
    name: String,
    reader: R,
    number: usize,
    buf: Vec<u8>,
    failed: bool,
}

impl<R: BufRead> Lines<R> {
    pub fn new(name: &str, reader: R) -> Self {
        Lines {
            name: name.to_string(),
            reader,
            number: 0,
            buf: Vec::new(),
            failed: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn error(
        &self,
        line: usize,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> RecordError {
        RecordError::new(&self.name, line, message).with_field(field)
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = Result<Line, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        self.buf.clear();
        match self.reader.read_until(b'\n', &mut self.buf) {
            Ok(0) => None,
            Ok(_) => {
                self.number += 1;
                while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                    self.buf.pop();
                }
                let number = self.number;
                Some(match String::from_utf8(std::mem::take(&mut self.buf)) {
                    Ok(text) => Ok(Line { number, text }),
                    Err(e) => Err(self.error(
                        number,
                        None,
                        format!(
                            "not valid UTF-8 (bad byte at column {})",
                            e.utf8_error().valid_up_to() + 1
                        ),
                    )),
                })
            }
            Err(e) => {
                // A read error (not a content error) ends the stream: nothing after it can be trusted.
                self.failed = true;
                Some(Err(self.error(
                    self.number + 1,
                    None,
                    format!("read failed: {e}"),
                )))
            }
        }
    }
}

/// What a one-record-per-line parser says of a bad line: the field at fault (if one is) and why.
pub(crate) type FieldError = (Option<String>, String);

/// What a parser says of a bad record, before file and line are attached.
#[derive(Debug, Default)]
pub(crate) struct Fault {
    pub record: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl Fault {
    pub fn new(message: impl Into<String>) -> Fault {
        Fault {
            message: message.into(),
            ..Fault::default()
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Fault {
        Fault {
            field: Some(field.to_string()),
            message: message.into(),
            ..Fault::default()
        }
    }

    pub fn record(mut self, record: Option<&str>) -> Fault {
        if self.record.is_none() {
            self.record = record.map(str::to_string);
        }
        self
    }

    pub fn at(self, file: &str, line: usize) -> RecordError {
        RecordError::new(file, line, self.message)
            .with_record(self.record.as_deref())
            .with_field(self.field.as_deref())
    }
}

impl From<FieldError> for Fault {
    fn from((field, message): FieldError) -> Fault {
        Fault {
            record: None,
            field,
            message,
        }
    }
}

/// Runs `parse` on every non-blank line, attaching file and line to its errors.
pub(crate) fn per_line<R: BufRead, E: Into<Fault>>(
    lines: Lines<R>,
    parse: impl Fn(&str) -> Result<Paper, E>,
) -> impl Iterator<Item = Result<Paper, RecordError>> {
    let name = lines.name().to_string();
    lines.filter_map(move |line| {
        let line = match line {
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        if line.text.trim().is_empty() {
            return None;
        }
        Some(parse(&line.text).map_err(|fault| {
            let fault: Fault = fault.into();
            fault.at(&name, line.number)
        }))
    })
}
