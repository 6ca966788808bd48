//! The values a user gives to listing filters, parsed and validated before
//! any query runs: package specs (`NAME[@VERSION]`), `K=V` variables, UUID
//! and hash prefixes, points in time (`2h`, `3 days`, a date, a date-time).
//!
//! Pure code: no database, no clock (the caller passes "now"). Every error
//! here is the user's to fix, so [`FilterError`] is an input error (exit 2).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use uuid::Uuid;

use crate::error::escape_controls;

/// A filter value the user must fix, or a UUID prefix that names no record
/// or more than one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("invalid package `{}`: expected NAME or NAME@VERSION", escape_controls(.0))]
    Package(String),
    /// Why a `NAME=VALUE` filter was refused (the rule of `-E`).
    #[error("invalid variable: {0}")]
    EnvVar(String),
    #[error("invalid {what} prefix `{}`: expected hexadecimal digits{dashes}", escape_controls(.given))]
    Prefix {
        what: &'static str,
        given: String,
        dashes: &'static str,
    },
    #[error(
        "invalid time `{0}`: expected a duration such as `2h` or `3 days`, a date such as \
         `2026-01-31`, or a date-time such as `2026-01-31T12:00:00Z`"
    )]
    Time(String),
    #[error(
        "time `{0}` is out of range: a duration back from now may be at most \
         {MAX_AGO_YEARS} years, and a date may be no earlier than 4713 BC"
    )]
    TimeRange(String),
    #[error("the limit must be a non-negative number of rows (0 for all), not `{0}`")]
    Limit(String),
    #[error("no {what} has a UUID starting with `{prefix}`")]
    NotFound { what: &'static str, prefix: String },
    #[error("the UUID prefix `{prefix}` is ambiguous; it matches these {what}s:\n{}{more}",
        .candidates.iter().map(|u| format!("  {u}\n")).collect::<String>(),
        more = if *.truncated { "  ...\n" } else { "" })]
    Ambiguous {
        what: &'static str,
        prefix: String,
        candidates: Vec<Uuid>,
        truncated: bool,
    },
    #[error("unknown {what} `{}`; known values: {known}", escape_controls(.given))]
    Unknown {
        what: &'static str,
        given: String,
        known: String,
    },
    /// No artifact has the path (made by the job, with the SHA-256 prefix).
    #[error("{}", no_artifact(.path, .job, .sha256.as_deref(), *.job_prefix))]
    NoArtifact {
        path: String,
        /// The job given with `--job`.
        job: Option<Uuid>,
        /// The SHA-256 prefix given with `--sha256`.
        sha256: Option<String>,
        /// Whether the path could also have been a job's UUID prefix.
        job_prefix: bool,
    },
    /// Several artifacts have the path: the user must choose one.
    #[error("the path `{}` names several artifacts; choose one with --job UUID or --sha256 PREFIX:\n{}{more}",
        escape_controls(.path),
        .candidates.iter().map(|c| format!("  {c}\n")).collect::<String>(),
        more = if *.truncated { "  ...\n" } else { "" })]
    AmbiguousArtifact {
        path: String,
        candidates: Vec<ArtifactCandidate>,
        truncated: bool,
    },
}

/// One of several artifacts a path names, as an ambiguity lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactCandidate {
    /// The job that made it.
    pub job: Uuid,
    pub package: String,
    pub version: String,
    pub sha256: String,
}

impl fmt::Display for ArtifactCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--job {}  {}@{}  --sha256 {}",
            self.job,
            escape_controls(&self.package),
            escape_controls(&self.version),
            &self.sha256[..self.sha256.len().min(12)]
        )
    }
}

/// Why no artifact was found, naming what was given.
fn no_artifact(path: &str, job: &Option<Uuid>, sha256: Option<&str>, job_prefix: bool) -> String {
    let path = escape_controls(path);
    let mut text = match job {
        Some(job) => format!("job {job} made no artifact `{path}`"),
        None if job_prefix => {
            format!("no job has a UUID starting with `{path}`, and no artifact has that path")
        }
        None => format!("no artifact has the path `{path}`"),
    };
    if let Some(prefix) = sha256 {
        text.push_str(&format!(" with a SHA-256 starting with `{prefix}`"));
    }
    text
}

/// `NAME` or `NAME@VERSION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSpec {
    pub name: String,
    pub version: Option<String>,
}

impl FromStr for PackageSpec {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || FilterError::Package(s.to_owned());
        let (name, version) = match s.split_once('@') {
            Some((name, version)) if !version.is_empty() => (name, Some(version.to_owned())),
            Some(_) => return Err(bad()),
            None => (s, None),
        };
        if !is_package_name(name) {
            return Err(bad());
        }
        Ok(PackageSpec {
            name: name.to_owned(),
            version,
        })
    }
}

impl fmt::Display for PackageSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The rule of the `packages.name` column: `^[A-Za-z0-9][A-Za-z0-9._+-]*$`.
fn is_package_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
}

/// `NAME=VALUE` (the value may be empty and may hold `=`), by the rule of
/// `-E` ([`crate::package::parse_env_assignment`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvPair {
    pub name: String,
    pub value: String,
}

impl FromStr for EnvPair {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, value) = crate::package::parse_env_assignment(s).map_err(FilterError::EnvVar)?;
        Ok(EnvPair { name, value })
    }
}

/// The start of a UUID as typed by a user, in the canonical lower-case,
/// dashed text form that PostgreSQL's `uuid::text` produces (so that a
/// `LIKE 'prefix%'` is served by a `text_pattern_ops` index). Dashes may be
/// left out when typing: `3f2a1b2c4d` means `3f2a1b2c-4d`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UuidPrefix(String);

impl UuidPrefix {
    /// The prefix in canonical text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The whole UUID, when all 32 digits were given.
    pub fn full(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.0).ok().filter(|_| self.0.len() == 36)
    }

    /// A `LIKE` pattern matching every UUID with this prefix (the prefix
    /// holds only hex digits and dashes, which `LIKE` takes literally).
    pub fn like_pattern(&self) -> String {
        format!("{}%", self.0)
    }
}

impl FromStr for UuidPrefix {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || FilterError::Prefix {
            what: "UUID",
            given: s.to_owned(),
            dashes: " and dashes",
        };
        let digits: String = s.chars().filter(|c| *c != '-').collect();
        if digits.is_empty() || digits.len() > 32 || !digits.chars().all(|c| c.is_ascii_hexdigit())
        {
            return Err(bad());
        }
        // A dash typed where the canonical form has none would never match.
        for (i, c) in s.char_indices() {
            let before = s[..i].chars().filter(|c| *c != '-').count();
            if c == '-' && ![8, 12, 16, 20].contains(&before) {
                return Err(bad());
            }
        }
        let mut canonical = String::with_capacity(36);
        for (i, c) in digits.chars().enumerate() {
            if [8, 12, 16, 20].contains(&i) {
                canonical.push('-');
            }
            canonical.push(c.to_ascii_lowercase());
        }
        Ok(UuidPrefix(canonical))
    }
}

/// The start of a hexadecimal digest (a git commit hash, a SHA-256), lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexPrefix(String);

impl HexPrefix {
    /// Parses a prefix of at most `max` hex digits; `what` names it in errors.
    pub fn parse(s: &str, what: &'static str, max: usize) -> Result<Self, FilterError> {
        if s.is_empty() || s.len() > max || !s.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(FilterError::Prefix {
                what,
                given: s.to_owned(),
                dashes: "",
            });
        }
        Ok(HexPrefix(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A `LIKE` pattern for every value with this prefix.
    pub fn like_pattern(&self) -> String {
        format!("{}%", self.0)
    }
}

/// `--limit N`: a number of rows, 0 for all.
pub fn parse_limit(s: &str) -> Result<u32, FilterError> {
    s.trim()
        .parse::<u32>()
        .map_err(|_| FilterError::Limit(escape_controls(s).into_owned()))
}

/// The longest duration back from now a time filter takes: from any day
/// after this one, it stays within the times PostgreSQL can hold (from
/// 4713 BC on), and no record is that old.
pub const MAX_AGO_YEARS: u64 = 1000;

// A year of 365.25 days, as `humantime` counts `1 year`.
const MAX_AGO: Duration = Duration::from_secs(MAX_AGO_YEARS * 31_557_600);

/// The earliest point in time PostgreSQL's `timestamptz` holds: 4713-11-24 BC.
fn earliest_record_time() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(-4712, 11, 24)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MIN_UTC, |t| Utc.from_utc_datetime(&t))
}

/// A point in time as typed: a duration back from now (at most
/// [`MAX_AGO_YEARS`] years), or a date or date-time (taken as UTC when it
/// names no offset) no earlier than PostgreSQL's earliest time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSpec {
    Ago(Duration),
    At(DateTime<Utc>),
}

impl TimeSpec {
    /// The point in time, counting a duration back from `now`; never
    /// earlier than the earliest time PostgreSQL holds.
    pub fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let t = match self {
            TimeSpec::At(t) => Some(t),
            TimeSpec::Ago(d) => chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| now.checked_sub_signed(d)),
        };
        t.unwrap_or(DateTime::<Utc>::MIN_UTC)
            .max(earliest_record_time())
    }

    /// The same spec, refused when it lies outside the times a record can have.
    fn in_range(self, given: &str) -> Result<Self, FilterError> {
        let fits = match self {
            TimeSpec::Ago(d) => d <= MAX_AGO,
            TimeSpec::At(t) => t >= earliest_record_time(),
        };
        if fits {
            Ok(self)
        } else {
            Err(FilterError::TimeRange(escape_controls(given).into_owned()))
        }
    }
}

impl FromStr for TimeSpec {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        parse_time(s)
            .ok_or_else(|| FilterError::Time(escape_controls(s).into_owned()))?
            .in_range(s)
    }
}

/// A duration, a date-time or a date, in that order of trying.
fn parse_time(s: &str) -> Option<TimeSpec> {
    if let Ok(d) = humantime::parse_duration(s) {
        return Some(TimeSpec::Ago(d));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(TimeSpec::At(t.with_timezone(&Utc)));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(TimeSpec::At(Utc.from_utc_datetime(&t)));
        }
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    day.and_hms_opt(0, 0, 0)
        .map(|t| TimeSpec::At(Utc.from_utc_datetime(&t)))
}

/// The statuses as the database holds them (one definition, in the models).
pub use crate::db::models::{JobStatus, SubmitStatus};

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: FromStr<Err = FilterError> + PartialEq + fmt::Debug>(cases: &[(&str, Option<T>)]) {
        for (input, expected) in cases {
            let got = input.parse::<T>().ok();
            assert_eq!(&got, expected, "parsing `{input}`");
        }
    }

    #[test]
    fn package_specs() {
        let spec = |n: &str, v: Option<&str>| {
            Some(PackageSpec {
                name: n.into(),
                version: v.map(Into::into),
            })
        };
        check(&[
            ("openssl", spec("openssl", None)),
            ("openssl@3.0.1", spec("openssl", Some("3.0.1"))),
            ("g++@12", spec("g++", Some("12"))),
            ("lib.x_y-z@1@2", spec("lib.x_y-z", Some("1@2"))),
            ("openssl@", None),
            ("@1.0", None),
            ("-x", None),
            ("a b", None),
            ("", None),
        ]);
    }

    #[test]
    fn env_pairs() {
        let pair = |n: &str, v: &str| {
            Some(EnvPair {
                name: n.into(),
                value: v.into(),
            })
        };
        check(&[
            ("CC=gcc", pair("CC", "gcc")),
            ("_X=", pair("_X", "")),
            ("FLAGS=-O2 -g=1", pair("FLAGS", "-O2 -g=1")),
            ("1X=a", None),
            ("NOVALUE", None),
            ("=a", None),
            ("A-B=c", None),
            ("A=b\0", None),
        ]);
    }

    #[test]
    fn uuid_prefixes() {
        let p = |s: &str| Some(UuidPrefix(s.into()));
        check(&[
            ("3F2A", p("3f2a")),
            ("3f2a1b2c", p("3f2a1b2c")),
            ("3f2a1b2c4d", p("3f2a1b2c-4d")),
            ("3f2a1b2c-4d", p("3f2a1b2c-4d")),
            (
                "3f2a1b2c4d5e6f708192a3b4c5d6e7f8",
                p("3f2a1b2c-4d5e-6f70-8192-a3b4c5d6e7f8"),
            ),
            ("3f2a-1b", None),
            ("xyz", None),
            ("", None),
            ("-", None),
            ("3f2a1b2c4d5e6f708192a3b4c5d6e7f8a", None),
        ]);
        let full: UuidPrefix = "3f2a1b2c-4d5e-6f70-8192-a3b4c5d6e7f8"
            .parse()
            .expect("valid");
        assert!(full.full().is_some());
        let part: UuidPrefix = "3f2a1b2c".parse().expect("valid");
        assert_eq!(part.full(), None);
        assert_eq!(part.like_pattern(), "3f2a1b2c%");
    }

    #[test]
    fn hex_prefixes() {
        let cases: &[(&str, usize, Option<&str>)] = &[
            ("ABC123", 40, Some("abc123")),
            ("abc", 2, None),
            ("", 40, None),
            ("g00d", 40, None),
        ];
        for (input, max, expected) in cases {
            let got = HexPrefix::parse(input, "commit", *max).ok();
            assert_eq!(
                got.as_ref().map(HexPrefix::as_str),
                *expected,
                "parsing `{input}`"
            );
        }
    }

    #[test]
    fn time_specs() {
        let at = |s: &str| {
            Some(TimeSpec::At(
                DateTime::parse_from_rfc3339(s)
                    .expect("valid")
                    .with_timezone(&Utc),
            ))
        };
        check(&[
            ("2h", Some(TimeSpec::Ago(Duration::from_secs(7200)))),
            (
                "3 days",
                Some(TimeSpec::Ago(Duration::from_secs(3 * 86400))),
            ),
            (
                "1week 2d",
                Some(TimeSpec::Ago(Duration::from_secs(9 * 86400))),
            ),
            ("2026-01-31", at("2026-01-31T00:00:00Z")),
            ("2026-01-31 12:30", at("2026-01-31T12:30:00Z")),
            ("2026-01-31T12:30:15", at("2026-01-31T12:30:15Z")),
            ("2026-01-31T12:30:15+02:00", at("2026-01-31T10:30:15Z")),
            ("yesterday", None),
            ("2026-13-01", None),
            ("", None),
        ]);
    }

    #[test]
    fn times_out_of_range_are_refused() {
        for input in [
            "99999999999999d",
            "9999999999999s",
            "1001 years",
            "-5000-01-01",
            "-4712-11-23T23:59:59",
        ] {
            assert_eq!(
                input.parse::<TimeSpec>(),
                Err(FilterError::TimeRange(input.into())),
                "{input}"
            );
        }
        for input in ["1000 years", "-4712-11-24", "+200000-01-01"] {
            assert!(input.parse::<TimeSpec>().is_ok(), "{input}");
        }
        let err = "2h\u{1b}".parse::<TimeSpec>().expect_err("refused");
        assert!(
            err.to_string().starts_with("invalid time `2h\\u{1b}`"),
            "{err}"
        );
    }

    #[test]
    fn limits() {
        for (input, expected) in [
            ("0", Ok(0)),
            ("10", Ok(10)),
            ("4294967295", Ok(u32::MAX)),
            ("-1", Err(FilterError::Limit("-1".into()))),
            ("4294967296", Err(FilterError::Limit("4294967296".into()))),
            ("ten", Err(FilterError::Limit("ten".into()))),
            ("", Err(FilterError::Limit(String::new()))),
        ] {
            assert_eq!(parse_limit(input), expected, "{input:?}");
        }
    }

    #[test]
    fn time_spec_resolution() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        let cases = [
            (
                TimeSpec::Ago(Duration::from_secs(3600)),
                "2026-11-22T11:00:00+00:00",
            ),
            (TimeSpec::At(now), "2026-11-22T12:00:00+00:00"),
            (
                TimeSpec::Ago(Duration::from_secs(u64::MAX)),
                "-4712-11-24T00:00:00+00:00",
            ),
            (
                TimeSpec::Ago(Duration::from_secs(9_999_999_999_999)),
                "-4712-11-24T00:00:00+00:00",
            ),
        ];
        for (spec, expected) in cases {
            assert_eq!(spec.resolve(now).to_rfc3339(), expected, "{spec:?}");
        }
    }

    #[test]
    fn ambiguous_message_lists_candidates() {
        let err = FilterError::Ambiguous {
            what: "job",
            prefix: "3f".into(),
            candidates: vec![Uuid::nil()],
            truncated: true,
        };
        let msg = err.to_string();
        assert!(
            msg.contains("00000000-0000-0000-0000-000000000000"),
            "{msg}"
        );
        assert!(msg.contains("..."), "{msg}");
    }
}
