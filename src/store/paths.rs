//! The one check that a path kiln builds from repository or configuration
//! data stays under the root it is built under: the source cache
//! (`<source_cache>/<name>-<version>/<key>.source`), the release stores
//! (`<releases_root>/<store>/<path>`), the staging directory's artifacts
//! and the `--write-log` files (`<log_dir>/<submit>/<name>-<version>-<job>.log`).
//!
//! Every such path is the root joined with parts that are each one plain
//! component: not empty, not `.` or `..`, without `/` or `\`, without
//! control characters. The loaders already refuse names, versions and keys
//! that could break this; the check here makes it hold whatever a caller
//! passes. Pure: it looks at strings only, never at the file system.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::escape_controls;

/// Why a part cannot be one component of a path under a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentProblem {
    Empty,
    Dots,
    Separator,
    Control,
}

impl fmt::Display for ComponentProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ComponentProblem::Empty => "is empty",
            ComponentProblem::Dots => "is `.` or `..`",
            ComponentProblem::Separator => "holds a path separator (`/` or `\\`)",
            ComponentProblem::Control => "holds a control character",
        })
    }
}

/// A path that would not stay under its root, with the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{}` cannot be part of a path under {}: it {problem}", escape_controls(.part), .root.display())]
pub struct PathError {
    pub root: PathBuf,
    pub part: String,
    pub problem: ComponentProblem,
}

/// Why `part` cannot be one component of a path, if it cannot.
pub fn component_problem(part: &str) -> Option<ComponentProblem> {
    if part.is_empty() {
        Some(ComponentProblem::Empty)
    } else if part == "." || part == ".." {
        Some(ComponentProblem::Dots)
    } else if part.contains(['/', '\\']) {
        Some(ComponentProblem::Separator)
    } else if part.chars().any(char::is_control) {
        Some(ComponentProblem::Control)
    } else {
        None
    }
}

/// `root/part/part/...`, refused unless every part is one plain component,
/// so that the path stays under `root`.
pub fn under_root(root: &Path, parts: &[&str]) -> Result<PathBuf, PathError> {
    let mut path = root.to_owned();
    for part in parts {
        if let Some(problem) = component_problem(part) {
            return Err(PathError {
                root: root.to_owned(),
                part: (*part).to_owned(),
                problem,
            });
        }
        path.push(part);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(parts: &[&str], expected: Result<&str, ComponentProblem>) {
        let got = under_root(Path::new("/root"), parts);
        match (&got, expected) {
            (Ok(path), Ok(want)) => {
                assert_eq!(path, Path::new(want), "{parts:?}");
                assert!(path.starts_with("/root"), "{parts:?}");
            }
            (Err(e), Err(problem)) => assert_eq!(e.problem, problem, "{parts:?}"),
            _ => panic!("{parts:?}: {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn paths_stay_under_their_root() {
        use ComponentProblem::*;
        for (parts, expected) in [
            (&["zlib-1.3"][..], Ok("/root/zlib-1.3")),
            (&["zlib-1.3", "src.source"], Ok("/root/zlib-1.3/src.source")),
            (&["..a", "b.."], Ok("/root/..a/b..")),
            (&[], Ok("/root")),
            (&["x-1/../../../../tmp/x"], Err(Separator)),
            (&["..", "etc"], Err(Dots)),
            (&["."], Err(Dots)),
            (&["a", ""], Err(Empty)),
            (&["/etc/passwd"], Err(Separator)),
            (&["a\\..\\b"], Err(Separator)),
            (&["a\0b"], Err(Control)),
            (&["a\nb"], Err(Control)),
        ] {
            check(parts, expected);
        }
    }

    #[test]
    fn the_error_names_the_part_escaped() {
        let err = under_root(Path::new("/cache"), &["x-1\u{1b}[2J"]).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "`x-1\\u{1b}[2J` cannot be part of a path under /cache: it holds a control character"
        );
    }
}
