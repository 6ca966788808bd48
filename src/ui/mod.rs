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

/// Prints an error that ended a command, with its chain of causes.
pub fn print_error(err: &anyhow::Error) {
    let mut msg = format!("error: {err}");
    for cause in err.chain().skip(1) {
        msg.push_str(&format!("\n  caused by: {cause}"));
    }
    eprintln!("{msg}");
}
