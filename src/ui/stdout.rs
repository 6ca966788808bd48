//! Standard output, with one owner: every listing, tree, document, summary
//! and log that kiln prints goes through [`write_stdout`] (whole outputs)
//! or [`stream`] and [`finish`] (a log written piece by piece). Output is
//! buffered, and a reader that stops early (`kiln ... | head -1`) closes the
//! pipe: kiln stops writing and the command ends as it would have (exit 0
//! when it succeeded), never with a panic nor an error. Nothing else in
//! kiln writes to standard output (no `print!`, no `io::stdout()`).

use std::io::{self, Write};

/// Writes to standard output through a buffer; a reader that stopped
/// early is not an error.
pub fn write_stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> anyhow::Result<()> {
    let mut out = stream();
    finish(write(&mut out).and_then(|()| out.flush()))
}

/// Prints `text` as it is (it ends with a newline when it should).
pub fn print(text: &str) -> anyhow::Result<()> {
    write_stdout(|out| out.write_all(text.as_bytes()))
}

/// Standard output for a stream of bytes (a log), buffered: the caller
/// flushes when the reader should see what was written so far, and gives
/// every result to [`finish`].
pub fn stream() -> impl Write {
    io::BufWriter::with_capacity(1 << 16, io::stdout().lock())
}

/// What a write to standard output comes to: done when it was written or
/// the reader had closed the pipe, an error naming standard output else.
pub fn finish(written: io::Result<()>) -> anyhow::Result<()> {
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing to standard output"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_not_an_error() {
        assert!(finish(Ok(())).is_ok());
        assert!(finish(Err(io::ErrorKind::BrokenPipe.into())).is_ok());
        let full = finish(Err(io::Error::from_raw_os_error(28))).expect_err("ENOSPC");
        assert_eq!(full.to_string(), "writing to standard output");
    }
}
