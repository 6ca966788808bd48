-- `kiln db lineage`.

-- An artifact named by its path (`db lineage PATH`): the paths of every
-- build of a package repeat, so the lookup reads only those with that path.
CREATE INDEX artifacts_path ON artifacts (path);

-- `db lineage --package`: the succeeded and reused jobs of a package (and
-- their submits, for `--commit`), read from the index alone, without
-- visiting the rows of jobs of other statuses.
CREATE INDEX jobs_package_done ON jobs (package_id, id) INCLUDE (submit_id)
    WHERE status IN ('succeeded', 'reused');
