//! Packages, names, versions, dependencies, conditions and script rendering.
//! No I/O: [`crate::repo`] reads the files and builds these values.
//!
//! A [`Package`] is the merge of every `pkg.toml` layer from the repository
//! root down to its leaf (see `docs/package-repository.md`); a
//! [`PackageSet`] holds all packages of a repository, indexed by name and
//! version.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

mod dependency;
mod env_name;
pub mod lint;
mod name;
pub mod script;

pub use dependency::{
    image_is, parse_env_assignment, Condition, Dependency, DependencyError, DependencyKind, Target,
};
pub use env_name::{is_env_name, ENV_NAME_RULE};
pub use name::{NameError, PackageName, PackageVersion};

/// One package: the merged layers of one leaf `pkg.toml`.
///
/// Serialized (for script templates and records) as the package's fields in
/// `pkg.toml` terms: `name`, `version`, `sources`, `dependencies`,
/// `patches` (repository-relative paths), `environment`, `allowed_images`,
/// `denied_images`, `meta`. Phases are not part of it: they are the
/// templates themselves.
#[derive(Debug, Clone, Serialize)]
pub struct Package {
    pub name: PackageName,
    pub version: PackageVersion,
    pub sources: BTreeMap<String, Source>,
    pub dependencies: Dependencies,
    /// Repository-relative paths, `/`-separated, normalised, existing.
    pub patches: Vec<String>,
    pub environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_images: Option<Vec<String>>,
    pub denied_images: Vec<String>,
    pub meta: BTreeMap<String, String>,
    #[serde(skip)]
    pub phases: BTreeMap<String, Phase>,
    /// The leaf `pkg.toml`, relative to the repository root.
    #[serde(skip)]
    pub file: Arc<Path>,
}

impl Package {
    /// `NAME VERSION`, the way kiln names a package in messages.
    pub fn id_string(&self) -> String {
        format!("{} {}", self.name, self.version)
    }

    /// Dependencies of both kinds, build first, in the order written.
    pub fn all_dependencies(&self) -> impl Iterator<Item = (DependencyKind, &Dependency)> {
        let build = self
            .dependencies
            .build
            .iter()
            .map(|d| (DependencyKind::Build, d));
        let runtime = self
            .dependencies
            .runtime
            .iter()
            .map(|d| (DependencyKind::Runtime, d));
        build.chain(runtime)
    }

    /// The layer that set the dependencies of `kind` (the leaf when unknown).
    pub fn dependency_file(&self, kind: DependencyKind) -> &Path {
        let file = match kind {
            DependencyKind::Build => &self.dependencies.build_file,
            DependencyKind::Runtime => &self.dependencies.runtime_file,
        };
        file.as_deref().unwrap_or(&self.file)
    }

    /// Why building this package on `image` is refused, if it is.
    pub fn image_refusal(&self, image: &crate::config::ImageConfig) -> Option<ImageRefusal> {
        if let Some(allowed) = &self.allowed_images {
            if !allowed.iter().any(|i| image_is(image, i)) {
                return Some(ImageRefusal::NotAllowed);
            }
        }
        if self.denied_images.iter().any(|i| image_is(image, i)) {
            return Some(ImageRefusal::Denied);
        }
        None
    }
}

/// Why a package may not be built on an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageRefusal {
    /// `allowed_images` is set and does not name the image.
    NotAllowed,
    /// `denied_images` names the image.
    Denied,
}

/// A source of a package, kept in the source cache as
/// `<source_cache>/<name>-<version>/<key>.source`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub url: String,
    pub hash: SourceHash,
    pub download_manually: bool,
}

/// The expected checksum of a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceHash {
    #[serde(rename = "type")]
    pub kind: HashKind,
    /// Lower-case hex, of the length the kind implies.
    pub hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HashKind {
    Sha1,
    Sha256,
    Sha512,
}

impl HashKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sha1" => Some(HashKind::Sha1),
            "sha256" => Some(HashKind::Sha256),
            "sha512" => Some(HashKind::Sha512),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HashKind::Sha1 => "sha1",
            HashKind::Sha256 => "sha256",
            HashKind::Sha512 => "sha512",
        }
    }

    /// The number of hex digits of a hash of this kind.
    pub fn hex_len(self) -> usize {
        match self {
            HashKind::Sha1 => 40,
            HashKind::Sha256 => 64,
            HashKind::Sha512 => 128,
        }
    }
}

/// `dependencies.build` and `dependencies.runtime`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dependencies {
    pub build: Vec<Dependency>,
    pub runtime: Vec<Dependency>,
    /// The layer that set `build`, relative to the repository root.
    #[serde(skip)]
    pub build_file: Option<Arc<Path>>,
    /// The layer that set `runtime`, relative to the repository root.
    #[serde(skip)]
    pub runtime_file: Option<Arc<Path>>,
}

/// One phase of a package's script: its template text and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    pub script: String,
    pub origin: PhaseOrigin,
}

/// Where a phase's text was written (paths relative to the repository root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseOrigin {
    /// `phases.NAME.script` in this layer.
    Inline { layer: Arc<Path> },
    /// `phases.NAME.path` in `layer`, naming `file`.
    File { layer: Arc<Path>, file: String },
}

impl std::fmt::Display for PhaseOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PhaseOrigin::Inline { layer } => write!(f, "set in {}", layer.display()),
            PhaseOrigin::File { layer, file } => {
                write!(f, "file {file}, set in {}", layer.display())
            }
        }
    }
}

/// The index of a package in its [`PackageSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageId(u32);

impl PackageId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Two leaves that define the same (name, version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicatePackage {
    pub name: PackageName,
    pub version: PackageVersion,
    pub first: Arc<Path>,
    pub second: Arc<Path>,
}

/// All packages of a repository, indexed by name and version.
#[derive(Debug, Clone, Default)]
pub struct PackageSet {
    packages: Vec<Package>,
    by_name: HashMap<PackageName, Vec<PackageId>>,
}

impl PackageSet {
    /// Indexes `packages`; every (name, version) defined twice is reported
    /// with both files (the set keeps the first).
    pub fn new(packages: Vec<Package>) -> (Self, Vec<DuplicatePackage>) {
        let mut by_name: HashMap<PackageName, Vec<PackageId>> =
            HashMap::with_capacity(packages.len());
        let mut duplicates = Vec::new();
        let mut kept = Vec::with_capacity(packages.len());
        for package in packages {
            let ids = by_name.entry(package.name.clone()).or_default();
            if let Some(first) = ids
                .iter()
                .find(|id| kept_version(&kept, **id) == &package.version)
            {
                let first: &Package = &kept[first.index()];
                duplicates.push(DuplicatePackage {
                    name: package.name.clone(),
                    version: package.version.clone(),
                    first: first.file.clone(),
                    second: package.file.clone(),
                });
                continue;
            }
            let Ok(id) = u32::try_from(kept.len()) else {
                break;
            };
            ids.push(PackageId(id));
            kept.push(package);
        }
        (
            Self {
                packages: kept,
                by_name,
            },
            duplicates,
        )
    }

    pub fn len(&self) -> usize {
        self.packages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    pub fn get(&self, id: PackageId) -> &Package {
        &self.packages[id.index()]
    }

    pub fn iter(&self) -> impl Iterator<Item = (PackageId, &Package)> {
        self.packages
            .iter()
            .enumerate()
            .map(|(i, p)| (PackageId(i as u32), p))
    }

    /// The package `name` `version`, if the repository has it.
    pub fn find(&self, name: &str, version: &str) -> Option<PackageId> {
        self.versions(name)
            .iter()
            .copied()
            .find(|id| self.packages[id.index()].version.as_str() == version)
    }

    /// All versions of `name`, in the order they were loaded.
    pub fn versions(&self, name: &str) -> &[PackageId] {
        self.by_name.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The highest version of `name` (see [`PackageVersion::cmp_release`]).
    pub fn highest(&self, name: &str) -> Option<PackageId> {
        self.versions(name)
            .iter()
            .copied()
            .max_by(|a, b| self.get(*a).version.cmp_release(&self.get(*b).version))
    }
}

fn kept_version(kept: &[Package], id: PackageId) -> &PackageVersion {
    &kept[id.index()].version
}

#[cfg(test)]
pub(crate) mod testing {
    //! Packages written in code, for the tests of this crate's pure modules.

    use super::*;

    /// A package `name` `version` with the given dependency strings.
    pub fn package(name: &str, version: &str, build: &[&str], runtime: &[&str]) -> Package {
        let deps = |specs: &[&str]| {
            specs
                .iter()
                .map(|s| Dependency::parse(s).expect("valid dependency"))
                .collect::<Vec<_>>()
        };
        Package {
            name: PackageName::new(name).expect("valid name"),
            version: PackageVersion::new(version).expect("valid version"),
            sources: BTreeMap::new(),
            dependencies: Dependencies {
                build: deps(build),
                runtime: deps(runtime),
                ..Default::default()
            },
            patches: Vec::new(),
            environment: BTreeMap::new(),
            allowed_images: None,
            denied_images: Vec::new(),
            meta: BTreeMap::new(),
            phases: BTreeMap::new(),
            file: Arc::from(Path::new(&format!("{name}-{version}/pkg.toml"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::package;
    use super::*;

    #[test]
    fn set_indexes_and_reports_duplicates() {
        let mut dup = package("a", "1", &[], &[]);
        dup.file = Arc::from(Path::new("other/pkg.toml"));
        let (set, dups) = PackageSet::new(vec![
            package("a", "1", &[], &[]),
            package("a", "1.10", &[], &[]),
            package("a", "1.9", &[], &[]),
            dup,
            package("b", "2", &[], &[]),
        ]);
        assert_eq!(set.len(), 4);
        assert_eq!(dups.len(), 1);
        assert_eq!(dups[0].first.to_str(), Some("a-1/pkg.toml"));
        assert_eq!(dups[0].second.to_str(), Some("other/pkg.toml"));
        let found = set.find("a", "1.9").map(|id| set.get(id).version.as_str());
        assert_eq!(found, Some("1.9"));
        assert_eq!(set.find("a", "2"), None);
        let highest = set.highest("a").map(|id| set.get(id).version.as_str());
        assert_eq!(highest, Some("1.10"));
        assert_eq!(set.highest("zzz"), None);
        assert_eq!(set.versions("a").len(), 3);
    }

    fn check_refusal(
        allowed: Option<&[&str]>,
        denied: &[&str],
        image: &str,
        expected: Option<ImageRefusal>,
    ) {
        let mut p = package("a", "1", &[], &[]);
        p.allowed_images = allowed.map(|a| a.iter().map(|s| s.to_string()).collect());
        p.denied_images = denied.iter().map(|s| s.to_string()).collect();
        let image = crate::config::ImageConfig {
            name: image.into(),
            short_name: Some("short".into()),
        };
        assert_eq!(
            p.image_refusal(&image),
            expected,
            "{allowed:?} {denied:?} {image:?}"
        );
    }

    #[test]
    fn image_refusals() {
        for (allowed, denied, image, expected) in [
            (None, &[][..], "deb:12", None),
            (Some(&["deb:12"][..]), &[][..], "deb:12", None),
            (Some(&["short"][..]), &[][..], "deb:12", None),
            (
                Some(&["alpine"][..]),
                &[][..],
                "deb:12",
                Some(ImageRefusal::NotAllowed),
            ),
            (
                Some(&[][..]),
                &[][..],
                "deb:12",
                Some(ImageRefusal::NotAllowed),
            ),
            (None, &["deb:12"][..], "deb:12", Some(ImageRefusal::Denied)),
            (None, &["short"][..], "deb:12", Some(ImageRefusal::Denied)),
            (None, &["alpine"][..], "deb:12", None),
        ] {
            check_refusal(allowed, denied, image, expected);
        }
    }
}
