//! `kiln db submit UUID`, `kiln db job UUID` and `kiln db log-of JOB`: one
//! record in full, and a job's log streamed from the database.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::cli::{DbJobArgs, DbLogOfArgs, DbSubmitArgs, OutputFormat};
use crate::config::Config;
use crate::db::listings::jobs::{self, LogReadError};
use crate::db::listings::{submits, Conn};
use crate::db::models::JobId;
use crate::error::Outcome;
use crate::input_error;
use crate::ui::records::{self, JobSections};
use crate::ui::tabular::{self as listing, DisplayNames};

/// How often `log-of --follow` looks for new chunks of a running job.
const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// `db submit UUID`.
pub fn submit(config: &Config, args: DbSubmitArgs) -> Result<Outcome> {
    reject_csv(args.output, "db submit")?;
    let mut conn = super::db::connect_reaped(config)?;
    let (id, uuid) = submits::resolve(&mut conn, &args.submit)?;
    let staging = args.artifacts.then(|| {
        args.staging_dir
            .as_ref()
            .unwrap_or(&config.staging)
            .as_path()
    });
    let detail = submits::submit_detail(&mut conn, id, staging)
        .with_context(|| format!("reading submit {uuid}"))?;
    if args.output == OutputFormat::Json {
        return listing::print_json(&detail).map(|()| Outcome::Success);
    }
    let names = DisplayNames::new(&config.docker.images);
    let mut text = records::submit_text(&detail, &names);
    for (asked, title, value) in [
        (args.tree, "tree", &detail.tree),
        (args.plan, "plan", &detail.plan),
    ] {
        if asked {
            text.push_str(&format!(
                "\n{title}:\n{}\n",
                serde_json::to_string_pretty(value)?
            ));
        }
    }
    crate::ui::write_stdout(|out| out.write_all(text.as_bytes()))?;
    Ok(Outcome::Success)
}

/// `db job UUID [--log] [--script] [--env]`.
pub fn job(config: &Config, args: DbJobArgs) -> Result<Outcome> {
    reject_csv(args.output, "db job")?;
    if args.csv {
        reject_csv(OutputFormat::Csv, "db job --csv")?;
    }
    let mut conn = super::db::connect_reaped(config)?;
    let (id, uuid) = jobs::resolve(&mut conn, &args.job)?;
    let detail = jobs::job_detail(&mut conn, id).with_context(|| format!("reading job {uuid}"))?;
    if args.output == OutputFormat::Json {
        let mut value = serde_json::to_value(&detail)?;
        if args.log {
            let mut log = Vec::new();
            jobs::for_each_log_chunk(&mut conn, id, 0, |bytes| {
                log.extend_from_slice(bytes);
                Ok(())
            })
            .with_context(|| format!("reading the log of job {uuid}"))?;
            if let Some(object) = value.as_object_mut() {
                object.insert(
                    "log".into(),
                    String::from_utf8_lossy(&log).into_owned().into(),
                );
            }
        }
        return listing::print_json(&value).map(|()| Outcome::Success);
    }
    let names = DisplayNames::new(&config.docker.images);
    let sections = JobSections {
        script: args.script,
        line_numbers: args.script_style.line_numbers,
        env: args.env,
    };
    let text = records::job_text(&detail, sections, &names);
    if !args.log {
        crate::ui::write_stdout(|out| out.write_all(text.as_bytes()))?;
        return Ok(Outcome::Success);
    }
    let mut out = crate::ui::stdout::stream();
    let header = out
        .write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\nlog:\n"));
    if let Err(e) = header {
        return closed_or(e);
    }
    stream_log(&mut conn, id, uuid, &mut out, false)
}

/// `db log-of JOB [--follow]`.
pub fn log_of(config: &Config, args: DbLogOfArgs) -> Result<Outcome> {
    let mut conn = super::db::connect_reaped(config)?;
    let (mut id, mut uuid) = jobs::resolve(&mut conn, &args.job)?;
    // A reused job ran nowhere: its log is that of the job it came from.
    if let Some((source, source_uuid)) =
        jobs::reused_source(&mut conn, id).with_context(|| format!("reading job {uuid}"))?
    {
        crate::ui::note(&format!(
            "job {uuid} was not built: it reused the artifacts of job {source_uuid}, whose log follows"
        ));
        (id, uuid) = (source, source_uuid);
    }
    let mut out = crate::ui::stdout::stream();
    stream_log(&mut conn, id, uuid, &mut out, args.follow)
}

/// Writes a job's log to `out` chunk by chunk; with `follow`, keeps polling
/// for new chunks while the job is queued or running.
fn stream_log(
    conn: &mut Conn,
    id: JobId,
    uuid: uuid::Uuid,
    out: &mut impl Write,
    follow: bool,
) -> Result<Outcome> {
    let mut next = 0;
    loop {
        // The status is read before the chunks: a job that had ended then
        // had written all its chunks, so this pass reads the last of them.
        let status = jobs::job_status(conn, id)
            .with_context(|| format!("reading the status of job {uuid}"))?;
        let read = jobs::for_each_log_chunk(conn, id, next, |bytes| out.write_all(bytes));
        next = match read {
            Ok(next) => next,
            Err(LogReadError::Write(e)) => return closed_or(e),
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("reading the log of job {uuid}")))
            }
        };
        if let Err(e) = out.flush() {
            return closed_or(e);
        }
        if !follow || status.is_final() {
            return Ok(Outcome::Success);
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

/// A closed stdout ends the output quietly; any other write error is one.
fn closed_or(e: std::io::Error) -> Result<Outcome> {
    crate::ui::stdout::finish(Err(e)).map(|()| Outcome::Success)
}

fn reject_csv(format: OutputFormat, command: &str) -> Result<()> {
    if format == OutputFormat::Csv {
        return Err(input_error!(
            "{command} shows one record: use `--output table` or `--output json`"
        ));
    }
    Ok(())
}
