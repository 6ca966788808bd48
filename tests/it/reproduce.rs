//! `kiln reproduce` and `kiln submit --commit` through the real binary, on
//! the local Docker engine with a fresh database per test: a submit
//! rebuilt from another commit of the work tree (which stays untouched),
//! from its stored uncommitted changes, with secret variables given again,
//! with an image name that has moved, and a build that is not
//! deterministic; each proof checked against the records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln::db::models::submits::Submit;
use serde_json::Value;

use crate::submit::{config_toml, files_under, git, git_repo, head_commit, Fixture};
use crate::support::{records, run};

/// `kiln --repo REPO reproduce SUBMIT ARGS... --hide-bars --staging-dir DIR`.
fn reproduce(fx: &Fixture, repo: &Path, submit: &Submit, args: &[&str]) -> (i32, String, String) {
    let mut cmd = fx.db.kiln(&fx.sandbox);
    cmd.arg("--repo")
        .arg(repo)
        .args(["reproduce", &submit.uuid.to_string(), "--hide-bars"])
        .arg("--staging-dir")
        .arg(fx.staging())
        .args(args);
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(!stderr.contains("panicked"), "kiln panicked: {stderr}");
    let code = out.status.code().expect("kiln exited");
    (code, stdout, stderr)
}

/// Every file of a work tree with its content, `git status`, and the index.
fn snapshot(repo: &Path) -> (BTreeMap<String, Vec<u8>>, String, Vec<u8>) {
    let files = files_under(repo)
        .into_iter()
        .filter(|f| !f.starts_with(".git/"))
        .map(|f| {
            let content = std::fs::read(repo.join(&f)).expect("reading");
            (f, content)
        })
        .collect();
    let index = std::fs::read(repo.join(".git/index")).expect("the index");
    (files, git(repo, &["status", "--porcelain"]), index)
}

/// A package writing `/outputs/NAME.txt` from its input and `$X`.
fn package(name: &str, deps: &str, line: &str) -> String {
    format!(
        "name = \"{name}\"\nversion = \"1\"\n{deps}[phases.build]\nscript = '''\nmkdir -p /outputs\necho \"{line} $X $(cat /patches/*/*.patch 2>/dev/null)\" > /outputs/{name}.txt\n'''\n"
    )
}

fn repo(fx: &Fixture, extra_config: &str, files: &[(&str, &str)]) -> PathBuf {
    let config = format!("{extra_config}{}", config_toml(&fx.image, ""));
    let lib = package("lib", "", "lib");
    let app = package("app", "[dependencies]\nbuild = [\"lib =1\"]\n", "app");
    let mut all = vec![
        ("config.toml", config.as_str()),
        ("lib/pkg.toml", lib.as_str()),
        ("app/pkg.toml", app.as_str()),
    ];
    all.extend_from_slice(files);
    git_repo(&fx.sandbox, "repo", &all)
}

fn last_submit(fx: &Fixture) -> Submit {
    records::submits(&mut fx.db.connect())
        .pop()
        .expect("a submit")
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

/// The `(package, artifact, verdict)` of each artifact of a JSON proof.
fn verdicts(proof: &Value) -> Vec<(String, String, String)> {
    proof["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap_or("").to_owned();
            (s("package"), s("artifact"), s("verdict"))
        })
        .collect()
}

#[test]
fn a_submit_is_reproduced_from_an_older_commit_and_the_work_tree_is_untouched() {
    let Some(fx) = Fixture::new() else { return };
    let repo = repo(&fx, "", &[]);
    let commit_a = head_commit(&repo);
    let (code, stdout, stderr) = fx.submit(&repo, &["app", "-I", "busybox", "-E", "X=1"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let original = last_submit(&fx);

    // Commit B changes app; then the work tree gets uncommitted changes too.
    std::fs::write(
        repo.join("app/pkg.toml"),
        package("app", "[dependencies]\nbuild = [\"lib =1\"]\n", "app at B"),
    )
    .expect("write");
    git(&repo, &["commit", "-qam", "B"]);
    std::fs::write(
        repo.join("lib/pkg.toml"),
        package("lib", "", "lib, uncommitted"),
    )
    .expect("write");
    std::fs::write(repo.join("notes.txt"), "untracked\n").expect("write");
    let before = snapshot(&repo);

    let (code, stdout, stderr) = reproduce(&fx, &repo, &original, &["--output", "json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let proof = json(&stdout);
    assert_eq!(proof["identical"], true, "{stdout}");
    assert_eq!(proof["original"], original.uuid.to_string());
    assert_eq!(
        verdicts(&proof),
        [
            ("lib".into(), "lib.txt".into(), "identical".into()),
            ("app".into(), "app.txt".into(), "identical".into())
        ]
    );
    let rebuild = last_submit(&fx);
    assert_eq!(proof["rebuild"], rebuild.uuid.to_string());
    assert_eq!(rebuild.reproduces_submit_id, Some(original.id));
    assert_eq!(
        rebuild.repo_hash_id, original.repo_hash_id,
        "built from commit A"
    );
    assert!(!rebuild.repo_dirty);
    assert_eq!(
        snapshot(&repo),
        before,
        "the work tree and the index are untouched"
    );
    // Nothing was reused: every job of the rebuild ran.
    let jobs = records::jobs_of(&mut fx.db.connect(), &rebuild);
    assert!(
        jobs.iter()
            .all(|j| j.job.status == kiln::db::models::JobStatus::Succeeded),
        "{jobs:#?}"
    );
    // The table names each artifact and says so.
    let (code, table, _) = reproduce(&fx, &repo, &original, &[]);
    assert_eq!(code, 0);
    assert!(
        table.contains("app.txt") && table.contains("identical"),
        "{table}"
    );
    assert!(
        table.contains("reproduced: 2 artifacts (2 identical)"),
        "{table}"
    );

    // submit --commit A: the same tree as the original (so every job is
    // reused from it), recorded clean, the work tree untouched.
    let (code, stdout, stderr) = fx.submit(
        &repo,
        &[
            "app",
            "-I",
            "busybox",
            "-E",
            "X=1",
            "--commit",
            &commit_a[..8],
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let at_a = last_submit(&fx);
    assert_eq!(at_a.repo_hash_id, original.repo_hash_id);
    assert!(!at_a.repo_dirty);
    let jobs = records::jobs_of(&mut fx.db.connect(), &at_a);
    assert!(
        jobs.iter()
            .all(|j| j.job.status == kiln::db::models::JobStatus::Reused),
        "{jobs:#?}"
    );
    assert_eq!(
        snapshot(&repo),
        before,
        "the work tree and the index are untouched"
    );

    let (code, _, stderr) = fx.submit(&repo, &["app", "-I", "busybox", "--commit", "no-such-rev"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no-such-rev") && stderr.contains("fetch"),
        "{stderr}"
    );
}

#[test]
fn a_dirty_tree_is_reproduced_from_its_stored_changes() {
    let Some(fx) = Fixture::new() else { return };
    let repo = repo(&fx, "", &[]);
    // Uncommitted: a changed package and an untracked patch it takes.
    std::fs::write(
        repo.join("lib/pkg.toml"),
        format!(
            "patches = [\"local.patch\"]\n{}",
            package("lib", "", "lib, changed")
        ),
    )
    .expect("write");
    std::fs::write(repo.join("lib/local.patch"), "a patch nobody committed\n").expect("write");
    let (code, stdout, stderr) = fx.submit(&repo, &["app", "-I", "busybox", "-E", "X=2"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let original = last_submit(&fx);
    assert!(original.repo_dirty);
    let lib_txt =
        std::fs::read_to_string(fx.staging().join(original.uuid.to_string()).join("lib.txt"))
            .expect("lib's artifact");
    assert!(lib_txt.contains("a patch nobody committed"), "{lib_txt}");

    // db submit says the tree was dirty and how large its stored change is.
    let (out, shown, stderr) =
        run(fx
            .db
            .kiln(&fx.sandbox)
            .args(["db", "submit", &original.uuid.to_string()]));
    assert!(out.status.success(), "{stderr}");
    assert!(
        shown.contains("with uncommitted changes (stored: "),
        "{shown}"
    );

    // The work tree is cleaned: only the stored changes can bring them back.
    git(&repo, &["checkout", "--", "."]);
    std::fs::remove_file(repo.join("lib/local.patch")).expect("rm");
    let (code, stdout, stderr) = reproduce(&fx, &repo, &original, &["-o", "json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(json(&stdout)["identical"], true, "{stdout}");
    let rebuild = last_submit(&fx);
    assert!(rebuild.repo_dirty);
    assert_eq!(rebuild.repo_diff_sha256, original.repo_diff_sha256);
    assert!(!repo.join("lib/local.patch").exists());
}

#[test]
fn a_build_that_embeds_the_time_is_not_deterministic() {
    let Some(fx) = Fixture::new() else { return };
    let clock = "name = \"clock\"\nversion = \"1\"\n[dependencies]\nbuild = [\"lib =1\"]\n[phases.build]\nscript = '''\nmkdir -p /outputs\necho same > /outputs/same.txt\ndate +%s%N > /outputs/stamp.txt\n'''\n";
    let repo = repo(&fx, "", &[("clock/pkg.toml", clock)]);
    let (code, _, stderr) = fx.submit(&repo, &["clock", "-I", "busybox"]);
    assert_eq!(code, 0, "{stderr}");
    let original = last_submit(&fx);

    let (code, stdout, stderr) = reproduce(&fx, &repo, &original, &["-o", "json"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let proof = json(&stdout);
    assert_eq!(proof["identical"], false);
    assert_eq!(
        verdicts(&proof),
        [
            ("lib".into(), "lib.txt".into(), "identical".into()),
            ("clock".into(), "same.txt".into(), "identical".into()),
            ("clock".into(), "stamp.txt".into(), "differs".into()),
        ]
    );
    let findings = proof["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{stdout}");
    assert_eq!(findings[0]["package"], "clock");
    assert_eq!(findings[0]["cause"], "not_deterministic");

    let (code, table, _) = reproduce(&fx, &repo, &original, &[]);
    assert_eq!(code, 1);
    assert!(
        table.contains("clock 1: the build is not deterministic"),
        "{table}"
    );
    assert!(table.contains("NOT reproduced"), "{table}");
}

#[test]
fn secret_variables_must_be_given_again() {
    let Some(fx) = Fixture::new() else { return };
    let repo = repo(&fx, "secret_env = [\"TOKEN\"]\n", &[]);
    let (code, _, stderr) = fx.submit(
        &repo,
        &["app", "-I", "busybox", "-E", "TOKEN=s3cr3t", "-E", "X=3"],
    );
    assert_eq!(code, 0, "{stderr}");
    let original = last_submit(&fx);

    let (code, _, stderr) = reproduce(&fx, &repo, &original, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("-E TOKEN="), "{stderr}");
    assert!(!stderr.contains("s3cr3t"));
    let (code, _, stderr) = reproduce(&fx, &repo, &original, &["-E", "TOKEN=s3cr3t", "-E", "X=4"]);
    assert_eq!(code, 2, "a recorded variable cannot be changed: {stderr}");
    assert!(stderr.contains("-E X: "), "{stderr}");
    assert_eq!(
        records::submits(&mut fx.db.connect()).len(),
        1,
        "nothing was built"
    );

    let (code, stdout, stderr) =
        reproduce(&fx, &repo, &original, &["-E", "TOKEN=s3cr3t", "-o", "json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(json(&stdout)["identical"], true);
}

/// An image name of this test's own, removed at the end.
struct MovingImage(String);

impl MovingImage {
    fn new(from: &str) -> Self {
        let name = format!("kiln-test-moving-{}:1", uuid::Uuid::new_v4().simple());
        docker(&["tag", from, &name]);
        MovingImage(name)
    }

    /// Points the name at a new image made from `from` (another digest).
    fn move_to_new_image(&self, from: &str) {
        let container = docker(&["create", from, "true"]);
        let container = container.trim();
        docker(&[
            "commit",
            "--change",
            "LABEL kiln.test.moved=yes",
            container,
            &self.0,
        ]);
        docker(&["rm", container]);
    }

    fn digest(&self) -> String {
        docker(&["image", "inspect", "--format", "{{.Id}}", &self.0])
            .trim()
            .to_owned()
    }
}

impl Drop for MovingImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("running docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_image_name_that_moved_is_refused_unless_allowed() {
    let Some(fx) = Fixture::new() else { return };
    let image = MovingImage::new(&fx.image);
    let images = format!(
        "[docker]\nimages = [{{ name = \"{}\", short_name = \"moving\" }}]\n",
        image.0
    );
    let config = format!(
        "compatibility = 1\nshebang = \"#!/bin/sh\"\navailable_phases = [\"build\"]\n{images}"
    );
    let lib = package("lib", "", "lib");
    let repo = git_repo(
        &fx.sandbox,
        "repo",
        &[("config.toml", &config), ("lib/pkg.toml", &lib)],
    );
    let (code, _, stderr) = fx.submit(&repo, &["lib", "-I", "moving"]);
    assert_eq!(code, 0, "{stderr}");
    let original = last_submit(&fx);
    let before = image.digest();
    image.move_to_new_image(&fx.image);
    let after = image.digest();
    assert_ne!(before, after);

    let (code, _, stderr) = reproduce(&fx, &repo, &original, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&before) && stderr.contains(&after),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-other-image"), "{stderr}");
    assert_eq!(
        records::submits(&mut fx.db.connect()).len(),
        1,
        "nothing was recorded"
    );

    let (code, stdout, stderr) = reproduce(
        &fx,
        &repo,
        &original,
        &["--allow-other-image", "-o", "json"],
    );
    let proof = json(&stdout);
    assert_eq!(proof["original_image_digest"], before.as_str(), "{stderr}");
    assert_eq!(proof["rebuild_image_digest"], after.as_str());
    // The artifact does not depend on the image: it is identical.
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (_, table, _) = reproduce(&fx, &repo, &original, &["--allow-other-image"]);
    assert!(
        table.contains(&format!(
            "the original was built with {before}, the rebuild with {after}"
        )),
        "{table}"
    );
}
