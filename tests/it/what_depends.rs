//! `kiln what-depends`, `dependencies-of`, `versions-of` and `env-of`: the
//! real binary on a small repository written into a temporary directory,
//! and on the project's example repository.

use serde_json::{json, Value};

use crate::support::repo::{examples, kiln_in, write_repo};
use crate::support::Sandbox;

pub const REPO: &[(&str, &str)] = &[
    (
        "config.toml",
        r#"available_phases = ["unpack", "build"]
source_cache = "sources"
[docker]
images = [ { name = "registry.example/debian:12", short_name = "deb" } ]
"#,
    ),
    (
        "pkg.toml",
        "[environment]\nLANG = \"C\"\n[phases.build]\nscript = \"make {{this.name}}\"\n",
    ),
    (
        "app/pkg.toml",
        r#"name = "app"
version = "2.0"
[dependencies]
build = ["make =4.3"]
runtime = ["lib =1.10", { name = "extra =1", condition = { has_env = "WITH_EXTRA" } }]
"#,
    ),
    (
        "app-old/pkg.toml",
        "name = \"app\"\nversion = \"1.9\"\n[dependencies]\nruntime = [\"lib =1.9\"]\n",
    ),
    (
        "lib/pkg.toml",
        "name = \"lib\"\n[environment]\nLIB_MODE = \"shared\"\n[dependencies]\nbuild = [\"make =4.3\"]\n",
    ),
    ("lib/1.10/pkg.toml", "version = \"1.10\"\n"),
    ("lib/1.9/pkg.toml", "version = \"1.9\"\n"),
    ("make/pkg.toml", "name = \"make\"\nversion = \"4.3\"\n"),
    ("extra/pkg.toml", "name = \"extra\"\nversion = \"1\"\n"),
];

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn what_depends_lists_direct_dependents_of_any_version() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, REPO);
    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["what-depends", "lib", "-o", "csv"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "package,version,kind,dependency,dependency_version,condition\n\
         app,1.9,runtime,lib,1.9,(not set)\n\
         app,2.0,runtime,lib,1.10,(not set)\n"
    );

    let (code, stdout, _) = kiln_in(&sandbox, &root, &["what-depends", "make"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        4,
        "a header and app 2.0, lib 1.9, lib 1.10: {stdout}"
    );
    assert!(lines[0].contains("PACKAGE") && lines[0].contains("CONDITION"));
    assert!(lines[1].contains("app") && lines[1].contains("build"));
    assert!(lines[2].contains("lib") && lines[2].contains("1.9"));
    assert!(lines[3].contains("lib") && lines[3].contains("1.10"));

    let (code, stdout, _) = kiln_in(&sandbox, &root, &["what-depends", "extra", "-o", "json"]);
    assert_eq!(code, 0);
    assert_eq!(
        json_of(&stdout),
        json!([{
            "package": "app", "version": "2.0", "kind": "runtime",
            "dependency": "extra", "dependency_version": "1",
            "condition": { "has_env": ["WITH_EXTRA"] }
        }])
    );
}

#[test]
fn what_depends_filters_by_kind() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, REPO);
    let (code, stdout, _) = kiln_in(
        &sandbox,
        &root,
        &["what-depends", "make", "-t", "runtime", "-o", "json"],
    );
    assert_eq!(code, 0);
    assert_eq!(json_of(&stdout), json!([]));

    let (code, stdout, stderr) =
        kiln_in(&sandbox, &root, &["what-depends", "make", "-t", "runtime"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "", "an empty table is not printed");
    assert!(
        stderr.contains("no package depends on make at run time"),
        "{stderr}"
    );

    let (code, stdout, _) = kiln_in(
        &sandbox,
        &root,
        &["what-depends", "make", "--type", "build", "-o", "json"],
    );
    assert_eq!(code, 0);
    let rows = json_of(&stdout);
    let dependents: Vec<String> = rows
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| format!("{} {}", r["package"], r["version"]))
        .collect();
    assert_eq!(
        dependents,
        ["\"app\" \"2.0\"", "\"lib\" \"1.9\"", "\"lib\" \"1.10\""]
    );

    let (code, _, stderr) = kiln_in(&sandbox, &root, &["what-depends", "make", "-t", "both"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn what_depends_on_an_unknown_package_is_an_input_error() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, REPO);
    let (code, _, stderr) = kiln_in(&sandbox, &root, &["what-depends", "nothing"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("has no package nothing, and no package depends on one"),
        "{stderr}"
    );
    let (code, _, stderr) = kiln_in(&sandbox, &root, &["what-depends", "app"]);
    assert_eq!(code, 0, "a package nothing depends on: {stderr}");
    assert!(stderr.contains("no package depends on app"), "{stderr}");
}

#[test]
fn dependencies_of_every_version_or_one() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, REPO);
    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["dependencies-of", "app", "-o", "csv"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "package,version,kind,dependency,dependency_version,condition\n\
         app,1.9,runtime,lib,1.9,(not set)\n\
         app,2.0,build,make,4.3,(not set)\n\
         app,2.0,runtime,lib,1.10,(not set)\n\
         app,2.0,runtime,extra,1,\"{ has_env = [\"\"WITH_EXTRA\"\"] }\"\n"
    );

    let (code, stdout, _) = kiln_in(&sandbox, &root, &["dependencies-of", "app", "1.9"]);
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains("lib"), "{stdout}");
    assert!(!stdout.contains("make"), "{stdout}");

    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["dependencies-of", "make"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "");
    assert!(stderr.contains("make has no dependencies"), "{stderr}");

    let (code, _, stderr) = kiln_in(&sandbox, &root, &["dependencies-of", "app", "3"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("app has no version 3 (it has 1.9, 2.0)"),
        "{stderr}"
    );
}

#[test]
fn versions_of_in_release_order() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, REPO);
    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["versions-of", "lib", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        json_of(&stdout),
        json!([
            { "version": "1.9", "file": "lib/1.9/pkg.toml" },
            { "version": "1.10", "file": "lib/1.10/pkg.toml" }
        ])
    );
    let (code, _, stderr) = kiln_in(&sandbox, &root, &["versions-of", "nope"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("has no package nope"), "{stderr}");
}

#[test]
fn env_of_merges_the_layers() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, REPO);
    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["env-of", "lib", "1.10", "-o", "csv"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "name,value\nLANG,C\nLIB_MODE,shared\n");

    let (code, stdout, _) = kiln_in(&sandbox, &root, &["env-of", "make", "=4.3", "-o", "json"]);
    assert_eq!(code, 0);
    assert_eq!(json_of(&stdout), json!([{ "name": "LANG", "value": "C" }]));

    let (code, _, stderr) = kiln_in(&sandbox, &root, &["env-of", "lib"]);
    assert_eq!(code, 2, "VERSION is required: {stderr}");
    let (code, _, stderr) = kiln_in(&sandbox, &root, &["env-of", "lib", "2"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("lib has no version 2 (it has 1.9, 1.10)"),
        "{stderr}"
    );
}

#[test]
fn on_the_example_repository() {
    let sandbox = Sandbox::new();
    let root = examples();
    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["what-depends", "zlib", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let rows = json_of(&stdout);
    let rows = rows.as_array().expect("an array");
    let libxml2 = rows
        .iter()
        .find(|r| r["package"] == "libxml2")
        .expect("libxml2 depends on zlib");
    assert_eq!(libxml2["dependency_version"], "1.2.13");
    assert!(rows.iter().all(|r| r["dependency"] == "zlib"));
    assert!(rows.len() >= 5, "{stdout}");

    let (code, stdout, _) = kiln_in(
        &sandbox,
        &root,
        &["dependencies-of", "curl", "8.4.0", "-o", "json"],
    );
    assert_eq!(code, 0);
    let idn = json_of(&stdout)
        .as_array()
        .expect("an array")
        .iter()
        .find(|r| r["dependency"] == "libidn2")
        .cloned()
        .expect("curl has a conditional dependency on libidn2");
    assert_eq!(idn["condition"], json!({ "env_eq": { "CURL_IDN": "yes" } }));

    let (code, stdout, _) = kiln_in(&sandbox, &root, &["versions-of", "zlib", "-o", "csv"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "version,file\n1.2.13,libs/zlib/1.2/pkg.toml\n1.3.1,libs/zlib/1.3/pkg.toml\n"
    );

    let (code, stdout, _) = kiln_in(
        &sandbox,
        &root,
        &["env-of", "sqlite", "3.44.0", "-o", "json"],
    );
    assert_eq!(code, 0);
    let env = json_of(&stdout);
    assert!(
        env.as_array()
            .expect("an array")
            .iter()
            .any(|r| r["name"] == "SQLITE_TEMP_STORE"),
        "{stdout}"
    );
}

#[test]
fn help_teaches() {
    let sandbox = Sandbox::new();
    for (command, example) in [
        ("what-depends", "kiln what-depends zlib -t build"),
        ("dependencies-of", "kiln dependencies-of curl 8.4.0"),
        ("versions-of", "kiln versions-of zlib"),
        ("env-of", "kiln env-of sqlite 3.44.0"),
    ] {
        let mut cmd = sandbox.kiln();
        cmd.args([command, "--help"]);
        let (out, stdout, _) = crate::support::run(&mut cmd);
        assert!(out.status.success(), "{command}");
        assert!(stdout.contains("Examples:"), "{command}: {stdout}");
        assert!(stdout.contains(example), "{command}: {stdout}");
    }
}
