//! Diagnostics through `tracing`, written to stderr. What the user is meant
//! to read goes through [`crate::ui`] instead.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `KILN_LOG` (an `EnvFilter` directive)
/// overrides the level chosen by `-v`/`-q`.
pub fn init(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("KILN_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}
