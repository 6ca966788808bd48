//! Listings: rows of named columns printed as a table, CSV or JSON (the
//! `--output` of listing commands). Cells are JSON values, so that JSON
//! output keeps numbers, booleans, arrays and `null`; the table and CSV
//! show them as text.

use anyhow::{Context as _, Result};
use serde_json::Value as Json;

use crate::cli::OutputFormat;

/// Column names and rows of cells (one cell per column).
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Json>>,
}

/// How a cell reads in a table or CSV: strings as they are, `null` as
/// `(not set)`, arrays and objects in TOML's inline form.
pub fn cell_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Null => "(not set)".into(),
        other => inline(other),
    }
}

fn inline(value: &Json) -> String {
    match value {
        Json::String(s) => Json::String(s.clone()).to_string(),
        Json::Array(items) => format!(
            "[{}]",
            items.iter().map(inline).collect::<Vec<_>>().join(", ")
        ),
        Json::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{k} = {}", inline(v)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        Json::Null => "null".into(),
        other => other.to_string(),
    }
}

/// The listing as text in the given format, ending with a newline.
pub fn render(format: OutputFormat, listing: &Listing) -> Result<String> {
    match format {
        OutputFormat::Table => {
            let mut table = comfy_table::Table::new();
            table
                .load_preset(comfy_table::presets::NOTHING)
                .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
                .set_header(listing.columns.iter().map(|c| c.to_uppercase()));
            for row in &listing.rows {
                table.add_row(
                    row.iter()
                        .map(|cell| super::tabular::table_cell(&cell_text(cell)).into_owned()),
                );
            }
            let lines: Vec<String> = table.lines().map(|l| l.trim_end().to_owned()).collect();
            Ok(format!("{}\n", lines.join("\n")))
        }
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(&listing.columns)?;
            for row in &listing.rows {
                w.write_record(row.iter().map(cell_text))?;
            }
            let bytes = w.into_inner().context("writing CSV")?;
            Ok(String::from_utf8(bytes)?)
        }
        OutputFormat::Json => {
            let objects: Vec<JsonRow<'_>> = listing
                .rows
                .iter()
                .map(|cells| JsonRow {
                    columns: &listing.columns,
                    cells,
                })
                .collect();
            Ok(format!("{}\n", serde_json::to_string_pretty(&objects)?))
        }
    }
}

/// One row as a JSON object whose keys keep the order of the columns.
struct JsonRow<'a> {
    columns: &'a [&'static str],
    cells: &'a [Json],
}

impl serde::Serialize for JsonRow<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.columns.len()))?;
        for (column, cell) in self.columns.iter().zip(self.cells) {
            map.serialize_entry(column, cell)?;
        }
        map.end()
    }
}

/// Prints the listing on standard output. A closed pipe (`| head`) is not an error.
pub fn print(format: OutputFormat, listing: &Listing) -> Result<()> {
    let text = render(format, listing)?;
    super::write_stdout(|out| out.write_all(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cell_texts() {
        let cases = [
            (json!("plain"), "plain"),
            (json!(null), "(not set)"),
            (json!(3), "3"),
            (json!(true), "true"),
            (json!(["a", "b"]), r#"["a", "b"]"#),
            (
                json!([{ "name": "debian:12", "short_name": null }]),
                r#"[{ name = "debian:12" }]"#,
            ),
        ];
        for (value, want) in cases {
            assert_eq!(cell_text(&value), want, "{value}");
        }
    }

    #[test]
    fn formats() {
        let reversed = Listing {
            columns: vec!["value", "key"],
            rows: vec![vec![json!(1), json!("a")]],
        };
        let listing = Listing {
            columns: vec!["key", "value"],
            rows: vec![
                vec![json!("a"), json!(1)],
                vec![json!("long key"), json!("x, y")],
            ],
        };
        let check = |format, want: &str| {
            assert_eq!(
                render(format, &listing).expect("renders"),
                want,
                "{format:?}"
            );
        };
        check(OutputFormat::Csv, "key,value\na,1\nlong key,\"x, y\"\n");
        check(
            OutputFormat::Json,
            "[\n  {\n    \"key\": \"a\",\n    \"value\": 1\n  },\n  {\n    \"key\": \"long key\",\n    \"value\": \"x, y\"\n  }\n]\n",
        );
        // JSON keys keep the order of the columns.
        assert_eq!(
            render(OutputFormat::Json, &reversed).expect("renders"),
            "[\n  {\n    \"value\": 1,\n    \"key\": \"a\"\n  }\n]\n"
        );
        let table = render(OutputFormat::Table, &listing).expect("renders");
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(
            lines[0].contains("KEY") && lines[0].contains("VALUE"),
            "{table}"
        );
        assert!(
            lines[2].contains("long key") && lines[2].ends_with("x, y"),
            "{table}"
        );
    }

    #[test]
    fn tables_escape_control_characters_and_csv_keeps_them() {
        let listing = Listing {
            columns: vec!["package", "status"],
            rows: vec![vec![json!("evil\n\u{1b}[2J"), json!("failed")]],
        };
        let table = render(OutputFormat::Table, &listing).expect("renders");
        assert_eq!(table.lines().count(), 2, "{table}");
        assert!(table.contains("evil\\n\\u{1b}[2J"), "{table}");
        let csv = render(OutputFormat::Csv, &listing).expect("renders");
        assert!(csv.contains("\"evil\n\u{1b}[2J\""), "{csv}");
    }
}
