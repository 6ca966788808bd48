//! Package names and versions: validated newtypes, and the ordering kiln uses
//! to pick "the highest version" when a command is given a name alone.
//!
//! A version is identified by its exact string (`1.0` and `1.00` are two
//! versions); [`PackageVersion::cmp_release`] only orders them for choosing.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;

use serde::Serialize;

use crate::error::escape_controls;

/// Why a name or version string was refused. The refused text is shown
/// with its control characters escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("package name `{}` is not valid: it must match [A-Za-z0-9][A-Za-z0-9._+-]*", escape_controls(.0))]
    Name(String),
    #[error(
        "version `{}` is not valid: it must start with a digit and hold no whitespace, \
         `/`, `\\` or control character", escape_controls(.0)
    )]
    Version(String),
}

/// A package name: `[A-Za-z0-9][A-Za-z0-9._+-]*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PackageName(String);

impl PackageName {
    pub fn new(s: &str) -> Result<Self, NameError> {
        if is_valid_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError::Name(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_valid_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
}

impl Borrow<str> for PackageName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A package version: starts with a digit, holds no whitespace, no path
/// separator (`/`, `\`) and no control character; a leading `=` (butido's
/// exact-version marker) is stripped. A version is part of file names (the
/// source cache's `<name>-<version>` directory, log files), so it can never
/// be or hold a path: with no separator and a leading digit it cannot be
/// `.` or `..` either.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PackageVersion(String);

impl PackageVersion {
    pub fn new(s: &str) -> Result<Self, NameError> {
        let v = s.strip_prefix('=').unwrap_or(s);
        let starts_with_digit = v.as_bytes().first().is_some_and(u8::is_ascii_digit);
        let refused = |c: char| c.is_whitespace() || c.is_control() || c == '/' || c == '\\';
        if starts_with_digit && !v.chars().any(refused) {
            Ok(Self(v.to_owned()))
        } else {
            Err(NameError::Version(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Orders versions for choosing the highest: the strings are cut into
    /// runs of digits and runs of letters (anything else separates them);
    /// digit runs compare as numbers (`1.10` > `1.9`), letter runs as text,
    /// a number is above text in the same place (`1.0.0` > `1.0.rc1`), and
    /// a version that runs out first is lower (`1.0` < `1.0.1`). Equal-looking versions
    /// (`1.0` and `1.00`) fall back to comparing the strings, so the order is
    /// total and agrees with equality.
    pub fn cmp_release(&self, other: &Self) -> Ordering {
        cmp_release(&self.0, &other.0)
    }
}

impl fmt::Display for PackageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn cmp_release(a: &str, b: &str) -> Ordering {
    let mut x = Segments(a.as_bytes());
    let mut y = Segments(b.as_bytes());
    loop {
        let ord = match (x.next(), y.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(sx), Some(sy)) => match (sx[0].is_ascii_digit(), sy[0].is_ascii_digit()) {
                (true, true) => cmp_numeric(sx, sy),
                // A number sorts above text in the same place: `1.0` > `1.rc`.
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => sx.cmp(sy),
            },
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
}

/// The runs of digits and the runs of letters of a version; everything
/// else separates them.
struct Segments<'a>(&'a [u8]);

impl<'a> Iterator for Segments<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.0.iter().position(u8::is_ascii_alphanumeric)?;
        let s = &self.0[start..];
        let digit = s[0].is_ascii_digit();
        let end = s
            .iter()
            .position(|b| !b.is_ascii_alphanumeric() || b.is_ascii_digit() != digit)
            .unwrap_or(s.len());
        let (segment, rest) = s.split_at(end);
        self.0 = rest;
        Some(segment)
    }
}

/// Compares two digit runs as numbers of any length.
fn cmp_numeric(a: &[u8], b: &[u8]) -> Ordering {
    let a = trim_zeros(a);
    let b = trim_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b'0').unwrap_or(s.len());
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_name(input: &str, valid: bool) {
        assert_eq!(PackageName::new(input).is_ok(), valid, "name {input:?}");
    }

    #[test]
    fn names() {
        for (input, valid) in [
            ("a", true),
            ("gcc", true),
            ("libfoo-dev", true),
            ("g++", true),
            ("python3.11", true),
            ("0ad", true),
            ("_x", false),
            ("-x", false),
            ("", false),
            ("a b", false),
            ("a/b", false),
            ("ä", false),
        ] {
            check_name(input, valid);
        }
    }

    fn check_version(input: &str, expected: Option<&str>) {
        let got = PackageVersion::new(input).ok();
        assert_eq!(
            got.as_ref().map(PackageVersion::as_str),
            expected,
            "version {input:?}"
        );
    }

    #[test]
    fn refused_text_is_shown_escaped() {
        let err = PackageVersion::new("1\u{1b}[2J\0").expect_err("refused");
        assert!(
            err.to_string()
                .starts_with("version `1\\u{1b}[2J\\0` is not valid"),
            "{err}"
        );
        let err = PackageName::new("a\nb").expect_err("refused");
        assert!(err.to_string().starts_with("package name `a\\nb`"), "{err}");
    }

    #[test]
    fn versions() {
        for (input, expected) in [
            ("1.0", Some("1.0")),
            ("=1.0", Some("1.0")),
            ("2.0-rc1", Some("2.0-rc1")),
            ("1", Some("1")),
            ("v1.0", None),
            ("", None),
            ("=", None),
            ("1.0 beta", None),
            ("==1.0", None),
            ("1/../../../../tmp/x", None),
            ("1/2", None),
            ("1\\..\\..\\x", None),
            ("1..", Some("1..")),
            ("1.0\0", None),
            ("1.0\u{1b}[2J", None),
            ("1.0\u{85}", None),
            ("1.0ä", Some("1.0ä")),
        ] {
            check_version(input, expected);
        }
    }

    fn check_order(a: &str, b: &str, expected: Ordering) {
        let va = PackageVersion::new(a).expect("valid version");
        let vb = PackageVersion::new(b).expect("valid version");
        assert_eq!(va.cmp_release(&vb), expected, "{a} vs {b}");
        assert_eq!(vb.cmp_release(&va), expected.reverse(), "{b} vs {a}");
    }

    #[test]
    fn release_order() {
        for (a, b, expected) in [
            ("1.10", "1.9", Ordering::Greater),
            ("1.0", "1.0", Ordering::Equal),
            ("1.0", "1.0.1", Ordering::Less),
            ("2", "10", Ordering::Less),
            ("1.0", "1.00", Ordering::Less),
            ("1.0.0", "1.0.rc1", Ordering::Greater),
            ("1.2a", "1.2b", Ordering::Less),
            (
                "99999999999999999999999",
                "100000000000000000000000",
                Ordering::Less,
            ),
            ("3.0-1", "3.0-2", Ordering::Less),
            ("1.0-2", "1.0.1", Ordering::Greater),
            ("2.0", "1.99.99", Ordering::Greater),
        ] {
            check_order(a, b, expected);
        }
    }
}
