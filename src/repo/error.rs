//! What can be wrong with a package repository. Every error names the file
//! (and, where it applies, the key path and the line and column); a load
//! reports all of its errors together in [`LoadErrors`]. Keys and messages
//! show control characters escaped, never raw.

use std::fmt;
use std::path::PathBuf;

use crate::error::escape_controls;

/// One problem found while loading a package repository.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A file or directory could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A `pkg.toml` is not valid TOML.
    #[error("{}:{line}:{column}: TOML syntax error: {}", file.display(), escape_controls(.message))]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A key of a `pkg.toml` layer is unknown, of the wrong type, or has a
    /// value kiln refuses (including patch and phase paths).
    #[error("{}:{line}:{column}: `{}`: {}", file.display(), escape_controls(.key), escape_controls(.message))]
    Invalid {
        file: PathBuf,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
    /// The merged layers of a leaf lack a required key or hold values that
    /// do not fit together; named by the leaf file.
    #[error("{}: `{}`: {}", file.display(), escape_controls(.key), escape_controls(.message))]
    Merged {
        file: PathBuf,
        key: String,
        message: String,
    },
    /// Two leaves define the same package.
    #[error("package {name} {version} is defined twice: in {} and in {}", first.display(), second.display())]
    Duplicate {
        name: String,
        version: String,
        first: PathBuf,
        second: PathBuf,
    },
}

impl RepoError {
    /// The file the error is about (the first one, for duplicates).
    pub fn file(&self) -> &std::path::Path {
        match self {
            RepoError::Read { path, .. } => path,
            RepoError::Syntax { file, .. }
            | RepoError::Invalid { file, .. }
            | RepoError::Merged { file, .. } => file,
            RepoError::Duplicate { first, .. } => first,
        }
    }

    fn sort_key(&self) -> (&std::path::Path, usize, usize) {
        match self {
            RepoError::Syntax { line, column, .. } | RepoError::Invalid { line, column, .. } => {
                (self.file(), *line, *column)
            }
            _ => (self.file(), 0, 0),
        }
    }
}

/// Every problem of one load of a package repository (never empty).
#[derive(Debug)]
pub struct LoadErrors(Vec<RepoError>);

impl LoadErrors {
    /// Sorts the errors by file and position; `None` when there are none.
    pub fn new(mut errors: Vec<RepoError>) -> Option<Self> {
        if errors.is_empty() {
            return None;
        }
        errors.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        Some(Self(errors))
    }

    pub fn one(error: RepoError) -> Self {
        Self(vec![error])
    }

    pub fn errors(&self) -> &[RepoError] {
        &self.0
    }
}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems in the package repository:", many.len())?;
                for e in many {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LoadErrors {}
