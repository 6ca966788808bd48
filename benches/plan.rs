//! How fast kiln loads, plans and prints large package repositories.
//!
//! Writes synthetic repositories (`kiln::repo::synthetic`) of 1,000, 10,000
//! and 20,000 packages with seeded random dependencies, then times, for
//! each: loading the repository, planning the root's whole tree with its
//! serial build order, and rendering `tree-of` into a sink. Each figure is
//! the median of several runs. The targets:
//!
//! - 10,000 packages: load + plan + order under 0.5 s;
//! - 20,000 packages: load + plan + order at most 2.3 times the 10,000 figure;
//! - tree-of rendering under 1 s (at every size).
//!
//! Run with `cargo bench --bench plan`; the exit code is 1 if a target is missed.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark prints its numbers on standard output"
)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kiln::package::Target;
use kiln::plan::Plan;

const SIZES: [usize; 3] = [1_000, 10_000, 20_000];
const RUNS: usize = 7;
const SEED: u64 = 0x6b69_6c6e;

struct Figures {
    n: usize,
    edges: usize,
    tree_nodes: usize,
    load: Duration,
    plan: Duration,
    tree: Duration,
    tree_bytes: usize,
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn measure(n: usize) -> Figures {
    let dir = tempfile::Builder::new()
        .prefix("kiln-bench-")
        .tempdir()
        .expect("a temporary directory");
    let synthetic = kiln::repo::synthetic::write_repository(dir.path(), n, SEED)
        .expect("writing the repository");

    let mut loads = Vec::new();
    let mut plans = Vec::new();
    let mut trees = Vec::new();
    let mut tree_nodes = 0;
    let mut tree_bytes = 0;
    let env = BTreeMap::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let repo = match kiln::repo::load(dir.path()) {
            Ok(repo) => repo,
            Err(e) => panic!("loading the synthetic repository: {e}"),
        };
        loads.push(start.elapsed());
        assert_eq!(repo.packages().len(), synthetic.packages);

        let start = Instant::now();
        let packages = repo.packages();
        let root = packages
            .find(&synthetic.root_name, &synthetic.root_version)
            .expect("the root package");
        let plan = match Plan::new(
            packages,
            root,
            &Target {
                image: None,
                env: &env,
            },
        ) {
            Ok(plan) => plan,
            Err(e) => panic!("planning: {e}"),
        };
        let order: usize = plan.serial_buildorder().iter().map(|n| n.index()).sum();
        plans.push(start.elapsed());
        std::hint::black_box(order);
        tree_nodes = plan.len();

        let start = Instant::now();
        let mut sink = CountingSink(0);
        kiln::ui::tree::write_tree(&mut sink, packages, &plan).expect("rendering into a sink");
        trees.push(start.elapsed());
        tree_bytes = sink.0;
    }
    Figures {
        n,
        edges: synthetic.edges,
        tree_nodes,
        load: median(loads),
        plan: median(plans),
        tree: median(trees),
        tree_bytes,
    }
}

/// A sink that counts what it is given.
struct CountingSink(usize);

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let threads = rayon::current_num_threads();
    println!("kiln load/plan/tree-of benchmark: median of {RUNS} runs, {threads} threads");
    println!(
        "{:>8} {:>8} {:>10} {:>10} {:>10} {:>14} {:>10} {:>10}",
        "packages", "edges", "load ms", "plan ms", "total ms", "tree-of ms", "tree KiB", "in tree"
    );
    let figures: Vec<Figures> = SIZES.iter().map(|&n| measure(n)).collect();
    for f in &figures {
        println!(
            "{:>8} {:>8} {:>10.1} {:>10.1} {:>10.1} {:>14.1} {:>10} {:>10}",
            f.n,
            f.edges,
            ms(f.load),
            ms(f.plan),
            ms(f.load + f.plan),
            ms(f.tree),
            f.tree_bytes / 1024,
            f.tree_nodes
        );
    }

    let total = |n: usize| {
        figures
            .iter()
            .find(|f| f.n == n)
            .map(|f| f.load + f.plan)
            .expect("measured")
    };
    let t10 = total(10_000);
    let t20 = total(20_000);
    let ratio = t20.as_secs_f64() / t10.as_secs_f64();
    let slowest_tree = figures.iter().map(|f| f.tree).max().expect("measured");
    let checks = [
        (
            format!("10,000 packages load+plan+order {:.1} ms < 500 ms", ms(t10)),
            t10 < Duration::from_millis(500),
        ),
        (format!("20,000 / 10,000 = {ratio:.2} <= 2.3"), ratio <= 2.3),
        (
            format!(
                "slowest tree-of render {:.1} ms < 1000 ms",
                ms(slowest_tree)
            ),
            slowest_tree < Duration::from_secs(1),
        ),
    ];
    println!();
    let mut missed = false;
    for (what, met) in &checks {
        println!("{} {what}", if *met { "met:   " } else { "MISSED:" });
        missed |= !met;
    }
    if missed {
        std::process::exit(1);
    }
}
