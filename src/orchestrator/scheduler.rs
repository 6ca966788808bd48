//! Which job runs next, and where: the pure heart of the orchestrator.
//!
//! The scheduler knows the dependency graph of one submit and the free slots
//! of each endpoint. It is told when jobs finish and answers with the jobs
//! that may start now. A job is ready when all of its dependencies have
//! succeeded; among ready jobs, the one with the longest chain of dependents
//! goes first, and it goes to the endpoint with the most free slots. A failed
//! job makes every job that depends on it, transitively, `dep_failed`.
//!
//! No I/O, no clocks, no async: the run loop drives it from events, so there
//! is nothing to poll.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A job by its index in the plan.
pub type JobIndex = usize;
/// An endpoint by its index in the submit's endpoint list.
pub type EndpointIndex = usize;

/// What became of a job, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for dependencies.
    Waiting,
    /// All dependencies succeeded; waiting for a slot.
    Ready,
    /// Handed out by [`Scheduler::next_assignments`].
    Running,
    Succeeded,
    Failed,
    /// Not run because a dependency failed.
    DepFailed,
    /// Not run because scheduling stopped (cancellation or `--fail-fast`).
    NotStarted,
}

impl JobState {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::DepFailed | JobState::NotStarted
        )
    }
}

/// How a running job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Succeeded,
    Failed,
}

/// The scheduling state of one submit.
#[derive(Debug)]
pub struct Scheduler {
    dependencies: Vec<Vec<JobIndex>>,
    dependents: Vec<Vec<JobIndex>>,
    missing_deps: Vec<usize>,
    priority: Vec<usize>,
    state: Vec<JobState>,
    endpoint: Vec<Option<EndpointIndex>>,
    free: Vec<usize>,
    /// Endpoints taken out of the rotation (their engine failed).
    removed: Vec<bool>,
    ready: BinaryHeap<(usize, Reverse<JobIndex>)>,
    stopped: bool,
    running: usize,
}

impl Scheduler {
    /// `dependencies[j]` lists the jobs `j` waits for (the graph must be
    /// acyclic: the planner guarantees it); `slots[e]` is endpoint `e`'s
    /// `maxjobs`.
    pub fn new(dependencies: &[Vec<JobIndex>], slots: &[usize]) -> Self {
        Self::with_succeeded(dependencies, slots, &[])
    }

    /// Like [`Scheduler::new`], with the jobs whose `succeeded[j]` is true
    /// done before anything runs (reused from an earlier build): their
    /// dependents wait only for the others.
    pub fn with_succeeded(
        dependencies: &[Vec<JobIndex>],
        slots: &[usize],
        succeeded: &[bool],
    ) -> Self {
        let n = dependencies.len();
        let mut dependents = vec![Vec::new(); n];
        for (job, deps) in dependencies.iter().enumerate() {
            for &dep in deps {
                dependents[dep].push(job);
            }
        }
        let priority = longest_dependent_chains(dependencies, &dependents);
        let done = |j: JobIndex| succeeded.get(j).copied().unwrap_or(false);
        let missing_deps: Vec<usize> = dependencies
            .iter()
            .map(|deps| deps.iter().filter(|&&d| !done(d)).count())
            .collect();
        let mut scheduler = Scheduler {
            dependencies: dependencies.to_vec(),
            dependents,
            missing_deps,
            priority,
            state: (0..n)
                .map(|j| match done(j) {
                    true => JobState::Succeeded,
                    false => JobState::Waiting,
                })
                .collect(),
            endpoint: vec![None; n],
            free: slots.to_vec(),
            removed: vec![false; slots.len()],
            ready: BinaryHeap::new(),
            stopped: false,
            running: 0,
        };
        for job in 0..n {
            if scheduler.missing_deps[job] == 0 && !done(job) {
                scheduler.make_ready(job);
            }
        }
        scheduler
    }

    fn make_ready(&mut self, job: JobIndex) {
        self.state[job] = JobState::Ready;
        self.ready.push((self.priority[job], Reverse(job)));
    }

    /// The jobs that may start now, each with the endpoint it goes to. The
    /// caller must start every one of them.
    pub fn next_assignments(&mut self) -> Vec<(JobIndex, EndpointIndex)> {
        self.next_assignments_preferring(|_| None)
    }

    /// Like [`Scheduler::next_assignments`], but a job goes to the endpoint
    /// `prefer` names for it when that endpoint has a free slot (where its
    /// container was prepared).
    pub fn next_assignments_preferring(
        &mut self,
        prefer: impl Fn(JobIndex) -> Option<EndpointIndex>,
    ) -> Vec<(JobIndex, EndpointIndex)> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        while let Some(most_free) = self.most_free_endpoint() {
            let Some((_, Reverse(job))) = self.ready.pop() else {
                break;
            };
            let endpoint = prefer(job)
                .filter(|&e| self.free.get(e).is_some_and(|&free| free > 0))
                .unwrap_or(most_free);
            self.free[endpoint] -= 1;
            self.state[job] = JobState::Running;
            self.endpoint[job] = Some(endpoint);
            self.running += 1;
            out.push((job, endpoint));
        }
        out
    }

    /// The jobs that will be handed out next, best first, at most `limit`:
    /// the ready ones in the order [`Scheduler::next_assignments`] takes
    /// them, and the waiting ones whose every dependency has succeeded or
    /// is running (they become ready when the running ones succeed).
    /// Nothing once stopped. Their containers can be prepared ahead.
    pub fn upcoming(&self, limit: usize) -> Vec<JobIndex> {
        if self.stopped || limit == 0 {
            return Vec::new();
        }
        let mut candidates: Vec<(Reverse<usize>, JobIndex)> = self
            .ready
            .iter()
            .map(|&(priority, Reverse(job))| (Reverse(priority), job))
            .collect();
        // A waiting job whose dependencies all succeeded or run has a
        // running dependency (else it would be ready).
        let mut seen = std::collections::HashSet::new();
        for (job, state) in self.state.iter().enumerate() {
            if *state != JobState::Running {
                continue;
            }
            for &dependent in &self.dependents[job] {
                let soon = self.state[dependent] == JobState::Waiting
                    && self.dependencies[dependent]
                        .iter()
                        .all(|&d| matches!(self.state[d], JobState::Running | JobState::Succeeded));
                if soon && seen.insert(dependent) {
                    candidates.push((Reverse(self.priority[dependent]), dependent));
                }
            }
        }
        if candidates.len() > limit {
            candidates.select_nth_unstable(limit - 1);
            candidates.truncate(limit);
        }
        candidates.sort_unstable();
        candidates.into_iter().map(|(_, job)| job).collect()
    }

    /// Where a job that is not handed out yet will probably go: the endpoint
    /// of one of its running dependencies (whose slot it will likely take),
    /// else the one with the most free slots.
    pub fn likely_endpoint(&self, job: JobIndex) -> EndpointIndex {
        self.dependencies[job]
            .iter()
            .filter(|&&d| self.state[d] == JobState::Running)
            .find_map(|&d| self.endpoint[d])
            .filter(|&e| !self.removed[e])
            .or_else(|| {
                self.free
                    .iter()
                    .enumerate()
                    .rev()
                    .filter(|(e, _)| !self.removed[*e])
                    .max_by_key(|(_, free)| **free)
                    .map(|(e, _)| e)
            })
            .unwrap_or(0)
    }

    fn most_free_endpoint(&self) -> Option<EndpointIndex> {
        // The first of the endpoints with the most free slots, so ties go to
        // the endpoint listed first.
        let (index, free) = self
            .free
            .iter()
            .enumerate()
            .rev()
            .max_by_key(|(_, free)| **free)?;
        (*free > 0).then_some(index)
    }

    /// Records that a running job ended. Returns the jobs that this made
    /// `dep_failed` (empty unless it failed).
    pub fn finished(&mut self, job: JobIndex, finish: Finish) -> Vec<JobIndex> {
        debug_assert_eq!(
            self.state[job],
            JobState::Running,
            "job {job} was not running"
        );
        self.free_slot_of(job);
        match finish {
            Finish::Succeeded => {
                self.state[job] = JobState::Succeeded;
                for i in 0..self.dependents[job].len() {
                    let dependent = self.dependents[job][i];
                    self.missing_deps[dependent] -= 1;
                    if self.missing_deps[dependent] == 0
                        && self.state[dependent] == JobState::Waiting
                    {
                        self.make_ready(dependent);
                    }
                }
                Vec::new()
            }
            Finish::Failed => {
                self.state[job] = JobState::Failed;
                self.fail_dependents(job)
            }
        }
    }

    /// The slot of a running job is free again (unless its endpoint was
    /// taken out).
    fn free_slot_of(&mut self, job: JobIndex) {
        if let Some(endpoint) = self.endpoint[job] {
            if !self.removed[endpoint] {
                self.free[endpoint] += 1;
            }
        }
        self.running -= 1;
    }

    /// A running job's attempt ended without a verdict on the job (its
    /// engine failed): it is ready again, to go to another endpoint. Does
    /// nothing once stopped (the job then stays running until it is
    /// finished).
    pub fn retry(&mut self, job: JobIndex) -> bool {
        debug_assert_eq!(
            self.state[job],
            JobState::Running,
            "job {job} was not running"
        );
        if self.stopped {
            return false;
        }
        self.free_slot_of(job);
        self.endpoint[job] = None;
        self.make_ready(job);
        true
    }

    /// Takes an endpoint out of the rotation: no job goes to it any more.
    /// The jobs running there are still to be finished or retried.
    pub fn remove_endpoint(&mut self, endpoint: EndpointIndex) {
        if let Some(removed) = self.removed.get_mut(endpoint) {
            *removed = true;
            self.free[endpoint] = 0;
        }
    }

    /// Whether every endpoint was taken out: nothing can run any more.
    pub fn no_endpoint_left(&self) -> bool {
        self.removed.iter().all(|&r| r)
    }

    fn fail_dependents(&mut self, job: JobIndex) -> Vec<JobIndex> {
        let mut failed = Vec::new();
        let mut stack = self.dependents[job].clone();
        while let Some(dependent) = stack.pop() {
            if self.state[dependent] == JobState::Waiting {
                self.state[dependent] = JobState::DepFailed;
                failed.push(dependent);
                stack.extend_from_slice(&self.dependents[dependent]);
            }
        }
        failed.sort_unstable();
        failed
    }

    /// Stops handing out jobs (Ctrl-C, or `--fail-fast` after a failure).
    /// Returns the jobs that will now never start.
    pub fn stop(&mut self) -> Vec<JobIndex> {
        self.stopped = true;
        self.ready.clear();
        let mut never = Vec::new();
        for (job, state) in self.state.iter_mut().enumerate() {
            if matches!(*state, JobState::Waiting | JobState::Ready) {
                *state = JobState::NotStarted;
                never.push(job);
            }
        }
        never
    }

    /// Jobs handed out and not yet finished.
    pub fn running(&self) -> usize {
        self.running
    }

    /// True when no job is running and none can start any more.
    pub fn is_done(&self) -> bool {
        self.running == 0 && (self.stopped || self.ready.is_empty())
    }

    pub fn state(&self, job: JobIndex) -> JobState {
        self.state[job]
    }
}

/// For each job, the number of jobs on the longest chain that waits for it
/// (0 for a job nothing depends on). Linear in the size of the graph.
pub fn longest_dependent_chains(
    dependencies: &[Vec<JobIndex>],
    dependents: &[Vec<JobIndex>],
) -> Vec<usize> {
    let n = dependencies.len();
    // Kahn's algorithm from the jobs nothing depends on, towards the roots of
    // the build (the jobs with no dependencies).
    let mut remaining: Vec<usize> = dependents.iter().map(Vec::len).collect();
    let mut queue: Vec<JobIndex> = (0..n).filter(|&j| remaining[j] == 0).collect();
    let mut chain = vec![0usize; n];
    while let Some(job) = queue.pop() {
        for &dep in &dependencies[job] {
            chain[dep] = chain[dep].max(chain[job] + 1);
            remaining[dep] -= 1;
            if remaining[dep] == 0 {
                queue.push(dep);
            }
        }
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_all(
        deps: &[Vec<usize>],
        slots: &[usize],
        fail: &[usize],
    ) -> (Vec<(usize, usize)>, Vec<JobState>) {
        let mut s = Scheduler::new(deps, slots);
        let mut order = Vec::new();
        let mut running = Vec::new();
        loop {
            running.extend(s.next_assignments());
            if running.is_empty() {
                break;
            }
            // Finish the earliest started job first.
            let (job, ep) = running.remove(0);
            order.push((job, ep));
            let finish = if fail.contains(&job) {
                Finish::Failed
            } else {
                Finish::Succeeded
            };
            s.finished(job, finish);
        }
        assert!(s.is_done());
        let states = (0..deps.len()).map(|j| s.state(j)).collect();
        (order, states)
    }

    #[test]
    fn chain_runs_in_order() {
        let deps = vec![vec![], vec![0], vec![1], vec![2]];
        let (order, states) = run_all(&deps, &[2], &[]);
        assert_eq!(
            order.iter().map(|o| o.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert!(states.iter().all(|s| *s == JobState::Succeeded));
    }

    #[test]
    fn jobs_done_before_the_run_are_never_handed_out() {
        // 0 <- 1 <- 2, and 3 alone; 0 and 3 reused.
        let deps = vec![vec![], vec![0], vec![1], vec![]];
        let mut s = Scheduler::with_succeeded(&deps, &[4], &[true, false, false, true]);
        assert_eq!(s.state(0), JobState::Succeeded);
        assert_eq!(s.next_assignments(), vec![(1, 0)]);
        s.finished(1, Finish::Succeeded);
        assert_eq!(s.next_assignments(), vec![(2, 0)]);
        s.finished(2, Finish::Succeeded);
        assert!(s.is_done());
        // All done before the run: nothing to hand out, done at once.
        let s = Scheduler::with_succeeded(&deps, &[1], &[true; 4]);
        assert!(s.is_done());
    }

    #[test]
    fn longest_chain_goes_first() {
        // 0 <- 1 <- 2 (a chain of dependents of 0), and 3, 4 leaves.
        let deps = vec![vec![], vec![0], vec![1], vec![], vec![]];
        let mut s = Scheduler::new(&deps, &[1]);
        assert_eq!(s.next_assignments(), vec![(0, 0)]);
        s.finished(0, Finish::Succeeded);
        // 1 has a dependent chain of length 1; 3 and 4 have none.
        assert_eq!(s.next_assignments(), vec![(1, 0)]);
    }

    #[test]
    fn chains_are_measured() {
        let deps = vec![vec![], vec![0], vec![1], vec![0], vec![]];
        let mut dependents = vec![Vec::new(); deps.len()];
        for (j, ds) in deps.iter().enumerate() {
            for &d in ds {
                dependents[d].push(j);
            }
        }
        assert_eq!(
            longest_dependent_chains(&deps, &dependents),
            vec![2, 1, 0, 0, 0]
        );
    }

    #[test]
    fn endpoint_with_most_free_slots_wins_and_limits_hold() {
        let deps = vec![vec![]; 5];
        let mut s = Scheduler::new(&deps, &[1, 3]);
        let got = s.next_assignments();
        assert_eq!(
            got.len(),
            4,
            "never more than maxjobs per endpoint: {got:?}"
        );
        assert_eq!(got[0].1, 1, "the endpoint with the most free slots first");
        assert_eq!(got.iter().filter(|a| a.1 == 0).count(), 1);
        assert_eq!(got.iter().filter(|a| a.1 == 1).count(), 3);
        assert!(s.next_assignments().is_empty());
        s.finished(got[0].0, Finish::Succeeded);
        assert_eq!(s.next_assignments().len(), 1);
    }

    #[test]
    fn failure_marks_dependents_and_spares_independent_branches() {
        // 0 <- 1 <- 2 ; 3 <- 4 ; 5 depends on 2 and 4.
        let deps = vec![vec![], vec![0], vec![1], vec![], vec![3], vec![2, 4]];
        let (_, states) = run_all(&deps, &[2], &[1]);
        use JobState::*;
        assert_eq!(
            states,
            vec![Succeeded, Failed, DepFailed, Succeeded, Succeeded, DepFailed]
        );
    }

    #[test]
    fn stop_starts_nothing_new() {
        let deps = vec![vec![], vec![], vec![0]];
        let mut s = Scheduler::new(&deps, &[1]);
        let first = s.next_assignments();
        assert_eq!(first.len(), 1);
        let never = s.stop();
        assert_eq!(never.len(), 2);
        assert!(!s.is_done());
        s.finished(first[0].0, Finish::Succeeded);
        assert!(s.next_assignments().is_empty());
        assert!(s.is_done());
    }

    #[test]
    fn upcoming_jobs_in_the_order_they_will_start() {
        // 0 <- 2, 1 <- 2 (2 needs both); 3 <- 4; 5 alone; 6 needs 2.
        let deps = vec![vec![], vec![], vec![0, 1], vec![], vec![3], vec![], vec![2]];
        let mut s = Scheduler::new(&deps, &[2]);
        // Ready: 0 and 1 (chains of 2), 3 (chain 1), 5 (none).
        assert_eq!(s.upcoming(10), vec![0, 1, 3, 5]);
        let started = s.next_assignments();
        assert_eq!(started, vec![(0, 0), (1, 0)]);
        // 2 waits only for running jobs: it comes first (longest chain).
        let cases: &[(usize, &[usize])] = &[(0, &[]), (1, &[2]), (2, &[2, 3]), (10, &[2, 3, 5])];
        for (limit, want) in cases {
            assert_eq!(s.upcoming(*limit), *want, "limit {limit}");
        }
        s.finished(0, Finish::Succeeded);
        assert_eq!(s.likely_endpoint(2), 0);
        // 4 waits for 3, which has not started: not upcoming.
        assert!(!s.upcoming(10).contains(&4));
        s.stop();
        assert!(s.upcoming(10).is_empty());
    }

    #[test]
    fn a_preferred_endpoint_with_a_free_slot_wins() {
        let deps = vec![vec![]; 3];
        let cases: &[(&[usize], Option<usize>, usize)] = &[
            (&[1, 2], Some(0), 0),
            (&[1, 2], None, 1),
            (&[0, 2], Some(0), 1),
            (&[1, 2], Some(7), 1),
        ];
        for (slots, prefer, want) in cases {
            let mut s = Scheduler::new(&deps, slots);
            let got = s.next_assignments_preferring(|job| if job == 0 { *prefer } else { None });
            assert_eq!(got[0], (0, *want), "slots {slots:?}, prefer {prefer:?}");
            let per_endpoint: Vec<usize> = (0..slots.len())
                .map(|e| got.iter().filter(|a| a.1 == e).count())
                .collect();
            for (e, n) in per_endpoint.iter().enumerate() {
                assert!(*n <= slots[e], "endpoint {e} over its slots: {got:?}");
            }
        }
    }

    #[test]
    fn likely_endpoint_follows_a_running_dependency() {
        let deps = vec![vec![], vec![], vec![1]];
        let mut s = Scheduler::new(&deps, &[1, 1]);
        let got = s.next_assignments();
        let endpoint_of_1 = got.iter().find(|a| a.0 == 1).expect("1 started").1;
        assert_eq!(s.likely_endpoint(2), endpoint_of_1);
    }

    #[test]
    fn a_retried_job_goes_to_another_endpoint_and_a_removed_one_gets_nothing() {
        let deps = vec![vec![], vec![], vec![0]];
        let mut s = Scheduler::new(&deps, &[1, 1]);
        let first = s.next_assignments();
        assert_eq!(first.len(), 2, "{first:?}");
        let on_0 = first
            .iter()
            .find(|a| a.1 == 0)
            .expect("a job on endpoint 0")
            .0;
        s.remove_endpoint(0);
        assert!(!s.no_endpoint_left());
        assert!(s.retry(on_0));
        assert_eq!(s.state(on_0), JobState::Ready);
        // Endpoint 1's one slot is taken: nothing starts.
        assert!(s.next_assignments().is_empty());
        let on_1 = first
            .iter()
            .find(|a| a.1 == 1)
            .expect("a job on endpoint 1")
            .0;
        s.finished(on_1, Finish::Succeeded);
        assert_eq!(s.next_assignments(), vec![(on_0, 1)]);
        assert_eq!(s.likely_endpoint(2), 1, "never the removed endpoint");
        s.finished(on_0, Finish::Succeeded);
        assert_eq!(s.next_assignments(), vec![(2, 1)]);
        s.remove_endpoint(1);
        assert!(s.no_endpoint_left());
        assert!(s.retry(2));
        assert!(s.next_assignments().is_empty());
        assert_eq!(s.stop(), vec![2]);
        assert!(s.is_done());
    }

    #[test]
    fn diamond_waits_for_both_sides() {
        let deps = vec![vec![], vec![0], vec![0], vec![1, 2]];
        let mut s = Scheduler::new(&deps, &[4]);
        assert_eq!(s.next_assignments(), vec![(0, 0)]);
        s.finished(0, Finish::Succeeded);
        let mid = s.next_assignments();
        assert_eq!(mid.len(), 2);
        s.finished(mid[0].0, Finish::Succeeded);
        assert!(
            s.next_assignments().is_empty(),
            "3 must wait for both 1 and 2"
        );
        s.finished(mid[1].0, Finish::Succeeded);
        assert_eq!(s.next_assignments(), vec![(3, 0)]);
    }
}
