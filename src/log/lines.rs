//! Splitting a container's byte output into lines. Output arrives in chunks
//! that do not respect line boundaries; a line may span many chunks, the last
//! line may lack its newline, and a script may print a line of any length.
//! Lines are kept as bytes (they need not be UTF-8) and are cut at a maximum
//! length, [`DEFAULT_MAX_LINE`] (64 KiB), so that memory stays bounded
//! whatever a script prints: a line without a newline becomes pieces of that
//! size, each marked as continued by the next. Each line takes an allocation
//! of its own size, as lines may be kept until the job ends (the tail of a
//! log over its limit).

use std::borrow::Cow;

use chrono::{DateTime, Utc};

/// The longest line kept in one piece; longer lines are cut into pieces.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The script's standard output.
    Stdout,
    /// The script's standard error.
    Stderr,
    /// kiln itself, such as the note that a log was cut at its limit.
    Kiln,
}

impl Source {
    /// A short name for display: `stdout`, `stderr`, `kiln`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Stdout => "stdout",
            Source::Stderr => "stderr",
            Source::Kiln => "kiln",
        }
    }
}

/// How a line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnd {
    /// With a newline (not kept in the line's bytes).
    Newline,
    /// At the end of the output, without a newline.
    EndOfOutput,
    /// Cut at the maximum line length: the next piece continues it.
    Cut,
}

/// One line of output, without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    pub bytes: Vec<u8>,
    pub end: LineEnd,
}

impl RawLine {
    /// The line for display: invalid UTF-8 replaced, the bytes themselves kept.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }
}

/// A line of a running container's output, as the endpoint delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub source: Source,
    /// When kiln received the line.
    pub at: DateTime<Utc>,
    pub line: RawLine,
}

/// Turns chunks of bytes into lines. One splitter per output stream.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    max_line: usize,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE)
    }
}

impl LineSplitter {
    /// A splitter that cuts lines longer than `max_line` bytes (at least 1).
    pub fn new(max_line: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_line: max_line.max(1),
        }
    }

    /// Adds a chunk and appends every line it completes to `out`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<RawLine>) {
        while !chunk.is_empty() {
            let room = self.max_line - self.buf.len();
            let window = &chunk[..chunk.len().min(room + 1)];
            match window.iter().position(|&b| b == b'\n') {
                Some(pos) => {
                    out.push(self.take(&chunk[..pos], LineEnd::Newline));
                    chunk = &chunk[pos + 1..];
                }
                None if chunk.len() > room => {
                    // No newline within the room left: cut the line.
                    out.push(self.take(&chunk[..room], LineEnd::Cut));
                    chunk = &chunk[room..];
                }
                None => {
                    // A line that goes on in a later chunk gets its whole
                    // room at once: growing it step by step would leave
                    // freed pieces behind for every long line kept.
                    self.buf.reserve_exact(self.max_line - self.buf.len());
                    self.buf.extend_from_slice(chunk);
                    chunk = &[];
                }
            }
        }
    }

    /// Ends the output: the last line, when it had no newline.
    pub fn finish(&mut self) -> Option<RawLine> {
        if self.buf.is_empty() {
            return None;
        }
        Some(self.take(&[], LineEnd::EndOfOutput))
    }

    /// The line held so far and `rest`, in an allocation of its own size
    /// (a line may be kept a long time, in the tail of a limited log).
    fn take(&mut self, rest: &[u8], end: LineEnd) -> RawLine {
        let bytes = if self.buf.is_empty() {
            rest.to_vec()
        } else {
            self.buf.extend_from_slice(rest);
            let mut bytes = std::mem::take(&mut self.buf);
            bytes.shrink_to_fit();
            bytes
        };
        RawLine { bytes, end }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(max: usize, chunks: &[&[u8]], expected: &[(&[u8], LineEnd)]) {
        let mut splitter = LineSplitter::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, &mut out);
        }
        out.extend(splitter.finish());
        let got: Vec<(&[u8], LineEnd)> = out.iter().map(|l| (l.bytes.as_slice(), l.end)).collect();
        assert_eq!(got, expected, "chunks {chunks:?}, max {max}");
    }

    #[test]
    fn splitting() {
        use LineEnd::*;
        type Case<'a> = (usize, &'a [&'a [u8]], &'a [(&'a [u8], LineEnd)]);
        let cases: &[Case] = &[
            (100, &[b"a\nb\n"], &[(b"a", Newline), (b"b", Newline)]),
            (
                100,
                &[b"hel", b"lo\nwor", b"ld\n"],
                &[(b"hello", Newline), (b"world", Newline)],
            ),
            (
                100,
                &[b"last without newline"],
                &[(b"last without newline", EndOfOutput)],
            ),
            (
                100,
                &[b"a\n", b"tail"],
                &[(b"a", Newline), (b"tail", EndOfOutput)],
            ),
            (100, &[b"\n\n"], &[(b"", Newline), (b"", Newline)]),
            (100, &[b"crlf\r\n"], &[(b"crlf\r", Newline)]),
            (100, &[b"\xff\xfe bytes\n"], &[(b"\xff\xfe bytes", Newline)]),
            (100, &[], &[]),
            (100, &[b"", b""], &[]),
            (
                4,
                &[b"abcdefghij\n"],
                &[(b"abcd", Cut), (b"efgh", Cut), (b"ij", Newline)],
            ),
            (
                4,
                &[b"ab", b"cd", b"ef"],
                &[(b"abcd", Cut), (b"ef", EndOfOutput)],
            ),
            // Exactly the maximum, then the newline: no cut.
            (4, &[b"abcd\n"], &[(b"abcd", Newline)]),
            (
                4,
                &[b"abcd", b"\nx\n"],
                &[(b"abcd", Newline), (b"x", Newline)],
            ),
            (1, &[b"ab\n"], &[(b"a", Cut), (b"b", Newline)]),
        ];
        for (max, chunks, expected) in cases {
            check(*max, chunks, expected);
        }
    }

    #[test]
    fn lossy_text_keeps_bytes() {
        let line = RawLine {
            bytes: b"caf\xe9".to_vec(),
            end: LineEnd::Newline,
        };
        assert_eq!(line.text(), "caf\u{fffd}");
        assert_eq!(line.bytes, b"caf\xe9");
    }

    /// Lines may wait long in memory (the tail of a limited log): each
    /// takes only its own size, however its bytes arrived.
    #[test]
    fn lines_take_only_their_size() {
        let mut splitter = LineSplitter::new(100);
        let mut out = Vec::new();
        for _ in 0..100 {
            splitter.push(b"abcdefg", &mut out);
        }
        splitter.push(b"end\n", &mut out);
        out.extend(splitter.finish());
        assert_eq!(
            out.iter()
                .map(|l| (l.bytes.len(), l.end))
                .collect::<Vec<_>>(),
            [
                (100, LineEnd::Cut),
                (100, LineEnd::Cut),
                (100, LineEnd::Cut),
                (100, LineEnd::Cut),
                (100, LineEnd::Cut),
                (100, LineEnd::Cut),
                (100, LineEnd::Cut),
                (3, LineEnd::Newline),
            ]
        );
        for line in &out {
            assert_eq!(line.bytes.capacity(), line.bytes.len());
        }
    }

    #[test]
    fn byte_at_a_time() {
        let text = b"one\ntwo\nthree";
        let mut splitter = LineSplitter::new(100);
        let mut out = Vec::new();
        for b in text.iter() {
            splitter.push(std::slice::from_ref(b), &mut out);
        }
        out.extend(splitter.finish());
        let lines: Vec<&[u8]> = out.iter().map(|l| l.bytes.as_slice()).collect();
        assert_eq!(lines, [&b"one"[..], b"two", b"three"]);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            /// However the output is chunked: no line is longer than the
            /// bound, only full-length lines are cut, only the last line
            /// lacks its newline, and the lines give back every byte.
            #[test]
            fn lines_are_bounded_and_lose_nothing(
                max in 1usize..12,
                chunks in prop::collection::vec(
                    prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'\n']), 0..40),
                    0..8,
                ),
            ) {
                let mut splitter = LineSplitter::new(max);
                let mut out = Vec::new();
                for chunk in &chunks {
                    splitter.push(chunk, &mut out);
                    prop_assert!(splitter.buf.len() <= max);
                }
                out.extend(splitter.finish());
                let mut joined = Vec::new();
                for (i, line) in out.iter().enumerate() {
                    prop_assert!(line.bytes.len() <= max);
                    prop_assert!(!line.bytes.contains(&b'\n'));
                    joined.extend_from_slice(&line.bytes);
                    match line.end {
                        LineEnd::Newline => joined.push(b'\n'),
                        LineEnd::Cut => prop_assert_eq!(line.bytes.len(), max),
                        LineEnd::EndOfOutput => prop_assert_eq!(i, out.len() - 1),
                    }
                }
                prop_assert_eq!(joined, chunks.concat());
            }
        }
    }
}
