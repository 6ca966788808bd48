//! The lease of a running submit: keeping it alive in the database, and
//! writing its records through database outages.
//!
//! While a submit runs, a [`SubmitLease`] monitor (a thread of its own, with a
//! connection of its own) renews the submit's lease every [`HEARTBEAT`] on
//! the connection that holds the submit's lock. When the database goes away
//! and comes back, the monitor takes the lock again on a new connection and
//! renews the lease before any record of the submit is written: every write
//! goes through [`SubmitLease::write`], which waits for that. A write that
//! fails for want of a connection is tried again once the monitor has
//! renewed the lease again.
//!
//! An outage may last at most `database_outage_timeout`, counted from the
//! last renewal sent: past it, [`SubmitLease::write`] gives up and the run loop
//! stops its jobs. The lease reaches further than that ([`lease`]), so that
//! by the time it runs out the process has stopped writing; no other kiln
//! records the submit `lost` before then (see [`super::models::liveness`]).

use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use diesel::PgConnection;
use tokio::sync::watch;

use crate::db::models::liveness::{self, Renewal};
use crate::db::models::SubmitId;
use crate::db::{self, Pool, PooledConn};

/// How often the lease is renewed.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long, past the outage timeout, a process may take to stop its
/// containers and exit after it gave up on the database.
const STOP_MARGIN: Duration = Duration::from_secs(30);

/// How long a write still waits for the database once the submit was
/// interrupted: Ctrl-C must not wait out an outage.
pub const WRITE_GRACE_WHEN_INTERRUPTED: Duration = Duration::from_secs(3);

/// How far ahead a lease reaches for a given outage timeout: past the
/// moment the process gives up on the database, by the time it needs to
/// stop.
pub fn lease(outage_timeout: Duration) -> Duration {
    outage_timeout + HEARTBEAT + STOP_MARGIN
}

/// A write found the submit's lock not held on its server (the server
/// restarted since the lock was taken): it waits for the lock to be taken
/// again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the submit's lock is not held on the database server (it restarted)")]
struct LockNotHeld;

/// Why the records of a submit can no longer be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unwritable {
    #[error("the database did not answer for {0:?} (database_outage_timeout)")]
    OutageTooLong(Duration),
    #[error("the database did not answer before the interrupted submit ended")]
    Interrupted,
    #[error("another kiln recorded the submit as ended while the database was unreachable")]
    Taken,
    #[error("the submit's records are closed")]
    Closed,
}

/// What the monitor last learned.
#[derive(Debug, Clone)]
struct State {
    /// When the last renewal that succeeded was sent.
    renewed_at: Instant,
    /// Counts successful renewals.
    generation: u64,
    /// Whether the monitor's connection holds the lock (false from a failed
    /// renewal until the lock is taken again).
    connected: bool,
    /// The server process of the monitor's connection, which holds the lock.
    holder: Option<i32>,
    /// Set when the submit can no longer be written at all.
    ended: Option<Unwritable>,
    /// After an interruption: when writes stop waiting for a database that
    /// does not answer.
    hurry_until: Option<Instant>,
}

enum Command {
    Renew,
    Stop,
}

/// The lease and lock of one running submit, and the gate its writes pass.
pub struct SubmitLease {
    pool: Pool,
    submit: SubmitId,
    outage_timeout: Duration,
    state: Arc<watch::Sender<State>>,
    commands: std_mpsc::Sender<Command>,
    monitor: std::sync::Mutex<Option<std::thread::JoinHandle<Option<PooledConn>>>>,
}

impl SubmitLease {
    /// Starts renewing the lease of `submit`, whose lock `conn` holds (it
    /// was taken when the submit was recorded, with a first lease); `holder`
    /// is the server process of `conn` ([`liveness::backend_pid`]).
    pub fn start(
        pool: Pool,
        submit: SubmitId,
        conn: PooledConn,
        holder: i32,
        outage_timeout: Duration,
    ) -> Self {
        let (state, _) = watch::channel(State {
            renewed_at: Instant::now(),
            generation: 0,
            connected: true,
            holder: Some(holder),
            ended: None,
            hurry_until: None,
        });
        let state = Arc::new(state);
        let (commands, received) = std_mpsc::channel();
        let monitor = Monitor {
            pool: pool.clone(),
            submit,
            lease: lease(outage_timeout),
            outage_timeout,
            conn: Some(conn),
            holder: Some(holder),
            state: Arc::clone(&state),
        };
        let handle = std::thread::Builder::new()
            .name(format!("kiln-liveness-{submit}"))
            .spawn(move || monitor.run(&received))
            .ok();
        Self {
            pool,
            submit,
            outage_timeout,
            state,
            commands,
            monitor: std::sync::Mutex::new(handle),
        }
    }

    /// Writes stop waiting for the database soon: the submit was interrupted.
    pub fn hurry(&self) {
        let until = Instant::now() + WRITE_GRACE_WHEN_INTERRUPTED;
        self.state.send_modify(|s| {
            s.hurry_until = Some(s.hurry_until.map_or(until, |u| u.min(until)));
        });
    }

    /// Resolves when the records can no longer be written (the outage
    /// lasted too long, or the submit was taken), with the reason.
    pub async fn lost(&self) -> Unwritable {
        // Before an interruption writes never hurry, so this is when
        // writing is over.
        self.until_unwritable().await
    }

    /// Runs database work for this submit: only while its lock is held and
    /// its lease renewed, trying again across an outage (after the lock was
    /// taken again) until the outage lasts too long.
    pub async fn write<T, F>(&self, what: impl Into<String>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut PgConnection) -> Result<T> + Send + Sync + 'static,
    {
        let what = what.into();
        let f = Arc::new(f);
        loop {
            let (seen, holder) = self
                .wait_connected()
                .await
                .map_err(|e| anyhow::Error::new(e).context(what.clone()))?;
            let attempt = {
                let f = Arc::clone(&f);
                let submit = self.submit;
                db::run(&self.pool, what.clone(), move |conn| {
                    // On the server this connection reaches, the lock is
                    // held by the monitor's session: not a server that
                    // restarted since the lock was taken.
                    if let Some(holder) = holder {
                        if !liveness::is_held_by(conn, submit, holder)? {
                            return Err(LockNotHeld.into());
                        }
                    }
                    f(conn)
                })
            };
            let result = tokio::select! {
                r = attempt => r,
                reason = self.until_unwritable() => {
                    return Err(anyhow::Error::new(reason).context(what));
                }
            };
            match result {
                Err(err) if db::is_connection_error(&err) || err.is::<LockNotHeld>() => {
                    tracing::debug!(
                        "{what}: the database connection failed, trying again: {err:#}"
                    );
                    self.renew_after(seen)
                        .await
                        .map_err(|e| anyhow::Error::new(e).context(what.clone()))?;
                }
                other => return other,
            }
        }
    }

    /// Stops the monitor and gives back its connection without the lock.
    /// Call it after the submit's end is recorded.
    pub async fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
        let handle = self.monitor.lock().ok().and_then(|mut h| h.take());
        let Some(handle) = handle else { return };
        let submit = self.submit;
        let released = tokio::task::spawn_blocking(move || {
            if let Ok(Some(mut conn)) = handle.join() {
                let _ = liveness::release(&mut conn, submit);
            }
        });
        // A connection stuck in an outage must not hold the exit.
        let _ = tokio::time::timeout(WRITE_GRACE_WHEN_INTERRUPTED, released).await;
    }

    /// The moment writes stop waiting: the outage limit, or the hurry
    /// while the database does not answer.
    fn give_up_at(&self) -> Instant {
        let s = self.state.borrow();
        let outage = s.renewed_at + self.outage_timeout;
        match s.hurry_until {
            Some(h) if !s.connected => h.min(outage),
            _ => outage,
        }
    }

    /// Why writing is over, if it is.
    fn unwritable(&self) -> Option<Unwritable> {
        let s = self.state.borrow();
        let now = Instant::now();
        if let Some(reason) = &s.ended {
            return Some(reason.clone());
        }
        if s.renewed_at + self.outage_timeout <= now {
            return Some(Unwritable::OutageTooLong(self.outage_timeout));
        }
        // Interrupted: a database that answers is still written to; one
        // that does not is waited for only a little.
        match s.hurry_until {
            Some(h) if h <= now && !s.connected => Some(Unwritable::Interrupted),
            _ => None,
        }
    }

    /// Resolves when writing is over: the submit ended, the outage lasted
    /// too long, or the submit was interrupted while the database does not
    /// answer.
    async fn until_unwritable(&self) -> Unwritable {
        let mut rx = self.state.subscribe();
        let mut deadline = self.give_up_at();
        loop {
            if let Some(reason) = self.unwritable() {
                return reason;
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() { return Unwritable::Closed; }
                    deadline = self.give_up_at();
                }
                _ = tokio::time::sleep_until(deadline.into()) => deadline = self.give_up_at(),
            }
        }
    }

    /// Waits until the monitor holds the lock; returns the generation seen
    /// and the server process that holds the lock.
    async fn wait_connected(&self) -> Result<(u64, Option<i32>), Unwritable> {
        let mut rx = self.state.subscribe();
        loop {
            if let Some(reason) = self.unwritable() {
                return Err(reason);
            }
            {
                let s = rx.borrow_and_update();
                if s.connected {
                    return Ok((s.generation, s.holder));
                }
            }
            let _ = self.commands.send(Command::Renew);
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return Err(Unwritable::Closed) },
                reason = self.until_unwritable() => return Err(reason),
            }
        }
    }

    /// Asks for a renewal at once and waits until one newer than `seen`
    /// succeeded.
    async fn renew_after(&self, seen: u64) -> Result<(), Unwritable> {
        let _ = self.commands.send(Command::Renew);
        let mut rx = self.state.subscribe();
        loop {
            if let Some(reason) = self.unwritable() {
                return Err(reason);
            }
            if rx.borrow_and_update().generation > seen {
                return Ok(());
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return Err(Unwritable::Closed) },
                reason = self.until_unwritable() => return Err(reason),
            }
        }
    }
}

impl Drop for SubmitLease {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
    }
}

/// The thread that renews the lease.
struct Monitor {
    pool: Pool,
    submit: SubmitId,
    lease: Duration,
    outage_timeout: Duration,
    conn: Option<PooledConn>,
    /// The server process of `conn`.
    holder: Option<i32>,
    state: Arc<watch::Sender<State>>,
}

impl Monitor {
    /// Renews until told to stop; returns the connection that holds the
    /// lock, if it still does.
    fn run(mut self, commands: &std_mpsc::Receiver<Command>) -> Option<PooledConn> {
        loop {
            match commands.recv_timeout(HEARTBEAT) {
                Ok(Command::Stop) | Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(Command::Renew) | Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            }
            if self.state.borrow().ended.is_some() {
                break;
            }
            self.renew_once();
        }
        self.conn.take()
    }

    fn renew_once(&mut self) {
        let sent = Instant::now();
        match self.try_renew() {
            Ok(Some(Renewal::Renewed)) => self.state.send_modify(|s| {
                s.renewed_at = sent;
                s.generation += 1;
                s.connected = true;
                s.holder = self.holder;
            }),
            Ok(Some(Renewal::Ended)) => {
                tracing::warn!(
                    "submit {} is no longer running in the database",
                    self.submit
                );
                self.state
                    .send_modify(|s| s.ended = Some(Unwritable::Taken));
            }
            Ok(None) => self.lost_connection(),
            Err(err) => {
                tracing::debug!("renewing the lease of submit {}: {err:#}", self.submit);
                if db::is_connection_error(&err) {
                    // Its session, and the lock with it, are gone (or will
                    // be): the lock is taken again on a new connection.
                    self.conn = None;
                }
                self.lost_connection();
            }
        }
    }

    /// Renews on the connection that holds the lock, or takes the lock again
    /// on a new one. `None`: the lock is held elsewhere for now.
    fn try_renew(&mut self) -> Result<Option<Renewal>> {
        if let Some(conn) = self.conn.as_mut() {
            return Ok(Some(liveness::renew(conn, self.submit, self.lease)?));
        }
        let mut conn = self.pool.get_timeout(HEARTBEAT)?;
        let renewal = liveness::retake(&mut conn, self.submit, self.lease)?;
        if renewal == Some(Renewal::Renewed) {
            tracing::info!(
                "took the lock of submit {} again after the database came back",
                self.submit
            );
            self.holder = Some(liveness::backend_pid(&mut conn)?);
            self.conn = Some(conn);
        }
        Ok(renewal)
    }

    fn lost_connection(&self) {
        let timeout = self.outage_timeout;
        self.state.send_modify(|s| {
            s.connected = false;
            if s.renewed_at.elapsed() >= timeout && s.ended.is_none() {
                s.ended = Some(Unwritable::OutageTooLong(timeout));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_outlasts_the_outage_timeout() {
        for secs in [1, 30, 600] {
            let outage = Duration::from_secs(secs);
            assert!(lease(outage) > outage + HEARTBEAT);
        }
    }
}
