//! `kiln generate-completions SHELL`: the shell's completion script for
//! kiln's grammar, made by `clap_complete` from [`crate::cli::Cli`].

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionShell, GenerateCompletionsArgs};
use crate::error::Outcome;

pub fn run(args: GenerateCompletionsArgs) -> Result<Outcome> {
    let script = completion_script(shell_of(args.shell));
    crate::ui::write_stdout(|out| out.write_all(&script))?;
    Ok(Outcome::Success)
}

fn shell_of(shell: CompletionShell) -> Shell {
    match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Elvish => Shell::Elvish,
        CompletionShell::Fish => Shell::Fish,
        CompletionShell::Powershell => Shell::PowerShell,
        CompletionShell::Zsh => Shell::Zsh,
    }
}

/// The completion script of `shell` for the `kiln` binary.
fn completion_script(shell: Shell) -> Vec<u8> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "kiln", &mut script);
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_commands() {
        for shell in [
            CompletionShell::Bash,
            CompletionShell::Elvish,
            CompletionShell::Fish,
            CompletionShell::Powershell,
            CompletionShell::Zsh,
        ] {
            let script = String::from_utf8(completion_script(shell_of(shell))).expect("UTF-8");
            for word in ["find-pkg", "dependencies-of", "generate-completions"] {
                assert!(script.contains(word), "{shell:?}: no {word}");
            }
        }
    }
}
