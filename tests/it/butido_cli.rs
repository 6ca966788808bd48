//! butido's command lines, run as the real binary: on kiln's examples
//! repository (no database), and against a database with a known history
//! (`db_query`'s), each checked for its effect: the same output as kiln's
//! own names, the rows the filter keeps, or a refusal that names kiln's way.

use std::collections::BTreeMap;

use crate::db_query::{csv, Env, J1, J2, J5, J6, S1, S2};
use crate::support::repo::{examples, kiln_in};
use crate::support::{run, Sandbox};

/// Runs `kiln --repo examples ARGS`; expects success; returns stdout.
fn ok(sandbox: &Sandbox, args: &[&str]) -> String {
    let (code, stdout, stderr) = kiln_in(sandbox, &examples(), args);
    assert_eq!(code, 0, "kiln {args:?}:\n{stdout}\n{stderr}");
    stdout
}

#[test]
fn package_forms_print_what_kiln_names_print() {
    let sandbox = Sandbox::new();
    let same: &[(&[&str], &[&str])] = &[
        (&["find-pkg", ".", "-t"], &["find-pkg", ".", "--terse"]),
        (
            &["find-pkg", "^curl$", "-SDpEPs"],
            &[
                "find-pkg",
                "^curl$",
                "--show-sources",
                "--show-dependencies",
                "--show-patches",
                "--show-env",
                "--show-phases",
                "--show-script",
            ],
        ),
        (
            &[
                "find-pkg",
                "^curl$",
                "--source",
                "--deps",
                "--patches",
                "--env",
                "--phases",
            ],
            &[
                "find-pkg",
                "^curl$",
                "--show-sources",
                "--show-dependencies",
                "--show-patches",
                "--show-env",
                "--show-phases",
            ],
        ),
        (
            &["find-pkg", "^curl$", "-A"],
            &["find-pkg", "^curl$", "--all"],
        ),
        (
            &["depsof", "curl", "=8.4.0"],
            &["dependencies-of", "curl", "8.4.0"],
        ),
        (&["versions", "zlib"], &["versions-of", "zlib"]),
        (&["env", "curl", "=8.4.0"], &["env-of", "curl", "8.4.0"]),
        (
            &["what-depends", "zlib", "-t", "build", "-t", "runtime"],
            &["what-depends", "zlib"],
        ),
        (&["--hide-bars", "tree-of", "curl"], &["tree-of", "curl"]),
    ];
    for (butido, kiln) in same {
        assert_eq!(ok(&sandbox, butido), ok(&sandbox, kiln), "{butido:?}");
    }

    // -t prints `name version` lines, one per package.
    let terse = ok(&sandbox, &["find-pkg", ".", "-t"]);
    assert!(terse.lines().count() > 5, "{terse}");
    assert!(terse.lines().all(|l| l.split(' ').count() == 2), "{terse}");
    assert!(terse.contains("zlib 1.3.1\n"), "{terse}");

    // -t picks a kind of dependency; both together are all of them.
    let runtime = ok(&sandbox, &["depsof", "curl", "-t", "runtime", "-o", "csv"]);
    let all = ok(&sandbox, &["depsof", "curl", "-o", "csv"]);
    assert!(
        runtime.lines().skip(1).all(|l| l.contains(",runtime,")),
        "{runtime}"
    );
    assert!(
        all.contains(",build,") && runtime.len() < all.len(),
        "{all}"
    );

    // --dependency-type keeps find-pkg's dependencies of that kind.
    let build = ok(
        &sandbox,
        &["find-pkg", "^curl$", "-D", "--dependency-type", "build"],
    );
    assert!(
        build.contains("build: pkgconf") && !build.contains("runtime:"),
        "{build}"
    );

    // --line-numbers numbers the script.
    let numbered = ok(&sandbox, &["find-pkg", "^curl$", "-s", "--line-numbers"]);
    assert!(numbered.contains(" 1 | #!"), "{numbered}");
    let plain = ok(
        &sandbox,
        &[
            "find-pkg",
            "^curl$",
            "-s",
            "--no-line-numbers",
            "--no-highlight",
        ],
    );
    assert!(
        !plain.contains(" 1 | ") && plain.contains("\n#!"),
        "{plain}"
    );
}

#[test]
fn source_forms_without_a_package_take_every_package() {
    let sandbox = Sandbox::new();
    let urls = ok(&sandbox, &["source", "url", "-o", "csv"]);
    let matching = ok(&sandbox, &["source", "url", "--matching", ".", "-o", "csv"]);
    assert_eq!(urls, matching);
    for name in ["curl", "zlib"] {
        assert!(urls.contains(&format!("\n{name},")), "{name}: {urls}");
    }
    assert_eq!(
        ok(&sandbox, &["source", "of", "-o", "csv"]),
        ok(&sandbox, &["source", "of", "-m", ".", "-o", "csv"])
    );
    let (code, stdout, stderr) = kiln_in(&sandbox, &examples(), &["source", "list-missing"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, _, stderr) = kiln_in(
        &sandbox,
        &examples(),
        &["source", "download", "curl", "-I", "busybox"],
    );
    assert_eq!(code, 2, "-I needs --recursive: {stderr}");
}

#[test]
fn forms_kiln_cannot_keep_name_kilns_way() {
    let sandbox = Sandbox::new();
    let refused: &[(&[&str], &str)] = &[
        (&["--tracing-chrome", "versions-of", "zlib"], "KILN_LOG"),
        (&["find-pkg", "^curl$", "-F"], "--all"),
    ];
    for (args, names) in refused {
        let (code, stdout, stderr) = kiln_in(&sandbox, &examples(), args);
        assert_eq!(code, 2, "{args:?}: {stdout}\n{stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
        assert!(!stderr.contains("Usage:"), "not a usage error: {stderr}");
    }
}

#[test]
fn completions_and_manual_pages() {
    let sandbox = Sandbox::new();
    let bash = ok(&sandbox, &["generate-completions"]);
    assert!(
        bash.contains("_kiln()") && bash.contains("find-pkg"),
        "bash"
    );
    let zsh = ok(&sandbox, &["generate-completions", "zsh"]);
    assert!(
        zsh.starts_with("#compdef kiln"),
        "{}",
        &zsh[..40.min(zsh.len())]
    );
    let fish = ok(&sandbox, &["generate-completions", "fish"]);
    assert!(fish.contains("complete -c kiln"), "fish");

    let dir = sandbox.path().join("man1");
    let dir_arg = dir.display().to_string();
    ok(&sandbox, &["generate-man", &dir_arg]);
    let page = std::fs::read_to_string(dir.join("kiln-find-pkg.1")).expect("kiln-find-pkg.1");
    assert!(page.contains("show\\-sources"), "{page}");
    assert!(dir.join("kiln.1").is_file() && dir.join("kiln-db-jobs.1").is_file());
}

#[test]
fn test_and_benchmark_variables_are_not_reported() {
    let sandbox = Sandbox::new();
    let run_with = |vars: &[(&str, &str)]| {
        let mut cmd = sandbox.kiln();
        cmd.envs(vars.iter().copied())
            .arg("--repo")
            .arg(examples())
            .args(["config", "show"]);
        let (out, _, stderr) = run(&mut cmd);
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    let stderr = run_with(&[
        ("KILN_TEST_DATABASE_URL", "postgres:///x"),
        ("KILN_BENCH_SUBMITS", "10"),
    ]);
    assert!(
        !stderr.contains("KILN_TEST") && !stderr.contains("KILN_BENCH"),
        "{stderr}"
    );
    let stderr = run_with(&[("KILN_NO_SUCH_KEY", "1")]);
    assert!(
        stderr.contains("KILN_NO_SUCH_KEY"),
        "a stray variable is reported: {stderr}"
    );
}

/// The metrics as a map of name to count.
fn metrics(env: &Env, args: &[&str]) -> BTreeMap<String, i64> {
    env.json(args)
        .iter()
        .map(|row| {
            let name = row["metric"].as_str().expect("a metric name").to_owned();
            (name, row["count"].as_i64().expect("a count"))
        })
        .collect()
}

#[test]
fn db_forms_filter_as_butido_does() {
    let Some(env) = Env::new() else { return };
    let jobs = |args: &[&str]| {
        let mut all = vec!["db", "jobs"];
        all.extend(args);
        env.field(&all, "uuid")
    };
    assert_eq!(jobs(&["-S", "2222"]), [J6, J5]);
    assert_eq!(jobs(&["--of-submit", S1]), [J2, J1]);
    assert_eq!(jobs(&["-E", "CC=gcc"]), [J2, J1]);
    assert_eq!(jobs(&["-L", "2"]).len(), 2);
    assert_eq!(
        env.ok(&["db", "jobs", "--csv", "-L", "0"]),
        env.ok(&["db", "jobs", "-o", "csv", "-L", "0"])
    );
    let submits = |args: &[&str]| {
        let mut all = vec!["db", "submits"];
        all.extend(args);
        env.field(&all, "uuid")
    };
    assert_eq!(submits(&["--for-pkg", "curl"]), [S2]);
    assert_eq!(submits(&["--with-pkg", "openssl@3.0.1"]), [S1]);

    let (_, rows) = csv(&env.ok(&["db", "artifacts", "-J", J1, "--csv"]));
    assert_eq!(rows.len(), 3, "{rows:?}");
    let (_, rows) = csv(&env.ok(&["db", "releases", "--to", "stable", "--csv"]));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (_, rows) = csv(&env.ok(&["release", "list", "--to", "default", "-L", "0", "--csv"]));
    assert_eq!(rows.len(), 2, "{rows:?}");
    for listing in ["envvars", "images"] {
        let (header, _) = csv(&env.ok(&["db", listing, "--csv"]));
        assert!(!header.is_empty(), "{listing}");
    }

    let job = env.ok(&["db", "job", J1, "-L", "-s", "-E", "--line-numbers"]);
    for part in [
        "1 | #!/bin/bash",
        "2 | echo build zlib",
        "OPT",
        "zlib start",
        "zlib end",
    ] {
        assert!(job.contains(part), "{part}: {job}");
    }
    let (out, _, stderr) = env.kiln(&["db", "job", J1, "--csv"]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--output json"), "{stderr}");

    let counts = metrics(&env, &["metrics"]);
    let want = [
        ("submits", 3),
        ("jobs", 6),
        ("jobs_succeeded", 3),
        ("jobs_failed", 1),
        ("artifacts", 5),
        ("releases", 3),
        ("packages", 4),
    ];
    for (name, count) in want {
        assert_eq!(counts.get(name), Some(&count), "{name}: {counts:?}");
    }
}

#[test]
fn database_flags_reach_the_database() {
    let Some(env) = Env::new() else { return };
    let url = url::Url::parse(&env.db.url).expect("the test database's URL");
    let mut flags: Vec<String> = Vec::new();
    let socket = url
        .query_pairs()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.into_owned());
    if let Some(host) = socket.or_else(|| url.host_str().map(str::to_owned)) {
        flags.extend(["--db-url".into(), host]);
    }
    if let Some(port) = url.port() {
        flags.extend(["--db-port".into(), port.to_string()]);
    }
    if !url.username().is_empty() {
        flags.extend(["--db-user".into(), url.username().to_owned()]);
    }
    if let Some(password) = url.password() {
        flags.extend(["--db-pw".into(), password.to_owned()]);
    }
    flags.extend([
        "--db-name".into(),
        env.db.name.clone(),
        "--db-timeout".into(),
        "5".into(),
    ]);

    let mut cmd = env.sandbox.kiln();
    cmd.arg("--repo")
        .arg(env.sandbox.path().join("repo"))
        .args(&flags)
        .args(["metrics", "-o", "json"]);
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(out.status.success(), "{flags:?}: {stdout}\n{stderr}");
    assert!(stdout.contains("\"submits\""), "{stdout}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("JSON");
    let submits = rows
        .iter()
        .find(|r| r["metric"] == "submits")
        .expect("submits");
    assert_eq!(submits["count"], 3, "the seeded database: {stdout}");

    // A database configured as one URL takes no part from --db-*: refused, named.
    let mut cmd = env.sandbox.kiln();
    cmd.arg("--repo")
        .arg(env.sandbox.path().join("repo"))
        .env("KILN_DATABASE_URL", &env.db.url)
        .args(["--db-port", "5432", "metrics"]);
    let (out, _, stderr) = run(&mut cmd);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("give the whole URL with --database-url"),
        "{stderr}"
    );
}
