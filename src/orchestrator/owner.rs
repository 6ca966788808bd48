//! The kiln process as recorded with the submits it runs (machine,
//! process-id namespace, pid, start time), and whether a recorded process
//! of this machine has died. Reads `/proc`.

use crate::db::models::liveness::Owner;

/// This process, as recorded with the submits it runs; `None` where the
/// system does not say (no `/proc`).
pub fn current_owner() -> Option<Owner> {
    let pid = std::process::id();
    Some(Owner {
        machine: machine_key(std::path::Path::new("/proc/self"))?,
        pid: i32::try_from(pid).ok()?,
        started: start_ticks(&format!("/proc/{pid}/stat"))?,
    })
}

/// Whether `owner` is a process of this machine and process-id namespace
/// that no longer exists (its pid is free, or taken by a later process).
/// Any doubt is "not dead".
pub fn is_dead(owner: &Owner) -> bool {
    if machine_key(std::path::Path::new("/proc/self")).as_deref() != Some(owner.machine.as_str()) {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{}/stat", owner.pid)) {
        Err(err) => err.kind() == std::io::ErrorKind::NotFound,
        Ok(stat) => parse_start_ticks(&stat).is_some_and(|started| started != owner.started),
    }
}

/// The boot id and the process-id namespace of the process at `proc_dir`.
fn machine_key(proc_dir: &std::path::Path) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link(proc_dir.join("ns/pid")).ok()?;
    Some(format!("{} {}", boot.trim(), namespace.display()))
}

fn start_ticks(stat_path: &str) -> Option<i64> {
    parse_start_ticks(&std::fs::read_to_string(stat_path).ok()?)
}

/// Field 22 of `/proc/<pid>/stat` (after the command name, which is in
/// parentheses and may hold spaces).
fn parse_start_ticks(stat: &str) -> Option<i64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_ticks_come_from_field_22() {
        let check =
            |stat: &str, want: Option<i64>| assert_eq!(parse_start_ticks(stat), want, "{stat}");
        check(
            "1234 (kiln) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 4 0 987654 123456 789",
            Some(987_654),
        );
        // A command name with spaces and parentheses.
        check(
            "77 (a (b) c) R 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0",
            Some(42),
        );
        check("77 (short) R 1", None);
        check("garbage", None);
    }

    #[test]
    fn this_process_is_alive_and_others_are_judged_by_pid_and_start() {
        let Some(me) = current_owner() else {
            return; // no /proc here
        };
        assert!(!is_dead(&me));
        let reused = Owner {
            started: me.started + 1,
            ..me.clone()
        };
        assert!(is_dead(&reused), "a pid taken by a later process");
        let elsewhere = Owner {
            machine: "another machine".to_owned(),
            pid: i32::MAX,
            ..me.clone()
        };
        assert!(
            !is_dead(&elsewhere),
            "another machine's process is never judged"
        );
        let gone = Owner {
            pid: i32::MAX - 1,
            ..me
        };
        assert!(is_dead(&gone), "no process with that pid");
    }
}
