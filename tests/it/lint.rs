//! `kiln lint`: the real binary on repositories written into a temporary
//! directory (one finding of each kind the loader lets through, and a
//! configured `script_linter`), and on the project's example repository.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::repo::{examples, kiln_in, write_repo};
use crate::support::Sandbox;

const CONFIG: &str = r#"available_phases = ["unpack", "build"]
script_linter = "tools/linter.sh"
[docker]
images = [ { name = "registry.example/debian:12", short_name = "deb" } ]
"#;

/// Rejects scripts holding `BAD`, saying so on stdout and stderr.
const LINTER: &str =
    "#!/bin/sh\nif grep -q BAD; then echo 'found BAD'; echo 'in the script' >&2; exit 3; fi\n";

const REPO: &[(&str, &str)] = &[
    ("config.toml", CONFIG),
    ("tools/linter.sh", LINTER),
    ("pkg.toml", "[phases.build]\nscript = \"make {{this.name}}\"\n"),
    (
        "good/pkg.toml",
        r#"name = "good"
version = "1"
allowed_images = ["deb"]
denied_images = ["registry.example/debian:12"]
[sources.src]
url = "https://example.org/good-1.tar.gz"
hash = { type = "sha1", hash = "0123456789abcdef0123456789abcdef01234567" }
[dependencies]
runtime = ["other =2"]
"#,
    ),
    ("other/pkg.toml", "name = \"other\"\nversion = \"2\"\n"),
    (
        "badphase/pkg.toml",
        "name = \"badphase\"\nversion = \"1\"\n[phases.tset]\nscript = \"make test\"\n",
    ),
    (
        "images/pkg.toml",
        "name = \"images\"\nversion = \"1\"\nallowed_images = [\"fedora\"]\ndenied_images = [\"ubuntu:24.04\"]\n",
    ),
    (
        "missingdep/pkg.toml",
        "name = \"missingdep\"\nversion = \"1\"\n[dependencies]\nruntime = [\"ghost =1\"]\n",
    ),
    (
        "badscript/pkg.toml",
        "name = \"badscript\"\nversion = \"1\"\n[phases.build]\nscript = \"{{this.meta.nothing}}\"\n",
    ),
    (
        "linted/pkg.toml",
        "name = \"linted\"\nversion = \"1\"\n[phases.build]\nscript = \"echo BAD\"\n",
    ),
];

fn repo(sandbox: &Sandbox, files: &[(&str, &str)]) -> std::path::PathBuf {
    let root = write_repo(sandbox, files);
    let linter = root.join("tools/linter.sh");
    if linter.exists() {
        std::fs::set_permissions(&linter, std::fs::Permissions::from_mode(0o755))
            .expect("making the linter executable");
    }
    root
}

const EXPECTED: &str = "\
error: badphase 1: phase `tset` (set in badphase/pkg.toml) is not in available_phases, so the script leaves it out
error: badscript 1: the script does not render: script of package badscript 1, phase `build` (set in badscript/pkg.toml): line 1, column 1: `this.meta.nothing` is not a value of this package (strict mode)
warning: images 1: allowed_images names `fedora`, which is not an image of docker.images
warning: images 1: denied_images names `ubuntu:24.04`, which is not an image of docker.images
error: images 1: allowed_images names none of the images of docker.images: the package cannot be built
error: linted 1: script_linter failed (exit code 3):
    found BAD
    in the script
error: missingdep 1: runtime dependency `ghost =1` names no package of the repository
lint: checked 7 packages: 5 errors and 2 warnings in 5 packages
";

#[test]
fn finds_each_kind_of_problem() {
    let sandbox = Sandbox::new();
    let root = repo(&sandbox, REPO);
    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["lint"]);
    assert_eq!(stdout, EXPECTED, "{stderr}");
    assert_eq!(code, 1, "findings fail the check: {stderr}");

    // One linter process at a time finds the same.
    let (code, stdout, _) = kiln_in(&sandbox, &root, &["lint", "--jobs", "1"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, EXPECTED);
}

#[test]
fn one_package_or_one_version() {
    let sandbox = Sandbox::new();
    let root = repo(&sandbox, REPO);
    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["lint", "good"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stdout, "lint: checked 1 package: no problems found\n");

    let (code, stdout, _) = kiln_in(&sandbox, &root, &["lint", "linted", "1"]);
    assert_eq!(code, 1);
    assert!(
        stdout.starts_with("error: linted 1: script_linter failed"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("lint: checked 1 package: 1 error and 0 warnings in 1 package\n"),
        "{stdout}"
    );

    let (code, _, stderr) = kiln_in(&sandbox, &root, &["lint", "good", "2"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("good has no version 2 (it has 1)"),
        "{stderr}"
    );
    let (code, _, stderr) = kiln_in(&sandbox, &root, &["lint", "ghost"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("has no package ghost"), "{stderr}");
}

#[test]
fn without_a_linter_only_kiln_checks() {
    let sandbox = Sandbox::new();
    let config = CONFIG.replace("script_linter = \"tools/linter.sh\"\n", "");
    assert!(!config.contains("script_linter"));
    let mut files = REPO.to_vec();
    files[0] = ("config.toml", config.as_str());
    let root = repo(&sandbox, &files);
    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["lint", "linted"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stdout, "lint: checked 1 package: no problems found\n");
}

#[test]
fn a_linter_that_cannot_run_is_a_configuration_error() {
    let sandbox = Sandbox::new();
    let root = repo(&sandbox, REPO);
    std::fs::remove_file(root.join("tools/linter.sh")).expect("removing the linter");
    let (code, stdout, stderr) = kiln_in(&sandbox, &root, &["lint", "good"]);
    assert_eq!(code, 2, "{stdout}");
    let expected = format!(
        "script_linter {}: cannot run it",
        Path::new(&root).join("tools/linter.sh").display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn the_example_repository_has_no_errors() {
    let sandbox = Sandbox::new();
    let (code, stdout, stderr) = kiln_in(&sandbox, &examples(), &["lint"]);
    let lines: Vec<&str> = stdout.lines().collect();
    let (summary, findings) = lines.split_last().expect("a summary line");
    assert!(
        summary.starts_with("lint: checked 25 packages: "),
        "{stdout}{stderr}"
    );
    // The example repository denies images it does not configure (alpine);
    // nothing else may be found.
    for finding in findings {
        assert!(
            finding.starts_with("warning: ")
                && finding.ends_with("which is not an image of docker.images"),
            "{finding}"
        );
    }
    assert_eq!(code, if findings.is_empty() { 0 } else { 1 }, "{stderr}");
}

#[test]
fn help_teaches() {
    let sandbox = Sandbox::new();
    let mut cmd = sandbox.kiln();
    cmd.args(["lint", "--help"]);
    let (out, stdout, _) = crate::support::run(&mut cmd);
    assert!(out.status.success());
    assert!(stdout.contains("Examples:"), "{stdout}");
    assert!(
        stdout.contains("kiln lint openssl 3.1.4 --jobs 2"),
        "{stdout}"
    );
    assert!(stdout.contains("script_linter"), "{stdout}");
}

/// A negative count is a value the flag refuses by name, not an unknown
/// argument.
#[test]
fn negative_counts_are_refused_by_their_flag() {
    let sandbox = Sandbox::new();
    let root = write_repo(&sandbox, REPO);
    for args in [
        &["lint", "-j", "-1"][..],
        &["source", "download", "good", "--jobs", "-2"],
        &["source", "download", "good", "--timeout", "-5"],
    ] {
        let (code, _, stderr) = kiln_in(&sandbox, &root, args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("invalid value '-"), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("unexpected argument"),
            "{args:?}: {stderr}"
        );
    }
}
