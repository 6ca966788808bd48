//! Synthetic package repositories for benchmarks and tests: `N` packages
//! with seeded random dependencies forming a DAG, under a few shared layers,
//! plus a root package that pulls in the whole graph.
//!
//! Layout: `pkg.toml` (shared defaults: environment, meta, phases),
//! `gK/pkg.toml` (ten group layers), `gK/pNNNNN/pkg.toml` (one package
//! each, depending on one to three packages with a lower number), and
//! `world/pkg.toml`, which depends on every package nothing else depends on.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// The number of group layers between the root layer and the packages.
const GROUPS: usize = 10;

/// What [`write_repository`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticRepository {
    /// The package that depends (transitively) on every other one.
    pub root_name: String,
    pub root_version: String,
    /// Packages written, the root package included.
    pub packages: usize,
    /// Dependency edges written, the root package's included.
    pub edges: usize,
}

/// A small, seeded pseudo-random generator (SplitMix64): the same seed
/// writes the same repository.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn name(i: usize) -> String {
    format!("p{i:05}")
}

fn version(i: usize) -> String {
    format!("1.{}.{}", i % 7, i % 3)
}

/// Writes a repository of `packages` packages (plus the root package) into
/// `dir`, which should be empty.
pub fn write_repository(dir: &Path, packages: usize, seed: u64) -> io::Result<SyntheticRepository> {
    let mut rng = Rng(seed);
    std::fs::write(
        dir.join("pkg.toml"),
        r#"version_is_semver = false

[environment]
LANG = "C.UTF-8"
MAKEFLAGS = "-j4"

[meta]
vendor = "synthetic"
license = "MIT"

[phases.unpack]
script = "tar xf /inputs/src.source"

[phases.build]
script = """
{{phase "build"}}
make
{{state "OK"}}
"""
"#,
    )?;
    for g in 0..GROUPS {
        let group = dir.join(format!("g{g}"));
        std::fs::create_dir_all(&group)?;
        std::fs::write(
            group.join("pkg.toml"),
            format!("[meta]\ngroup = \"g{g}\"\n\n[environment]\nGROUP = \"{g}\"\n"),
        )?;
    }

    let mut has_dependents = vec![false; packages];
    let mut edges = 0;
    let mut text = String::with_capacity(1024);
    for i in 0..packages {
        let wanted = (1 + rng.below(3)).min(i);
        let mut deps: Vec<usize> = Vec::with_capacity(wanted);
        while deps.len() < wanted {
            let d = rng.below(i);
            if !deps.contains(&d) {
                deps.push(d);
            }
        }
        text.clear();
        let _ = writeln!(
            text,
            "name = \"{}\"\nversion = \"{}\"\n",
            name(i),
            version(i)
        );
        let _ = writeln!(
            text,
            "[sources.src]\nurl = \"https://example.org/{0}-{1}.tar.gz\"\nhash = {{ type = \"sha256\", hash = \"{2:064x}\" }}\n",
            name(i),
            version(i),
            rng.next()
        );
        text.push_str("[dependencies]\n");
        // The first dependency is a build dependency, the others run-time ones.
        let spec = |d: usize| format!("\"{} ={}\"", name(d), version(d));
        let build: Vec<String> = deps.iter().take(1).map(|&d| spec(d)).collect();
        let runtime: Vec<String> = deps.iter().skip(1).map(|&d| spec(d)).collect();
        let _ = writeln!(
            text,
            "build = [{}]\nruntime = [{}]",
            build.join(", "),
            runtime.join(", ")
        );
        for &d in &deps {
            has_dependents[d] = true;
        }
        edges += deps.len();
        let leaf = dir.join(format!("g{}", i % GROUPS)).join(name(i));
        std::fs::create_dir_all(&leaf)?;
        std::fs::write(leaf.join("pkg.toml"), &text)?;
    }

    let tops: Vec<String> = (0..packages)
        .filter(|&i| !has_dependents[i])
        .map(|i| format!("  \"{} ={}\",\n", name(i), version(i)))
        .collect();
    edges += tops.len();
    let world = dir.join("world");
    std::fs::create_dir_all(&world)?;
    std::fs::write(
        world.join("pkg.toml"),
        format!(
            "name = \"world\"\nversion = \"1.0\"\n\n[dependencies]\nruntime = [\n{}]\n",
            tops.concat()
        ),
    )?;
    Ok(SyntheticRepository {
        root_name: "world".into(),
        root_version: "1.0".into(),
        packages: packages + 1,
        edges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_repository() {
        let a = tempfile::tempdir().expect("temporary directory");
        let b = tempfile::tempdir().expect("temporary directory");
        let ra = write_repository(a.path(), 50, 7).expect("written");
        let rb = write_repository(b.path(), 50, 7).expect("written");
        assert_eq!(ra, rb);
        let read =
            |d: &Path| std::fs::read_to_string(d.join("g3/p00013/pkg.toml")).expect("readable");
        assert_eq!(read(a.path()), read(b.path()));
        assert_eq!(ra.packages, 51);
    }
}
