//! Everything the user reads: errors, tables, CSV, JSON, progress bars. The
//! only writer to the terminal.

pub mod db;
pub mod lint;
pub mod listing;
pub mod packages;
pub mod progress;
pub mod records;
pub mod sources;
pub mod submit;
pub mod tabular;
pub mod tree;

/// Writes to standard output through a buffer; a reader that stopped
/// early (`kiln ... | head`) is not an error.
pub fn write_stdout(
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
    }
}

/// Prints an error that ended a command, with its chain of causes.
pub fn print_error(err: &anyhow::Error) {
    let mut msg = format!("error: {err}");
    for cause in err.chain().skip(1) {
        msg.push_str(&format!("\n  caused by: {cause}"));
    }
    eprintln!("{msg}");
}
