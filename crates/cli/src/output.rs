//! What commands print: search hits (as text or JSON lines) and one JSON object per line.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use paperscout_app::{Hit, SearchMode};
use serde::Serialize;

/// Prints `value` as one line of JSON.
pub fn print_json_line(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

#[derive(Serialize)]
struct JsonHit<'a> {
    rank: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<SearchMode>,
    #[serde(flatten)]
    hit: &'a Hit,
}

/// Prints ranked hits: one JSON object per hit, or a numbered list with highlighted snippets
/// (in colour on a terminal, unless NO_COLOR is set).
pub fn print_hits(hits: &[Hit], json: bool, mode: Option<SearchMode>) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        for (i, hit) in hits.iter().enumerate() {
            writeln!(
                out,
                "{}",
                serde_json::to_string(&JsonHit {
                    rank: i + 1,
                    mode,
                    hit
                })?
            )?;
        }
        return Ok(());
    }
    if hits.is_empty() {
        writeln!(out, "no papers found")?;
        return Ok(());
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (bold, mark, dim, reset) = if color {
        ("\x1b[1m", "\x1b[1;33m", "\x1b[2m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    // Text from papers may hold terminal escape sequences; never pass them through.
    let clean = |s: &str| {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
    };
    for (i, hit) in hits.iter().enumerate() {
        writeln!(out, "{:>2}. {bold}{}{reset}", i + 1, clean(&hit.title))?;
        let mut meta = format!("{}  score {:.4}", hit.id, hit.score);
        if let Some(d) = hit.published {
            meta.push_str(&format!("  {d}"));
        }
        if !hit.authors.is_empty() {
            meta.push_str(&format!("  {}", clean(&hit.authors.join(", "))));
        }
        writeln!(out, "    {dim}{meta}{reset}")?;
        let snippet = if color {
            hit.snippet.render(mark, reset, clean)
        } else {
            hit.snippet.render("*", "*", clean)
        };
        if !snippet.is_empty() {
            writeln!(out, "    {snippet}")?;
        }
    }
    Ok(())
}
