//! arXiv's daily listing feeds (`rss.arxiv.org/rss/cs.LG`, `rss.arxiv.org/atom/cs.AI`): one
//! item per announcement of the day. `new` is a first version, `cross` a paper from another
//! category listed here too, `replace` (and `replace-cross`) a new version of an older paper.
//! A feed on a day without announcements (weekends, holidays) has no items; RSS says which
//! days it skips.

use paperscout_model::{Paper, PaperId, Source};

use crate::common::{arxiv_id, arxiv_pdf, date, finish, split_authors};
use crate::lines::Fault;
use crate::xml::{self, Element};
use crate::RecordError;

/// One listing feed.
#[derive(Debug)]
pub struct ListingPage {
    pub records: Vec<Result<Paper, RecordError>>,
    /// The days the feed says it has no announcements (`Saturday`, `Sunday`).
    pub skip_days: Vec<String>,
}

pub fn parse_page(name: &str, bytes: &[u8]) -> Result<ListingPage, RecordError> {
    let root = xml::parse_document(name, bytes)?;
    let (items, skip_days): (Vec<&Element>, Vec<String>) = match root.name.as_str() {
        "rss" => {
            let channel = root.child("channel").ok_or_else(|| {
                RecordError::new(name, root.line, "an RSS document without <channel>")
            })?;
            let skip = channel
                .child("skipDays")
                .map(|s| {
                    s.children("day")
                        .map(|d| d.text.trim().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (channel.children("item").collect(), skip)
        }
        "feed" => (root.children("entry").collect(), Vec::new()),
        other => {
            return Err(RecordError::new(
                name,
                root.line,
                format!("expected an RSS <rss> or Atom <feed>, found <{other}>"),
            ))
        }
    };
    let records = items
        .into_iter()
        .map(|item| {
            let id = item
                .child_text("guid")
                .or_else(|| item.child_text("id"))
                .or_else(|| item.child_text("link"));
            paper(item).map_err(|f| {
                f.record(id.map(crate::common::arxiv_id_in))
                    .at(name, item.line)
            })
        })
        .collect();
    Ok(ListingPage { records, skip_days })
}

fn paper(item: &Element) -> Result<Paper, Fault> {
    // The description starts `arXiv:2609.26811v1 Announce Type: new \nAbstract: …`; the
    // versioned id is there (RSS) or in the id (Atom).
    let body = item
        .child_text("description")
        .or_else(|| item.child_text("summary"))
        .unwrap_or_default();
    let raw_id = item
        .child_text("guid")
        .or_else(|| item.child_text("id"))
        .or_else(|| {
            body.split_whitespace()
                .next()
                .filter(|w| w.starts_with("arXiv:"))
        })
        .or_else(|| item.child_text("link"))
        .ok_or_else(|| Fault::field("id", "missing"))?;
    let (id, version) = arxiv_id(raw_id)?;
    let abstract_text = match body.find("Abstract:") {
        Some(pos) => &body[pos + "Abstract:".len()..],
        None => body,
    };
    let mut paper = Paper::new(
        id,
        item.child_text("title").unwrap_or_default().to_string(),
        abstract_text.to_string(),
        Source::ArxivRss,
    );
    paper.version = version.or(Some(1));
    let announce = item
        .child_text("announce_type")
        .or_else(|| {
            body.split("Announce Type:")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
        })
        .unwrap_or("new");
    let day = match item
        .child_text("pubDate")
        .or_else(|| item.child_text("published"))
    {
        Some(d) => Some(date("pubDate", d)?),
        None => None,
    };
    if announce.starts_with("replace") || paper.version > Some(1) {
        // A new version of an older paper (or an old paper newly cross-listed): the day is
        // this version's, not the paper's.
        paper.updated = day;
    } else {
        paper.published = day;
        paper.updated = day;
    }
    paper.authors = item
        .children("creator")
        .flat_map(|c| split_authors(&c.text))
        .collect();
    paper.categories = item
        .children("category")
        .filter_map(|c| c.attr("term").or(Some(c.text.trim())))
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    for doi in item.children("DOI").flat_map(|d| d.text.split_whitespace()) {
        if let Ok(alias) = PaperId::doi(doi) {
            paper.add_alias(alias);
        }
    }
    paper.links.pdf = arxiv_pdf(&paper.id);
    finish(paper)
}
