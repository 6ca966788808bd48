//! Database records as the user reads them: a table fitted to the terminal's width,
//! CSV with a header row, or a JSON array of objects. Also the plain byte
//! stream for printing logs, and the "nothing found" note on stderr.
//!
//! A closed stdout (`kiln db jobs | head`) ends the output quietly.
//!
//! [`table_cell`] is the one owner of how a value reads inside a terminal
//! table: every table (here and in `ui::listing`) shows its cells through it.

use std::borrow::Cow;
use std::io::{self, Write};

use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};
use comfy_table::{ContentArrangement, Table};
use serde::Serialize;

use super::write_stdout;
use crate::cli::OutputFormat;
use crate::config::ImageConfig;

/// A row type that can be printed as a table line and a CSV record. Its JSON
/// form is its `Serialize` implementation.
pub trait Tabular: Serialize {
    /// The CSV header: snake_case names, the same as the JSON fields where
    /// the value is the same.
    const CSV_COLUMNS: &'static [&'static str];
    /// The column titles of the terminal table.
    const TABLE_COLUMNS: &'static [&'static str];
    /// Full values, one per CSV column (times in RFC 3339 UTC, sizes in
    /// bytes, durations in seconds, whole UUIDs and digests).
    fn csv_cells(&self) -> Vec<String>;
    /// Short values for a terminal, one per table column.
    fn table_cells(&self, names: &DisplayNames) -> Vec<String>;
}

/// How names are shortened in tables: images by their configured short name.
#[derive(Debug, Default)]
pub struct DisplayNames {
    images: Vec<(String, String)>,
}

impl DisplayNames {
    pub fn new(images: &[ImageConfig]) -> Self {
        DisplayNames {
            images: images
                .iter()
                .filter_map(|i| i.short_name.clone().map(|s| (i.name.clone(), s)))
                .collect(),
        }
    }

    /// An image's short name where one is configured, else its name.
    pub fn image<'a>(&'a self, name: &'a str) -> &'a str {
        self.images
            .iter()
            .find(|(full, _)| full == name)
            .map(|(_, short)| short.as_str())
            .unwrap_or(name)
    }
}

/// Prints a listing in the chosen format. An empty listing says so on
/// stderr (`what` names the rows, as in "no jobs found"); CSV still prints
/// its header and JSON an empty array, so that scripts can parse them.
pub fn print<T: Tabular>(
    rows: &[T],
    format: OutputFormat,
    what: &str,
    names: &DisplayNames,
) -> Result<()> {
    if rows.is_empty() {
        eprintln!("no {what} found");
    }
    write_stdout(|out| match format {
        OutputFormat::Table => {
            if rows.is_empty() {
                return Ok(());
            }
            let lines = table(T::TABLE_COLUMNS, rows.iter().map(|r| r.table_cells(names)));
            out.write_all(lines.as_bytes())
        }
        OutputFormat::Csv => {
            let mut csv = csv::Writer::from_writer(out);
            csv.write_record(T::CSV_COLUMNS).map_err(csv_error)?;
            for row in rows {
                csv.write_record(row.csv_cells()).map_err(csv_error)?;
            }
            csv.flush()
        }
        OutputFormat::Json => json(out, &rows),
    })
}

/// Prints any serializable value as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    write_stdout(|out| json(out, value))
}

fn json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

fn csv_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// Lays out rows as a borderless table no wider than the terminal (or
/// `$COLUMNS`); wide cells wrap. Without a terminal and without `$COLUMNS`,
/// the table takes the width it needs.
pub fn table(columns: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut t = Table::new();
    // Only a line under the header; columns are separated by spaces.
    t.load_preset("     -             ")
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(columns.iter().copied());
    if let Some(width) = terminal_width() {
        t.set_width(width);
    }
    for row in rows {
        t.add_row(row.iter().map(|cell| table_cell(cell)));
    }
    let mut text = String::new();
    for line in t.lines() {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// A value as a table cell: control characters (a newline, a tab, an
/// escape) and the characters that reorder text are shown as escapes (`\n`,
/// `\t`, `\u{1b}`), so that every row stays one line and no value can steer
/// the terminal. CSV and JSON keep values as they are.
pub fn table_cell(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Control characters, and the marks and overrides that change the
/// direction of text.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// The width tables must fit: `$COLUMNS`, else the terminal's, else none.
fn terminal_width() -> Option<u16> {
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
    {
        return Some(cols.max(20));
    }
    let term = console::Term::stdout();
    if term.is_term() {
        term.size_checked().map(|(_, cols)| cols)
    } else {
        None
    }
}

/// A note for the user on stderr (such as a listing being empty).
pub fn note(msg: &str) {
    eprintln!("{msg}");
}

// ---------------------------------------------------------------------------
// Cell formats
// ---------------------------------------------------------------------------

/// RFC 3339 in UTC, as in JSON: `2026-11-22T03:14:24.123456Z`.
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An optional time in RFC 3339, or the empty string.
pub fn rfc3339_opt(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map(rfc3339).unwrap_or_default()
}

/// A time for a table: `2026-11-22 03:14` (UTC).
pub fn short_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// An optional time for a table, or `-`.
pub fn short_time_opt(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map(short_time).unwrap_or_else(|| "-".into())
}

/// The first 8 digits of a UUID: enough to name it again as a prefix.
pub fn short_uuid(u: &uuid::Uuid) -> String {
    u.simple().to_string()[..8].to_owned()
}

/// A duration for a table: `850ms`, `12.3s`, `4m05s`, `2h03m`, `3d04h`.
pub fn human_duration(seconds: Option<f64>) -> String {
    let Some(s) = seconds else {
        return "-".into();
    };
    if !s.is_finite() || s < 0.0 {
        return "-".into();
    }
    if s < 1.0 {
        return format!("{}ms", (s * 1000.0).round() as u64);
    }
    if s < 60.0 {
        return format!("{s:.1}s");
    }
    let total = s.round() as u64;
    let (d, h, m, sec) = (
        total / 86400,
        total / 3600 % 24,
        total / 60 % 60,
        total % 60,
    );
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else {
        format!("{m}m{sec:02}s")
    }
}

/// A byte count for a table: `512 B`, `1.5 KiB`, `3.2 MiB`.
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}

/// An optional number in seconds for CSV, or the empty string.
pub fn seconds_opt(s: Option<f64>) -> String {
    s.map(|s| s.to_string()).unwrap_or_default()
}

/// An optional value for CSV, or the empty string.
pub fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            (None, "-"),
            (Some(-1.0), "-"),
            (Some(0.25), "250ms"),
            (Some(12.34), "12.3s"),
            (Some(245.0), "4m05s"),
            (Some(7380.0), "2h03m"),
            (Some(273_600.0), "3d04h"),
        ];
        for (input, expected) in cases {
            assert_eq!(human_duration(input), expected, "{input:?}");
        }
    }

    #[test]
    fn sizes() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1536, "1.5 KiB"),
            (3 << 20, "3.0 MiB"),
            (5 << 30, "5.0 GiB"),
        ];
        for (input, expected) in cases {
            assert_eq!(human_size(input), expected, "{input}");
        }
    }

    #[test]
    fn times() {
        let t = DateTime::parse_from_rfc3339("2026-11-22T03:14:24.5+01:00")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(rfc3339(&t), "2026-11-22T02:14:24.500Z");
        assert_eq!(short_time(&t), "2026-11-22 02:14");
        assert_eq!(short_time_opt(&None), "-");
        // JSON and CSV agree on the form of a time.
        assert_eq!(
            serde_json::to_value(t).expect("serializes"),
            serde_json::json!("2026-11-22T02:14:24.500Z")
        );
    }

    #[test]
    fn uuids_shorten_to_a_prefix() {
        let u = uuid::Uuid::parse_str("3f2a1b2c-4d5e-6f70-8192-a3b4c5d6e7f8").expect("valid");
        assert_eq!(short_uuid(&u), "3f2a1b2c");
    }

    #[test]
    fn image_short_names() {
        let names = DisplayNames::new(&[
            ImageConfig {
                name: "debian:bookworm".into(),
                short_name: Some("deb12".into()),
            },
            ImageConfig {
                name: "alpine:3".into(),
                short_name: None,
            },
        ]);
        for (full, shown) in [
            ("debian:bookworm", "deb12"),
            ("alpine:3", "alpine:3"),
            ("other", "other"),
        ] {
            assert_eq!(names.image(full), shown);
        }
    }

    #[test]
    fn cells_escape_control_characters() {
        let cases = [
            ("plain name-1.0.tar.gz", "plain name-1.0.tar.gz"),
            ("new\nline", "new\\nline"),
            ("cr\r tab\t", "cr\\r tab\\t"),
            ("\u{1b}[31mred", "\\u{1b}[31mred"),
            ("nul\0 del\u{7f} c1\u{9b}", "nul\\u{0} del\\u{7f} c1\\u{9b}"),
            ("abc\u{202e}fed", "abc\\u{202e}fed"),
            ("caf\u{e9} \u{4e2d}", "caf\u{e9} \u{4e2d}"),
        ];
        for (value, shown) in cases {
            assert_eq!(table_cell(value), shown, "{value:?}");
        }
        let text = table(
            &["PATH", "SIZE"],
            vec![vec!["a\nb\x1b".into(), "1 B".into()]],
        );
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.contains("a\\nb\\u{1b}"), "{text}");
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
    }

    #[test]
    fn tables_have_a_header_line() {
        let text = table(&["A", "B"], vec![vec!["x".into(), "y".into()]]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains('A') && lines[0].contains('B'), "{text}");
        assert!(
            lines[1].trim().chars().all(|c| c == '-' || c == ' '),
            "{text}"
        );
    }
}
