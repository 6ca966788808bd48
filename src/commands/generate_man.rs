//! `kiln generate-man DIR`: kiln's manual pages, `kiln.1` and one page per
//! command and subcommand (`kiln-db-jobs.1`), made by `clap_mangen` from
//! [`crate::cli::Cli`].

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::CommandFactory;

use crate::cli::{Cli, GenerateManArgs};
use crate::error::Outcome;

pub fn run(args: GenerateManArgs) -> Result<Outcome> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let mut command = Cli::command();
    command.build();
    let mut written = Vec::new();
    write_pages(&command, "kiln", &args.dir, &mut written)?;
    crate::ui::packages::print_note(&format!(
        "wrote {} manual pages into {}",
        written.len(),
        args.dir.display()
    ));
    Ok(Outcome::Success)
}

/// Writes the page of `command` (named `name`) and those of its
/// subcommands, recording each file written.
fn write_pages(
    command: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<()> {
    let page = command.clone().name(name.to_owned());
    let mut text = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut text)
        .with_context(|| format!("rendering the manual page of {name}"))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    written.push(path);
    for sub in command.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_written_for_every_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut command = Cli::command();
        command.build();
        let mut written = Vec::new();
        write_pages(&command, "kiln", dir.path(), &mut written).expect("written");
        let top = std::fs::read_to_string(dir.path().join("kiln.1")).expect("kiln.1");
        assert!(top.contains(".TH kiln"), "{top}");
        let jobs = std::fs::read_to_string(dir.path().join("kiln-db-jobs.1")).expect("db jobs");
        assert!(jobs.contains("\\-\\-submit"), "{jobs}");
        assert!(written.len() > 20, "{}", written.len());
    }
}
