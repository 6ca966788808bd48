//! The `kiln` binary: parse the command line, set up diagnostics, run the
//! library, and turn the outcome into a documented exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = kiln::cli::Cli::parse();
    kiln::diagnostics::init(cli.global.verbose, cli.global.quiet);
    match kiln::commands::run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            kiln::ui::print_error(&err);
            kiln::error::exit_code_of(&err)
        }
    }
}
