//! `kiln find-pkg`: the real binary on a small repository written into a
//! temporary directory, and on the project's example repository.

use serde_json::Value;

use crate::support::repo::{examples, kiln_in, write_files, write_repo};
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
    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["find-pkg", "^zzz"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("no package name matches `^zzz`"),
        "{stderr}"
    );

    let (code, _, stderr) = kiln_in(&sandbox, &root, &["find-pkg", "app", "7"]);
    assert_eq!(code, 0);
    assert!(stderr.contains("in version 7"), "{stderr}");

    let (code, _, stderr) = kiln_in(&sandbox, &root, &["find-pkg", "a(b"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("`a(b` is not a valid regular expression"),
        "{stderr}"
    );

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
    assert_eq!(
        stdout,
        "app 2.0 (app/pkg.toml)\n  \
         dependencies:\n    \
         build: make =4.3\n    \
         runtime: lib =1.10\n    \
         runtime: extra =1 if { has_env = [\"WITH_EXTRA\"] }\n  \
         environment:\n    \
         LANG=C\n"
    );

    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["find-pkg", "^make$", "--all"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "make 4.3 (make/pkg.toml)\n  \
         sources: none\n  \
         dependencies: none\n  \
         patches: none\n  \
         environment:\n    \
         LANG=C\n  \
         allowed images: any\n  \
         denied images: none\n  \
         phases:\n    \
         build (set in pkg.toml)\n  \
         script:\n\
         #!/bin/bash\n\
         ### phase unpack\n\
         # this package has no `unpack` phase\n\
         ### / unpack phase\n\
         ### phase build\n\
         make make\n\
         ### / build phase\n",
        "the script is plain when stdout is not a terminal"
    );

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
    for expected in [
        "openssl 3.1.4 (libs/openssl/pkg.toml)\n",
        "    libs/openssl/patches/0001-default-openssldir.patch\n",
        "    check (set in libs/openssl/pkg.toml)\n",
        "    package (file scripts/package.sh, set in pkg.toml)\n",
        "  script:\n#!/bin/bash\n### phase unpack\n",
        "SRC=\"$WORK/openssl-3.1.4\"",
    ] {
        assert!(stdout.contains(expected), "lacks {expected:?}: {stdout}");
    }
}

#[test]
fn help_teaches() {
    let sandbox = Sandbox::new();
    let mut cmd = sandbox.kiln();
    cmd.args(["find-pkg", "--help"]);
    let (out, stdout, _) = crate::support::run(&mut cmd);
    assert!(out.status.success());
    assert!(stdout.contains("Examples:"), "{stdout}");
    assert!(
        stdout.contains("kiln find-pkg '^zlib$' --terse"),
        "{stdout}"
    );
    assert!(stdout.contains("package_print_format"), "{stdout}");
}
