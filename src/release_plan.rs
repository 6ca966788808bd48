//! What `kiln release new` does with each artifact of a submit, decided
//! from what is at its path in the store (on disk) and in the records. No
//! I/O.

use std::path::PathBuf;

use crate::db::models::ReleaseId;
use crate::db::releasing::{CurrentRelease, Releasable};
use crate::store::{AtPath, RelPath, Sha256Digest};

/// What a release does with one artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing is at its path: copy it there.
    Release,
    /// The same file is there and recorded: nothing to do.
    AlreadyReleased,
    /// The same file is there but not recorded as released: record it.
    RecordOnly,
    /// A different file is there: replace it (--update).
    Replace { existing: Sha256Digest },
    /// A different file is there, and --update was not given.
    Conflict { existing: Sha256Digest },
}

impl Action {
    /// Whether the file is copied into the store.
    pub fn copies(self) -> bool {
        matches!(self, Action::Release | Action::Replace { .. })
    }

    /// Whether a release is recorded.
    pub fn records(self) -> bool {
        matches!(
            self,
            Action::Release | Action::RecordOnly | Action::Replace { .. }
        )
    }
}

/// One artifact of a planned release.
#[derive(Debug)]
pub struct Planned<'a> {
    pub artifact: &'a Releasable,
    /// Its file in the submit's staging directory.
    pub staged: PathBuf,
    pub rel: RelPath,
    pub action: Action,
    /// The current release it ends, if any.
    pub replaces: Option<ReleaseId>,
}

/// What to do with `artifact`, given what is at its path in the store on
/// disk (`at`) and in the records (`recorded`, the current release there).
pub fn decide(
    artifact: &Releasable,
    at: AtPath,
    recorded: Option<&CurrentRelease>,
    update: bool,
) -> Action {
    match at {
        AtPath::Nothing => Action::Release,
        AtPath::File(sha) if sha.to_hex() == artifact.sha256 => match recorded {
            Some(r) if r.sha256 == artifact.sha256 => Action::AlreadyReleased,
            _ => Action::RecordOnly,
        },
        AtPath::File(existing) if update => Action::Replace { existing },
        AtPath::File(existing) => Action::Conflict { existing },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::models::{ArtifactId, PackageId};

    fn sha(byte: u8) -> Sha256Digest {
        Sha256Digest::from_bytes([byte; 32])
    }

    #[test]
    fn each_state_of_a_path_gives_its_action() {
        let artifact = Releasable {
            artifact_id: ArtifactId(1),
            package_id: PackageId(1),
            package: "a".into(),
            version: "1".into(),
            path: "a-1.pkg".into(),
            sha256: sha(1).to_hex(),
            size: 1,
        };
        let recorded = |s: u8| CurrentRelease {
            id: ReleaseId(9),
            artifact_id: ArtifactId(2),
            path: "a-1.pkg".into(),
            sha256: sha(s).to_hex(),
        };
        let same = recorded(1);
        let other = recorded(2);
        let cases = [
            (AtPath::Nothing, None, false, Action::Release),
            (AtPath::Nothing, Some(&other), false, Action::Release),
            (
                AtPath::File(sha(1)),
                Some(&same),
                false,
                Action::AlreadyReleased,
            ),
            (AtPath::File(sha(1)), None, false, Action::RecordOnly),
            (
                AtPath::File(sha(1)),
                Some(&other),
                false,
                Action::RecordOnly,
            ),
            (
                AtPath::File(sha(2)),
                Some(&other),
                false,
                Action::Conflict { existing: sha(2) },
            ),
            (
                AtPath::File(sha(2)),
                None,
                true,
                Action::Replace { existing: sha(2) },
            ),
        ];
        for (at, recorded, update, want) in cases {
            assert_eq!(
                decide(&artifact, at, recorded, update),
                want,
                "{at:?} {recorded:?}"
            );
        }
        assert!(Action::Release.copies() && Action::Release.records());
        assert!(!Action::AlreadyReleased.copies() && !Action::AlreadyReleased.records());
        assert!(!Action::RecordOnly.copies() && Action::RecordOnly.records());
        assert!(!Action::Conflict { existing: sha(2) }.records());
    }
}
