//! Merging the layers of one leaf into a [`Package`], root first: tables
//! merge key by key (a deeper layer's key wins), arrays and scalars are
//! replaced whole by the deepest layer that sets them. Nothing can be
//! deleted. A phase is one value: a deeper layer's `phases.NAME` (with
//! `script` or `path`) replaces a shallower one's.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::error::RepoError;
use super::layer::{Layer, PartialSource};
use crate::package::{Dependencies, Package, Source, SourceHash};

/// Merges the layers of a leaf into its package: `shared` are the layers
/// above it (root first), borrowed because other leaves share them; the
/// leaf's own layer is taken, since no other package needs it.
pub fn merge(
    root: &Path,
    leaf_file: &Arc<Path>,
    shared: &[(&Arc<Path>, &Layer)],
    leaf: Layer,
) -> Result<Package, Vec<RepoError>> {
    let Layer {
        name,
        version,
        sources: leaf_sources,
        build,
        runtime,
        patches,
        environment: leaf_environment,
        allowed_images,
        denied_images,
        phases: leaf_phases,
        meta: leaf_meta,
    } = leaf;
    // A replaced-whole value: the leaf's own, else the deepest shared layer's.
    macro_rules! inherit {
        ($own:expr, $field:ident) => {
            $own.or_else(|| {
                shared
                    .iter()
                    .rev()
                    .find_map(|(_, l)| l.$field.as_ref())
                    .cloned()
            })
        };
    }
    // The layer that set a replaced-whole value.
    macro_rules! file_of {
        ($own:expr, $field:ident) => {
            if $own.is_some() {
                Some(Arc::clone(leaf_file))
            } else {
                shared
                    .iter()
                    .rev()
                    .find(|(_, l)| l.$field.is_some())
                    .map(|(f, _)| Arc::clone(f))
            }
        };
    }
    let build_file = file_of!(build, build);
    let runtime_file = file_of!(runtime, runtime);

    let mut errors = Vec::new();
    let missing = |key: &str, errors: &mut Vec<RepoError>| {
        errors.push(RepoError::Merged {
            file: root.join(leaf_file),
            key: key.to_owned(),
            message: "missing (no layer from the repository root down to this file sets it)".into(),
        });
    };
    let name = inherit!(name, name);
    let version = inherit!(version, version);
    if name.is_none() {
        missing("name", &mut errors);
    }
    if version.is_none() {
        missing("version", &mut errors);
    }

    let mut environment = BTreeMap::new();
    let mut meta = BTreeMap::new();
    let mut phases = BTreeMap::new();
    let mut partial_sources: BTreeMap<String, PartialSource> = BTreeMap::new();
    for (_, layer) in shared {
        for (k, v) in &layer.environment {
            environment.insert(k.clone(), v.clone());
        }
        for (k, v) in &layer.meta {
            meta.insert(k.clone(), v.clone());
        }
        for (k, v) in &layer.phases {
            phases.insert(k.clone(), v.clone());
        }
        for (key, partial) in &layer.sources {
            let merged = partial_sources.entry(key.clone()).or_default();
            merge_source(merged, partial.clone());
        }
    }
    environment.extend(leaf_environment);
    meta.extend(leaf_meta);
    phases.extend(leaf_phases);
    for (key, partial) in leaf_sources {
        merge_source(partial_sources.entry(key).or_default(), partial);
    }

    let mut sources = BTreeMap::new();
    for (key, partial) in partial_sources {
        let PartialSource {
            url,
            hash_type: kind,
            hash,
            download_manually,
        } = partial;
        if url.is_none() {
            missing(&format!("sources.{key}.url"), &mut errors);
        }
        if kind.is_none() {
            missing(&format!("sources.{key}.hash.type"), &mut errors);
        }
        if hash.is_none() {
            missing(&format!("sources.{key}.hash.hash"), &mut errors);
        }
        let (Some(url), Some(kind), Some(hash)) = (url, kind, hash) else {
            continue;
        };
        if hash.len() != kind.hex_len() {
            errors.push(RepoError::Merged {
                file: root.join(leaf_file),
                key: format!("sources.{key}.hash.hash"),
                message: format!(
                    "a {} hash has {} hex digits, this one has {}",
                    kind.as_str(),
                    kind.hex_len(),
                    hash.len()
                ),
            });
            continue;
        }
        let download_manually = download_manually.unwrap_or(false);
        sources.insert(
            key,
            Source {
                url,
                hash: SourceHash { kind, hash },
                download_manually,
            },
        );
    }

    let (Some(name), Some(version)) = (name, version) else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Package {
        name,
        version,
        sources,
        dependencies: Dependencies {
            build: inherit!(build, build).unwrap_or_default(),
            runtime: inherit!(runtime, runtime).unwrap_or_default(),
            build_file,
            runtime_file,
        },
        patches: inherit!(patches, patches).unwrap_or_default(),
        environment,
        allowed_images: inherit!(allowed_images, allowed_images),
        denied_images: inherit!(denied_images, denied_images).unwrap_or_default(),
        meta,
        phases,
        file: Arc::clone(leaf_file),
    })
}

/// Sets in `merged` every key that the deeper `partial` sets.
fn merge_source(merged: &mut PartialSource, partial: PartialSource) {
    if partial.url.is_some() {
        merged.url = partial.url;
    }
    if partial.hash.is_some() {
        merged.hash = partial.hash;
    }
    merged.hash_type = partial.hash_type.or(merged.hash_type);
    merged.download_manually = partial.download_manually.or(merged.download_manually);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::{Dependency, HashKind, PackageName, PackageVersion, Phase, PhaseOrigin};
    use crate::repo::layer::PartialSource;

    fn layer(f: impl FnOnce(&mut Layer)) -> Layer {
        let mut l = Layer::default();
        f(&mut l);
        l
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn named(name: &str, version: &str) -> Layer {
        layer(|l| {
            l.name = Some(PackageName::new(name).expect("valid"));
            l.version = Some(PackageVersion::new(version).expect("valid"));
        })
    }

    fn phase(script: &str) -> Phase {
        Phase {
            script: script.into(),
            origin: PhaseOrigin::Inline {
                layer: Arc::from(Path::new("x/pkg.toml")),
            },
        }
    }

    fn leaf() -> Arc<Path> {
        Arc::from(Path::new("a/b/pkg.toml"))
    }

    /// Merges `chain` (root first, the leaf last) and hands the package to `expect`.
    fn check(mut chain: Vec<Layer>, expect: impl FnOnce(Result<Package, Vec<String>>)) {
        let own = chain.pop().expect("a leaf");
        let files: Vec<Arc<Path>> = (0..chain.len())
            .map(|i| Arc::from(Path::new(&format!("layer{i}/pkg.toml"))))
            .collect();
        let refs: Vec<(&Arc<Path>, &Layer)> = files.iter().zip(chain.iter()).collect();
        let got = merge(Path::new("/repo"), &leaf(), &refs, own)
            .map_err(|e| e.iter().map(|e| e.to_string()).collect());
        expect(got);
    }

    #[test]
    fn merge_rules() {
        // Scalars: the deepest layer wins.
        check(vec![named("a", "1"), named("b", "2")], |p| {
            let p = p.expect("merges");
            assert_eq!((p.name.as_str(), p.version.as_str()), ("b", "2"));
        });
        // Tables merge key by key; deeper keys win; nothing is deleted.
        check(
            vec![
                layer(|l| l.environment = pairs(&[("A", "root"), ("B", "root")])),
                layer(|l| l.environment = pairs(&[("B", "mid"), ("C", "mid")])),
                layer(|l| {
                    *l = named("a", "1");
                    l.meta = pairs(&[("license", "MIT")]);
                }),
            ],
            |p| {
                let p = p.expect("merges");
                let env: Vec<_> = p
                    .environment
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                assert_eq!(env, vec!["A=root", "B=mid", "C=mid"]);
                assert_eq!(p.meta.get("license").map(String::as_str), Some("MIT"));
            },
        );
        // Arrays are replaced whole; an unset array keeps the shallower one.
        check(
            vec![
                layer(|l| {
                    l.patches = Some(vec!["common.patch".into()]);
                    l.build = Some(vec![Dependency::parse("make =4").expect("valid")]);
                    l.runtime = Some(vec![Dependency::parse("libc =2").expect("valid")]);
                    l.denied_images = Some(vec!["old".into()]);
                }),
                layer(|l| {
                    *l = named("a", "1");
                    l.build = Some(vec![Dependency::parse("cmake =3").expect("valid")]);
                }),
            ],
            |p| {
                let p = p.expect("merges");
                assert_eq!(p.patches, vec!["common.patch".to_string()]);
                let build: Vec<_> = p
                    .dependencies
                    .build
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                assert_eq!(build, vec!["cmake =3"]);
                let build_file = p.dependency_file(crate::package::DependencyKind::Build);
                assert_eq!(build_file, Path::new("a/b/pkg.toml"));
                let runtime_file = p.dependency_file(crate::package::DependencyKind::Runtime);
                assert_eq!(runtime_file, Path::new("layer0/pkg.toml"), "inherited");
                assert_eq!(p.denied_images, vec!["old".to_string()]);
                assert_eq!(p.allowed_images, None);
            },
        );
        // An empty array in a deeper layer replaces (empties) the shallower one.
        check(
            vec![
                layer(|l| l.patches = Some(vec!["x".into()])),
                layer(|l| {
                    *l = named("a", "1");
                    l.patches = Some(vec![]);
                }),
            ],
            |p| assert!(p.expect("merges").patches.is_empty()),
        );
        // Phases: a deeper phase replaces a shallower one of the same name.
        check(
            vec![
                layer(|l| {
                    l.phases = vec![
                        ("build".into(), phase("root build")),
                        ("unpack".into(), phase("tar x")),
                    ]
                }),
                layer(|l| {
                    *l = named("a", "1");
                    l.phases = vec![("build".into(), phase("leaf build"))];
                }),
            ],
            |p| {
                let p = p.expect("merges");
                assert_eq!(
                    p.phases.get("build").map(|p| p.script.as_str()),
                    Some("leaf build")
                );
                assert_eq!(
                    p.phases.get("unpack").map(|p| p.script.as_str()),
                    Some("tar x")
                );
            },
        );
        // Sources merge field by field across layers.
        check(
            vec![
                layer(|l| {
                    l.sources = vec![(
                        "src".into(),
                        PartialSource {
                            hash_type: Some(HashKind::Sha1),
                            download_manually: Some(true),
                            ..Default::default()
                        },
                    )]
                }),
                layer(|l| {
                    *l = named("a", "1");
                    l.sources = vec![(
                        "src".into(),
                        PartialSource {
                            url: Some("u".into()),
                            hash: Some("a".repeat(40)),
                            ..Default::default()
                        },
                    )];
                }),
            ],
            |p| {
                let p = p.expect("merges");
                let src = p.sources.get("src").expect("source");
                assert_eq!(
                    (src.url.as_str(), src.hash.kind, src.download_manually),
                    ("u", HashKind::Sha1, true)
                );
            },
        );
        // Missing required keys name the leaf.
        check(vec![layer(|l| l.meta = pairs(&[("a", "b")]))], |p| {
            let errors = p.expect_err("incomplete");
            assert_eq!(errors.len(), 2);
            assert!(
                errors[0].contains("/repo/a/b/pkg.toml: `name`: missing"),
                "{errors:?}"
            );
            assert!(errors[1].contains("`version`: missing"), "{errors:?}");
        });
        check(
            vec![layer(|l| {
                *l = named("a", "1");
                l.sources = vec![(
                    "src".into(),
                    PartialSource {
                        url: Some("u".into()),
                        hash_type: Some(HashKind::Sha256),
                        hash: Some("ab".into()),
                        ..Default::default()
                    },
                )];
            })],
            |p| {
                let errors = p.expect_err("bad hash");
                assert!(
                    errors[0].contains("`sources.src.hash.hash`: a sha256 hash has 64 hex digits"),
                    "{errors:?}"
                );
            },
        );
        check(
            vec![layer(|l| {
                *l = named("a", "1");
                l.sources = vec![(
                    "src".into(),
                    PartialSource {
                        url: Some("u".into()),
                        ..Default::default()
                    },
                )];
            })],
            |p| {
                let errors = p.expect_err("no hash");
                assert!(
                    errors
                        .iter()
                        .any(|e| e.contains("`sources.src.hash.type`: missing")),
                    "{errors:?}"
                );
                assert!(
                    errors
                        .iter()
                        .any(|e| e.contains("`sources.src.hash.hash`: missing")),
                    "{errors:?}"
                );
            },
        );
    }
}
