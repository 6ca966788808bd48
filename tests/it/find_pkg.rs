//! `kiln find-pkg`: the real binary on a small repository written into a
//! temporary directory, and on the project's example repository.

use serde_json::Value;

use crate::support::repo::{examples, kiln_in, write_files, write_repo};
use crate::support::snapshot::{assert_snapshot, session};
use crate::support::Sandbox;
use crate::what_depends::REPO;

#[test]
fn matches_names_anywhere_sorted_by_name_and_version() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, REPO);
    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["find-pkg", "a", "--terse"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "app 1.9\napp 2.0\nextra 1\nmake 4.3\n");

    let (code, stdout, _) = kiln_in(&sandbox, &root, &["find-pkg", "^lib$", "--terse"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "lib 1.9\nlib 1.10\n");

    let (code, stdout, _) = kiln_in(&sandbox, &root, &["find-pkg", "^lib$", "1.10", "--terse"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "lib 1.10\n");

    let (code, stdout, _) = kiln_in(&sandbox, &root, &["find-pkg", "^lib$"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "lib 1.9 (lib/1.9/pkg.toml)\nlib 1.10 (lib/1.10/pkg.toml)\n"
    );
}

#[test]
fn nothing_found_and_bad_expressions() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, REPO);
    let mut transcript = String::new();
    for (args, expected_code) in [
        (&["find-pkg", "^zzz"][..], 0),
        (&["find-pkg", "app", "7"], 0),
        (&["find-pkg", "a(b"], 2),
    ] {
        let (code, stdout, stderr) = kiln_in(&sandbox, &root, args);
        assert_eq!(code, expected_code, "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}: nothing found");
        transcript += &session(args, code, &stdout, &stderr);
    }
    assert_snapshot!("nothing_found_and_bad_expression", transcript);

    // As in butido, --terse wins over the sections.
    let (code, stdout, stderr) = kiln_in(
        &sandbox,
        &root,
        &["find-pkg", "^lib$", "1.10", "--terse", "--all"],
    );
    assert_eq!((code, stdout.as_str()), (0, "lib 1.10\n"), "{stderr}");

    let (code, _, stderr) = kiln_in(&sandbox, &root, &["find-pkg", "a", "--terse", "-o", "json"]);
    assert_eq!(code, 2, "--terse and --output conflict: {stderr}");
}

#[test]
fn sections_show_what_was_asked() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, REPO);
    let (code, stdout, stderr) = kiln_in(
        &sandbox,
        &root,
        &[
            "find-pkg",
            "^app$",
            "2.0",
            "--show-dependencies",
            "--show-env",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_snapshot!("dependencies_and_env", stdout);

    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["find-pkg", "^make$", "--all"]);
    assert_eq!(code, 0, "{stderr}");
    // The script is plain when stdout is not a terminal.
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    assert_snapshot!("all_sections", stdout);

    let (code, stdout, _) = kiln_in(&sandbox, &root, &["find-pkg", "^lib$", "--show-script"]);
    assert_eq!(code, 0);
    assert_eq!(stdout.matches("make lib\n").count(), 2, "{stdout}");
    assert!(
        stdout.contains("\n\nlib 1.10"),
        "packages are separated: {stdout}"
    );
}

#[test]
fn json_has_every_field() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, REPO);
    let (code, stdout, stderr) = kiln_in(
        &sandbox,
        &root,
        &["find-pkg", "^app$", "-o", "json", "--show-script"],
    );
    assert_eq!(code, 0, "{stderr}");
    let packages: Value = serde_json::from_str(&stdout).expect("JSON");
    let packages = packages.as_array().expect("an array");
    assert_eq!(packages.len(), 2);
    let app = &packages[1];
    assert_eq!(app["name"], "app");
    assert_eq!(app["version"], "2.0");
    assert_eq!(app["file"], "app/pkg.toml");
    assert_eq!(app["dependencies"]["build"][0], "make =4.3");
    assert_eq!(app["environment"]["LANG"], "C");
    assert_eq!(app["phases"]["build"]["script"], "make {{this.name}}");
    assert!(
        app["script"]
            .as_str()
            .expect("the script")
            .contains("make app\n"),
        "{stdout}"
    );
}

#[test]
fn package_print_format_is_used_when_configured() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, REPO);
    // A template in butido's style: `p`, `i` and the print_* switches.
    write_files(
        &sandbox.path().join("config/kiln"),
        &[(
            "config.toml",
            "package_print_format = \"\"\"\n\
             {{i}}: {{p.name}}@{{p.version}}\n\
             {{#if print_env}}{{#each p.environment}}  {{@key}} is {{this}}\n{{/each}}{{/if}}\
             {{#if print_phases}}{{#each p.phases}}  phase {{@key}}\n{{/each}}{{/if}}\
             \"\"\"\n",
        )],
    );
    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["find-pkg", "^lib$"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "0: lib@1.9\n1: lib@1.10\n");

    let (code, stdout, stderr) = kiln_in(
        &sandbox,
        &root,
        &["find-pkg", "^lib$", "1.10", "--show-env", "--show-phases"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "0: lib@1.10\n  LANG is C\n  LIB_MODE is shared\n  phase build\n"
    );
}

#[test]
fn on_the_example_repository() {
    let sandbox = Sandbox::new();
    let root = examples();
    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["find-pkg", "^zlib$", "--terse"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "zlib 1.2.13\nzlib 1.3.1\n");

    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["find-pkg", "^openssl$", "--all"]);
    assert_eq!(code, 0, "{stderr}");
    assert_snapshot!("example_openssl_all", stdout);
}

#[test]
fn help_teaches() {
    let sandbox = Sandbox::new();
    let mut cmd = sandbox.kiln();
    cmd.args(["find-pkg", "--help"]);
    let (out, stdout, _) = crate::support::run(&mut cmd);
    assert!(out.status.success());
    assert_snapshot!("help", stdout);
}
