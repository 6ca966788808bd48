//! Diagnostics through `tracing`, written to stderr. What the user is meant
//! to read goes through [`crate::ui`] instead.
//!
//! Only kiln's own events are shown at `debug` and `trace`: dependencies
//! never pass `warn`, whatever `-v` or `KILN_LOG` ask, because their debug
//! output prints request and response bodies (a container's environment,
//! with its secrets) and the raw output of containers.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The most a dependency's events may say.
const DEPENDENCY_LEVEL: Level = Level::WARN;

/// Installs the global subscriber. `KILN_LOG` (an `EnvFilter` directive)
/// overrides the level chosen by `-v`/`-q`.
pub fn init(verbose: u8, quiet: bool) {
    let filter = EnvFilter::try_from_env("KILN_LOG")
        .unwrap_or_else(|_| EnvFilter::new(default_level(verbose, quiet)));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_filter(filter.and(filter_fn(may_show)));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

fn default_level(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    }
}

/// Whether an event may be shown at all: kiln's own always (the filter
/// decides), a dependency's up to [`DEPENDENCY_LEVEL`].
fn may_show(meta: &Metadata<'_>) -> bool {
    is_own(meta.target()) || *meta.level() <= DEPENDENCY_LEVEL
}

fn is_own(target: &str) -> bool {
    target == "kiln" || target.starts_with("kiln::")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kiln_speaks_below_warn() {
        let cases = [
            ("kiln", true),
            ("kiln::orchestrator::job", true),
            ("kilner", false),
            ("bollard::docker", false),
            ("hyper_util::client", false),
            ("log", false),
        ];
        for (target, own) in cases {
            assert_eq!(is_own(target), own, "{target}");
        }
    }
}
