//! A small element tree over quick-xml, for the XML formats (arXiv API Atom, OAI-PMH, arXiv's
//! RSS and Atom listings). Those documents are one page of an API answer (at most a few MB), so
//! reading the page into a tree and then walking it is simpler than a streaming parser per format
//! and costs nothing that matters; the bulk format (the metadata snapshot) is JSON lines.
//!
//! Names are local (`arxiv:doi` is `doi`): the formats never use one local name for two things
//! where we read them, and the namespace prefixes vary between the old and current layouts.

use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;

/// Deeper than any real feed; a document nesting deeper is refused (and cannot exhaust the
/// stack when the tree is dropped).
const MAX_DEPTH: usize = 128;

#[derive(Debug, Default)]
pub(crate) struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// The element's own text (its children's text is theirs), entities resolved.
    pub text: String,
    /// 1-based line where the element starts.
    pub line: usize,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The text of the first child called `name`, trimmed; `None` when absent or blank.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }
}

/// Why a document is not well-formed XML, and the line where reading stopped.
#[derive(Debug)]
pub(crate) struct XmlError {
    pub line: usize,
    pub message: String,
}

/// A whole document (`name` for errors) as its root element: UTF-8 checked, BOM dropped.
pub(crate) fn parse_document(name: &str, bytes: &[u8]) -> Result<Element, crate::RecordError> {
    let text = crate::common::document_text(name, bytes)?;
    parse(text.as_bytes()).map_err(|e| crate::RecordError::new(name, e.line, e.message))
}

/// Parses a whole document into its root element.
pub(crate) fn parse(bytes: &[u8]) -> Result<Element, XmlError> {
    let mut reader = Reader::from_reader(bytes);
    let mut lines = LineCounter::default();
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let at = reader.buffer_position() as usize;
        let line = lines.line_at(bytes, at);
        let event = reader.read_event().map_err(|e| XmlError {
            line: lines.line_at(bytes, reader.error_position() as usize),
            message: format!("not well-formed XML: {e}"),
        })?;
        let fail = |message: String| Err(XmlError { line, message });
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return fail("content after the root element".into());
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return fail(format!("elements nested more than {MAX_DEPTH} deep"));
                }
                stack.push(element(&start, line)?);
            }
            Event::Empty(start) => {
                let e = element(&start, line)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => root = Some(e),
                }
            }
            Event::End(_) => {
                // quick-xml checks that end tags match their start tags.
                let Some(done) = stack.pop() else {
                    return fail("an end tag without a start tag".into());
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(text) => {
                if let Some(open) = stack.last_mut() {
                    let decoded = text.decode().map_err(|e| XmlError {
                        line,
                        message: format!("text is not UTF-8: {e}"),
                    })?;
                    open.text.push_str(&decoded);
                } else if !text.iter().all(u8::is_ascii_whitespace) {
                    return fail("text outside the root element".into());
                }
            }
            Event::CData(data) => {
                if let Some(open) = stack.last_mut() {
                    let decoded = data.decode().map_err(|e| XmlError {
                        line,
                        message: format!("CDATA is not UTF-8: {e}"),
                    })?;
                    open.text.push_str(&decoded);
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(
                        &resolve(&reference).map_err(|message| XmlError { line, message })?,
                    );
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError {
            line: lines.line_at(bytes, bytes.len()),
            message: format!("the document ends inside <{}> (cut short?)", open.name),
        });
    }
    root.ok_or_else(|| XmlError {
        line: 1,
        message: "no XML element in the document".into(),
    })
}

fn element(start: &quick_xml::events::BytesStart<'_>, line: usize) -> Result<Element, XmlError> {
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmlError {
            line,
            message: format!("a bad attribute on <{name}>: {e}"),
        })?;
        let key = String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| XmlError {
                line,
                message: format!("attribute `{key}` on <{name}>: {e}"),
            })?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        line,
        ..Element::default()
    })
}

/// `&amp;`, `&#233;` and the like. Unknown named entities (HTML's `&nbsp;` in a feed that
/// declares none) are kept as written rather than dropped.
fn resolve(reference: &BytesRef<'_>) -> Result<String, String> {
    match reference.resolve_char_ref() {
        Ok(Some(c)) => return Ok(c.to_string()),
        Ok(None) => {}
        Err(e) => return Err(format!("a bad character reference: {e}")),
    }
    let name = reference
        .decode()
        .map_err(|e| format!("an entity name that is not UTF-8: {e}"))?;
    Ok(quick_xml::escape::resolve_xml_entity(&name)
        .map(str::to_string)
        .unwrap_or_else(|| format!("&{name};")))
}

/// Turns byte offsets into line numbers, counting each byte once while offsets only grow.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    line: usize,
}

impl LineCounter {
    fn line_at(&mut self, bytes: &[u8], at: usize) -> usize {
        let at = at.min(bytes.len());
        if at < self.offset {
            self.offset = 0;
            self.line = 0;
        }
        self.line += bytes[self.offset..at]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.offset = at;
        self.line + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_tree_with_lines_and_entities() {
        let doc = b"<?xml version='1.0'?>\n<feed xmlns:a='x'>\n <a:entry n='1&amp;2'>\n  <title>Q&amp;A &#233;t&#xE9; &nbsp;</title>\n </a:entry>\n <e/></feed>";
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "feed");
        let entry = root.child("entry").unwrap();
        assert_eq!((entry.line, entry.attr("n")), (3, Some("1&2")));
        assert_eq!(entry.child_text("title"), Some("Q&A été &nbsp;"));
        assert_eq!(root.child("e").unwrap().line, 6);
    }

    #[test]
    fn refuses_broken_documents_with_a_line() {
        for (doc, needle) in [
            (&b"<a>\n<b></a>"[..], "well-formed"),
            (b"<a>\n<b>", "ends inside <b>"),
            (b"", "no XML element"),
            (b"<a/><b/>", "after the root"),
            (b"<a>&#xFFFFFFFF;</a>", "character reference"),
        ] {
            let err = parse(doc).unwrap_err();
            assert!(err.message.contains(needle), "{:?}: {}", doc, err.message);
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes())
            .unwrap_err()
            .message
            .contains("nested"));
    }
}
