ALTER TABLE jobs DROP COLUMN build_reason;
DROP INDEX jobs_reusable;
CREATE INDEX jobs_build_key ON jobs (build_key) WHERE status = 'succeeded';
