//! Secret scrubbing: the values of secret variables are passed to containers
//! but must never reach a stored log. Every occurrence in a line is replaced
//! by `****` before the line is stored.

use std::borrow::Cow;

use regex::bytes::{Regex, RegexBuilder};

/// What replaces a secret value in stored lines.
pub const MASK: &[u8] = b"****";

/// Replaces given secret values in log lines.
#[derive(Debug, Clone)]
pub struct Scrubber {
    pattern: Option<Regex>,
}

/// The secrets could not be made into a matcher (far too many or too long).
#[derive(Debug, thiserror::Error)]
#[error("cannot prepare scrubbing of {count} secret values")]
pub struct ScrubberError {
    count: usize,
    #[source]
    source: regex::Error,
}

impl Scrubber {
    /// A scrubber that removes nothing.
    pub fn none() -> Self {
        Self { pattern: None }
    }

    /// A scrubber for the given secret values. Empty values are ignored; a
    /// value that spans several lines is scrubbed line by line, since logs are
    /// stored by line.
    pub fn new<I, S>(secrets: I) -> Result<Self, ScrubberError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut values: Vec<String> = Vec::new();
        for secret in secrets {
            for piece in secret.as_ref().split(['\n', '\r']) {
                if !piece.is_empty() && !values.iter().any(|v| v == piece) {
                    values.push(piece.to_owned());
                }
            }
        }
        if values.is_empty() {
            return Ok(Self::none());
        }
        // Longer values first, so that a value containing another is masked whole.
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        let alternation = values
            .iter()
            .map(|v| regex::escape(v))
            .collect::<Vec<_>>()
            .join("|");
        let pattern = RegexBuilder::new(&alternation)
            .unicode(false)
            .size_limit(64 << 20)
            .build()
            .map_err(|source| ScrubberError {
                count: values.len(),
                source,
            })?;
        Ok(Self {
            pattern: Some(pattern),
        })
    }

    /// The line with every secret value replaced by [`MASK`].
    pub fn scrub<'a>(&self, line: &'a [u8]) -> Cow<'a, [u8]> {
        match &self.pattern {
            Some(pattern) => pattern.replace_all(line, regex::bytes::NoExpand(MASK)),
            None => Cow::Borrowed(line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(secrets: &[&str], line: &[u8], expected: &[u8]) {
        let scrubber = Scrubber::new(secrets).expect("building a scrubber");
        let got = scrubber.scrub(line);
        assert_eq!(
            got.as_ref(),
            expected,
            "secrets {secrets:?}, line {:?}",
            String::from_utf8_lossy(line)
        );
    }

    #[test]
    fn scrubbing() {
        let cases: &[(&[&str], &[u8], &[u8])] = &[
            (&[], b"password=hunter2", b"password=hunter2"),
            (&[""], b"nothing to hide", b"nothing to hide"),
            (&["hunter2"], b"password=hunter2", b"password=****"),
            (
                &["hunter2"],
                b"hunter2hunter2 and hunter2",
                b"******** and ****",
            ),
            (&["abc", "abcdef"], b"xabcdefx abc", b"x****x ****"),
            (&["a.b*c"], b"a.b*c axbbc", b"**** axbbc"),
            (&["$1\\"], b"cost $1\\ each", b"cost **** each"),
            (&["s3cr\u{e9}t"], "s3cr\u{e9}t!".as_bytes(), b"****!"),
            (&["tok"], b"\xff tok \xfe", b"\xff **** \xfe"),
            (
                &["line one\nline two"],
                b"line two printed",
                b"**** printed",
            ),
            (&["x"], b"", b""),
        ];
        for (secrets, line, expected) in cases {
            check(secrets, line, expected);
        }
    }
}
