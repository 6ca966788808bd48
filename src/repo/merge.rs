//! Merging the layers of one leaf into a [`Package`], root first: tables
//! merge key by key (a deeper layer's key wins), arrays and scalars are
//! replaced whole by the deepest layer that sets them. Nothing can be
//! deleted. A phase is one value: a deeper layer's `phases.NAME` (with
//! `script` or `path`) replaces a shallower one's.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::error::RepoError;
use super::layer::Layer;
use crate::package::{Dependencies, Package, Source, SourceHash};

/// Merges `chain` (root first, the leaf last) into the leaf's package.
pub fn merge(
    root: &Path,
    leaf_file: &Arc<Path>,
    chain: &[(&Arc<Path>, &Layer)],
) -> Result<Package, Vec<RepoError>> {
    let mut errors = Vec::new();
    let missing = |key: &str, errors: &mut Vec<RepoError>| {
        errors.push(RepoError::Merged {
            file: root.join(leaf_file),
            key: key.to_owned(),
            message: "missing (no layer from the repository root down to this file sets it)".into(),
        });
    };
    // The deepest layer that sets a replaced-whole value.
    macro_rules! deepest {
        ($field:ident) => {
            chain.iter().rev().find_map(|(_, l)| l.$field.as_ref())
        };
    }
    let name = deepest!(name);
    let version = deepest!(version);
    if name.is_none() {
        missing("name", &mut errors);
    }
    if version.is_none() {
        missing("version", &mut errors);
    }

    let mut environment = BTreeMap::new();
    let mut meta = BTreeMap::new();
    let mut phases = BTreeMap::new();
    let mut partial_sources = BTreeMap::new();
    // The layer that set a replaced-whole value.
    macro_rules! deepest_file {
        ($field:ident) => {
            chain
                .iter()
                .rev()
                .find(|(_, l)| l.$field.is_some())
                .map(|(f, _)| Arc::clone(f))
        };
    }
    for (_, layer) in chain {
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
            let merged: &mut super::layer::PartialSource =
                partial_sources.entry(key.as_str()).or_default();
            if partial.url.is_some() {
                merged.url.clone_from(&partial.url);
            }
            if partial.hash.is_some() {
                merged.hash.clone_from(&partial.hash);
            }
            merged.hash_type = partial.hash_type.or(merged.hash_type);
            merged.download_manually = partial.download_manually.or(merged.download_manually);
        }
    }

    let mut sources = BTreeMap::new();
    for (key, partial) in partial_sources {
        let fail = |field: &str, message: String, errors: &mut Vec<RepoError>| {
            errors.push(RepoError::Merged {
                file: root.join(leaf_file),
                key: format!("sources.{key}.{field}"),
                message,
            });
        };
        let url = partial.url;
        let kind = partial.hash_type;
        let hash = partial.hash;
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
            let message = format!(
                "a {} hash has {} hex digits, this one has {}",
                kind.as_str(),
                kind.hex_len(),
                hash.len()
            );
            fail("hash.hash", message, &mut errors);
            continue;
        }
        let download_manually = partial.download_manually.unwrap_or(false);
        sources.insert(
            key.to_owned(),
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
        name: name.clone(),
        version: version.clone(),
        sources,
        dependencies: Dependencies {
            build: deepest!(build).cloned().unwrap_or_default(),
            runtime: deepest!(runtime).cloned().unwrap_or_default(),
            build_file: deepest_file!(build),
            runtime_file: deepest_file!(runtime),
        },
        patches: deepest!(patches).cloned().unwrap_or_default(),
        environment,
        allowed_images: deepest!(allowed_images).cloned(),
        denied_images: deepest!(denied_images).cloned().unwrap_or_default(),
        meta,
        phases,
        file: leaf_file.clone(),
    })
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

    /// Merges `chain` and hands the package to `expect`.
    fn check(chain: Vec<Layer>, expect: impl FnOnce(Result<Package, Vec<String>>)) {
        let files: Vec<Arc<Path>> = (0..chain.len())
            .map(|i| Arc::from(Path::new(&format!("layer{i}/pkg.toml"))))
            .collect();
        let refs: Vec<(&Arc<Path>, &Layer)> = files.iter().zip(chain.iter()).collect();
        let got = merge(Path::new("/repo"), &leaf(), &refs)
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
                assert_eq!(build_file, Path::new("layer1/pkg.toml"));
                let runtime_file = p.dependency_file(crate::package::DependencyKind::Runtime);
                assert_eq!(runtime_file, Path::new("a/b/pkg.toml"), "unset: the leaf");
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
