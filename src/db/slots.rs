//! The capacity of an endpoint, shared by every kiln process that uses one
//! database: no endpoint runs more than its `maxjobs` kiln containers,
//! however many kilns submit at once.
//!
//! Slot `k` of endpoint `e` is a session-level advisory lock (class
//! [`SLOT_CLASS`], key `e * MAX_SLOTS + k`, with `e` the `endpoints` row's
//! id). A job holds one slot from before its container starts until its
//! container is gone. Each slot a process may take has a session of its own
//! (a thread with a connection, [`SlotSession`]), which only ever locks that
//! one key: a session holds a slot or waits for it, never both, so waits
//! cannot form a cycle.
//!
//! Taking a slot for a job that waits ([`Capacity::acquire`]):
//!
//! 1. the slots the process does not hold are tried in turn
//!    (`pg_try_advisory_lock`), as many at a time as jobs wait;
//! 2. once every such slot was found taken, all are waited for at once
//!    (`pg_advisory_lock`, blocking in the server: no polling). PostgreSQL
//!    grants a released lock to the session that waited longest, so waiting
//!    kilns take turns;
//! 3. the first slot granted goes to the job; a slot granted when no job
//!    waits any more is released at once, and the waits still pending are
//!    cancelled (`pg_cancel_backend`, from a session of the gate's own).
//!
//! A slot is released when its job is done with it (`pg_advisory_unlock`),
//! and by the server when the session ends: a crashed kiln's slots free
//! themselves, and a kiln waiting for one is woken by the server.
//!
//! A process thus opens one session per slot it holds or waits for (at
//! most `maxjobs` per endpoint), plus one to cancel waits.
//!
//! When the database cannot be used for this (it is down, or refuses the
//! connections), the gate says so once and grants slots without it: the
//! run's own limit of `maxjobs` per endpoint still holds, but not across
//! processes.

use std::collections::VecDeque;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer};
use tokio::sync::{mpsc, oneshot};

use crate::db::models::EndpointId;

/// The first key of every slot lock (the bytes of "slot").
pub const SLOT_CLASS: i32 = 0x736c_6f74;

/// The most slots an endpoint can have (`maxjobs`).
pub const MAX_SLOTS: usize = crate::config::MAX_MAXJOBS;

/// Opens a session set up for kiln.
pub type Connector = Arc<dyn Fn() -> anyhow::Result<PgConnection> + Send + Sync>;

/// Sessions of the database at `location`, set up for kiln.
pub fn connector(location: crate::db::Location) -> Connector {
    Arc::new(move || location.connect())
}

/// The slots of the endpoints a run uses, by the run's endpoint index.
pub struct Capacity {
    gates: Vec<mpsc::UnboundedSender<Msg>>,
}

/// A slot held for a job; released when dropped.
pub struct Slot {
    release: Option<(mpsc::UnboundedSender<Msg>, usize)>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((gate, index)) = self.release.take() {
            let _ = gate.send(Msg::Release(index));
        }
    }
}

impl Capacity {
    /// Gates for `endpoints` (each its row's id, name and `maxjobs`). Must
    /// be called inside a tokio runtime.
    pub fn new(connect: Connector, endpoints: &[(EndpointId, String, usize)]) -> Self {
        let gates = endpoints
            .iter()
            .map(|(id, name, maxjobs)| {
                let (tx, rx) = mpsc::unbounded_channel();
                let gate = Gate::new(
                    Arc::clone(&connect),
                    *id,
                    name.clone(),
                    (*maxjobs).min(MAX_SLOTS),
                    tx.clone(),
                );
                tokio::spawn(gate.run(rx));
                tx
            })
            .collect();
        Self { gates }
    }

    /// Capacity that only the run's own limits bound (no database).
    pub fn unshared(endpoints: usize) -> Self {
        let gates = (0..endpoints)
            .map(|_| {
                let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
                tokio::spawn(async move {
                    while let Some(msg) = rx.recv().await {
                        if let Msg::Acquire(reply) = msg {
                            let _ = reply.send(Slot { release: None });
                        }
                    }
                });
                tx
            })
            .collect();
        Self { gates }
    }

    /// A slot of endpoint `endpoint` (the run's index), when one is free.
    pub async fn acquire(&self, endpoint: usize) -> Slot {
        let (reply, granted) = oneshot::channel();
        let sent = self
            .gates
            .get(endpoint)
            .is_some_and(|gate| gate.send(Msg::Acquire(reply)).is_ok());
        if !sent {
            return Slot { release: None };
        }
        granted.await.unwrap_or(Slot { release: None })
    }
}

impl Drop for Capacity {
    fn drop(&mut self) {
        for gate in &self.gates {
            let _ = gate.send(Msg::Shutdown);
        }
    }
}

/// What a gate is told.
enum Msg {
    Acquire(oneshot::Sender<Slot>),
    /// A job is done with slot `index`.
    Release(usize),
    /// A slot session reports.
    Session(usize, Report),
    Shutdown,
}

/// What a slot session reports.
enum Report {
    /// Its backend's pid (to cancel its wait), once connected.
    Connected(i32),
    /// Whether it took the slot (`Err`: cancelled, or the database failed).
    Took(Result<bool, String>),
    Released,
}

/// What a slot session is asked.
enum Command {
    Try,
    Wait,
    Release,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not held by this process; nothing asked.
    Free,
    Trying,
    Waiting,
    /// Waiting, and asked to stop waiting.
    Cancelling,
    /// Held, by a job or on its way back.
    Held,
    Releasing,
}

/// The slots of one endpoint in this process.
struct Gate {
    connect: Connector,
    endpoint: EndpointId,
    name: String,
    sessions: Vec<Option<std_mpsc::Sender<Command>>>,
    pids: Vec<Option<i32>>,
    states: Vec<State>,
    requests: VecDeque<oneshot::Sender<Slot>>,
    /// The slots tried since the jobs began to wait (once all were, the
    /// gate waits).
    tried: Vec<bool>,
    /// The database failed: slots are granted without it.
    unshared: bool,
    tx: mpsc::UnboundedSender<Msg>,
}

impl Gate {
    fn new(
        connect: Connector,
        endpoint: EndpointId,
        name: String,
        maxjobs: usize,
        tx: mpsc::UnboundedSender<Msg>,
    ) -> Self {
        Self {
            connect,
            endpoint,
            name,
            sessions: (0..maxjobs).map(|_| None).collect(),
            pids: vec![None; maxjobs],
            states: vec![State::Free; maxjobs],
            requests: VecDeque::new(),
            tried: vec![false; maxjobs],
            unshared: false,
            tx,
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Acquire(reply) => self.requests.push_back(reply),
                Msg::Release(index) => self.command(index, Command::Release, State::Releasing),
                Msg::Session(index, Report::Connected(pid)) => self.pids[index] = Some(pid),
                Msg::Session(index, Report::Took(took)) => self.took(index, took),
                Msg::Session(index, Report::Released) => self.states[index] = State::Free,
                Msg::Shutdown => {
                    self.requests.clear();
                    self.cancel_waits();
                    break;
                }
            }
            self.pump();
        }
        // Dropping the sessions' senders ends their threads and so their
        // connections, which releases whatever they hold.
    }

    fn took(&mut self, index: usize, took: Result<bool, String>) {
        match took {
            Ok(true) => {
                self.states[index] = State::Held;
                self.grant_or_release(index);
            }
            Ok(false) => self.states[index] = State::Free,
            Err(err) => {
                self.states[index] = State::Free;
                if err.contains("canceling statement due to user request") {
                    // A wait this gate cancelled: no job needed it any more.
                    tracing::trace!("slot {index} of endpoint `{}`: wait cancelled", self.name);
                } else {
                    self.fail(&err);
                }
            }
        }
    }

    /// A slot just taken goes to the job that waited longest, or back
    /// (dropping a slot releases it).
    fn grant_or_release(&mut self, index: usize) {
        let mut slot = Slot {
            release: Some((self.tx.clone(), index)),
        };
        while let Some(reply) = self.requests.pop_front() {
            match reply.send(slot) {
                Ok(()) => return,
                // That job stopped waiting: the next one gets it.
                Err(back) => slot = back,
            }
        }
    }

    /// Asks for what the waiting jobs need.
    fn pump(&mut self) {
        if self.unshared {
            while let Some(reply) = self.requests.pop_front() {
                let _ = reply.send(Slot { release: None });
            }
            return;
        }
        if self.requests.is_empty() {
            self.tried.fill(false);
            self.cancel_waits();
            return;
        }
        if self.states.contains(&State::Trying) {
            return;
        }
        let free: Vec<usize> = (0..self.states.len())
            .filter(|&i| self.states[i] == State::Free)
            .collect();
        // As many slots tried as jobs wait, so that a kiln opens no more
        // sessions than it needs while slots are free.
        let untried: Vec<usize> = free.iter().copied().filter(|&i| !self.tried[i]).collect();
        if !untried.is_empty() {
            for index in untried.into_iter().take(self.requests.len()) {
                self.tried[index] = true;
                self.command(index, Command::Try, State::Trying);
            }
            return;
        }
        // Every free slot was taken by others: wait for all of them.
        for index in free {
            self.command(index, Command::Wait, State::Waiting);
        }
    }

    fn command(&mut self, index: usize, command: Command, state: State) {
        if self.sessions[index].is_none() {
            self.sessions[index] = Some(self.start_session(index));
        }
        let sent = self.sessions[index]
            .as_ref()
            .is_some_and(|s| s.send(command).is_ok());
        if sent {
            self.states[index] = state;
        } else {
            self.fail("a slot session ended");
        }
    }

    fn start_session(&self, index: usize) -> std_mpsc::Sender<Command> {
        let (tx, rx) = std_mpsc::channel();
        let session = SlotSession {
            connect: Arc::clone(&self.connect),
            key: slot_key(self.endpoint, index),
            index,
            reports: self.tx.clone(),
        };
        std::thread::spawn(move || session.serve(rx));
        tx
    }

    fn cancel_waits(&mut self) {
        let mut pids = Vec::new();
        for index in 0..self.states.len() {
            if let (State::Waiting, Some(pid)) = (self.states[index], self.pids[index]) {
                self.states[index] = State::Cancelling;
                pids.push(pid);
            }
        }
        if pids.is_empty() {
            return;
        }
        let connect = Arc::clone(&self.connect);
        std::thread::spawn(move || {
            if let Err(err) = cancel_backends(&connect, &pids) {
                tracing::debug!("cancelling slot waits: {err:#}");
            }
        });
    }

    /// The database cannot share the slots: grant them without it.
    fn fail(&mut self, why: &str) {
        if !self.unshared {
            tracing::warn!(
                "endpoint `{}`: its capacity cannot be shared with other kiln processes through the database ({why}); this run keeps to its own maxjobs",
                self.name
            );
        }
        self.unshared = true;
    }
}

/// The lock key of slot `index` of an endpoint.
fn slot_key(endpoint: EndpointId, index: usize) -> i32 {
    let index = i32::try_from(index % MAX_SLOTS).unwrap_or(0);
    // Endpoint ids are small serials; the product wraps harmlessly past
    // half a million endpoints.
    endpoint
        .0
        .wrapping_mul(MAX_SLOTS as i32)
        .wrapping_add(index)
}

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = Bool)]
    taken: bool,
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

/// The session of one slot: a thread with a connection that takes,
/// waits for and releases that one slot's lock.
struct SlotSession {
    connect: Connector,
    key: i32,
    index: usize,
    reports: mpsc::UnboundedSender<Msg>,
}

impl SlotSession {
    fn serve(self, commands: std_mpsc::Receiver<Command>) {
        let mut conn: Option<PgConnection> = None;
        while let Ok(command) = commands.recv() {
            let (report, keep) = match self.connection(&mut conn) {
                Err(err) => match command {
                    Command::Release => (Report::Released, false),
                    _ => (Report::Took(Err(err)), false),
                },
                Ok(c) => self.execute(c, command),
            };
            if !keep {
                // A session whose statement failed ends, and the server
                // releases whatever it held; the next starts afresh.
                conn = None;
            }
            if self.reports.send(Msg::Session(self.index, report)).is_err() {
                return;
            }
        }
    }

    fn connection<'c>(
        &self,
        conn: &'c mut Option<PgConnection>,
    ) -> Result<&'c mut PgConnection, String> {
        if conn.is_none() {
            let mut new = (self.connect)().map_err(|e| format!("{e:#}"))?;
            let pid: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
                .get_result(&mut new)
                .map_err(|e| e.to_string())?;
            let _ = self
                .reports
                .send(Msg::Session(self.index, Report::Connected(pid.pid)));
            *conn = Some(new);
        }
        conn.as_mut().ok_or_else(|| "no connection".to_owned())
    }

    /// What the command found, and whether the session may be kept.
    fn execute(&self, conn: &mut PgConnection, command: Command) -> (Report, bool) {
        let lock = |sql: &str, conn: &mut PgConnection| {
            diesel::sql_query(sql)
                .bind::<Integer, _>(SLOT_CLASS)
                .bind::<Integer, _>(self.key)
                .get_result::<Taken>(conn)
                .map(|t| t.taken)
                .map_err(|e| e.to_string())
        };
        let took = |taken: Result<bool, String>| {
            let keep = taken.is_ok();
            (Report::Took(taken), keep)
        };
        match command {
            Command::Try => took(lock("SELECT pg_try_advisory_lock($1, $2) AS taken", conn)),
            Command::Wait => took(lock(
                "SELECT pg_advisory_lock($1, $2) IS NOT NULL AS taken",
                conn,
            )),
            // Everything the session holds (it only ever locks its one key,
            // maybe twice). When that fails (a cancel meant for a wait came
            // late, or the connection is gone), the session ends, which
            // releases it as surely.
            Command::Release => {
                match diesel::sql_query("SELECT pg_advisory_unlock_all()").execute(conn) {
                    Ok(_) => (Report::Released, true),
                    Err(err) => {
                        tracing::debug!("releasing a slot: {err}");
                        (Report::Released, false)
                    }
                }
            }
        }
    }
}

fn cancel_backends(connect: &Connector, pids: &[i32]) -> anyhow::Result<()> {
    let mut conn = connect()?;
    for &pid in pids {
        diesel::sql_query("SELECT pg_cancel_backend($1)")
            .bind::<Integer, _>(pid)
            .execute(&mut conn)?;
    }
    Ok(())
}
