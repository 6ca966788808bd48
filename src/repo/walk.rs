//! Discovery of every `pkg.toml` below the repository root, in parallel:
//! directories whose name starts with `.` are skipped and symbolic links are
//! never followed. The result is the layer tree, flattened: each layer knows
//! its parent layer (the nearest `pkg.toml` above it) and whether it is a
//! leaf (no `pkg.toml` anywhere below it).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use super::error::RepoError;

/// The name every layer file has.
pub const LAYER_FILE: &str = "pkg.toml";

/// One `pkg.toml` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFile {
    /// Its directory, relative to the repository root (empty for the root).
    pub dir: PathBuf,
    /// The index of the nearest layer above it.
    pub parent: Option<usize>,
    pub is_leaf: bool,
}

/// A directory whose subtree holds at least one `pkg.toml`.
struct Scan {
    dir: PathBuf,
    has_layer: bool,
    children: Vec<Scan>,
}

/// Every layer below `root`, parents before children, siblings by name.
pub fn discover(root: &Path) -> (Vec<LayerFile>, Vec<RepoError>) {
    let errors = Mutex::new(Vec::new());
    let scan = scan(root, PathBuf::new(), &errors);
    let mut layers = Vec::new();
    if let Some(scan) = scan {
        flatten(scan, &mut layers);
    }
    let errors = errors
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    (layers, errors)
}

fn scan(root: &Path, dir: PathBuf, errors: &Mutex<Vec<RepoError>>) -> Option<Scan> {
    let abs = root.join(&dir);
    let report = |source| {
        if let Ok(mut errors) = errors.lock() {
            errors.push(RepoError::Read {
                path: abs.clone(),
                source,
            });
        }
    };
    let entries = match std::fs::read_dir(&abs) {
        Ok(entries) => entries,
        Err(e) => {
            report(e);
            return None;
        }
    };
    let mut has_layer = false;
    let mut subdirs: Vec<OsString> = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                report(e);
                continue;
            }
        };
        // The type of the entry itself: a symbolic link is neither a file nor a directory here.
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        if file_type.is_dir() {
            if !name.as_encoded_bytes().starts_with(b".") {
                subdirs.push(name);
            }
        } else if file_type.is_file() && name == LAYER_FILE {
            has_layer = true;
        }
    }
    subdirs.sort_unstable();
    let children: Vec<Scan> = subdirs
        .into_par_iter()
        .filter_map(|name| scan(root, dir.join(name), errors))
        .collect();
    (has_layer || !children.is_empty()).then_some(Scan {
        dir,
        has_layer,
        children,
    })
}

/// Appends the layers of `scan` in depth-first order (without recursion).
fn flatten(scan: Scan, layers: &mut Vec<LayerFile>) {
    let mut stack: Vec<(Scan, Option<usize>)> = vec![(scan, None)];
    while let Some((scan, parent)) = stack.pop() {
        let mut parent_of_children = parent;
        if scan.has_layer {
            parent_of_children = Some(layers.len());
            layers.push(LayerFile {
                dir: scan.dir,
                parent,
                is_leaf: scan.children.is_empty(),
            });
        }
        // Reversed so that the first child is taken from the stack first.
        for child in scan.children.into_iter().rev() {
            stack.push((child, parent_of_children));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(files: &[&str], dirs_only: &[&str], expected: &[(&str, Option<&str>, bool)]) {
        let tmp = tempfile::tempdir().expect("temporary directory");
        for f in files {
            let path = tmp.path().join(f);
            std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(&path, "").expect("write");
        }
        for d in dirs_only {
            std::fs::create_dir_all(tmp.path().join(d)).expect("mkdir");
        }
        let (layers, errors) = discover(tmp.path());
        assert!(errors.is_empty(), "{errors:?}");
        let got: Vec<(String, Option<String>, bool)> = layers
            .iter()
            .map(|l| {
                let parent = l.parent.map(|p| layers[p].dir.display().to_string());
                (l.dir.display().to_string(), parent, l.is_leaf)
            })
            .collect();
        let expected: Vec<(String, Option<String>, bool)> = expected
            .iter()
            .map(|(d, p, leaf)| (d.to_string(), p.map(str::to_string), *leaf))
            .collect();
        assert_eq!(got, expected, "files {files:?}");
    }

    #[test]
    fn discovery() {
        check(&["pkg.toml"], &[], &[("", None, true)]);
        check(
            &["pkg.toml", "a/pkg.toml", "b/x/pkg.toml", "b/pkg.toml"],
            &["empty/dir"],
            &[
                ("", None, false),
                ("a", Some(""), true),
                ("b", Some(""), false),
                ("b/x", Some("b"), true),
            ],
        );
        // No root layer; a directory between two layers without a file of its own.
        check(
            &["g/pkg.toml", "g/mid/leaf/pkg.toml", "h/leaf/pkg.toml"],
            &[],
            &[
                ("g", None, false),
                ("g/mid/leaf", Some("g"), true),
                ("h/leaf", None, true),
            ],
        );
        // Hidden directories are skipped, other files ignored.
        check(
            &[
                "a/pkg.toml",
                ".git/pkg.toml",
                "a/.hidden/pkg.toml",
                "a/README",
            ],
            &[],
            &[("a", None, true)],
        );
        check(&[], &["a"], &[]);
    }

    #[test]
    fn symlinks_are_not_followed() {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let outside = tempfile::tempdir().expect("temporary directory");
        std::fs::write(outside.path().join("pkg.toml"), "").expect("write");
        std::fs::create_dir_all(tmp.path().join("a")).expect("mkdir");
        std::fs::write(tmp.path().join("a/pkg.toml"), "").expect("write");
        std::os::unix::fs::symlink(outside.path(), tmp.path().join("link")).expect("symlink");
        std::os::unix::fs::symlink(tmp.path().join("a/pkg.toml"), tmp.path().join("pkg.toml"))
            .expect("symlink");
        let (layers, errors) = discover(tmp.path());
        assert!(errors.is_empty(), "{errors:?}");
        let dirs: Vec<_> = layers.iter().map(|l| l.dir.display().to_string()).collect();
        assert_eq!(dirs, vec!["a"]);
    }
}
