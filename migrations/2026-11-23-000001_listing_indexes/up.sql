-- Indexes for the `kiln db` listings (docs/db-queries.md).

-- `db submits --with-package`: the submits that built a package, newest
-- first, walked as distinct submit ids without reading all its jobs.
CREATE INDEX jobs_package_submit ON jobs (package_id, submit_id DESC);
