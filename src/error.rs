//! Error kinds that decide the exit code, and the [`Outcome`] of a command
//! that ran to its end.
//!
//! Exit codes (documented in the user guide): 0 success, 1 a job failed (or
//! kiln itself failed at run time: database, Docker, disk), 2 usage,
//! configuration or input error, 130 interrupted.

use std::process::ExitCode;

/// An error the user can fix by changing their input (a flag, a file, a
/// configuration key). Anywhere in an error chain, it makes the exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

impl InputError {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// Shorthand for returning an [`InputError`] from a function returning `anyhow::Result`.
#[macro_export]
macro_rules! input_error {
    ($($arg:tt)*) => {
        ::anyhow::Error::new($crate::error::InputError(format!($($arg)*)))
    };
}

/// How a command that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for was done.
    Success,
    /// The command ran, but a job (or a check, such as `lint`) failed.
    Failed,
    /// The user interrupted the command (Ctrl-C).
    Interrupted,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::Failed => ExitCode::from(1),
            Outcome::Interrupted => ExitCode::from(130),
        }
    }
}

/// The exit code for an error that ended a command.
pub fn exit_code_of(err: &anyhow::Error) -> ExitCode {
    if is_input_error(err) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

/// Whether the error was caused by input the user can fix.
pub fn is_input_error(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.is::<InputError>()
            || e.is::<crate::config::ConfigError>()
            || e.downcast_ref::<crate::endpoint::EndpointError>()
                .is_some_and(crate::endpoint::EndpointError::is_input)
            || e.is::<crate::repo::LoadErrors>()
            || e.is::<crate::plan::PlanErrors>()
            || e.is::<crate::package::script::ScriptError>()
            || e.is::<crate::db::listings::FilterError>()
    })
}
