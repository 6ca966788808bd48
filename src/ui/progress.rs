//! The progress display of a submit: with a terminal, one bar per running
//! job and an overall bar; without one (or with `--hide-bars`), one plain
//! line per state change. Owned by the orchestrator's run loop, which is the
//! only caller.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::db::models::JobStatus;

/// The default template of a job's bar (the `progress_format` key overrides it).
pub const DEFAULT_JOB_TEMPLATE: &str =
    "{spinner} [{elapsed_precise}] {prefix:30!} {bar:30.cyan/blue} {pos:>3}% {msg}";
const TOTAL_TEMPLATE: &str = "[{elapsed_precise}] {bar:40.green/red} {pos}/{len} jobs {msg}";

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars redrawn in place on a terminal.
    Bars,
    /// One line per event, for logs and pipes.
    Plain,
}

impl ProgressMode {
    /// Bars when stderr is a terminal and they are not hidden.
    pub fn detect(hide_bars: bool) -> Self {
        if !hide_bars && console::Term::stderr().is_term() {
            ProgressMode::Bars
        } else {
            ProgressMode::Plain
        }
    }
}

/// A job as the display names it.
#[derive(Debug, Clone)]
pub struct JobLabel {
    pub package: String,
    pub version: String,
    pub short_id: String,
}

impl std::fmt::Display for JobLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.package, self.version, self.short_id)
    }
}

/// The submit's progress display.
pub struct Progress {
    mode: ProgressMode,
    multi: MultiProgress,
    total: ProgressBar,
    job_style: ProgressStyle,
    bars: HashMap<usize, ProgressBar>,
    labels: Vec<JobLabel>,
    endpoints: HashMap<usize, String>,
    failures: usize,
}

impl Progress {
    pub fn new(mode: ProgressMode, labels: Vec<JobLabel>, job_template: Option<&str>) -> Self {
        let multi = match mode {
            ProgressMode::Bars => MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            ProgressMode::Plain => MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
        };
        let template = job_template.unwrap_or(DEFAULT_JOB_TEMPLATE);
        let job_style = ProgressStyle::with_template(template)
            .or_else(|_| ProgressStyle::with_template(DEFAULT_JOB_TEMPLATE))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let total = multi.add(ProgressBar::new(labels.len() as u64));
        if let Ok(style) = ProgressStyle::with_template(TOTAL_TEMPLATE) {
            total.set_style(style.progress_chars("=> "));
        }
        Progress {
            mode,
            multi,
            total,
            job_style,
            bars: HashMap::new(),
            labels,
            endpoints: HashMap::new(),
            failures: 0,
        }
    }

    fn plain(&self, line: String) {
        if self.mode == ProgressMode::Plain {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{} {line}", chrono::Utc::now().format("%H:%M:%S"));
        } else {
            let _ = self.multi.println(line);
        }
    }

    /// A job left the queue and runs on `endpoint`.
    pub fn started(&mut self, job: usize, endpoint: &str) {
        self.endpoints.insert(job, endpoint.to_owned());
        let label = self.labels[job].to_string();
        if self.mode == ProgressMode::Bars {
            let bar = self.multi.insert_before(&self.total, ProgressBar::new(100));
            bar.set_style(self.job_style.clone());
            bar.set_prefix(label);
            bar.set_message(endpoint.to_owned());
            bar.enable_steady_tick(Duration::from_millis(250));
            self.bars.insert(job, bar);
        } else {
            self.plain(format!("started   {label} on {endpoint}"));
        }
    }

    /// A job's attempt ended because its engine failed: it waits to be
    /// tried again; `note` says why.
    pub fn requeued(&mut self, job: usize, note: &str) {
        if let Some(bar) = self.bars.remove(&job) {
            bar.finish_and_clear();
        }
        self.endpoints.remove(&job);
        self.plain(note.to_owned());
    }

    /// The script entered a phase.
    pub fn phase(&mut self, job: usize, phase: &str) {
        match self.bars.get(&job) {
            Some(bar) => {
                let endpoint = self.endpoints.get(&job).map(String::as_str).unwrap_or("");
                bar.set_message(format!("{endpoint} {phase}"));
            }
            None => self.plain(format!("phase     {} {phase}", self.labels[job])),
        }
    }

    /// The script reported its progress in percent.
    pub fn percent(&mut self, job: usize, percent: u8) {
        if let Some(bar) = self.bars.get(&job) {
            bar.set_position(u64::from(percent.min(100)));
        }
    }

    /// A job reached a final state (`status` as recorded); one that did not
    /// succeed counts as failed in the overall bar.
    pub fn finished(&mut self, job: usize, status: JobStatus) {
        if !status.is_success() {
            self.failures += 1;
            self.total.set_message(format!("{} failed", self.failures));
        }
        self.total.inc(1);
        let label = self.labels[job].to_string();
        if let Some(bar) = self.bars.remove(&job) {
            bar.finish_and_clear();
            let _ = self.multi.println(format!("{status:<9} {label}"));
        } else {
            self.plain(format!("{status:<9} {label}"));
        }
    }

    /// A message for the user between the bars (or as a plain line).
    pub fn note(&self, message: &str) {
        self.plain(message.to_owned());
    }

    /// Clears the bars at the end of a submit.
    pub fn finish(self) {
        for (_, bar) in self.bars {
            bar.finish_and_clear();
        }
        self.total.finish_and_clear();
        let _ = self.multi.clear();
    }
}
