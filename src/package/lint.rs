//! kiln's own checks of a package, as pure functions of the package, the
//! repository's other packages and the configured phases and images (no
//! I/O: whether a patch file exists is asked through a function the caller
//! gives). [`crate::lint`] adds the rendered script and the configured
//! `script_linter`, and is what `kiln lint` and `kiln submit` call.

use std::fmt;

use super::{DependencyKind, HashKind, PackageId, PackageSet};
use crate::config::ImageConfig;

/// How much a finding matters: an error makes a package unfit to build; a
/// warning names something that is probably a mistake but changes no build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Which image list of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageList {
    Allowed,
    Denied,
}

impl ImageList {
    pub fn key(self) -> &'static str {
        match self {
            ImageList::Allowed => "allowed_images",
            ImageList::Denied => "denied_images",
        }
    }
}

/// One problem found in one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub package: PackageId,
    pub kind: FindingKind,
}

impl Finding {
    pub fn severity(&self) -> Severity {
        self.kind.severity()
    }
}

/// What was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingKind {
    /// The package has a phase that `available_phases` does not list: it is
    /// left out of the script.
    UnknownPhase { phase: String, origin: String },
    /// A patch file is not there (the loader refuses these, so this is seen
    /// only when a file went away after loading).
    MissingPatch { patch: String },
    /// A source has no hash, or one that cannot be a hash of its kind.
    SourceHash { source: String, problem: String },
    /// `allowed_images` or `denied_images` names an image that
    /// `docker.images` does not have.
    UnknownImage { list: ImageList, image: String },
    /// `allowed_images` names none of the configured images: the package can
    /// be built on none of them.
    NoAllowedImage,
    /// A dependency names a package the repository does not have.
    MissingDependency {
        kind: DependencyKind,
        dependency: String,
    },
    /// The script could not be rendered.
    Script { message: String },
    /// The configured `script_linter` rejected the script.
    Linter { status: String, output: String },
}

impl FindingKind {
    pub fn severity(&self) -> Severity {
        match self {
            FindingKind::UnknownImage { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FindingKind::UnknownPhase { phase, origin } => write!(
                f,
                "phase `{phase}` ({origin}) is not in available_phases, so the script leaves it out"
            ),
            FindingKind::MissingPatch { patch } => write!(f, "patch `{patch}` does not exist"),
            FindingKind::SourceHash { source, problem } => {
                write!(f, "source `{source}`: {problem}")
            }
            FindingKind::UnknownImage { list, image } => write!(
                f,
                "{} names `{image}`, which is not an image of docker.images",
                list.key()
            ),
            FindingKind::NoAllowedImage => f.write_str(
                "allowed_images names none of the images of docker.images: the package cannot be built",
            ),
            FindingKind::MissingDependency { kind, dependency } => write!(
                f,
                "{kind} dependency `{dependency}` names no package of the repository"
            ),
            FindingKind::Script { message } => write!(f, "the script does not render: {message}"),
            FindingKind::Linter { status, output } => {
                write!(f, "script_linter failed ({status})")?;
                let output = output.trim_end();
                if !output.is_empty() {
                    write!(f, ":\n{output}")?;
                }
                Ok(())
            }
        }
    }
}

/// What the pure checks compare a package with.
pub struct Rules<'a> {
    /// `available_phases`.
    pub phases: &'a [String],
    /// `docker.images`.
    pub images: &'a [ImageConfig],
    /// Every package of the repository (dependencies are looked up here).
    pub packages: &'a PackageSet,
    /// Whether a patch (a repository-relative path) exists.
    pub patch_exists: &'a (dyn Fn(&str) -> bool + Sync),
}

/// The findings of kiln's own checks for one package, in a fixed order:
/// phases, patches, sources, images, dependencies.
pub fn check(rules: &Rules<'_>, id: PackageId) -> Vec<Finding> {
    let package = rules.packages.get(id);
    let mut found = Vec::new();
    let mut push = |kind| found.push(Finding { package: id, kind });

    for (name, phase) in &package.phases {
        if !rules.phases.contains(name) {
            push(FindingKind::UnknownPhase {
                phase: name.clone(),
                origin: phase.origin.to_string(),
            });
        }
    }
    for patch in &package.patches {
        if !(rules.patch_exists)(patch) {
            push(FindingKind::MissingPatch {
                patch: patch.clone(),
            });
        }
    }
    for (key, source) in &package.sources {
        if let Some(problem) = hash_problem(source.hash.kind, &source.hash.hash) {
            push(FindingKind::SourceHash {
                source: key.clone(),
                problem,
            });
        }
    }
    let known = |image: &str| rules.images.iter().any(|i| super::image_is(i, image));
    let lists = [
        (ImageList::Allowed, package.allowed_images.as_deref()),
        (ImageList::Denied, Some(package.denied_images.as_slice())),
    ];
    for (list, images) in lists {
        for image in images.unwrap_or_default() {
            if !known(image) {
                push(FindingKind::UnknownImage {
                    list,
                    image: image.clone(),
                });
            }
        }
    }
    if let Some(allowed) = &package.allowed_images {
        if !allowed.iter().any(|i| known(i)) {
            push(FindingKind::NoAllowedImage);
        }
    }
    for (kind, dependency) in package.all_dependencies() {
        let present = rules
            .packages
            .find(dependency.name.as_str(), dependency.version.as_str())
            .is_some();
        if !present {
            push(FindingKind::MissingDependency {
                kind,
                dependency: dependency.to_string(),
            });
        }
    }
    found
}

/// What is wrong with a hash of `kind`, if anything.
fn hash_problem(kind: HashKind, hash: &str) -> Option<String> {
    if hash.is_empty() {
        return Some(format!(
            "no hash (hash.hash); a {} hash is needed",
            kind.as_str()
        ));
    }
    if !hash
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Some(format!("hash `{hash}` is not lower-case hexadecimal"));
    }
    if hash.len() != kind.hex_len() {
        return Some(format!(
            "a {} hash has {} hex digits, this one has {}",
            kind.as_str(),
            kind.hex_len(),
            hash.len()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::package::testing::package;
    use crate::package::{Package, Phase, PhaseOrigin, Source, SourceHash};

    fn image(name: &str, short: Option<&str>) -> ImageConfig {
        ImageConfig {
            name: name.into(),
            short_name: short.map(Into::into),
        }
    }

    fn with_source(mut p: Package, kind: HashKind, hash: &str) -> Package {
        p.sources.insert(
            "src".into(),
            Source {
                url: "https://example.org/x.tar.gz".into(),
                hash: SourceHash {
                    kind,
                    hash: hash.into(),
                },
                download_manually: false,
            },
        );
        p
    }

    fn with_phase(mut p: Package, name: &str) -> Package {
        p.phases.insert(
            name.into(),
            Phase {
                script: "true".into(),
                origin: PhaseOrigin::Inline {
                    layer: Arc::from(Path::new("x/pkg.toml")),
                },
            },
        );
        p
    }

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    /// Checks `subject` in a repository that also has `dep 1`, with phases
    /// `build`, `install` and images `deb:12` (short `deb`), `alpine:3`.
    fn check_one(subject: Package, expected: &[FindingKind]) {
        let name = subject.id_string();
        let (set, _) = PackageSet::new(vec![package("dep", "1", &[], &[]), subject]);
        let phases = strings(&["build", "install"]);
        let images = [image("deb:12", Some("deb")), image("alpine:3", None)];
        let patch_exists = |p: &str| p != "gone.patch";
        let rules = Rules {
            phases: &phases,
            images: &images,
            packages: &set,
            patch_exists: &patch_exists,
        };
        let id = set.versions("a")[0];
        let got: Vec<FindingKind> = check(&rules, id).into_iter().map(|f| f.kind).collect();
        assert_eq!(got, expected, "{name}");
    }

    #[test]
    fn checks() {
        let sha1 = "a".repeat(40);
        let mut denied = package("a", "1", &[], &[]);
        denied.denied_images = strings(&["deb", "ubuntu:24.04"]);
        let mut allowed = package("a", "1", &[], &[]);
        allowed.allowed_images = Some(strings(&["deb:12", "fedora"]));
        let mut none_allowed = package("a", "1", &[], &[]);
        none_allowed.allowed_images = Some(strings(&["fedora"]));
        let mut empty_allowed = package("a", "1", &[], &[]);
        empty_allowed.allowed_images = Some(Vec::new());
        let mut patched = package("a", "1", &[], &[]);
        patched.patches = strings(&["here.patch", "gone.patch"]);
        let cases: Vec<(Package, Vec<FindingKind>)> = vec![
            (package("a", "1", &["dep =1"], &["dep 1"]), vec![]),
            (
                package("a", "1", &["dep =2"], &["nope =1"]),
                vec![
                    FindingKind::MissingDependency {
                        kind: DependencyKind::Build,
                        dependency: "dep =2".into(),
                    },
                    FindingKind::MissingDependency {
                        kind: DependencyKind::Runtime,
                        dependency: "nope =1".into(),
                    },
                ],
            ),
            (
                with_phase(with_phase(package("a", "1", &[], &[]), "build"), "tset"),
                vec![FindingKind::UnknownPhase {
                    phase: "tset".into(),
                    origin: "set in x/pkg.toml".into(),
                }],
            ),
            (
                patched,
                vec![FindingKind::MissingPatch {
                    patch: "gone.patch".into(),
                }],
            ),
            (
                with_source(package("a", "1", &[], &[]), HashKind::Sha1, &sha1),
                vec![],
            ),
            (
                with_source(package("a", "1", &[], &[]), HashKind::Sha1, ""),
                vec![FindingKind::SourceHash {
                    source: "src".into(),
                    problem: "no hash (hash.hash); a sha1 hash is needed".into(),
                }],
            ),
            (
                with_source(package("a", "1", &[], &[]), HashKind::Sha256, &sha1),
                vec![FindingKind::SourceHash {
                    source: "src".into(),
                    problem: "a sha256 hash has 64 hex digits, this one has 40".into(),
                }],
            ),
            (
                with_source(package("a", "1", &[], &[]), HashKind::Sha1, &"A".repeat(40)),
                vec![FindingKind::SourceHash {
                    source: "src".into(),
                    problem: format!("hash `{}` is not lower-case hexadecimal", "A".repeat(40)),
                }],
            ),
            (
                denied,
                vec![FindingKind::UnknownImage {
                    list: ImageList::Denied,
                    image: "ubuntu:24.04".into(),
                }],
            ),
            (
                allowed,
                vec![FindingKind::UnknownImage {
                    list: ImageList::Allowed,
                    image: "fedora".into(),
                }],
            ),
            (
                none_allowed,
                vec![
                    FindingKind::UnknownImage {
                        list: ImageList::Allowed,
                        image: "fedora".into(),
                    },
                    FindingKind::NoAllowedImage,
                ],
            ),
            (empty_allowed, vec![FindingKind::NoAllowedImage]),
        ];
        for (subject, expected) in cases {
            check_one(subject, &expected);
        }
    }

    #[test]
    fn severities_and_messages() {
        let unknown = FindingKind::UnknownImage {
            list: ImageList::Denied,
            image: "x".into(),
        };
        assert_eq!(unknown.severity(), Severity::Warning);
        assert_eq!(
            unknown.to_string(),
            "denied_images names `x`, which is not an image of docker.images"
        );
        let linter = FindingKind::Linter {
            status: "exit code 1".into(),
            output: "line 3: bad\n".into(),
        };
        assert_eq!(linter.severity(), Severity::Error);
        assert_eq!(
            linter.to_string(),
            "script_linter failed (exit code 1):\nline 3: bad"
        );
        assert_eq!(FindingKind::NoAllowedImage.severity(), Severity::Error);
    }
}
