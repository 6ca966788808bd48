//! One job's log from line to stored chunk, in the order the protocol asks:
//! scrub secret values, read markers (phase, progress, the script's verdict),
//! apply the log limit, batch into chunks. Also keeps the last few lines for
//! showing a failed job. Pure: the caller feeds lines and writes the chunks.

use std::collections::VecDeque;

use super::chunk::{ChunkEncoder, ChunkError, LogChunk, StoredLine};
use super::limit::LogLimit;
use super::lines::{LineEnd, LogLine};
use super::marker::{self, Marker};
use super::scrub::Scrubber;

/// What the script declared about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Verdict {
    /// No `STATE` marker (yet).
    #[default]
    Undeclared,
    /// `STATE:OK`.
    Ok,
    /// `STATE:ERR`, with its message.
    Err(String),
}

/// Where the script is, from its markers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScriptProgress {
    /// The phase it entered last.
    pub phase: Option<String>,
    /// The progress it reported last, in percent.
    pub percent: Option<u8>,
    /// Its verdict; a later `STATE` marker replaces an earlier one, except
    /// that an error is never replaced by success.
    pub verdict: Verdict,
}

impl ScriptProgress {
    fn apply(&mut self, marker: &Marker) {
        match marker {
            Marker::Phase(name) => self.phase = Some(name.clone()),
            Marker::Progress(n) => self.percent = Some(*n),
            Marker::StateOk => {
                if !matches!(self.verdict, Verdict::Err(_)) {
                    self.verdict = Verdict::Ok;
                }
            }
            Marker::StateErr(message) => self.verdict = Verdict::Err(message.clone()),
        }
    }
}

/// The result of feeding one line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fed {
    /// The line was a marker.
    pub marker: Option<Marker>,
    /// A chunk is ready to be stored.
    pub chunk: Option<LogChunk>,
    /// The line as stored (scrubbed), before the log limit, when the log
    /// keeps copies (see [`JobLog::with_copies`]).
    pub copy: Option<Vec<u8>>,
}

/// How a job's log ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLogEnd {
    /// The chunks still to store.
    pub chunks: Vec<LogChunk>,
    /// Whether lines were left out at the log limit.
    pub truncated: bool,
    /// Bytes of log the job printed (each line counting its newline).
    pub total_bytes: u64,
    pub progress: ScriptProgress,
    /// The last lines, scrubbed, for display.
    pub last_lines: Vec<String>,
}

/// A job's log in the making.
#[derive(Debug)]
pub struct JobLog {
    scrubber: Scrubber,
    limit: LogLimit,
    encoder: ChunkEncoder,
    progress: ScriptProgress,
    last_lines: VecDeque<String>,
    keep_last: usize,
    /// The previous piece was cut: the next one does not start a line.
    continuing: bool,
    /// Whether [`Fed::copy`] is filled.
    copies: bool,
}

impl JobLog {
    /// A log limited to `limit_bytes`, scrubbed by `scrubber`, keeping the
    /// last `keep_last` lines for display.
    pub fn new(scrubber: Scrubber, limit_bytes: u64, keep_last: usize) -> Self {
        Self::with_encoder(scrubber, limit_bytes, keep_last, ChunkEncoder::default())
    }

    pub fn with_encoder(
        scrubber: Scrubber,
        limit_bytes: u64,
        keep_last: usize,
        encoder: ChunkEncoder,
    ) -> Self {
        Self {
            scrubber,
            limit: LogLimit::new(limit_bytes),
            encoder,
            progress: ScriptProgress::default(),
            last_lines: VecDeque::with_capacity(keep_last),
            keep_last,
            continuing: false,
            copies: false,
        }
    }

    /// The log hands out a copy of every line, scrubbed, in [`Fed::copy`]
    /// (for `--write-log`): the copy holds no more than the stored log.
    pub fn with_copies(mut self) -> Self {
        self.copies = true;
        self
    }

    pub fn progress(&self) -> &ScriptProgress {
        &self.progress
    }

    /// Feeds one line from the container.
    pub fn feed(&mut self, line: LogLine) -> Result<Fed, ChunkError> {
        let starts_line = !self.continuing;
        self.continuing = line.line.end == LineEnd::Cut;
        let mut stored = StoredLine::from_log_line(line);
        if let std::borrow::Cow::Owned(scrubbed) = self.scrubber.scrub(&stored.bytes) {
            stored.bytes = scrubbed;
        }
        let marker = if starts_line && !stored.cut {
            marker::parse(&stored.bytes)
        } else {
            None
        };
        if let Some(marker) = &marker {
            self.progress.apply(marker);
        }
        let copy = self.copies.then(|| stored.bytes.clone());
        if self.keep_last > 0 {
            if self.last_lines.len() == self.keep_last {
                self.last_lines.pop_front();
            }
            self.last_lines.push_back(stored.text().into_owned());
        }
        let chunk = match self.limit.admit(stored) {
            Some(line) => self.encoder.push(&line)?,
            None => None,
        };
        Ok(Fed {
            marker,
            chunk,
            copy,
        })
    }

    /// Takes the lines stored so far as a chunk (call on a timer, so that the
    /// log of a running job can be followed).
    pub fn flush(&mut self) -> Result<Option<LogChunk>, ChunkError> {
        self.encoder.flush()
    }

    /// Ends the log: the remaining chunks (the tail, after a note when lines
    /// were left out) and what the script declared.
    pub fn finish(mut self) -> Result<JobLogEnd, ChunkError> {
        let end = self.limit.finish();
        let mut chunks = Vec::new();
        // Each line is let go once encoded: the tail is not held twice.
        for line in end.lines {
            chunks.extend(self.encoder.push(&line)?);
        }
        chunks.extend(self.encoder.flush()?);
        Ok(JobLogEnd {
            chunks,
            truncated: end.truncated,
            total_bytes: end.total_bytes,
            progress: self.progress,
            last_lines: self.last_lines.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::chunk::decode;
    use crate::log::lines::{RawLine, Source};

    fn line(text: &str, end: LineEnd) -> LogLine {
        LogLine {
            source: Source::Stdout,
            at: chrono::Utc::now(),
            line: RawLine {
                bytes: text.as_bytes().to_vec(),
                end,
            },
        }
    }

    /// Feeds the lines; checks the final progress, the stored text (all
    /// chunks decoded), and whether the log was cut.
    fn check(
        secrets: &[&str],
        limit: u64,
        input: &[(&str, LineEnd)],
        progress: ScriptProgress,
        stored: &[&str],
        truncated: bool,
    ) {
        let mut log = JobLog::with_encoder(
            Scrubber::new(secrets).expect("scrubber"),
            limit,
            2,
            ChunkEncoder::new(16, 1000),
        );
        let mut chunks = Vec::new();
        for (text, end) in input {
            chunks.extend(log.feed(line(text, *end)).expect("feeding").chunk);
        }
        let end = log.finish().expect("finishing");
        chunks.extend(end.chunks);
        let texts: Vec<String> = chunks
            .iter()
            .flat_map(|c| decode(c.seq, &c.data).expect("decoding"))
            .map(|l| l.text().into_owned())
            .collect();
        let texts: Vec<&str> = texts
            .iter()
            .map(|t| {
                if t.starts_with("[kiln: log limit") {
                    "[note]"
                } else {
                    t.as_str()
                }
            })
            .collect();
        assert_eq!(texts, stored, "{input:?}");
        assert_eq!(end.progress, progress, "{input:?}");
        assert_eq!(end.truncated, truncated, "{input:?}");
        let expected_last: Vec<&str> = input.iter().rev().take(2).rev().map(|(t, _)| *t).collect();
        if secrets.is_empty() {
            assert_eq!(end.last_lines, expected_last);
        }
        let seqs: Vec<i32> = chunks.iter().map(|c| c.seq).collect();
        assert_eq!(seqs, (0..chunks.len() as i32).collect::<Vec<_>>());
    }

    #[test]
    fn copies_are_scrubbed_and_not_limited() {
        let scrubber = Scrubber::new(["hunter2"]).expect("scrubber");
        let mut log = JobLog::new(scrubber.clone(), 4, 0).with_copies();
        let copies: Vec<Vec<u8>> = ["token=hunter2", "a long line past the limit"]
            .iter()
            .map(|t| log.feed(line(t, LineEnd::Newline)).expect("feeding").copy)
            .map(|c| c.expect("a copy"))
            .collect();
        assert_eq!(
            copies,
            [
                b"token=****".to_vec(),
                b"a long line past the limit".to_vec()
            ]
        );
        let mut plain = JobLog::new(scrubber, 1 << 20, 0);
        let fed = plain.feed(line("x", LineEnd::Newline)).expect("feeding");
        assert_eq!(fed.copy, None);
    }

    #[test]
    fn lines_to_chunks() {
        use LineEnd::*;
        let progress =
            |phase: Option<&str>, percent: Option<u8>, verdict: Verdict| ScriptProgress {
                phase: phase.map(String::from),
                percent,
                verdict,
            };
        check(
            &[],
            1 << 20,
            &[
                ("#KILN:PHASE:build", Newline),
                ("#KILN:PROGRESS:50", Newline),
                ("compiling", Newline),
                ("#BUTIDO:STATE:OK", Newline),
            ],
            progress(Some("build"), Some(50), Verdict::Ok),
            &[
                "#KILN:PHASE:build",
                "#KILN:PROGRESS:50",
                "compiling",
                "#BUTIDO:STATE:OK",
            ],
            false,
        );
        // An error is not undone by a later success.
        check(
            &[],
            1 << 20,
            &[
                ("#KILN:PHASE:test", Newline),
                ("#KILN:STATE:ERR:\"3 failed\"", Newline),
                ("#KILN:STATE:OK", Newline),
            ],
            progress(Some("test"), None, Verdict::Err("3 failed".into())),
            &[
                "#KILN:PHASE:test",
                "#KILN:STATE:ERR:\"3 failed\"",
                "#KILN:STATE:OK",
            ],
            false,
        );
        // A piece after a cut does not start a line, so it is no marker.
        check(
            &[],
            1 << 20,
            &[("xxxx", Cut), ("#KILN:PHASE:fake", Newline)],
            progress(None, None, Verdict::Undeclared),
            &["xxxx", "#KILN:PHASE:fake"],
            false,
        );
        // Secrets are scrubbed before storing and before reading markers.
        check(
            &["hunter2"],
            1 << 20,
            &[
                ("token=hunter2", Newline),
                ("#KILN:STATE:ERR:bad password hunter2", Newline),
            ],
            progress(None, None, Verdict::Err("bad password ****".into())),
            &["token=****", "#KILN:STATE:ERR:bad password ****"],
            false,
        );
        // The limit keeps head and tail; markers count even when left out.
        check(
            &[],
            8,
            &[
                ("a", Newline),
                ("b", Newline),
                ("#KILN:PHASE:late", Newline),
                ("c", Newline),
                ("d", Newline),
            ],
            progress(Some("late"), None, Verdict::Undeclared),
            &["a", "b", "[note]", "c", "d"],
            true,
        );
    }
}
