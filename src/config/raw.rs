//! The raw side of configuration: each layer (a TOML file, the `KILN_*`
//! variables, the flags) read into an untyped tree whose every value
//! remembers its [`Source`] (file and line, variable, flag), and the merge of
//! the layers into one tree. Types and allowed keys are checked later, by
//! `validate`.
//!
//! Merge rule: tables merge key by key, recursively; arrays and scalars
//! (and a table meeting a non-table) are replaced by the later layer.

use std::collections::BTreeMap;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::error::Problem;
use super::source::{Environment, Layer, Source, ENV_PREFIX};

/// Why a key or string holding a NUL character is refused.
const NUL_MESSAGE: &str =
    "holds a NUL character, which can be neither recorded in the database nor passed on";

/// A value of the raw tree, with where it was set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub value: Value,
    pub source: Source,
    pub layer: Layer,
    /// For values from environment variables: the variable's text, used
    /// where a string is expected but the text parsed as another TOML value.
    pub raw: Option<String>,
}

/// An untyped TOML value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Item>),
    Table(Table),
}

pub(crate) type Table = BTreeMap<String, Item>;

impl Value {
    /// The TOML type's name, with an article, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Boolean(_) => "a boolean",
            Value::Datetime(_) => "a datetime",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

impl Item {
    /// An empty table set by `source`.
    pub fn table(source: Source, layer: Layer) -> Self {
        Item {
            value: Value::Table(Table::new()),
            source,
            layer,
            raw: None,
        }
    }
}

/// Line (1-based) and column (1-based, in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Parses one configuration file's text into a table. Every syntax error
/// is returned (with line and column), not only the first.
pub(crate) fn parse_file(path: &Path, text: &str, layer: Layer) -> Result<Table, Vec<Problem>> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Err(errors
            .iter()
            .map(|e| {
                let (line, column) = match e.span() {
                    Some(span) => {
                        let (l, c) = line_col(text, span.start);
                        (Some(l), Some(c))
                    }
                    None => (None, None),
                };
                Problem {
                    source: Source::File {
                        path: path.to_owned(),
                        line,
                    },
                    column,
                    key: None,
                    message: format!("syntax error: {}", e.message().trim_end()),
                }
            })
            .collect());
    }
    let conv = FileConverter { path, text, layer };
    let mut problems = Vec::new();
    let table = conv.table(doc.get_ref(), "", &mut problems);
    if problems.is_empty() {
        Ok(table)
    } else {
        Err(problems)
    }
}

struct FileConverter<'a> {
    path: &'a Path,
    text: &'a str,
    layer: Layer,
}

impl FileConverter<'_> {
    fn source(&self, span: std::ops::Range<usize>) -> Source {
        // Tables made implicitly by a dotted header have no span of their own.
        let line = (span.end > span.start).then(|| line_col(self.text, span.start).0);
        Source::File {
            path: self.path.to_owned(),
            line,
        }
    }

    fn table(&self, table: &DeTable<'_>, prefix: &str, problems: &mut Vec<Problem>) -> Table {
        let mut out = Table::new();
        for (key, value) in table.iter() {
            let path = join_key(prefix, key.get_ref());
            // The key's line is where a reader looks for the value.
            let mut item = self.item(value.get_ref(), value.span(), &path, problems);
            if key.span().end > key.span().start {
                item.source = self.source(key.span());
            }
            if key.get_ref().contains('\0') {
                problems.push(Problem::key(item.source.clone(), &path, NUL_MESSAGE));
            }
            out.insert(key.get_ref().to_string(), item);
        }
        out
    }

    fn item(
        &self,
        value: &DeValue<'_>,
        span: std::ops::Range<usize>,
        path: &str,
        problems: &mut Vec<Problem>,
    ) -> Item {
        let source = self.source(span);
        let value = match value {
            DeValue::String(s) => {
                if s.contains('\0') {
                    problems.push(Problem::key(source.clone(), path, NUL_MESSAGE));
                }
                Value::String(s.to_string())
            }
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Value::Integer(n),
                Err(_) => {
                    problems.push(Problem::key(source.clone(), path, "integer out of range"));
                    Value::Integer(0)
                }
            },
            DeValue::Float(x) => Value::Float(x.as_str().parse().unwrap_or(f64::NAN)),
            DeValue::Boolean(b) => Value::Boolean(*b),
            DeValue::Datetime(d) => Value::Datetime(d.to_string()),
            DeValue::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        self.item(v.get_ref(), v.span(), &format!("{path}[{i}]"), problems)
                    })
                    .collect(),
            ),
            DeValue::Table(t) => Value::Table(self.table(t, path, problems)),
        };
        Item {
            value,
            source,
            layer: self.layer,
            raw: None,
        }
    }
}

/// `prefix.key`, or `key` at the top.
pub(crate) fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The value of an environment variable: a TOML value when the text parses
/// as one (number, boolean, array, inline table, quoted string), else the
/// text as a string.
pub(crate) fn parse_env_value(name: &str, text: &str) -> Item {
    let source = Source::Env(name.to_owned());
    let value = match DeValue::parse(text) {
        Ok(v) => {
            let conv = FileConverter {
                path: Path::new(name),
                text,
                layer: Layer::Env,
            };
            let mut problems = Vec::new();
            let item = conv.item(v.get_ref(), v.span(), "", &mut problems);
            if problems.is_empty() {
                restamp(item, &source).value
            } else {
                Value::String(text.to_owned())
            }
        }
        Err(_) => Value::String(text.to_owned()),
    };
    Item {
        value,
        source,
        layer: Layer::Env,
        raw: Some(text.to_owned()),
    }
}

/// Gives every item of a tree the same source (an environment variable).
fn restamp(mut item: Item, source: &Source) -> Item {
    item.source = source.clone();
    item.value = match item.value {
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|i| restamp(i, source)).collect())
        }
        Value::Table(t) => Value::Table(
            t.into_iter()
                .map(|(k, v)| (k, restamp(v, source)))
                .collect(),
        ),
        other => other,
    };
    item
}

/// The key path a `KILN_*` variable names: the rest of its name split at
/// `__`, lower-cased. `None` when a segment is empty.
pub(crate) fn env_key_path(name: &str) -> Option<Vec<String>> {
    let rest = name.strip_prefix(ENV_PREFIX)?;
    let segments: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    if segments.iter().any(String::is_empty) {
        return None;
    }
    Some(segments)
}

/// Merges `over` into `base`: tables key by key, anything else replaced.
pub(crate) fn merge(base: &mut Table, over: Table) {
    for (key, item) in over {
        match base.get_mut(&key) {
            Some(existing) => merge_item(existing, item),
            None => {
                base.insert(key, item);
            }
        }
    }
}

fn merge_item(base: &mut Item, over: Item) {
    match (&mut base.value, over.value) {
        (Value::Table(b), Value::Table(o)) => merge(b, o),
        (_, value) => {
            *base = Item { value, ..over };
        }
    }
}

/// Sets `path` to `item` in `root`, creating tables on the way. A segment
/// matches an existing key regardless of case (so that variables, whose
/// names are upper-case, reach mixed-case endpoint names). A non-table met
/// on the way is replaced by a table.
pub(crate) fn set_path(root: &mut Table, path: &[String], item: Item) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut table = root;
    for segment in parents {
        let key = existing_key(table, segment);
        let entry = table
            .entry(key)
            .or_insert_with(|| Item::table(item.source.clone(), item.layer));
        if !matches!(entry.value, Value::Table(_)) {
            *entry = Item::table(item.source.clone(), item.layer);
        }
        let Value::Table(next) = &mut entry.value else {
            return;
        };
        table = next;
    }
    let key = existing_key(table, last);
    match table.get_mut(&key) {
        Some(existing) => merge_item(existing, item),
        None => {
            table.insert(key, item);
        }
    }
}

fn existing_key(table: &Table, segment: &str) -> String {
    table
        .keys()
        .find(|k| k.eq_ignore_ascii_case(segment))
        .cloned()
        .unwrap_or_else(|| segment.to_owned())
}

/// Applies every `KILN_*` variable of `env` to `root`, in name order.
/// Variables whose names make no key path are returned, to be warned about.
pub(crate) fn apply_env(root: &mut Table, env: &Environment) -> Vec<String> {
    let mut malformed = Vec::new();
    for (name, text) in env.config_vars() {
        match env_key_path(name) {
            Some(path) => set_path(root, &path, parse_env_value(name, text)),
            None => malformed.push(name.to_owned()),
        }
    }
    malformed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Table {
        parse_file(Path::new("/r/config.toml"), text, Layer::RepoFile).expect("valid TOML")
    }

    fn get<'a>(table: &'a Table, path: &str) -> &'a Item {
        let mut parts = path.split('.');
        let first = parts.next().expect("a key");
        let mut item = table.get(first).unwrap_or_else(|| panic!("no {first}"));
        for part in parts {
            let Value::Table(t) = &item.value else {
                panic!("{path}: not a table at {part}")
            };
            item = t.get(part).unwrap_or_else(|| panic!("no {part} in {path}"));
        }
        item
    }

    fn line(item: &Item) -> Option<usize> {
        match &item.source {
            Source::File { line, .. } => *line,
            _ => None,
        }
    }

    #[test]
    fn line_col_counts_from_one() {
        let cases = [
            ("abc", 0, (1, 1)),
            ("abc", 2, (1, 3)),
            ("a\nbc", 3, (2, 2)),
            ("a\n", 99, (2, 1)),
        ];
        for (text, offset, want) in cases {
            assert_eq!(line_col(text, offset), want, "{text:?} at {offset}");
        }
    }

    #[test]
    fn file_values_carry_their_lines() {
        let t = parse(
            "compatibility = 1\n\n[docker]\nimages = [ { name = \"a\" } ]\n\n[docker.endpoints.one]\nuri = \"unix:///s\"\nmaxjobs = 0x10\n",
        );
        let cases = [
            ("compatibility", Some(1)),
            ("docker.images", Some(4)),
            ("docker.endpoints.one.uri", Some(7)),
            ("docker.endpoints.one.maxjobs", Some(8)),
        ];
        for (path, want) in cases {
            assert_eq!(line(get(&t, path)), want, "{path}");
        }
        assert_eq!(
            get(&t, "docker.endpoints.one.maxjobs").value,
            Value::Integer(16)
        );
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let cases = [
            ("a = 1\nb = \n", 2),
            ("a = 1\n[x\n", 2),
            ("a = 1\na = 2\n", 2),
            ("\n\nname = \"unterminated\n", 3),
        ];
        for (text, want_line) in cases {
            let problems =
                parse_file(Path::new("/r/c.toml"), text, Layer::RepoFile).expect_err(text);
            let first = &problems[0];
            assert!(
                matches!(first.source, Source::File { line: Some(l), .. } if l == want_line),
                "{text:?}: {first}"
            );
            assert!(first.column.is_some(), "{text:?}: {first}");
            assert!(
                first
                    .to_string()
                    .starts_with(&format!("/r/c.toml:{want_line}:")),
                "{first}"
            );
        }
    }

    #[test]
    fn env_values_parse_as_toml_else_string() {
        let cases = [
            ("4", Value::Integer(4)),
            ("true", Value::Boolean(true)),
            ("1.5", Value::Float(1.5)),
            ("\"quoted\"", Value::String("quoted".into())),
            (
                "unix:///var/run/docker.sock",
                Value::String("unix:///var/run/docker.sock".into()),
            ),
            ("#!/bin/sh", Value::String("#!/bin/sh".into())),
            ("", Value::String(String::new())),
            ("hello world", Value::String("hello world".into())),
        ];
        for (text, want) in cases {
            let item = parse_env_value("KILN_X", text);
            assert_eq!(item.value, want, "{text:?}");
            assert_eq!(item.source, Source::Env("KILN_X".into()));
            assert_eq!(item.raw.as_deref(), Some(text));
        }
        let arr = parse_env_value("KILN_A", "[\"a\", \"b\"]");
        let Value::Array(items) = arr.value else {
            panic!("not an array")
        };
        assert_eq!(items.len(), 2);
        assert!(items
            .iter()
            .all(|i| i.source == Source::Env("KILN_A".into())));
    }

    #[test]
    fn env_names_map_to_key_paths() {
        let cases: [(&str, Option<&[&str]>); 6] = [
            ("KILN_SHEBANG", Some(&["shebang"])),
            ("KILN_DATABASE_URL", Some(&["database_url"])),
            (
                "KILN_DOCKER__ENDPOINTS__LOCAL__MAXJOBS",
                Some(&["docker", "endpoints", "local", "maxjobs"]),
            ),
            ("KILN_", None),
            ("KILN_DOCKER____X", None),
            ("OTHER", None),
        ];
        for (name, want) in cases {
            let got = env_key_path(name);
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn merge_rules() {
        // (base, over, key, expected value of key as TOML text)
        let cases = [
            // scalars replace
            ("a = 1", "a = 2", "a", "2"),
            // arrays replace, not append
            ("a = [1, 2]", "a = [3]", "a", "[3]"),
            // tables merge key by key
            ("[t]\nx = 1\ny = 2", "[t]\ny = 3", "t", "{x=1,y=3}"),
            // recursively
            ("[t.u]\nx = 1\ny = 2", "[t.u]\nx = 5", "t", "{u={x=5,y=2}}"),
            // a table replaces a scalar and the reverse
            ("t = 1", "[t]\nx = 1", "t", "{x=1}"),
            ("[t]\nx = 1", "t = 2", "t", "2"),
            // untouched keys stay
            ("a = 1\nb = 2", "a = 3", "b", "2"),
        ];
        for (base, over, key, want) in cases {
            let mut b = parse(base);
            merge(&mut b, parse(over));
            assert_eq!(render(&get(&b, key).value), want, "{base:?} + {over:?}");
        }
    }

    fn render(v: &Value) -> String {
        match v {
            Value::Integer(n) => n.to_string(),
            Value::Array(items) => {
                format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|i| render(&i.value))
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
            Value::Table(t) => format!(
                "{{{}}}",
                t.iter()
                    .map(|(k, i)| format!("{k}={}", render(&i.value)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn merged_values_keep_the_later_source() {
        let mut b = parse("a = 1\n[t]\nx = 1");
        let over =
            parse_file(Path::new("/u/config.toml"), "\n\na = 2", Layer::UserFile).expect("valid");
        merge(&mut b, over);
        assert_eq!(
            get(&b, "a").source,
            Source::File {
                path: "/u/config.toml".into(),
                line: Some(3)
            }
        );
        assert_eq!(get(&b, "a").layer, Layer::UserFile);
        assert_eq!(line(get(&b, "t.x")), Some(3));
    }

    #[test]
    fn env_paths_match_existing_keys_regardless_of_case() {
        let mut root = parse("[docker.endpoints.Build1]\nuri = \"unix:///s\"\nmaxjobs = 1");
        let env = Environment::from_pairs(
            [
                ("KILN_DOCKER__ENDPOINTS__BUILD1__MAXJOBS", "4"),
                ("KILN_DOCKER__ENDPOINTS__LOCAL__MAXJOBS", "2"),
                ("KILN_BAD____NAME", "x"),
                ("KILN_LOG", "debug"),
            ],
            "/",
        );
        let malformed = apply_env(&mut root, &env);
        assert_eq!(malformed, ["KILN_BAD____NAME"]);
        let m = get(&root, "docker.endpoints.Build1.maxjobs");
        assert_eq!(m.value, Value::Integer(4));
        assert_eq!(
            m.source,
            Source::Env("KILN_DOCKER__ENDPOINTS__BUILD1__MAXJOBS".into())
        );
        assert_eq!(
            get(&root, "docker.endpoints.Build1.uri").value,
            Value::String("unix:///s".into())
        );
        assert_eq!(
            get(&root, "docker.endpoints.local.maxjobs").value,
            Value::Integer(2)
        );
        assert!(!root.contains_key("log"));
    }
}
