//! Printing a package's dependency tree: as an indented tree, as a
//! Graphviz graph, as the serial build order, or as JSON.
//!
//! The tree shows each package's dependencies once; where the package
//! comes again, it is marked `(*)` instead of repeating its subtree, so the
//! output grows with the number of edges, not the number of paths.

use std::io::{self, Write};

use serde::Serialize;

use crate::package::{DependencyKind, PackageSet};
use crate::plan::{NodeId, Plan, PlanRecord, TreeRecord};

/// What `tree-of` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeView {
    Tree,
    Dot,
    BuildOrder,
    Json,
}

/// Prints `plan` on standard output as `view`. A reader that goes away
/// early (`kiln tree-of x | head`) is not an error.
pub fn print(view: TreeView, packages: &PackageSet, plan: &Plan) -> anyhow::Result<()> {
    super::write_stdout(|mut out| match view {
        TreeView::Tree => write_tree(&mut out, packages, plan),
        TreeView::Dot => write_dot(&mut out, packages, plan),
        TreeView::BuildOrder => write_build_order(&mut out, packages, plan),
        TreeView::Json => write_json(&mut out, packages, plan),
    })
}

/// Tells (on standard error) which of several versions was taken.
pub fn print_version_choice(name: &str, chosen: &str, versions: &[&str]) {
    eprintln!(
        "note: {name} has versions {}; showing the highest, {chosen} (give a VERSION to choose another)",
        versions.join(", ")
    );
}

/// The marker of a package whose dependencies were shown above.
pub const REPEAT_MARK: &str = "(*)";

/// Writes the tree of `plan`'s root, one package per line.
pub fn write_tree<W: Write>(out: &mut W, packages: &PackageSet, plan: &Plan) -> io::Result<()> {
    let label = |out: &mut W, n: NodeId| {
        let p = plan.package(packages, n);
        write!(out, "{} {}", p.name, p.version)
    };
    let root = plan.root();
    label(out, root)?;
    out.write_all(b"\n")?;
    let mut expanded = vec![false; plan.len()];
    expanded[root.index()] = true;
    let mut prefix = String::new();
    // Per open node: the node, its next edge, and the prefix length to restore when done.
    let mut stack: Vec<(NodeId, usize, usize)> = vec![(root, 0, 0)];
    while let Some(top) = stack.last_mut() {
        let (node, next, restore) = *top;
        let edges = &plan.node(node).dependencies;
        let Some(edge) = edges.get(next) else {
            prefix.truncate(restore);
            stack.pop();
            continue;
        };
        top.1 += 1;
        let last = next + 1 == edges.len();
        out.write_all(prefix.as_bytes())?;
        out.write_all(if last { "└── " } else { "├── " }.as_bytes())?;
        label(out, edge.to)?;
        if edge.kind == DependencyKind::Build {
            out.write_all(b" (build)")?;
        }
        let has_dependencies = !plan.node(edge.to).dependencies.is_empty();
        let seen = expanded[edge.to.index()];
        if seen && has_dependencies {
            write!(out, " {REPEAT_MARK}")?;
        }
        out.write_all(b"\n")?;
        if !seen && has_dependencies {
            expanded[edge.to.index()] = true;
            let restore = prefix.len();
            prefix.push_str(if last { "    " } else { "│   " });
            stack.push((edge.to, 0, restore));
        }
    }
    Ok(())
}

/// Writes a Graphviz `digraph`: one node per package, one edge per
/// dependency, build dependencies dotted.
pub fn write_dot<W: Write>(out: &mut W, packages: &PackageSet, plan: &Plan) -> io::Result<()> {
    let id = |n: NodeId| {
        let p = plan.package(packages, n);
        dot_quote(&format!("{} {}", p.name, p.version))
    };
    writeln!(out, "digraph {} {{", id(plan.root()))?;
    writeln!(
        out,
        "  // solid: run-time dependency; dotted: build dependency"
    )?;
    writeln!(out, "  node [shape=box];")?;
    let ids: Vec<String> = plan.node_ids().map(id).collect();
    for (i, node) in plan.nodes().iter().enumerate() {
        writeln!(out, "  {};", ids[i])?;
        for edge in &node.dependencies {
            let style = match edge.kind {
                DependencyKind::Build => " [style=dotted]",
                DependencyKind::Runtime => "",
            };
            writeln!(out, "  {} -> {}{style};", ids[i], ids[edge.to.index()])?;
        }
    }
    writeln!(out, "}}")
}

/// A Graphviz ID: `s` in double quotes, with `"` and `\` escaped.
pub(super) fn dot_quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// Writes the serial build order, one `NAME VERSION` per line, every
/// package after its dependencies.
pub fn write_build_order<W: Write>(
    out: &mut W,
    packages: &PackageSet,
    plan: &Plan,
) -> io::Result<()> {
    for &n in plan.serial_buildorder() {
        let p = plan.package(packages, n);
        writeln!(out, "{} {}", p.name, p.version)?;
    }
    Ok(())
}

/// The JSON document of `tree-of --output json`.
#[derive(Debug, Serialize)]
pub struct TreeOfJson {
    pub tree: TreeRecord,
    pub plan: PlanRecord,
}

/// Writes the tree and the plan as one pretty-printed JSON object.
pub fn write_json<W: Write>(out: &mut W, packages: &PackageSet, plan: &Plan) -> io::Result<()> {
    let doc = TreeOfJson {
        tree: plan.tree_record(packages),
        plan: plan.plan_record(packages),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::package::testing::package;
    use crate::package::Target;

    fn plan_of(specs: &[(&str, &[&str], &[&str])]) -> (PackageSet, Plan) {
        let packages = specs
            .iter()
            .map(|(id, build, runtime)| {
                let (name, version) = id.split_once(' ').expect("\"name version\"");
                package(name, version, build, runtime)
            })
            .collect();
        let set = PackageSet::new(packages).0;
        let env = BTreeMap::new();
        let (name, version) = specs[0].0.split_once(' ').expect("\"name version\"");
        let root = set.find(name, version).expect("root");
        let plan = Plan::new(
            &set,
            root,
            &Target {
                image: None,
                env: &env,
            },
        )
        .expect("plans");
        (set, plan)
    }

    type Writer = fn(&mut Vec<u8>, &PackageSet, &Plan) -> io::Result<()>;

    fn check(specs: &[(&str, &[&str], &[&str])], write: Writer, expected: &str) {
        let (set, plan) = plan_of(specs);
        let mut out = Vec::new();
        write(&mut out, &set, &plan).expect("writes");
        assert_eq!(String::from_utf8(out).expect("utf-8"), expected);
    }

    const DIAMOND: &[(&str, &[&str], &[&str])] = &[
        ("app 1", &["make =4"], &["lib =2", "util =1"]),
        ("lib 2", &[], &["util =1"]),
        ("util 1", &[], &["libc =2"]),
        ("libc 2", &[], &[]),
        ("make 4", &[], &["libc =2"]),
    ];

    #[test]
    fn outputs() {
        check(&[("a 1", &[], &[])], write_tree, "a 1\n");
        check(
            DIAMOND,
            write_tree,
            "app 1\n\
             ├── make 4 (build)\n\
             │   └── libc 2\n\
             ├── lib 2\n\
             │   └── util 1\n\
             │       └── libc 2\n\
             └── util 1 (*)\n",
        );
        check(
            DIAMOND,
            write_build_order,
            "libc 2\nmake 4\nutil 1\nlib 2\napp 1\n",
        );
        check(
            &[("a 1", &["b =1"], &[]), ("b 1", &[], &[])],
            write_dot,
            "digraph \"a 1\" {\n  // solid: run-time dependency; dotted: build dependency\n  node [shape=box];\n  \"a 1\";\n  \"a 1\" -> \"b 1\" [style=dotted];\n  \"b 1\";\n}\n",
        );
    }

    #[test]
    fn json_holds_tree_and_plan() {
        let (set, plan) = plan_of(DIAMOND);
        let mut out = Vec::new();
        write_json(&mut out, &set, &plan).expect("writes");
        let doc: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(doc["tree"]["packages"][0]["name"], "app");
        assert_eq!(doc["tree"]["packages"].as_array().map(Vec::len), Some(5));
        assert_eq!(doc["plan"]["build_order"][4]["name"], "app");
    }
}
