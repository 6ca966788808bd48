//! Everything the user reads: errors, tables, CSV, JSON, progress bars. The
//! only writer to the terminal; standard output goes through [`stdout`].

pub mod db;
pub mod endpoint;
pub mod explain;
pub mod find_artifact;
pub mod lineage;
pub mod lint;
pub mod listing;
pub mod packages;
pub mod progress;
pub mod records;
pub mod release;
pub mod reproduce;
pub mod sources;
pub mod stdout;
pub mod submit;
pub mod tabular;
pub mod tree;

pub use stdout::write_stdout;

/// A note for the user on standard error, beside output that goes to
/// standard output.
pub fn note(message: &str) {
    eprintln!("note: {message}");
}

/// Prints an error that ended a command, with its chain of causes, each
/// said once.
pub fn print_error(err: &anyhow::Error) {
    eprintln!("{}", error_text(err));
}

/// The text [`print_error`] prints.
fn error_text(err: &anyhow::Error) -> String {
    let mut causes = crate::error::causes(err.as_ref()).into_iter();
    let mut text = format!("error: {}", causes.next().unwrap_or_default());
    for cause in causes {
        text.push_str("\n  caused by: ");
        text.push_str(&cause);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_print_each_cause_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let cases: Vec<(anyhow::Error, &str)> = vec![
            (anyhow::Error::new(io()), "error: no such file"),
            (
                anyhow::Error::new(io()).context("reading /x"),
                "error: reading /x\n  caused by: no such file",
            ),
            (
                anyhow::Error::new(io())
                    .context("reading /x: no such file")
                    .context("loading"),
                "error: loading\n  caused by: reading /x: no such file",
            ),
        ];
        for (err, expected) in cases {
            assert_eq!(error_text(&err), expected);
        }
    }
}
