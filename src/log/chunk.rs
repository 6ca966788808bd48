//! Encoding log lines into the compressed chunks of the `log_chunks` table,
//! and decoding them again. Whole lines are batched; each chunk knows its
//! sequence number, the number of its first line, how many lines it holds and
//! how many bytes they had before compression.
//!
//! The uncompressed payload is a version byte (1) followed by one record per
//! line: a tag byte (bits 0-1: 0 stdout, 1 stderr, 2 kiln; bit 7: the line
//! was cut and continues in the next record), the length as a little-endian
//! `u32`, and the line's bytes. The payload is compressed with zstd.

use chrono::{DateTime, Utc};

use super::lines::{LineEnd, Source};

const FORMAT_VERSION: u8 = 1;
const TAG_CUT: u8 = 0x80;
const ZSTD_LEVEL: i32 = 3;

/// The default most raw bytes batched into one chunk.
pub const DEFAULT_CHUNK_BYTES: usize = 256 * 1024;
/// The default most lines batched into one chunk.
pub const DEFAULT_CHUNK_LINES: usize = 4096;

/// A line as stored: where it came from, its bytes, and whether it was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLine {
    pub source: Source,
    pub bytes: Vec<u8>,
    /// The line was cut at the maximum line length; the next line continues it.
    pub cut: bool,
}

impl StoredLine {
    pub fn new(source: Source, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            source,
            bytes: bytes.into(),
            cut: false,
        }
    }

    /// The line as received from a container.
    pub fn from_log_line(line: super::lines::LogLine) -> Self {
        Self {
            source: line.source,
            cut: line.line.end == LineEnd::Cut,
            bytes: line.line.bytes,
        }
    }

    /// The bytes the line counts for in limits and `raw_bytes`: its bytes and a newline.
    pub fn raw_len(&self) -> u64 {
        self.bytes.len() as u64 + 1
    }

    /// The line for display, invalid UTF-8 replaced.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }
}

/// One row of `log_chunks`, without the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub seq: i32,
    pub written_at: DateTime<Utc>,
    pub first_line: i64,
    pub line_count: i32,
    pub raw_bytes: i32,
    pub data: Vec<u8>,
}

/// What can go wrong encoding or decoding a chunk.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("compressing a log chunk")]
    Compress(#[source] std::io::Error),
    #[error("decompressing log chunk {seq}")]
    Decompress {
        seq: i32,
        #[source]
        source: std::io::Error,
    },
    #[error("log chunk {seq} is malformed: {what}")]
    Malformed { seq: i32, what: &'static str },
}

/// Batches lines into chunks. Push lines; a chunk comes out when the batch is
/// full, and [`ChunkEncoder::flush`] takes what is pending (call it on a timer
/// so that a running job's log can be followed, and at the end).
#[derive(Debug)]
pub struct ChunkEncoder {
    next_seq: i32,
    next_line: i64,
    payload: Vec<u8>,
    lines: i32,
    raw_bytes: usize,
    max_bytes: usize,
    max_lines: usize,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new(DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_LINES)
    }
}

impl ChunkEncoder {
    /// An encoder that closes a chunk at `max_bytes` raw bytes or `max_lines` lines.
    pub fn new(max_bytes: usize, max_lines: usize) -> Self {
        Self {
            next_seq: 0,
            next_line: 0,
            payload: vec![FORMAT_VERSION],
            lines: 0,
            raw_bytes: 0,
            max_bytes: max_bytes.max(1),
            max_lines: max_lines.clamp(1, i32::MAX as usize),
        }
    }

    /// The same encoder, numbering its first chunk `seq` and its first line
    /// `line` (a later attempt's log follows the earlier ones).
    pub fn starting_at(mut self, seq: i32, line: i64) -> Self {
        self.next_seq = seq;
        self.next_line = line;
        self
    }

    /// Lines pushed so far (the number the next line gets).
    pub fn lines_pushed(&self) -> i64 {
        self.next_line + i64::from(self.lines)
    }

    /// Adds a line; returns a chunk when this line filled the batch.
    pub fn push(&mut self, line: &StoredLine) -> Result<Option<LogChunk>, ChunkError> {
        let mut tag = match line.source {
            Source::Stdout => 0,
            Source::Stderr => 1,
            Source::Kiln => 2,
        };
        if line.cut {
            tag |= TAG_CUT;
        }
        // Lines come from the splitter, far below 4 GiB; a longer one is cut here.
        let len = line.bytes.len().min(u32::MAX as usize);
        self.payload.push(tag);
        self.payload.extend_from_slice(&(len as u32).to_le_bytes());
        self.payload.extend_from_slice(&line.bytes[..len]);
        self.lines += 1;
        self.raw_bytes += len + 1;
        if self.raw_bytes >= self.max_bytes || self.lines as usize >= self.max_lines {
            return self.flush();
        }
        Ok(None)
    }

    /// Takes the pending lines as a chunk, if there are any.
    pub fn flush(&mut self) -> Result<Option<LogChunk>, ChunkError> {
        if self.lines == 0 {
            return Ok(None);
        }
        let mut data =
            zstd::bulk::compress(&self.payload, ZSTD_LEVEL).map_err(ChunkError::Compress)?;
        // The buffer is sized for the worst case; a chunk may wait in memory
        // (the tail of a limited log), so it keeps only its bytes.
        data.shrink_to_fit();
        let chunk = LogChunk {
            seq: self.next_seq,
            written_at: Utc::now(),
            first_line: self.next_line,
            line_count: self.lines,
            raw_bytes: i32::try_from(self.raw_bytes).unwrap_or(i32::MAX),
            data,
        };
        self.next_seq += 1;
        self.next_line += i64::from(self.lines);
        self.payload.clear();
        self.payload.push(FORMAT_VERSION);
        self.lines = 0;
        self.raw_bytes = 0;
        Ok(Some(chunk))
    }
}

/// Decodes the lines of one chunk; `seq` is only for error messages.
pub fn decode(seq: i32, data: &[u8]) -> Result<Vec<StoredLine>, ChunkError> {
    let payload =
        zstd::stream::decode_all(data).map_err(|source| ChunkError::Decompress { seq, source })?;
    let malformed = |what| ChunkError::Malformed { seq, what };
    let (&version, mut rest) = payload
        .split_first()
        .ok_or_else(|| malformed("empty payload"))?;
    if version != FORMAT_VERSION {
        return Err(malformed("unknown format version"));
    }
    let mut lines = Vec::new();
    while let Some((&tag, after_tag)) = rest.split_first() {
        let (len, after_len) = after_tag
            .split_first_chunk::<4>()
            .ok_or_else(|| malformed("truncated line length"))?;
        let len = u32::from_le_bytes(*len) as usize;
        if after_len.len() < len {
            return Err(malformed("truncated line"));
        }
        let source = match tag & !TAG_CUT {
            0 => Source::Stdout,
            1 => Source::Stderr,
            2 => Source::Kiln,
            _ => return Err(malformed("unknown line source")),
        };
        lines.push(StoredLine {
            source,
            bytes: after_len[..len].to_vec(),
            cut: tag & TAG_CUT != 0,
        });
        rest = &after_len[len..];
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(source: Source, text: &[u8]) -> StoredLine {
        StoredLine::new(source, text)
    }

    /// Encodes `lines` with the given limits and checks the chunk shapes
    /// (first line, line count) and that decoding gives the lines back.
    fn check(max_bytes: usize, max_lines: usize, lines: &[StoredLine], shapes: &[(i64, i32)]) {
        let mut encoder = ChunkEncoder::new(max_bytes, max_lines);
        let mut chunks = Vec::new();
        for l in lines {
            chunks.extend(encoder.push(l).expect("encoding"));
        }
        chunks.extend(encoder.flush().expect("encoding"));
        let got: Vec<(i64, i32)> = chunks
            .iter()
            .map(|c| (c.first_line, c.line_count))
            .collect();
        assert_eq!(got, shapes, "limits {max_bytes}/{max_lines}");
        let mut decoded = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.seq, i as i32);
            assert_eq!(
                c.data.capacity(),
                c.data.len(),
                "a chunk holds only its bytes"
            );
            let part = decode(c.seq, &c.data).expect("decoding");
            assert_eq!(part.len(), c.line_count as usize);
            let raw: u64 = part.iter().map(StoredLine::raw_len).sum();
            assert_eq!(raw, c.raw_bytes as u64);
            decoded.extend(part);
        }
        assert_eq!(decoded, lines);
    }

    #[test]
    fn chunking() {
        use Source::*;
        let five: Vec<StoredLine> = (0..5)
            .map(|i| line(Stdout, format!("line {i}").as_bytes()))
            .collect();
        let mixed = vec![
            line(Stdout, b"out"),
            line(Stderr, b"err \xff\xfe not utf-8"),
            StoredLine {
                source: Stdout,
                bytes: b"cut piece".to_vec(),
                cut: true,
            },
            line(Kiln, b"[note]"),
            line(Stdout, b""),
        ];
        type Case<'a> = (usize, usize, &'a [StoredLine], &'a [(i64, i32)]);
        let cases: &[Case] = &[
            (1 << 20, 1000, &[], &[]),
            (1 << 20, 1000, &five, &[(0, 5)]),
            (1 << 20, 2, &five, &[(0, 2), (2, 2), (4, 1)]),
            // "line 0\n" is 7 bytes: two lines reach 14.
            (14, 1000, &five, &[(0, 2), (2, 2), (4, 1)]),
            (1, 1000, &five, &[(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)]),
            (1 << 20, 1000, &mixed, &[(0, 5)]),
        ];
        for (max_bytes, max_lines, lines, shapes) in cases {
            check(*max_bytes, *max_lines, lines, shapes);
        }
    }

    #[test]
    fn compresses_repetitive_logs() {
        let mut encoder = ChunkEncoder::default();
        for _ in 0..1000 {
            assert!(encoder
                .push(&line(Source::Stdout, b"compiling the same thing again"))
                .expect("encoding")
                .is_none());
        }
        let chunk = encoder.flush().expect("encoding").expect("a chunk");
        assert_eq!(chunk.line_count, 1000);
        assert!(
            chunk.data.len() < chunk.raw_bytes as usize / 10,
            "{} bytes",
            chunk.data.len()
        );
    }

    #[test]
    fn malformed_chunks_are_errors() {
        let garbage = decode(3, b"not zstd at all");
        assert!(
            matches!(garbage, Err(ChunkError::Decompress { seq: 3, .. })),
            "{garbage:?}"
        );
        let cases: &[&[u8]] = &[
            b"",
            b"\x02",
            b"\x01\x00\x05\x00\x00\x00abc",
            b"\x01\x07\x00\x00\x00\x00",
            b"\x01\x00\x01",
        ];
        for payload in cases {
            let data = zstd::bulk::compress(payload, 1).expect("compressing");
            let got = decode(7, &data);
            assert!(
                matches!(got, Err(ChunkError::Malformed { seq: 7, .. })),
                "{payload:?}: {got:?}"
            );
        }
    }
}
