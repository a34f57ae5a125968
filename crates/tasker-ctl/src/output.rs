//! How operation results are printed: `--format json` writes the server's JSON pretty-printed
//! (one parseable document), `--format table` writes aligned columns or aligned `field: value`
//! lines.

use std::io::Write;

use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

/// Output format of the operation commands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The server's JSON, pretty-printed.
    Json,
    /// A Mermaid flowchart (`task dag` and `template dag` only).
    Mermaid,
    /// A Graphviz DOT digraph (`task dag` and `template dag` only).
    Dot,
}

impl Format {
    /// Refuses the graph formats for commands that print no graph.
    pub(crate) fn plain(self) -> Result<Format> {
        match self {
            Format::Mermaid | Format::Dot => anyhow::bail!(
                "--format {} applies to `task dag` and `template dag` only",
                if self == Format::Mermaid {
                    "mermaid"
                } else {
                    "dot"
                }
            ),
            other => Ok(other),
        }
    }
}

/// The `--format` flag, shared by every command of a group.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub(crate) struct FormatArg {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
}

/// Writes `value` as pretty JSON followed by a newline.
pub(crate) fn json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Columns with a header row, each as wide as its widest cell.
#[derive(Debug)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.iter().map(|cell| clean(cell)).collect());
    }

    /// Writes the table; an empty table writes `empty` instead of a lone header.
    pub(crate) fn write(&self, out: &mut dyn Write, empty: &str) -> Result<()> {
        if self.rows.is_empty() {
            writeln!(out, "{empty}")?;
            return Ok(());
        }
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(i) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        write_row(out, &self.header, &widths)?;
        for row in &self.rows {
            write_row(out, row, &widths)?;
        }
        Ok(())
    }
}

fn write_row(out: &mut dyn Write, cells: &[String], widths: &[usize]) -> Result<()> {
    let last = cells.len().saturating_sub(1);
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        line.push_str(cell);
        if i < last {
            let width = widths.get(i).copied().unwrap_or_default();
            let pad = width.saturating_sub(cell.chars().count()) + 2;
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    writeln!(out, "{}", line.trim_end())?;
    Ok(())
}

/// `field: value` lines with the values aligned.
pub(crate) fn fields(out: &mut dyn Write, pairs: &[(&str, String)]) -> Result<()> {
    let width = pairs
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or_default();
    for (name, value) in pairs {
        writeln!(
            out,
            "{name:<width$}  {value}",
            name = format!("{name}:"),
            value = clean(value),
            width = width + 1
        )?;
    }
    Ok(())
}

/// Server-supplied text made safe for one terminal line: control characters (newlines, escape
/// sequences) become spaces.
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A timestamp to the second, in UTC.
pub(crate) fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A timestamp to the millisecond, for sequences of events within one second.
pub(crate) fn precise_time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An optional timestamp; `-` when absent.
pub(crate) fn maybe_time(at: Option<&DateTime<Utc>>) -> String {
    at.map_or_else(|| "-".to_owned(), time)
}

/// An optional text; `-` when absent or empty.
pub(crate) fn text(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => "-".to_owned(),
    }
}

/// A list joined by commas; `-` when empty.
pub(crate) fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}

/// JSON on one line (`-` for null or absent).
pub(crate) fn compact(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(v) => v.to_string(),
    }
}

/// A ratio 0–1 as a percentage with one decimal.
pub(crate) fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: impl FnOnce(&mut Vec<u8>) -> Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn columns_align_on_the_widest_cell() {
        let mut table = Table::new(&["ID", "STATUS"]);
        table.row(vec!["a".into(), "complete".into()]);
        table.row(vec!["long-id".into(), "-".into()]);
        let text = render(|out| table.write(out, "none"));
        assert_eq!(text, "ID       STATUS\na        complete\nlong-id  -\n");
    }

    #[test]
    fn control_characters_cannot_break_lines_or_drive_the_terminal() {
        let mut table = Table::new(&["REASON"]);
        table.row(vec!["two\nlines \u{1b}[31mred".into()]);
        let text = render(|out| table.write(out, "none"));
        assert_eq!(text, "REASON\ntwo lines  [31mred\n");
        let text = render(|out| fields(out, &[("notes", "a\rb".into())]));
        assert_eq!(text, "notes:  a b\n");
    }

    #[test]
    fn empty_tables_say_so() {
        let table = Table::new(&["ID"]);
        assert_eq!(render(|out| table.write(out, "no tasks")), "no tasks\n");
    }

    #[test]
    fn fields_align_their_values() {
        let text = render(|out| fields(out, &[("id", "1".into()), ("status", "ok".into())]));
        assert_eq!(text, "id:      1\nstatus:  ok\n");
    }
}
