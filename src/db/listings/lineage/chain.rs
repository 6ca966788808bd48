//! The chain of jobs that led from a start to a release: a breadth-first
//! search back from the release's job over direct dependencies and reuse
//! ([`ChainSearch`], pure), one query per level over just the jobs it
//! reaches.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use super::StartSet;
use crate::db::listings::Conn;
use crate::db::models::{JobId, JobStatus};
use crate::db::schema::{job_dependencies, jobs as jobs_t, packages};

/// One job of a [`FoundRelease::via`] chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainStep {
    pub job_uuid: Uuid,
    pub package_name: String,
    pub package_version: String,
    pub status: JobStatus,
}

/// How many dependency levels a chain may have: more than any build tree.
const MAX_CHAIN: usize = 256;

/// For each job of `ends`, the shortest chain of jobs from a job of the
/// start to it, each the dependency (or reuse source) of the next: one
/// query per level of the search, over just the jobs it reaches.
pub(super) fn chains_to(
    conn: &mut Conn,
    ends: &[JobId],
    start: &StartSet,
) -> QueryResult<HashMap<JobId, Vec<ChainStep>>> {
    let goals: HashSet<JobId> = start.jobs.iter().copied().collect();
    let mut search = ChainSearch::new(ends, &goals);
    for _ in 0..MAX_CHAIN {
        let frontier = search.frontier();
        if frontier.is_empty() {
            break;
        }
        let edges = edges_from(conn, &frontier)?;
        search.advance(&edges);
    }
    let chains = search.chains();
    let ids: Vec<JobId> = chains
        .values()
        .flatten()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let steps: HashMap<JobId, ChainStep> = jobs_t::table
        .inner_join(packages::table)
        .filter(jobs_t::id.eq_any(ids))
        .select((
            jobs_t::id,
            jobs_t::uuid,
            packages::name,
            packages::version,
            jobs_t::status,
        ))
        .load::<(JobId, Uuid, String, String, JobStatus)>(conn)?
        .into_iter()
        .map(|(id, job_uuid, package_name, package_version, status)| {
            let step = ChainStep {
                job_uuid,
                package_name,
                package_version,
                status,
            };
            (id, step)
        })
        .collect();
    Ok(chains
        .into_iter()
        .map(|(end, chain)| {
            let chain = chain
                .iter()
                .filter_map(|id| steps.get(id).cloned())
                .collect();
            (end, chain)
        })
        .collect())
}

/// Where the chain search may go from each job of `from`: its direct
/// dependencies, and for a reused job the job it reused.
fn edges_from(conn: &mut Conn, from: &[JobId]) -> QueryResult<BTreeMap<JobId, Vec<JobId>>> {
    let dependencies: Vec<(JobId, JobId)> = job_dependencies::table
        .filter(job_dependencies::job_id.eq_any(from))
        .select((
            job_dependencies::job_id,
            job_dependencies::dependency_job_id,
        ))
        .load(conn)?;
    let sources: Vec<(JobId, Option<JobId>)> = jobs_t::table
        .filter(jobs_t::id.eq_any(from))
        .filter(jobs_t::reused_job_id.is_not_null())
        .select((jobs_t::id, jobs_t::reused_job_id))
        .load(conn)?;
    let mut edges: BTreeMap<JobId, Vec<JobId>> = BTreeMap::new();
    let sources = sources
        .into_iter()
        .filter_map(|(job, source)| Some((job, source?)));
    for (job, next) in dependencies.into_iter().chain(sources) {
        edges.entry(job).or_default().push(next);
    }
    for nexts in edges.values_mut() {
        nexts.sort_unstable();
        nexts.dedup();
    }
    Ok(edges)
}

/// A breadth-first search from each of several jobs back to the nearest
/// job of a goal set, fed one level of edges at a time. Pure: the caller
/// reads the edges of [`ChainSearch::frontier`] and hands them to
/// [`ChainSearch::advance`]. Each search keeps its own visited set, so it
/// ends on any graph, cycles included.
#[derive(Debug)]
struct ChainSearch<'a> {
    goals: &'a HashSet<JobId>,
    searches: Vec<Search>,
}

/// The search from one job.
#[derive(Debug)]
struct Search {
    origin: JobId,
    /// Each job reached, with the job it was reached from.
    came_from: HashMap<JobId, JobId>,
    frontier: Vec<JobId>,
    /// The goal reached first.
    found: Option<JobId>,
}

impl<'a> ChainSearch<'a> {
    fn new(origins: &[JobId], goals: &'a HashSet<JobId>) -> Self {
        let mut seen = HashSet::new();
        let searches = origins
            .iter()
            .filter(|o| seen.insert(**o))
            .map(|&origin| Search {
                origin,
                came_from: HashMap::new(),
                frontier: vec![origin],
                found: goals.contains(&origin).then_some(origin),
            })
            .collect();
        ChainSearch { goals, searches }
    }

    /// The jobs whose edges the next level needs, sorted.
    fn frontier(&self) -> Vec<JobId> {
        let all: BTreeSet<JobId> = self
            .searches
            .iter()
            .filter(|s| s.found.is_none())
            .flat_map(|s| s.frontier.iter().copied())
            .collect();
        all.into_iter().collect()
    }

    /// Takes one level of edges (from a job to the jobs one step further back).
    fn advance(&mut self, edges: &BTreeMap<JobId, Vec<JobId>>) {
        for search in self.searches.iter_mut().filter(|s| s.found.is_none()) {
            let mut next = Vec::new();
            for &job in &search.frontier {
                for &to in edges.get(&job).map(Vec::as_slice).unwrap_or_default() {
                    if to == search.origin || search.came_from.contains_key(&to) {
                        continue;
                    }
                    search.came_from.insert(to, job);
                    if self.goals.contains(&to) && search.found.is_none() {
                        search.found = Some(to);
                    }
                    next.push(to);
                }
            }
            search.frontier = next;
        }
    }

    /// For each origin that reached a goal, the chain from that goal to it.
    fn chains(&self) -> HashMap<JobId, Vec<JobId>> {
        self.searches
            .iter()
            .filter_map(|s| {
                let mut chain = vec![s.found?];
                while let Some(&next) = chain.last().and_then(|j| s.came_from.get(j)) {
                    chain.push(next);
                }
                Some((s.origin, chain))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(ids: &[i32]) -> Vec<JobId> {
        ids.iter().copied().map(JobId).collect()
    }

    fn edges(pairs: &[(i32, i32)]) -> BTreeMap<JobId, Vec<JobId>> {
        let mut out: BTreeMap<JobId, Vec<JobId>> = BTreeMap::new();
        for &(from, to) in pairs {
            out.entry(JobId(from)).or_default().push(JobId(to));
        }
        out
    }

    /// Runs the search over a whole graph, level by level as the database does.
    fn check(graph: &[(i32, i32)], origins: &[i32], goals: &[i32], expected: &[(i32, &[i32])]) {
        let goals: HashSet<JobId> = ids(goals).into_iter().collect();
        let graph = edges(graph);
        let mut search = ChainSearch::new(&ids(origins), &goals);
        for _ in 0..MAX_CHAIN {
            let frontier = search.frontier();
            if frontier.is_empty() {
                break;
            }
            let level: BTreeMap<JobId, Vec<JobId>> = frontier
                .iter()
                .filter_map(|j| Some((*j, graph.get(j)?.clone())))
                .collect();
            search.advance(&level);
        }
        let expected: HashMap<JobId, Vec<JobId>> =
            expected.iter().map(|(o, c)| (JobId(*o), ids(c))).collect();
        assert_eq!(search.chains(), expected, "{origins:?} to {goals:?}");
    }

    #[test]
    fn chains_lead_from_the_nearest_goal() {
        // 1 <- 2 <- 3 <- 4 (4 depends on 3, 3 on 2, 2 on 1), and 4 on 1 directly.
        let tree = [(4, 3), (3, 2), (2, 1), (4, 1)];
        check(&tree, &[4], &[1], &[(4, &[1, 4])]);
        check(&tree, &[3], &[1], &[(3, &[1, 2, 3])]);
        // The goal itself.
        check(&tree, &[1], &[1], &[(1, &[1])]);
        // No goal reachable: no chain.
        check(&tree, &[2], &[4], &[]);
        // Several origins at once, each with its own chain.
        check(&tree, &[3, 2, 3], &[1], &[(3, &[1, 2, 3]), (2, &[1, 2])]);
    }

    #[test]
    fn cycles_end() {
        let cycle = [(1, 2), (2, 3), (3, 1), (3, 9)];
        check(&cycle, &[1], &[9], &[(1, &[9, 3, 2, 1])]);
        check(&cycle, &[1], &[7], &[]);
    }

    #[test]
    fn reuse_hops_count_as_steps() {
        // 20 reused 10 (another submit); 21 depends on 20; 30 depends on 21.
        let graph = [(30, 21), (21, 20), (20, 10)];
        check(&graph, &[30], &[10], &[(30, &[10, 20, 21, 30])]);
    }
}
