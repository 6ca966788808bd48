//! `kiln tree-of`: the real binary on small package repositories written
//! into a temporary directory, and on broken ones (each a clear error naming
//! the file, exit code 2, never a panic).

use std::path::Path;

use crate::support::repo::{kiln_in, write_repo};
use crate::support::snapshot::{assert_snapshot, session};
use crate::support::{run, Sandbox};

/// Runs `kiln --repo ROOT tree-of ARGS...`; returns exit code, stdout, stderr.
fn tree_of(sandbox: &Sandbox, root: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["tree-of"];
    all.extend_from_slice(args);
    kiln_in(sandbox, root, &all)
}

const SMALL: &[(&str, &str)] = &[
    (
        "pkg.toml",
        "[environment]\nLANG = \"C\"\n[phases.build]\nscript = \"make\"\n",
    ),
    (
        "app/pkg.toml",
        r#"name = "app"
version = "2.0"
[dependencies]
build = ["make =4.3"]
runtime = ["lib =1.10", "util 1.0", { name = "extra =1", condition = { has_env = "WITH_EXTRA" } }]
"#,
    ),
    ("app-old/pkg.toml", "name = \"app\"\nversion = \"1.9\"\n"),
    ("libs/pkg.toml", "[meta]\ngroup = \"libs\"\n"),
    (
        "libs/lib/pkg.toml",
        "name = \"lib\"\nversion = \"1.10\"\n[dependencies]\nruntime = [\"util =1.0\"]\n",
    ),
    (
        "libs/util/pkg.toml",
        "name = \"util\"\nversion = \"1.0\"\n[dependencies]\nruntime = [\"libc =2\"]\n",
    ),
    ("libs/libc/pkg.toml", "name = \"libc\"\nversion = \"2\"\n"),
    (
        "tools/make/pkg.toml",
        "name = \"make\"\nversion = \"4.3\"\n[dependencies]\nruntime = [\"libc =2\"]\n",
    ),
    (
        "tools/extra/pkg.toml",
        "name = \"extra\"\nversion = \"1\"\n",
    ),
];

#[test]
fn prints_the_tree_once_per_subtree() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, SMALL);
    let (code, stdout, stderr) = tree_of(&sandbox, &root, &["app", "2.0"]);
    assert_eq!(code, 0, "{stderr}");
    assert_snapshot!("tree", stdout);
    assert_eq!(stderr, "", "an explicit version needs no note");
}

#[test]
fn takes_the_highest_version_and_says_so() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, SMALL);
    let (code, stdout, stderr) = tree_of(&sandbox, &root, &["app"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("app 2.0\n"), "{stdout}");
    assert_snapshot!("highest_version_note", stderr);

    let (code, stdout, _) = tree_of(&sandbox, &root, &["app", "1.9"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "app 1.9\n");
}

#[test]
fn conditions_see_the_command_line_variables() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, SMALL);
    let (code, stdout, stderr) = tree_of(&sandbox, &root, &["app", "2.0", "-E", "WITH_EXTRA=1"]);
    assert_eq!(code, 0, "{stderr}");
    assert_snapshot!("tree_with_extra", stdout);

    let args = ["app", "-E", "not-a-name=1"];
    let (code, stdout, stderr) = tree_of(&sandbox, &root, &args);
    assert_eq!(code, 2);
    let text = session(&[&["tree-of"], &args[..]].concat(), code, &stdout, &stderr);
    assert_snapshot!("bad_variable_name", text);
}

#[test]
fn serial_build_order_dot_and_json() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, SMALL);
    let (code, stdout, stderr) = tree_of(&sandbox, &root, &["app", "2.0", "--serial-buildorder"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "libc 2\nmake 4.3\nutil 1.0\nlib 1.10\napp 2.0\n");

    let (code, stdout, _) = tree_of(&sandbox, &root, &["app", "2.0", "--dot"]);
    assert_eq!(code, 0);
    assert_snapshot!("dot", stdout);

    let (code, stdout, _) = tree_of(&sandbox, &root, &["app", "2.0", "--output", "json"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(doc["tree"]["packages"][0]["name"], "app");
    assert_eq!(doc["tree"]["packages"][0]["file"], "app/pkg.toml");
    assert_eq!(doc["tree"]["packages"].as_array().map(Vec::len), Some(5));
    let order: Vec<&str> = doc["plan"]["build_order"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|s| s["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(order, ["libc", "make", "util", "lib", "app"]);

    let (code, _, stderr) = tree_of(&sandbox, &root, &["app", "--dot", "--serial-buildorder"]);
    assert_eq!(code, 2, "conflicting flags are a usage error: {stderr}");
}

#[test]
fn images_decide_conditions_and_are_checked() {
    let sandbox = Sandbox::new();
    let mut files = SMALL.to_vec();
    files.push((
        "config.toml",
        "available_phases = [\"build\"]\n[docker]\nimages = [ { name = \"registry.example/debian:12\", short_name = \"deb12\" }, { name = \"alpine:3\" } ]\n",
    ));
    files.push((
        "musl/pkg.toml",
        "name = \"musl-only\"\nversion = \"1\"\nallowed_images = [\"alpine:3\"]\n",
    ));
    let root = write_repo(&sandbox, &files);
    let (code, stdout, stderr) = tree_of(&sandbox, &root, &["musl-only", "-I", "alpine:3"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "musl-only 1\n");

    let mut transcript = String::new();
    for args in [&["musl-only", "-I", "deb12"][..], &["app", "-I", "centos"]] {
        let (code, stdout, stderr) = tree_of(&sandbox, &root, args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        transcript += &session(&[&["tree-of"], args].concat(), code, &stdout, &stderr);
    }
    assert_snapshot!("image_errors", transcript);
}

#[test]
fn in_image_conditions() {
    let sandbox = Sandbox::new();
    let root = write_repo(
        &sandbox,
        &[
            ("config.toml", "available_phases = [\"build\"]\n[docker]\nimages = [ { name = \"debian:12\", short_name = \"deb\" }, { name = \"alpine:3\" } ]\n"),
            (
                "a/pkg.toml",
                "name = \"a\"\nversion = \"1\"\n[dependencies]\nbuild = [{ name = \"b =1\", condition = { in_image = [\"deb\"] } }]\n",
            ),
            ("b/pkg.toml", "name = \"b\"\nversion = \"1\"\n"),
        ],
    );
    for (args, expected) in [
        (&["a"][..], "a 1\n"),
        (&["a", "-I", "alpine:3"][..], "a 1\n"),
        (&["a", "-I", "deb"][..], "a 1\n└── b 1 (build)\n"),
        (&["a", "-I", "debian:12"][..], "a 1\n└── b 1 (build)\n"),
    ] {
        let (code, stdout, stderr) = tree_of(&sandbox, &root, args);
        assert_eq!((code, stdout.as_str()), (0, expected), "{args:?}: {stderr}");
    }
}

/// Runs tree-of on a broken repository, checks for exit code 2, and
/// returns the run as a snapshot shows it (ROOT stands for the repository).
fn broken(files: &[(&str, &str)], args: &[&str]) -> String {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, files);
    let (code, stdout, stderr) = tree_of(&sandbox, &root, args);
    assert_eq!(code, 2, "{files:?}: stdout {stdout} stderr {stderr}");
    let stderr = stderr.replace(&root.display().to_string(), "ROOT");
    let mut all = vec!["tree-of"];
    all.extend_from_slice(args);
    session(&all, code, &stdout, &stderr)
}

#[test]
fn broken_repositories() {
    let mut transcript = String::new();
    let ok_b = ("b/pkg.toml", "name = \"b\"\nversion = \"1\"\n");
    // A TOML syntax error, with line and column.
    transcript.push_str(&broken(
        &[("a/pkg.toml", "name = \"a\"\nversion = \n"), ok_b],
        &["b"],
    ));
    // An unknown key, with its key path.
    transcript.push_str(&broken(
        &[
            (
                "a/pkg.toml",
                "name = \"a\"\nversion = \"1\"\n[dependencies]\nbiuld = [\"b =1\"]\n",
            ),
            ok_b,
        ],
        &["a"],
    ));
    // An unknown key in a shared layer is reported once, for that layer.
    transcript.push_str(&broken(
        &[
            ("pkg.toml", "[enviroment]\nX = \"1\"\n"),
            ("a/pkg.toml", "name = \"a\"\nversion = \"1\"\n"),
            ok_b,
        ],
        &["a"],
    ));
    // A cycle, printed.
    transcript.push_str(&broken(
        &[
            (
                "a/pkg.toml",
                "name = \"a\"\nversion = \"1\"\n[dependencies]\nruntime = [\"b =1\"]\n",
            ),
            (
                "b/pkg.toml",
                "name = \"b\"\nversion = \"1\"\n[dependencies]\nbuild = [\"a =1\"]\n",
            ),
        ],
        &["a"],
    ));
    // A missing dependency: the package and the file that asked for it.
    transcript.push_str(&broken(
        &[(
            "a/pkg.toml",
            "name = \"a\"\nversion = \"1\"\n[dependencies]\nruntime = [\"nope =3\"]\n",
        )],
        &["a"],
    ));
    // A missing dependency listed by a shared layer: that layer is named.
    transcript.push_str(&broken(
        &[
            ("pkgs/pkg.toml", "[dependencies]\nbuild = [\"gcc =13\"]\n"),
            ("pkgs/a/pkg.toml", "name = \"a\"\nversion = \"1\"\n"),
        ],
        &["a"],
    ));
    // A duplicate package: both files.
    transcript.push_str(&broken(
        &[
            ("a/pkg.toml", "name = \"a\"\nversion = \"1\"\n"),
            ("x/a/pkg.toml", "name = \"a\"\nversion = \"=1\"\n"),
        ],
        &["a"],
    ));
    // A patch path that leaves the repository: the layer that set it.
    transcript.push_str(&broken(
        &[
            ("pkg.toml", "patches = [\"../outside.patch\"]\n"),
            ("a/pkg.toml", "name = \"a\"\nversion = \"1\"\n"),
        ],
        &["a"],
    ));
    // A patch that does not exist.
    transcript.push_str(&broken(
        &[(
            "a/pkg.toml",
            "name = \"a\"\nversion = \"1\"\npatches = [\"fix.patch\"]\n",
        )],
        &["a"],
    ));
    // A leaf without a version.
    transcript.push_str(&broken(&[("a/pkg.toml", "name = \"a\"\n")], &["a"]));
    // All problems of a load are reported together.
    transcript.push_str(&broken(
        &[
            ("a/pkg.toml", "name = \"a\"\nversion = \"1\"\nfoo = 1\n"),
            ("b/pkg.toml", "name = \"b\"\nversion = \"1\"\nbar = 1\n"),
        ],
        &["a"],
    ));
    // Asking for what is not there.
    transcript.push_str(&broken(&[ok_b], &["zzz"]));
    transcript.push_str(&broken(&[ok_b], &["b", "7"]));
    assert_snapshot!("broken_repositories", transcript);
}

#[test]
fn outside_a_repository() {
    let sandbox = Sandbox::new();
    let mut cmd = sandbox.kiln();
    cmd.args(["tree-of", "a"]);
    let (out, _, stderr) = run(&mut cmd);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_snapshot!("outside_a_repository", stderr);
}

#[test]
fn help_teaches() {
    let sandbox = Sandbox::new();
    let mut cmd = sandbox.kiln();
    cmd.args(["tree-of", "--help"]);
    let (out, stdout, _) = run(&mut cmd);
    assert!(out.status.success());
    assert_snapshot!("help", stdout);
}

/// A NUL in any key or value of a `pkg.toml` is refused at load (exit code
/// 2, file, line and key), not when the submit is recorded; other control
/// characters are shown escaped in the message.
#[test]
fn nul_and_control_characters_are_refused_at_load() {
    let sandbox = Sandbox::new();
    let mut transcript = String::new();
    for text in [
        "name = \"a\"\nversion = \"1\"\n[environment]\nA = \"x\\u0000y\"\n",
        "name = \"a\"\nversion = \"1\"\n[meta]\n\"k\\u0000\" = \"v\"\n",
        "name = \"a\"\nversion = \"1\\u001b[2J\"\n",
        "name = \"a\\u0007\"\nversion = \"1\"\n",
    ] {
        let root = write_repo(&sandbox, &[("a/pkg.toml", text)]);
        let (code, stdout, stderr) = tree_of(&sandbox, &root, &["a"]);
        assert_eq!(code, 2, "{text:?}: {stdout}{stderr}");
        assert!(
            !stderr.contains('\u{1b}') && !stderr.contains('\0'),
            "{stderr:?}"
        );
        let stderr = stderr.replace(&root.display().to_string(), "ROOT");
        transcript += &format!("# a/pkg.toml: {text:?}\n{stderr}\n");
    }
    assert_snapshot!("control_characters", transcript);
}

/// A package name given on the command line is quoted with its control
/// characters escaped, never sent raw to the terminal.
#[test]
fn an_unknown_name_is_quoted_escaped() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, SMALL);
    let (code, _, stderr) = tree_of(&sandbox, &root, &["app\u{1b}[2J"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("app\\u{1b}[2J"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}
