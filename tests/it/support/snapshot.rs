//! Snapshots of what users read (`insta`): `assert_snapshot!(name, text)`
//! checks `text` against `tests/it/snapshots/it__<module>__<name>.snap`
//! after replacing what varies between runs and machines.
//!
//! [`scrub`] replaces, keeping a table's columns where it can (a value
//! followed by spaces is replaced together with them, by a token padded to
//! the same width):
//! - UUIDs by `[uuid-N]`, numbered in order of appearance, and the 8-digit
//!   short ids of the same UUIDs (or followed by `…`, or in parentheses) by
//!   the same token, so
//!   that a snapshot still shows which job is which. The UUIDs tests write
//!   into their records themselves (`XXXXXXXX-0000-4000-8000-0000000000NN`)
//!   stay as they are;
//! - image and file digests (`sha256:<64 hex>`, 64 hex digits), commits and
//!   other 40-digit hashes, short container ids (`container [id]`);
//! - RFC 3339 times, table times (`2026-11-22 03:14`), `HH:MM:SS` stamps;
//! - durations (`850ms`, `12.3s`, `4m05s`, `2h03m`, `3d04h`) by `[dur]`;
//! - paths in a test's sandbox (`/tmp/kiln-it-XXXXXX/...`: `[SANDBOX]/...`),
//!   and, first of all, this source tree (`[KILN_SRC]`) and kiln's version
//!   and commit (`[VERSION]`).
//!
//! [`settings`] adds insta filters for what needs no width: the ports of
//! the tests' fake servers (`127.0.0.1:[port]`), the random names of
//! kiln's temporary files (`.kiln-part-[random]`), and who set a recorded
//! status (`by kiln [VERSION] [user]@[host] pid [pid]`).
//!
//! Tables are laid out without `$COLUMNS` (the sandbox removes it), so at
//! the width they need.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Checks a text against its snapshot, scrubbed and filtered.
macro_rules! assert_snapshot {
    ($name:expr, $text:expr $(,)?) => {{
        let scrubbed = $crate::support::snapshot::scrub(&$text);
        $crate::support::snapshot::settings().bind(|| {
            insta::assert_snapshot!($name, scrubbed);
        });
    }};
}
pub(crate) use assert_snapshot;

/// The insta settings of kiln's snapshots: the filters of what differs
/// between runs that [`scrub`] leaves, no expression in the header.
pub fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_omit_expression(true);
    settings.set_prepend_module_to_snapshot(true);
    settings.add_filter(r"\.kiln-part-[A-Za-z0-9]{6}\b", ".kiln-part-[random]");
    settings.add_filter(
        r"by kiln \[VERSION\] \S+@\S+ pid \d+",
        "by kiln [VERSION] [user]@[host] pid [pid]",
    );
    settings.add_filter(r"\b127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    settings
}

/// One run of kiln as a snapshot shows it: the command line (`args`, after
/// `kiln`), the exit code, then stdout and stderr when they are not empty,
/// and a blank line.
pub fn session(args: &[&str], code: i32, stdout: &str, stderr: &str) -> String {
    let mut text = format!("$ kiln {}\nexit: {code}\n", args.join(" "));
    for (name, output) in [("stdout", stdout), ("stderr", stderr)] {
        if !output.is_empty() {
            text.push_str(&format!("--- {name}\n{output}"));
            if !output.ends_with('\n') {
                text.push('\n');
            }
        }
    }
    text.push('\n');
    text
}

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b( *)")
        .expect("regex")
});
static SHORT_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\(?)\b([0-9a-f]{8})\b(…|\)?)( *)").expect("regex"));
static FIXTURE_UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[0-9a-f]{8}-0000-4000-8000-0000000000[0-9a-f]{2} *$").expect("regex")
});

/// What varies and what replaces it (`$1` and so on: the value's groups),
/// in the order they are replaced.
static VARYING: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"(?:/[^\s/'`]+)*/kiln-it-[A-Za-z0-9]{6}([^\s'`]*)",
            "[SANDBOX]$1",
        ),
        (r"sha256:[0-9a-f]{64}\b", "sha256:[digest]"),
        (r"\b[0-9a-f]{64}\b", "[sha256]"),
        (r"\b[0-9a-f]{40}\b", "[commit]"),
        (r"\bcontainer [0-9a-f]{12}\b", "container [id]"),
        (
            r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)",
            "[rfc3339]",
        ),
        (r"\b\d{4}-\d\d-\d\d \d\d:\d\d\b", "YYYY-MM-DD HH:MM"),
        (r"\b\d\d:\d\d:\d\d\b", "HH:MM:SS"),
        (
            r"\b(?:\d{1,3}ms|\d{1,2}(?:\.\d)?s|\d{1,2}m\d\ds|\d{1,2}h\d\dm|\d{1,5}d\d\dh)\b",
            "[dur]",
        ),
    ]
    .into_iter()
    .map(|(re, token)| (Regex::new(&format!("{re}( *)")).expect("regex"), token))
    .collect()
});

/// `text` with what varies between runs replaced (see the module's doc).
pub fn scrub(text: &str) -> String {
    let text = text
        .replace(kiln::VERSION, "[VERSION]")
        .replace(env!("CARGO_MANIFEST_DIR"), "[KILN_SRC]");
    let mut text = number_uuids(&text);
    for (re, template) in VARYING.iter() {
        text = re
            .replace_all(&text, |c: &Captures| {
                let mut token = String::new();
                c.expand(template, &mut token);
                let spaces = c.get(c.len() - 1).map_or("", |m| m.as_str());
                padded(&token, &c[0], spaces)
            })
            .into_owned();
    }
    text
}

/// Full and short UUIDs replaced by `[uuid-N]`, N counted from 1 in order
/// of appearance; fixture UUIDs kept.
fn number_uuids(text: &str) -> String {
    let mut numbers: HashMap<String, usize> = HashMap::new();
    let mut number_of = |prefix: &str| {
        let next = numbers.len() + 1;
        *numbers.entry(prefix.to_owned()).or_insert(next)
    };
    let full: Vec<String> = UUID
        .captures_iter(text)
        .filter(|c| !FIXTURE_UUID.is_match(&c[0]))
        .map(|c| c[1].to_owned())
        .collect();
    let fixtures: Vec<String> = UUID
        .captures_iter(text)
        .filter(|c| FIXTURE_UUID.is_match(&c[0]))
        .map(|c| c[1].to_owned())
        .collect();
    let text = UUID.replace_all(text, |c: &Captures| {
        if FIXTURE_UUID.is_match(&c[0]) {
            return c[0].to_owned();
        }
        let token = format!("[uuid-{}]", number_of(&c[1]));
        padded(&token, &c[0], &c[2])
    });
    SHORT_ID
        .replace_all(&text, |c: &Captures| {
            let (open, id, close) = (&c[1], &c[2], &c[3]);
            let known = full.iter().any(|p| p == id);
            let fixture = fixtures.iter().any(|p| p == id);
            let in_parentheses = open == "(" && close == ")";
            if fixture || !(known || close == "…" || in_parentheses) {
                return c[0].to_owned();
            }
            let token = format!("{open}[uuid-{}]{close}", number_of(id));
            padded(&token, &c[0], &c[4])
        })
        .into_owned()
}

/// `token` in place of `matched` (a value and the `spaces` after it): in
/// a table's column (two spaces or more after the value) as wide as
/// `matched` when the token fits, else followed by the same spaces.
fn padded(token: &str, matched: &str, spaces: &str) -> String {
    if spaces.len() < 2 {
        return format!("{token}{spaces}");
    }
    let width = matched.chars().count().max(token.chars().count() + 2);
    format!("{token:<width$}")
}

#[test]
fn scrub_numbers_ids_and_keeps_columns() {
    let text = " JOB                                   TOOK   AT
 0f0e0d0c-1111-4222-8333-944445555666  0.3s   2026-11-22 03:14
 aaaaaaaa-0000-4000-8000-000000000001  12.5s  2026-11-22 03:15
job 0f0e0d0c… of submit 9a9b9c9d-1111-4222-8333-944445555666 at 03:14:15 took 4m05s
a 1 (9a9b9c9d) and 12345678 bytes
";
    let expected = " JOB                                   TOOK   AT
 [uuid-1]                              [dur]  YYYY-MM-DD HH:MM
 aaaaaaaa-0000-4000-8000-000000000001  [dur]  YYYY-MM-DD HH:MM
job [uuid-1]… of submit [uuid-2] at HH:MM:SS took [dur]
a 1 ([uuid-2]) and 12345678 bytes
";
    assert_eq!(scrub(text), expected);
}
