//! A job's log limit: past it, the head and the tail of the log are kept and
//! what was left out between them is counted and noted.
//!
//! Half of the limit goes to the head, stored as the lines arrive; the other
//! half holds the most recent lines, stored when the log ends. When lines were
//! left out, a note from kiln stands between head and tail.

use std::collections::VecDeque;

use super::chunk::StoredLine;
use super::lines::Source;

/// Keeps the head and the tail of a log within a byte limit.
#[derive(Debug)]
pub struct LogLimit {
    limit: u64,
    head_budget: u64,
    tail_budget: u64,
    head_bytes: u64,
    head_open: bool,
    tail: VecDeque<StoredLine>,
    tail_bytes: u64,
    omitted_lines: u64,
    omitted_bytes: u64,
    total_lines: u64,
    total_bytes: u64,
}

/// How a limited log ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitEnd {
    /// The lines still to store: the note (when lines were left out) and the tail.
    pub lines: Vec<StoredLine>,
    /// Whether lines were left out.
    pub truncated: bool,
    /// Every line the log had, and their bytes (each line counting its newline).
    pub total_lines: u64,
    pub total_bytes: u64,
    pub omitted_lines: u64,
    pub omitted_bytes: u64,
}

impl LogLimit {
    /// A limit of `limit` bytes, lines counting their newline.
    pub fn new(limit: u64) -> Self {
        let head_budget = limit / 2;
        Self {
            limit,
            head_budget,
            tail_budget: limit - head_budget,
            head_bytes: 0,
            head_open: true,
            tail: VecDeque::new(),
            tail_bytes: 0,
            omitted_lines: 0,
            omitted_bytes: 0,
            total_lines: 0,
            total_bytes: 0,
        }
    }

    /// Takes a line: returns it when it belongs to the head (store it now),
    /// or keeps it for the tail.
    pub fn admit(&mut self, line: StoredLine) -> Option<StoredLine> {
        let size = line.raw_len();
        self.total_lines += 1;
        self.total_bytes += size;
        if self.head_open {
            if self.head_bytes + size <= self.head_budget {
                self.head_bytes += size;
                return Some(line);
            }
            self.head_open = false;
        }
        self.tail_bytes += size;
        self.tail.push_back(line);
        while self.tail_bytes > self.tail_budget {
            let Some(dropped) = self.tail.pop_front() else {
                break;
            };
            self.tail_bytes -= dropped.raw_len();
            self.omitted_lines += 1;
            self.omitted_bytes += dropped.raw_len();
        }
        None
    }

    /// Ends the log: the lines left to store, and whether any were left out.
    pub fn finish(self) -> LimitEnd {
        let truncated = self.omitted_lines > 0;
        let mut lines = Vec::with_capacity(self.tail.len() + 1);
        if truncated {
            lines.push(StoredLine::new(
                Source::Kiln,
                format!(
                    "[kiln: log limit of {} bytes reached: {} lines ({} bytes) left out here]",
                    self.limit, self.omitted_lines, self.omitted_bytes
                ),
            ));
        }
        lines.extend(self.tail);
        LimitEnd {
            lines,
            truncated,
            total_lines: self.total_lines,
            total_bytes: self.total_bytes,
            omitted_lines: self.omitted_lines,
            omitted_bytes: self.omitted_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds lines of the given texts through a limit; checks which lines were
    /// stored at once, which at the end, and what was left out.
    fn check(limit: u64, input: &[&str], head: &[&str], tail: &[&str], omitted: (u64, u64)) {
        let mut log = LogLimit::new(limit);
        let mut stored_now = Vec::new();
        for text in input {
            if let Some(line) = log.admit(StoredLine::new(Source::Stdout, text.as_bytes())) {
                stored_now.push(line.text().into_owned());
            }
        }
        let end = log.finish();
        assert_eq!(stored_now, head, "head, limit {limit}");
        let mut rest: Vec<String> = end.lines.iter().map(|l| l.text().into_owned()).collect();
        if end.truncated {
            let note = rest.remove(0);
            assert!(note.starts_with("[kiln: log limit"), "{note}");
            assert_eq!(end.lines[0].source, Source::Kiln);
        }
        assert_eq!(rest, tail, "tail, limit {limit}");
        assert_eq!(
            (end.omitted_lines, end.omitted_bytes),
            omitted,
            "omitted, limit {limit}"
        );
        assert_eq!(end.truncated, omitted.0 > 0);
        assert_eq!(end.total_lines, input.len() as u64);
        assert_eq!(
            end.total_bytes,
            input.iter().map(|t| t.len() as u64 + 1).sum::<u64>()
        );
    }

    #[test]
    fn head_and_tail() {
        let ten = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
        // (limit, input, stored at once, stored at the end, (lines, bytes) left out)
        type Case<'a> = (u64, &'a [&'a str], &'a [&'a str], &'a [&'a str], (u64, u64));
        let cases: &[Case] = &[
            // Everything fits: half stored at once, the rest at the end, nothing left out.
            (100, &ten, &ten, &[], (0, 0)),
            (
                20,
                &ten,
                &["0", "1", "2", "3", "4"],
                &["5", "6", "7", "8", "9"],
                (0, 0),
            ),
            (8, &ten, &["0", "1"], &["8", "9"], (6, 12)),
            (9, &ten, &["0", "1"], &["8", "9"], (6, 12)),
            (12, &ten, &["0", "1", "2"], &["7", "8", "9"], (4, 8)),
            (2, &ten, &[], &[], (10, 20)),
            (0, &ten, &[], &[], (10, 20)),
            // A long line closes the head even if later short lines would fit.
            (
                10,
                &["a", "long line", "b", "c"],
                &["a"],
                &["b", "c"],
                (1, 10),
            ),
            (10, &[], &[], &[], (0, 0)),
        ];
        for (limit, input, head, tail, omitted) in cases {
            check(*limit, input, head, tail, *omitted);
        }
    }
}
