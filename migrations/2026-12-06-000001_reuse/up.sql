-- Reuse looks up the newest succeeded jobs of each build key of a tree
-- (`Job::reuse_candidates`): ordered by id within a key, so that it reads
-- only the few it takes, however many jobs share the key.
DROP INDEX jobs_build_key;
CREATE INDEX jobs_reusable ON jobs (build_key, id DESC) WHERE status = 'succeeded';

-- Why kiln built a job rather than reuse an earlier one (`kiln explain`).
ALTER TABLE jobs ADD COLUMN build_reason TEXT;
