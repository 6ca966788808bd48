//! `kiln db lineage` through the real binary, over records of real submits
//! on the local Docker engine: a ← b ← c, and d on its own. Each test
//! checks the lineage against what it knows of the tree independently:
//! which package depends on which, the files and the commit it wrote, the
//! image's id on the engine, the records of each submit's jobs.
//!
//! The scenario: submit 1 builds c (and a, b); submit 2 builds d; then c's
//! script changes and submit 3 reuses a and b and builds c again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use kiln::db::models::artifacts::Artifact;
use kiln::db::models::jobs::Job;
use kiln::db::models::release_stores::NewReleaseStore;
use kiln::db::models::releases::{NewRelease, Release, Removal, Removing};
use kiln::db::models::JobStatus;
use serde_json::Value;
use sha2::Digest;

use crate::submit::{config_toml, git_repo, head_commit, Fixture};
use crate::support::records;
use crate::support::run;

const SOURCE: &[u8] = b"source of a\n";
const PATCH: &str = "patch of a\n";

/// A script that writes `/outputs/NAME.txt` from its inputs, so that each
/// artifact differs from the others.
fn script(name: &str, mark: &str) -> String {
    format!(
        "[phases.build]\nscript = '''\n{{{{phase \"build\"}}}}\nmkdir -p /outputs\n\
         echo \"{name}{mark} $(cat /inputs/*.txt 2>/dev/null)\" > /outputs/{name}.txt\n'''\n"
    )
}

/// The repository: a (a source, a patch) <- b (build, B_OPT) <- c; d.
fn repository(fx: &Fixture) -> PathBuf {
    let cache = fx.sandbox.path().join("cache-src");
    std::fs::create_dir_all(cache.join("a-1")).expect("mkdir");
    std::fs::write(cache.join("a-1/src.source"), SOURCE).expect("source");
    let config = format!(
        "source_cache = \"{}\"\nsecret_env = [\"TOKEN\"]\n{}",
        cache.display(),
        config_toml(&fx.image, "")
    );
    let a = format!(
        "name = \"a\"\nversion = \"1\"\npatches = [\"fix.patch\"]\n[sources.src]\n\
         url = \"https://example.invalid/a.tar\"\nhash = {{ type = \"sha256\", hash = \"{}\" }}\n{}",
        sha256(SOURCE),
        script("a", "")
    );
    let b = format!(
        "name = \"b\"\nversion = \"1\"\n[environment]\nB_OPT = \"first\"\n\
         [dependencies]\nbuild = [\"a =1\"]\n{}",
        script("b", "")
    );
    let c = format!(
        "name = \"c\"\nversion = \"1\"\n[dependencies]\nruntime = [\"b =1\"]\n{}",
        script("c", "")
    );
    let d = format!("name = \"d\"\nversion = \"1\"\n{}", script("d", ""));
    git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            ("a/pkg.toml", &a),
            ("a/fix.patch", PATCH),
            ("b/pkg.toml", &b),
            ("c/pkg.toml", &c),
            ("d/pkg.toml", &d),
        ],
    )
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The records of the three submits, each job by package name.
struct Scenario {
    repo: PathBuf,
    commit: String,
    first: BTreeMap<String, Job>,
    alone: BTreeMap<String, Job>,
    third: BTreeMap<String, Job>,
}

impl Scenario {
    fn build(fx: &Fixture) -> Scenario {
        let repo = repository(fx);
        let commit = head_commit(&repo);
        let first = submit(fx, &repo, "c");
        let alone = submit(fx, &repo, "d");
        let c = std::fs::read_to_string(repo.join("c/pkg.toml")).expect("reading c");
        std::fs::write(
            repo.join("c/pkg.toml"),
            c.replace(&script("c", ""), &script("c", " again")),
        )
        .expect("writing c");
        let third = submit(fx, &repo, "c");
        assert_eq!(third["a"].status, JobStatus::Reused);
        assert_eq!(third["b"].status, JobStatus::Reused);
        assert_eq!(third["c"].status, JobStatus::Succeeded);
        Scenario {
            repo,
            commit,
            first,
            alone,
            third,
        }
    }

    /// The one artifact of a job.
    fn artifact(&self, fx: &Fixture, job: &Job) -> Artifact {
        let mut all = records::artifacts_of(&mut fx.db.connect(), job);
        assert_eq!(all.len(), 1, "one artifact of job {}", job.uuid);
        all.remove(0)
    }

    /// `kiln --repo REPO db lineage ARGS...`: exit code, stdout, stderr.
    fn lineage(&self, fx: &Fixture, args: &[&str]) -> (i32, String, String) {
        let mut cmd = fx.db.kiln(&fx.sandbox);
        cmd.arg("--repo")
            .arg(&self.repo)
            .args(["db", "lineage"])
            .args(args);
        let (out, stdout, stderr) = run(&mut cmd);
        assert!(!stderr.contains("panicked"), "kiln panicked: {stderr}");
        (out.status.code().expect("an exit code"), stdout, stderr)
    }

    /// The same with `--output json`, which must succeed.
    fn json(&self, fx: &Fixture, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let (code, stdout, stderr) = self.lineage(fx, &all);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }
}

/// Submits NAME with a secret variable; it must succeed. Its jobs by package.
fn submit(fx: &Fixture, repo: &std::path::Path, name: &str) -> BTreeMap<String, Job> {
    let (code, stdout, stderr) = fx.submit(repo, &[name, "-I", "busybox", "-E", "TOKEN=hunter2"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let mut conn = fx.db.connect();
    let submit = records::submits(&mut conn)
        .pop()
        .expect("the submit is recorded");
    records::jobs_of(&mut conn, &submit)
        .into_iter()
        .map(|j| (j.name.clone(), j.job))
        .collect()
}

/// The id the engine gives the test image: the digest a job records.
fn image_id(image: &str) -> String {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .output()
        .expect("docker image inspect");
    assert!(out.status.success(), "docker image inspect {image}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn uuid_of(job: &Job) -> String {
    job.uuid.to_string()
}

fn strings<'a>(values: impl IntoIterator<Item = &'a Value>, key: &str) -> BTreeSet<String> {
    values
        .into_iter()
        .map(|v| v[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn lineage_of_an_artifact_names_every_job_and_input_that_went_into_it() {
    let Some(fx) = Fixture::new() else { return };
    let s = Scenario::build(&fx);
    let (a, b, c) = (&s.first["a"], &s.first["b"], &s.first["c"]);
    let c_txt = s.artifact(&fx, c);

    // c.txt was made by two builds of c: the path alone is ambiguous.
    let (code, _, stderr) = s.lineage(&fx, &["c.txt"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("names several artifacts"), "{stderr}");
    for job in [c, &s.third["c"]] {
        assert!(stderr.contains(&uuid_of(job)), "{stderr}");
    }

    let doc = s.json(&fx, &["c.txt", "--job", &uuid_of(c)[..8]]);
    assert_eq!(doc["artifact"]["path"], "c.txt");
    assert_eq!(doc["artifact"]["sha256"], c_txt.sha256.as_str());
    let root = &doc["job"];
    assert_eq!(root["uuid"], uuid_of(c).as_str());
    assert_eq!(root["commit"], s.commit.as_str());
    assert_eq!(root["image_digest"], image_id(&fx.image).as_str());
    assert_eq!(root["repo_dirty"], false);
    // c took the artifacts of b and a (all it depends on, directly or not).
    let inputs = root["inputs"].as_array().expect("inputs");
    assert_eq!(
        strings(inputs, "path"),
        BTreeSet::from(["a.txt".into(), "b.txt".into()])
    );
    let by_path: BTreeMap<&str, &Value> = inputs
        .iter()
        .map(|i| (i["path"].as_str().unwrap_or_default(), i))
        .collect();
    let a_txt = s.artifact(&fx, a);
    assert_eq!(by_path["a.txt"]["sha256"], a_txt.sha256.as_str());
    // The first time a job comes, it is shown in full; a comes first.
    let a_node = &by_path["a.txt"]["job"];
    assert_eq!(a_node["uuid"], uuid_of(a).as_str());
    assert_eq!(a_node["commit"], s.commit.as_str());
    assert_eq!(a_node["sources"]["src"], sha256(SOURCE).as_str());
    assert_eq!(
        a_node["patches"]["a/fix.patch"],
        sha256(PATCH.as_bytes()).as_str()
    );
    let b_node = &by_path["b.txt"]["job"];
    assert_eq!(b_node["uuid"], uuid_of(b).as_str());
    assert_eq!(b_node["image_digest"], image_id(&fx.image).as_str());
    let env: BTreeMap<&str, &str> = b_node["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or(""),
                e["value"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(env.get("B_OPT"), Some(&"first"));
    assert_eq!(env.get("TOKEN"), Some(&"********"), "secrets stay masked");
    assert!(!doc.to_string().contains("hunter2"));
    // b's own input is a, shown above.
    let again = &b_node["inputs"][0];
    assert_eq!(again["path"], "a.txt");
    assert_eq!(again["job"]["uuid"], uuid_of(a).as_str());
    assert_eq!(again["job"]["shown_above"], true);

    // The same from the job, as text and as a graph.
    let (code, text, stderr) = s.lineage(&fx, &[&uuid_of(c)[..8]]);
    assert_eq!(code, 0, "{stderr}");
    for job in [a, b, c] {
        assert!(
            text.contains(&format!("job {}", &uuid_of(job)[..8])),
            "{text}"
        );
    }
    assert!(text.contains(&s.commit[..12]), "{text}");
    assert!(text.contains("B_OPT=first"), "{text}");
    assert!(!text.contains(&uuid_of(&s.alone["d"])[..8]), "{text}");
    let (code, dot, _) = s.lineage(&fx, &[&uuid_of(c), "--dot"]);
    assert_eq!(code, 0);
    assert!(dot.starts_with("digraph"), "{dot}");
    assert_eq!(dot.matches("label=\"input of\"").count(), 3, "{dot}");

    // A reused job names the job it reused.
    let reused = s.json(&fx, &["b.txt", "--job", &uuid_of(&s.third["b"])]);
    assert_eq!(reused["job"]["status"], "reused");
    assert_eq!(reused["job"]["reused_from"]["uuid"], uuid_of(b).as_str());
    assert_eq!(reused["job"]["reused_from"]["commit"], s.commit.as_str());
}

#[test]
fn reverse_lineage_reaches_what_was_built_from_it_and_its_releases() {
    let Some(fx) = Fixture::new() else { return };
    let s = Scenario::build(&fx);
    let a = &s.first["a"];

    // From a's first artifact: b and c of the first submit took it; a, b
    // (reused) and c of the third came from it; d did not.
    let jobs = s.json(&fx, &["a.txt", "--job", &uuid_of(a), "--reverse"]);
    let jobs = jobs.as_array().expect("a list of jobs");
    let expected: BTreeSet<String> = [
        a,
        &s.first["b"],
        &s.first["c"],
        &s.third["a"],
        &s.third["b"],
        &s.third["c"],
    ]
    .into_iter()
    .map(uuid_of)
    .collect();
    assert_eq!(strings(jobs, "uuid"), expected);
    assert_eq!(jobs[0]["uuid"], uuid_of(a).as_str());
    assert_eq!(jobs[0]["start"], true);
    let reused: Vec<&Value> = jobs.iter().filter(|j| j["status"] == "reused").collect();
    assert_eq!(
        strings(reused.iter().map(|j| &j["reused_from"]), "uuid"),
        BTreeSet::from([uuid_of(a), uuid_of(&s.first["b"])])
    );
    let (code, dot, _) = s.lineage(&fx, &["a.txt", "--job", &uuid_of(a), "--reverse", "--dot"]);
    assert_eq!(code, 0);
    assert!(dot.starts_with("digraph"), "{dot}");

    // Releases: the first c and the unrelated d.
    let mut conn = fx.db.connect();
    let store = NewReleaseStore { name: "stable" }
        .get_or_create(&mut conn)
        .expect("a store");
    let release = |job: &Job, conn: &mut diesel::PgConnection| {
        let artifact = s.artifact(&fx, job);
        NewRelease {
            artifact_id: artifact.id,
            release_store_id: store.id,
            package_id: job.package_id,
            path: &artifact.path,
            released_by: "ann",
            released_host: "build-1",
        }
        .insert(conn)
        .expect("a release")
    };
    let c_release = release(&s.first["c"], &mut conn);
    release(&s.alone["d"], &mut conn);

    let found = s.json(&fx, &["--package", "a", "--reverse", "--released"]);
    let found = found.as_array().expect("a list of releases");
    assert_eq!(found.len(), 1, "{found:?}");
    let c_txt = s.artifact(&fx, &s.first["c"]);
    assert_eq!(found[0]["store"], "stable");
    assert_eq!(found[0]["path"], "c.txt");
    assert_eq!(found[0]["package_name"], "c");
    assert_eq!(found[0]["package_version"], "1");
    assert_eq!(found[0]["sha256"], c_txt.sha256.as_str());
    assert_eq!(found[0]["job_uuid"], uuid_of(&s.first["c"]).as_str());
    let via: Vec<&str> = found[0]["via"]
        .as_array()
        .expect("via")
        .iter()
        .map(|v| v["package_name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(via, ["a", "b", "c"]);
    // Walked forward, the same release is found.
    let forward = s.json(&fx, &["--package", "a@1", "--reverse"]);
    let released: Vec<&Value> = forward
        .as_array()
        .expect("jobs")
        .iter()
        .flat_map(|j| j["artifacts"].as_array().into_iter().flatten())
        .filter(|a| a["releases"].as_array().is_some_and(|r| !r.is_empty()))
        .collect();
    assert_eq!(
        strings(released, "sha256"),
        BTreeSet::from([c_txt.sha256.clone()])
    );
    // The commit narrows the start; another commit finds nothing.
    let by_commit = s.json(
        &fx,
        &[
            "--package",
            "a",
            "1",
            "--commit",
            &s.commit[..10],
            "--reverse",
            "--released",
        ],
    );
    assert_eq!(by_commit.as_array().map(Vec::len), Some(1));
    let (code, text, stderr) = s.lineage(
        &fx,
        &[
            "--package",
            "a",
            "--commit",
            "ffffffff",
            "--reverse",
            "--released",
        ],
    );
    assert_eq!((code, text.as_str()), (0, ""), "{stderr}");
    assert!(
        stderr.contains("no succeeded or reused job of a at commit ffffffff"),
        "{stderr}"
    );
    // A release of the start itself holds it too: d's is found from d.
    let own = s.json(&fx, &["--package", "d", "--reverse", "--released"]);
    assert_eq!(own.as_array().map(Vec::len), Some(1), "{own}");
    assert_eq!(own[0]["package_name"], "d");
    assert_eq!(
        own[0]["via"][0]["job_uuid"],
        uuid_of(&s.alone["d"]).as_str()
    );

    // Once removed, the release is no longer current, and the new c's is.
    let removing = Removing {
        by: "ann",
        host: "build-1",
        removal: Removal::Removed,
    };
    Release::mark_removed(&mut conn, &[c_release.id], removing).expect("removing");
    let (code, text, stderr) = s.lineage(&fx, &["--package", "a", "--reverse", "--released"]);
    assert_eq!((code, text.as_str()), (0, ""), "{stderr}");
    assert!(stderr.contains("no current release"), "{stderr}");
    release(&s.third["c"], &mut conn);
    let found = s.json(&fx, &["--package", "a", "--reverse", "--released"]);
    assert_eq!(found.as_array().map(Vec::len), Some(1));
    assert_eq!(found[0]["job_uuid"], uuid_of(&s.third["c"]).as_str());
    let via: Vec<(&str, &str)> = found[0]["via"]
        .as_array()
        .expect("via")
        .iter()
        .map(|v| {
            (
                v["package_name"].as_str().unwrap_or_default(),
                v["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(via, [("a", "reused"), ("b", "reused"), ("c", "succeeded")]);
    let (code, text, _) = s.lineage(&fx, &["--package", "a", "--reverse", "--released"]);
    assert_eq!(code, 0);
    assert!(text.contains("a@1 (reused) > b@1 (reused) > c@1"), "{text}");
    let (code, dot, _) = s.lineage(&fx, &["--package", "a", "--reverse", "--released", "--dot"]);
    assert_eq!(code, 0);
    assert!(
        dot.starts_with("digraph") && dot.contains("shape=note"),
        "{dot}"
    );
}

#[test]
fn bad_targets_are_input_errors() {
    let Some(db) = crate::support::db::TestDb::new() else {
        return;
    };
    let db = db.migrated();
    let sandbox = crate::support::Sandbox::new();
    let lineage = |args: &[&str]| {
        let mut cmd = db.kiln(&sandbox);
        cmd.args(["db", "lineage"]).args(args);
        let (out, _, stderr) = run(&mut cmd);
        (out.status.code().expect("an exit code"), stderr)
    };
    let cases: &[(&[&str], &str)] = &[
        (&["no-such.txt"], "no artifact has the path `no-such.txt`"),
        (
            &["3f2a1b2c"],
            "no job has a UUID starting with `3f2a1b2c`, and no artifact has that path",
        ),
        (&[], "ARTIFACT|JOB"),
        (
            &["x.txt", "--package", "a", "--reverse"],
            "cannot be used with",
        ),
        (&["--package", "a", "--released"], "--reverse"),
        (
            &["--package", "a@1", "2", "--reverse"],
            "already names a version",
        ),
        (&["--package", "a b", "--reverse"], "invalid package"),
        (&["x.txt", "--sha256", "xyz"], "invalid SHA-256 prefix"),
        (
            &["x.txt", "--dot", "--output", "json"],
            "cannot be used with",
        ),
    ];
    for (args, message) in cases {
        let (code, stderr) = lineage(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
