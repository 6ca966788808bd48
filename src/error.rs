//! Error kinds that decide the exit code, the [`Outcome`] of a command
//! that ran to its end, and the one way an error and its causes are put
//! into words ([`causes`], [`Chain`]).
//!
//! Each layer of an error says only its own part: a type that keeps its
//! cause as `#[source]` leaves it out of its message, so that the cause is
//! said once, by the printer. As a safety net the printer leaves out a cause
//! whose text an earlier message already holds.
//!
//! Exit codes (documented in the user guide): 0 success, 1 a job failed (or
//! kiln itself failed at run time: database, Docker, disk), 2 usage,
//! configuration or input error, 130 interrupted.

use std::borrow::Cow;
use std::process::ExitCode;

/// An error the user can fix by changing their input (a flag, a file, a
/// configuration key). Anywhere in an error chain, it makes the exit code 2.
/// Its message quotes what the user gave, so it is shown with every control
/// character escaped but the newlines that separate its lines.
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, line) in self.0.split('\n').enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&escape_controls(line))?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

impl InputError {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// `text` with every control character written as an escape (`\0`, `\n`,
/// `\u{1b}`), for quoting a culprit in a message: a value that holds a
/// control character is shown, never sent raw to the terminal.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Shorthand for returning an [`InputError`] from a function returning `anyhow::Result`.
#[macro_export]
macro_rules! input_error {
    ($($arg:tt)*) => {
        ::anyhow::Error::new($crate::error::InputError(format!($($arg)*)))
    };
}

/// The messages of an error and of each of its causes, outermost first,
/// each said once: a cause whose text is already in an earlier message is
/// left out.
pub fn causes(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !out.iter().any(|said| said.contains(&text)) {
            out.push(text);
        }
        next = e.source();
    }
    out
}

/// An error and its causes on one line, each said once, joined by `: `
/// (what `{:#}` would print, without the repeats).
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&causes(self.0).join(": "))
    }
}

/// [`Chain`] of an `anyhow::Error`.
pub fn chain(err: &anyhow::Error) -> Chain<'_> {
    Chain(err.as_ref())
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
            || e.is::<crate::store::PathError>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Leaf(&'static str);

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    }

    fn layered(texts: &[&'static str]) -> anyhow::Error {
        let (innermost, outer) = texts.split_last().expect("at least one message");
        let mut err: Box<dyn std::error::Error + Send + Sync> = Box::new(Leaf(innermost));
        for &text in outer.iter().rev() {
            err = Box::new(Layer { text, source: err });
        }
        anyhow::anyhow!(err)
    }

    fn check(texts: &[&'static str], expected: &[&str]) {
        let err = layered(texts);
        assert_eq!(causes(err.as_ref()), expected, "{texts:?}");
        assert_eq!(chain(&err).to_string(), expected.join(": "), "{texts:?}");
    }

    #[test]
    fn each_cause_is_said_once() {
        let cases: &[(&[&'static str], &[&str])] = &[
            (&["no such file"], &["no such file"]),
            (
                &[
                    "reading patch p/a.patch",
                    "No such file or directory (os error 2)",
                ],
                &[
                    "reading patch p/a.patch",
                    "No such file or directory (os error 2)",
                ],
            ),
            // A message that already holds its cause.
            (
                &[
                    "cannot read configuration file /x: no such file",
                    "no such file",
                ],
                &["cannot read configuration file /x: no such file"],
            ),
            // Three times the same cause.
            (
                &[
                    "creating the log file /l: No space left on device (os error 28)",
                    "/l: No space left on device (os error 28)",
                    "No space left on device (os error 28)",
                ],
                &["creating the log file /l: No space left on device (os error 28)"],
            ),
            // A cause said by a layer further out.
            (
                &[
                    "endpoint `e`: Docker responded with status code 500: boom",
                    "creating the container",
                    "Docker responded with status code 500: boom",
                ],
                &[
                    "endpoint `e`: Docker responded with status code 500: boom",
                    "creating the container",
                ],
            ),
            // An empty message says nothing.
            (&["outer", ""], &["outer"]),
        ];
        for (texts, expected) in cases {
            check(texts, expected);
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        for (input, expected) in [
            ("1.0", "1.0"),
            ("a\0b", "a\\0b"),
            ("x\ny\tz", "x\\ny\\tz"),
            ("\u{1b}[31m", "\\u{1b}[31m"),
            ("\u{7f}\u{85}", "\\u{7f}\\u{85}"),
            ("ä/\\", "ä/\\"),
        ] {
            assert_eq!(escape_controls(input), expected, "{input:?}");
        }
    }

    #[test]
    fn anyhow_context_layers_are_causes() {
        let err = anyhow::Error::new(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file",
        ))
        .context("reading /x")
        .context("loading the repository");
        assert_eq!(
            chain(&err).to_string(),
            "loading the repository: reading /x: no such file"
        );
    }

    #[test]
    fn input_errors_keep_their_lines_and_escape_the_rest() {
        let err = InputError::new("no package `a\u{1b}[2J`\n  try `b\r`");
        assert_eq!(err.to_string(), "no package `a\\u{1b}[2J`\n  try `b\\r`");
    }
}
