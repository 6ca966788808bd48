//! Who kiln acts as: the user and host recorded with what it does (a
//! submit's submitter, a release's releaser), and the `kiln.actor` of its
//! database sessions, which the database writes into the audit columns
//! (`set_by`) of the rows it changes.

use std::sync::OnceLock;

/// The user kiln runs as (by name) and the host it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: String,
    pub host: String,
}

/// This process's user and host, looked up once.
pub fn current() -> &'static Actor {
    static ACTOR: OnceLock<Actor> = OnceLock::new();
    ACTOR.get_or_init(|| {
        let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".to_owned());
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown".to_owned());
        Actor { user, host }
    })
}

/// What this process's database sessions record as the one who changed a
/// row: `kiln 0.1.0 (commit …) ann@build-1 pid 4242`.
pub fn session_actor() -> String {
    let actor = current();
    format!(
        "kiln {} {}@{} pid {}",
        crate::VERSION,
        actor.user,
        actor.host,
        std::process::id()
    )
}
