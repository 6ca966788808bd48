//! Dependency DAGs of a root package, cycles, build order and build keys. No I/O.
//!
//! [`Plan::new`] resolves the tree of a root package for a [`Target`] (the
//! image and the command line's variables decide which conditional
//! dependencies apply) in one iterative depth-first search, linear in the
//! size of the graph: a missing dependency, a cycle, or a package that may
//! not be built on the image is an error, and all of them are reported
//! together. The plan gives the build order (dependencies first), each
//! node's direct dependencies with their kind, and each node's longest
//! chain of dependents, which the scheduler runs first.

pub mod build_key;

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::package::{DependencyKind, ImageRefusal, Package, PackageId, PackageSet, Target};

/// The index of a node in its [`Plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A direct dependency of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub to: NodeId,
    pub kind: DependencyKind,
}

/// One package of the tree.
#[derive(Debug, Clone)]
pub struct Node {
    pub package: PackageId,
    /// Direct dependencies that apply to the target, build ones first, in
    /// the order the package lists them.
    pub dependencies: Vec<Edge>,
    /// The number of packages on the longest chain of packages that wait
    /// for this one (0 for the root): the higher, the sooner to build.
    pub dependents_chain: u32,
}

/// One reason the tree of a package cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The packages form a cycle, shown from its first package back to it.
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    #[error("{package} (in {}) depends on {dependency}, which the repository does not have", file.display())]
    MissingDependency {
        package: String,
        file: PathBuf,
        dependency: String,
    },
    #[error("{package} (in {}) may not be built on image {image}: it is not in its allowed_images", file.display())]
    ImageNotAllowed {
        package: String,
        file: PathBuf,
        image: String,
    },
    #[error("{package} (in {}) may not be built on image {image}: it is in its denied_images", file.display())]
    ImageDenied {
        package: String,
        file: PathBuf,
        image: String,
    },
}

/// Every problem of the tree of one package (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanErrors(pub Vec<PlanError>);

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems in the dependency tree:", many.len())?;
                for e in many {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for PlanErrors {}

/// At most this many cycles are reported (each one can be long).
const MAX_CYCLES: usize = 10;

/// The resolved dependency DAG of a root package, with its build order.
#[derive(Debug, Clone)]
pub struct Plan {
    nodes: Vec<Node>,
    order: Vec<NodeId>,
}

/// Where the search stands with a node.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// On the current path of the search.
    Open,
    /// Finished: it and all it depends on are in the order.
    Done,
}

const UNSEEN: u32 = u32::MAX;

/// A node on the path of the depth-first search.
struct Frame {
    node: NodeId,
    /// Its dependencies that apply, resolved to packages.
    dependencies: Vec<(PackageId, DependencyKind)>,
    /// How many of them were visited.
    next: usize,
}

/// The state of [`Plan::new`]'s depth-first search.
struct Search<'a> {
    packages: &'a PackageSet,
    target: &'a Target<'a>,
    /// Per package of the set: its node, or [`UNSEEN`].
    node_of: Vec<u32>,
    nodes: Vec<Node>,
    marks: Vec<Mark>,
    errors: Vec<PlanError>,
}

impl Search<'_> {
    /// Makes the node of `package`: checks the image, resolves the
    /// dependencies that apply (to packages; they become nodes as the
    /// search reaches them).
    fn open(&mut self, package: PackageId) -> (NodeId, Vec<(PackageId, DependencyKind)>) {
        let id = NodeId(self.nodes.len() as u32);
        self.node_of[package.index()] = id.0;
        let p = self.packages.get(package);
        if let Some(image) = self.target.image {
            if let Some(refusal) = p.image_refusal(image) {
                let (package, file, image) =
                    (p.id_string(), p.file.to_path_buf(), image.name.clone());
                self.errors.push(match refusal {
                    ImageRefusal::NotAllowed => PlanError::ImageNotAllowed {
                        package,
                        file,
                        image,
                    },
                    ImageRefusal::Denied => PlanError::ImageDenied {
                        package,
                        file,
                        image,
                    },
                });
            }
        }
        let mut dependencies =
            Vec::with_capacity(p.dependencies.build.len() + p.dependencies.runtime.len());
        for (kind, dep) in p.all_dependencies() {
            if !dep.applies(self.target) {
                continue;
            }
            match self.packages.find(dep.name.as_str(), dep.version.as_str()) {
                Some(to) => dependencies.push((to, kind)),
                None => self.errors.push(PlanError::MissingDependency {
                    package: p.id_string(),
                    file: p.dependency_file(kind).to_path_buf(),
                    dependency: format!("{} {}", dep.name, dep.version),
                }),
            }
        }
        self.nodes.push(Node {
            package,
            dependencies: Vec::new(),
            dependents_chain: 0,
        });
        self.marks.push(Mark::Open);
        (id, dependencies)
    }

    fn name_of(&self, node: NodeId) -> String {
        self.packages
            .get(self.nodes[node.index()].package)
            .id_string()
    }
}

impl Plan {
    /// Resolves the tree of `root` for `target`.
    pub fn new(
        packages: &PackageSet,
        root: PackageId,
        target: &Target<'_>,
    ) -> Result<Plan, PlanErrors> {
        let mut search = Search {
            packages,
            target,
            node_of: vec![UNSEEN; packages.len()],
            nodes: Vec::new(),
            marks: Vec::new(),
            errors: Vec::new(),
        };
        let mut order: Vec<NodeId> = Vec::new();
        let mut cycles = 0usize;

        let (node, dependencies) = search.open(root);
        let mut stack = vec![Frame {
            node,
            dependencies,
            next: 0,
        }];
        while let Some(frame) = stack.last_mut() {
            let node = frame.node;
            let Some(&(to, kind)) = frame.dependencies.get(frame.next) else {
                search.marks[node.index()] = Mark::Done;
                order.push(node);
                stack.pop();
                continue;
            };
            frame.next += 1;
            let seen = search.node_of[to.index()];
            if seen == UNSEEN {
                let (child, dependencies) = search.open(to);
                search.nodes[node.index()]
                    .dependencies
                    .push(Edge { to: child, kind });
                stack.push(Frame {
                    node: child,
                    dependencies,
                    next: 0,
                });
                continue;
            }
            let child = NodeId(seen);
            match search.marks[child.index()] {
                Mark::Done => search.nodes[node.index()]
                    .dependencies
                    .push(Edge { to: child, kind }),
                Mark::Open => {
                    cycles += 1;
                    if cycles <= MAX_CYCLES {
                        let start = stack.iter().position(|f| f.node == child).unwrap_or(0);
                        let mut names: Vec<String> = stack[start..]
                            .iter()
                            .map(|f| search.name_of(f.node))
                            .collect();
                        names.push(search.name_of(child));
                        search.errors.push(PlanError::Cycle(names));
                    }
                }
            }
        }
        let Search {
            mut nodes,
            mut errors,
            ..
        } = search;
        if cycles > MAX_CYCLES {
            errors.push(PlanError::Cycle(vec![format!(
                "... and {} more cycles",
                cycles - MAX_CYCLES
            )]));
        }
        if !errors.is_empty() {
            return Err(PlanErrors(errors));
        }

        // Longest chain of dependents: dependents come after their
        // dependencies in `order`, so walk it backwards.
        for &n in order.iter().rev() {
            let chain = nodes[n.index()].dependents_chain + 1;
            for i in 0..nodes[n.index()].dependencies.len() {
                let to = nodes[n.index()].dependencies[i].to;
                let d = &mut nodes[to.index()].dependents_chain;
                *d = (*d).max(chain);
            }
        }
        Ok(Plan { nodes, order })
    }

    /// The root package's node.
    pub fn root(&self) -> NodeId {
        NodeId(0)
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The ids of all nodes, the root first.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.nodes.len() as u32).map(NodeId)
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node once, each after everything it depends on; the root last.
    pub fn serial_buildorder(&self) -> &[NodeId] {
        &self.order
    }

    /// The package of a node.
    pub fn package<'p>(&self, packages: &'p PackageSet, id: NodeId) -> &'p Package {
        packages.get(self.nodes[id.index()].package)
    }

    /// The tree as recorded with a submit: every package once, with its file
    /// and its direct dependencies.
    pub fn tree_record(&self, packages: &PackageSet) -> TreeRecord {
        let records = self
            .nodes
            .iter()
            .map(|n| {
                let p = packages.get(n.package);
                PackageRecord {
                    name: p.name.to_string(),
                    version: p.version.to_string(),
                    file: p.file.to_string_lossy().into_owned(),
                    dependencies: n
                        .dependencies
                        .iter()
                        .map(|e| DependencyRecord {
                            node: e.to.0,
                            kind: e.kind,
                        })
                        .collect(),
                }
            })
            .collect();
        TreeRecord {
            root: 0,
            packages: records,
        }
    }

    /// The plan as recorded with a submit: the build order and, per node,
    /// its longest chain of dependents.
    pub fn plan_record(&self, packages: &PackageSet) -> PlanRecord {
        let steps = self
            .order
            .iter()
            .map(|&id| {
                let n = self.node(id);
                let p = packages.get(n.package);
                StepRecord {
                    node: id.0,
                    name: p.name.to_string(),
                    version: p.version.to_string(),
                    dependencies: n.dependencies.iter().map(|e| e.to.0).collect(),
                    dependents_chain: n.dependents_chain,
                }
            })
            .collect();
        PlanRecord { build_order: steps }
    }
}

/// The resolved tree, for the database and `tree-of --output json`. Nodes
/// are referred to by their index in `packages`; `root` is 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeRecord {
    pub root: u32,
    pub packages: Vec<PackageRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageRecord {
    pub name: String,
    pub version: String,
    /// The leaf `pkg.toml`, relative to the repository root.
    pub file: String,
    pub dependencies: Vec<DependencyRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependencyRecord {
    /// Index into [`TreeRecord::packages`].
    pub node: u32,
    pub kind: DependencyKind,
}

/// The build order, for the database and `tree-of --output json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanRecord {
    pub build_order: Vec<StepRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepRecord {
    /// Index into [`TreeRecord::packages`].
    pub node: u32,
    pub name: String,
    pub version: String,
    /// Nodes this one waits for.
    pub dependencies: Vec<u32>,
    /// The longest chain of packages waiting for this one.
    pub dependents_chain: u32,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::ImageConfig;
    use crate::package::testing::package;
    use crate::package::{Condition, Dependency};

    /// A package given as ("name version", build deps, runtime deps).
    type Spec<'a> = (&'a str, &'a [&'a str], &'a [&'a str]);

    fn set(specs: &[Spec<'_>]) -> PackageSet {
        let packages = specs
            .iter()
            .map(|(id, build, runtime)| {
                let (name, version) = id.split_once(' ').expect("\"name version\"");
                package(name, version, build, runtime)
            })
            .collect();
        PackageSet::new(packages).0
    }

    fn plan(set: &PackageSet, root: &str, target: &Target<'_>) -> Result<Plan, PlanErrors> {
        let (name, version) = root.split_once(' ').expect("\"name version\"");
        let root = set.find(name, version).expect("root exists");
        Plan::new(set, root, target)
    }

    fn name_of(set: &PackageSet, plan: &Plan, n: NodeId) -> String {
        plan.package(set, n).id_string()
    }

    /// Checks the build order (as "name version") or the error messages.
    fn check(specs: &[Spec<'_>], root: &str, expected: Result<&[&str], &[&str]>) {
        let set = set(specs);
        let env = BTreeMap::new();
        let target = Target {
            image: None,
            env: &env,
        };
        match (plan(&set, root, &target), expected) {
            (Ok(plan), Ok(order)) => {
                let got: Vec<String> = plan
                    .serial_buildorder()
                    .iter()
                    .map(|&n| name_of(&set, &plan, n))
                    .collect();
                assert_eq!(got, order, "order of {root}");
                assert_valid_order(&plan);
            }
            (Err(errors), Err(messages)) => {
                let got: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
                assert_eq!(got, messages, "errors of {root}");
            }
            (got, expected) => panic!("{root}: got {got:?}, expected {expected:?}"),
        }
    }

    /// Every node once, after all of its dependencies.
    fn assert_valid_order(plan: &Plan) {
        let mut position = vec![usize::MAX; plan.len()];
        for (i, n) in plan.serial_buildorder().iter().enumerate() {
            assert_eq!(position[n.index()], usize::MAX, "{n:?} twice");
            position[n.index()] = i;
        }
        for (i, node) in plan.nodes().iter().enumerate() {
            for e in &node.dependencies {
                assert!(
                    position[e.to.index()] < position[i],
                    "{:?} after its dependent {i}",
                    e.to
                );
            }
        }
    }

    #[test]
    fn build_orders_and_errors() {
        check(&[("a 1", &[], &[])], "a 1", Ok(&["a 1"]));
        check(
            &[
                ("a 1", &["b =1"], &["c =1"]),
                ("b 1", &[], &["d =1"]),
                ("c 1", &["d =1"], &[]),
                ("d 1", &[], &[]),
            ],
            "a 1",
            Ok(&["d 1", "b 1", "c 1", "a 1"]),
        );
        // Only the tree of the root is planned.
        check(
            &[("a 1", &[], &[]), ("b 1", &["a =1"], &[])],
            "a 1",
            Ok(&["a 1"]),
        );
        // Two versions of one package in one tree.
        check(
            &[
                ("a 1", &["x =1", "y =1"], &[]),
                ("y 1", &["x =2"], &[]),
                ("x 1", &[], &[]),
                ("x 2", &[], &[]),
            ],
            "a 1",
            Ok(&["x 1", "x 2", "y 1", "a 1"]),
        );
        check(
            &[("a 1", &["b =1"], &[]), ("b 1", &[], &["a =1"])],
            "a 1",
            Err(&["dependency cycle: a 1 -> b 1 -> a 1"]),
        );
        check(
            &[("a 1", &["a =1"], &[])],
            "a 1",
            Err(&["dependency cycle: a 1 -> a 1"]),
        );
        check(
            &[
                ("r 1", &["a =1"], &[]),
                ("a 1", &["b =2"], &[]),
                ("b 2", &["c =3"], &[]),
                ("c 3", &[], &["a =1"]),
            ],
            "r 1",
            Err(&["dependency cycle: a 1 -> b 2 -> c 3 -> a 1"]),
        );
        check(
            &[
                ("a 1", &["b =1"], &["c =2"]),
                ("b 1", &[], &["zz =9"]),
                ("c 1", &[], &[]),
            ],
            "a 1",
            Err(&[
                "a 1 (in a-1/pkg.toml) depends on c 2, which the repository does not have",
                "b 1 (in b-1/pkg.toml) depends on zz 9, which the repository does not have",
            ]),
        );
    }

    #[test]
    fn dependents_chains() {
        let set = set(&[
            ("a 1", &["b =1", "d =1"], &[]),
            ("b 1", &["c =1"], &[]),
            ("c 1", &["d =1"], &[]),
            ("d 1", &[], &[]),
        ]);
        let env = BTreeMap::new();
        let plan = plan(
            &set,
            "a 1",
            &Target {
                image: None,
                env: &env,
            },
        )
        .expect("plans");
        let chains: BTreeMap<String, u32> = plan
            .nodes()
            .iter()
            .enumerate()
            .map(|(i, n)| (name_of(&set, &plan, NodeId(i as u32)), n.dependents_chain))
            .collect();
        let expected: BTreeMap<String, u32> = [("a 1", 0), ("b 1", 1), ("c 1", 2), ("d 1", 3)]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        assert_eq!(chains, expected);
        let kinds: Vec<DependencyKind> = plan
            .node(plan.root())
            .dependencies
            .iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, vec![DependencyKind::Build, DependencyKind::Build]);
    }

    #[test]
    fn conditions_and_images() {
        let mut a = package("a", "1", &[], &["b =1"]);
        let mut conditional = Dependency::parse("c =1").expect("valid");
        conditional.condition = Some(Condition {
            has_env: Some(vec!["WITH_C".into()]),
            ..Default::default()
        });
        a.dependencies.runtime.push(conditional);
        let mut imaged = Dependency::parse("d =1").expect("valid");
        imaged.condition = Some(Condition {
            in_image: Some(vec!["deb".into()]),
            ..Default::default()
        });
        a.dependencies.build.push(imaged);
        let mut b = package("b", "1", &[], &[]);
        b.denied_images = vec!["alpine".into()];
        let mut d = package("d", "1", &[], &[]);
        d.allowed_images = Some(vec!["deb".into()]);
        let set = PackageSet::new(vec![a, b, package("c", "1", &[], &[]), d]).0;
        let root = set.find("a", "1").expect("root");

        let deb = ImageConfig {
            name: "registry/debian:12".into(),
            short_name: Some("deb".into()),
        };
        let alpine = ImageConfig {
            name: "alpine".into(),
            short_name: None,
        };
        let no_env = BTreeMap::new();
        let with_c: BTreeMap<String, String> = [("WITH_C".to_string(), "1".to_string())].into();

        let names = |target: Target<'_>| -> Result<Vec<String>, Vec<String>> {
            match Plan::new(&set, root, &target) {
                Ok(plan) => {
                    let mut v: Vec<String> = plan
                        .serial_buildorder()
                        .iter()
                        .map(|&n| plan.package(&set, n).id_string())
                        .collect();
                    v.sort();
                    Ok(v)
                }
                Err(e) => Err(e.0.iter().map(ToString::to_string).collect()),
            }
        };
        type Case<'a> = (Target<'a>, Result<Vec<&'a str>, Vec<&'a str>>);
        let cases: Vec<Case<'_>> = vec![
            (Target { image: None, env: &no_env }, Ok(vec!["a 1", "b 1"])),
            (Target { image: None, env: &with_c }, Ok(vec!["a 1", "b 1", "c 1"])),
            (Target { image: Some(&deb), env: &no_env }, Ok(vec!["a 1", "b 1", "d 1"])),
            (Target { image: Some(&deb), env: &with_c }, Ok(vec!["a 1", "b 1", "c 1", "d 1"])),
            (
                Target { image: Some(&alpine), env: &no_env },
                Err(vec!["b 1 (in b-1/pkg.toml) may not be built on image alpine: it is in its denied_images"]),
            ),
        ];
        for (target, expected) in cases {
            let expected = expected.map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            let expected =
                expected.map_err(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(names(target), expected, "{target:?}");
        }

        // allowed_images is checked for every package of the tree.
        let mut only_deb = package("e", "1", &[], &[]);
        only_deb.allowed_images = Some(vec!["deb".into()]);
        let set = PackageSet::new(vec![package("r", "1", &["e =1"], &[]), only_deb]).0;
        let root = set.find("r", "1").expect("root");
        let err = Plan::new(
            &set,
            root,
            &Target {
                image: Some(&alpine),
                env: &no_env,
            },
        )
        .expect_err("refused");
        assert_eq!(
            err.to_string(),
            "e 1 (in e-1/pkg.toml) may not be built on image alpine: it is not in its allowed_images"
        );
    }

    #[test]
    fn deep_chains_do_not_overflow() {
        let n = 200_000;
        let packages: Vec<Package> = (0..n)
            .map(|i| {
                let dep = format!("p{} =1", i + 1);
                let deps: &[&str] = if i + 1 < n { &[dep.as_str()] } else { &[] };
                package(&format!("p{i}"), "1", deps, &[])
            })
            .collect();
        let set = PackageSet::new(packages).0;
        let env = BTreeMap::new();
        let root = set.find("p0", "1").expect("root");
        let plan = Plan::new(
            &set,
            root,
            &Target {
                image: None,
                env: &env,
            },
        )
        .expect("plans");
        assert_eq!(plan.len(), n);
        assert_eq!(
            plan.node(*plan.serial_buildorder().first().expect("non-empty"))
                .dependents_chain,
            n as u32 - 1
        );
    }

    #[test]
    fn records_serialize() {
        let set = set(&[("a 1", &["b =1"], &["b =1"]), ("b 1", &[], &[])]);
        let env = BTreeMap::new();
        let plan = plan(
            &set,
            "a 1",
            &Target {
                image: None,
                env: &env,
            },
        )
        .expect("plans");
        let tree = serde_json::to_value(plan.tree_record(&set)).expect("serializable");
        assert_eq!(
            tree,
            serde_json::json!({
                "root": 0,
                "packages": [
                    {"name": "a", "version": "1", "file": "a-1/pkg.toml",
                     "dependencies": [{"node": 1, "kind": "build"}, {"node": 1, "kind": "runtime"}]},
                    {"name": "b", "version": "1", "file": "b-1/pkg.toml", "dependencies": []}
                ]
            })
        );
        let order = serde_json::to_value(plan.plan_record(&set)).expect("serializable");
        assert_eq!(
            order,
            serde_json::json!({"build_order": [
                {"node": 1, "name": "b", "version": "1", "dependencies": [], "dependents_chain": 1},
                {"node": 0, "name": "a", "version": "1", "dependencies": [1, 1], "dependents_chain": 0}
            ]})
        );
    }
}
