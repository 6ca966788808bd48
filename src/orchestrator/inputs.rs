//! Which artifacts a job takes as inputs: those of every job it depends
//! on, directly or not, by file name; two different files of one name are
//! a conflict. One rule for a job that is built (its `/inputs`) and for one
//! that is reused (its recorded input artifacts). Pure.

/// Two dependencies produced different files of one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputConflict {
    pub name: String,
    /// The two dependencies (indices into the job list).
    pub first: usize,
    pub second: usize,
}

/// The inputs of a job whose dependencies, transitively, are
/// `dependencies` (indices in ascending order), as (dependency, position
/// of the artifact in that dependency's list), ordered by file name.
/// `artifacts_of(d)` yields dependency `d`'s artifacts as (path, SHA-256).
pub fn select_inputs<'a, F, I>(
    dependencies: &[usize],
    artifacts_of: F,
) -> Result<Vec<(usize, usize)>, InputConflict>
where
    F: Fn(usize) -> I,
    I: Iterator<Item = (&'a str, &'a str)>,
{
    let mut by_name: std::collections::BTreeMap<&str, (usize, usize, &str)> = Default::default();
    for &dep in dependencies {
        for (position, (path, sha256)) in artifacts_of(dep).enumerate() {
            match by_name.get(path) {
                Some(&(other, _, seen)) if seen != sha256 => {
                    return Err(InputConflict {
                        name: path.to_owned(),
                        first: other,
                        second: dep,
                    });
                }
                Some(_) => {}
                None => {
                    by_name.insert(path, (dep, position, sha256));
                }
            }
        }
    }
    Ok(by_name
        .into_values()
        .map(|(dep, pos, _)| (dep, pos))
        .collect())
}

/// For each job, every job it depends on, directly or not, in index order.
pub fn transitive_dependencies(dependencies: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = dependencies.len();
    let mut out = vec![Vec::new(); n];
    let mut seen = vec![usize::MAX; n];
    for job in 0..n {
        let mut stack = dependencies[job].clone();
        while let Some(dep) = stack.pop() {
            if seen[dep] != job {
                seen[dep] = job;
                out[job].push(dep);
                stack.extend_from_slice(&dependencies[dep]);
            }
        }
        out[job].sort_unstable();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_by_name_and_conflicts() {
        let artifacts: Vec<Vec<(&str, &str)>> = vec![
            vec![("a.pkg", "11"), ("common", "cc")],
            vec![("b.pkg", "22"), ("common", "cc")],
            vec![("common", "dd")],
        ];
        let of = |d: usize| artifacts[d].iter().copied();
        type Case<'a> = (&'a [usize], Result<Vec<(usize, usize)>, InputConflict>);
        let cases: &[Case] = &[
            (&[], Ok(vec![])),
            // The same file from two dependencies is taken once, from the first.
            (&[0, 1], Ok(vec![(0, 0), (1, 0), (0, 1)])),
            (
                &[0, 2],
                Err(InputConflict {
                    name: "common".into(),
                    first: 0,
                    second: 2,
                }),
            ),
        ];
        for (deps, expected) in cases {
            assert_eq!(&select_inputs(deps, of), expected, "{deps:?}");
        }
    }

    #[test]
    fn transitive_closure() {
        let deps = vec![vec![], vec![0], vec![1], vec![0, 2]];
        assert_eq!(
            transitive_dependencies(&deps),
            vec![vec![], vec![0], vec![0, 1], vec![0, 1, 2]]
        );
    }
}
