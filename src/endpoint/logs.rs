//! The output of a running container as a stream of lines: stdout and
//! stderr, each split into byte lines by its own [`LineSplitter`], in the
//! order they arrive, stamped with the time kiln received them. The stream
//! ends when the container's output ends (the container exited).
//!
//! Memory stays bounded whatever a script prints: containers run without a
//! TTY, so the engine sends frames with a header and the length of one write
//! (bollard would buffer a headerless TTY stream up to its next newline);
//! the stream holds one frame's lines at a time, and each splitter at most
//! one line of [`crate::log::lines::DEFAULT_MAX_LINE`] bytes.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bollard::container::LogOutput;
use chrono::Utc;
use futures::{Stream, StreamExt};

use super::EndpointError;
use crate::log::{LineSplitter, LogLine, RawLine, Source};

type Frames = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// The lines a running container prints. Read it promptly: an engine may
/// hold the container's writes while its reader lags.
pub struct LogStream {
    endpoint: String,
    container: String,
    frames: Frames,
    /// Kept open for the life of the attachment.
    _input: Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    stdout: LineSplitter,
    stderr: LineSplitter,
    pending: VecDeque<LogLine>,
    done: bool,
}

impl LogStream {
    pub(crate) fn new(
        endpoint: String,
        container: String,
        frames: Frames,
        input: Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    ) -> Self {
        Self {
            endpoint,
            container,
            frames,
            _input: input,
            stdout: LineSplitter::default(),
            stderr: LineSplitter::default(),
            pending: VecDeque::new(),
            done: false,
        }
    }

    fn take_frame(&mut self, frame: LogOutput) {
        let (source, bytes) = match frame {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (Source::Stdout, message)
            }
            LogOutput::StdErr { message } => (Source::Stderr, message),
            LogOutput::StdIn { .. } => return,
        };
        let mut lines = Vec::new();
        self.splitter(source).push(&bytes, &mut lines);
        self.queue(source, lines);
    }

    fn splitter(&mut self, source: Source) -> &mut LineSplitter {
        match source {
            Source::Stderr => &mut self.stderr,
            _ => &mut self.stdout,
        }
    }

    fn queue(&mut self, source: Source, lines: Vec<RawLine>) {
        let at = Utc::now();
        self.pending
            .extend(lines.into_iter().map(|line| LogLine { source, at, line }));
    }

    fn finish(&mut self) {
        self.done = true;
        for source in [Source::Stdout, Source::Stderr] {
            if let Some(line) = self.splitter(source).finish() {
                self.queue(source, vec![line]);
            }
        }
    }
}

impl Stream for LogStream {
    type Item = Result<LogLine, EndpointError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(line) = self.pending.pop_front() {
                return Poll::Ready(Some(Ok(line)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            match self.frames.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(frame))) => self.take_frame(frame),
                Poll::Ready(Some(Err(source))) => {
                    self.finish();
                    let err = EndpointError::Docker {
                        endpoint: self.endpoint.clone(),
                        action: format!(
                            "reading the output of container {}",
                            short(&self.container)
                        ),
                        source,
                    };
                    return Poll::Ready(Some(Err(err)));
                }
                Poll::Ready(None) => self.finish(),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The first 12 characters of a container id, as Docker shows them.
pub(crate) fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
