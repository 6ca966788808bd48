-- Each attempt at running a job: the endpoint and container it ran in,
-- when, and how it ended. A job whose engine failed under it is tried
-- again on another endpoint; each try is a row here. `outcome` is NULL
-- while the attempt runs.
CREATE TABLE job_attempts (
    id            SERIAL PRIMARY KEY,
    job_id        INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL CHECK (attempt >= 1),
    endpoint_id   INTEGER NOT NULL REFERENCES endpoints (id),
    container_id  TEXT,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    outcome       TEXT CHECK (outcome IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'engine_failed')),
    error_message TEXT,
    UNIQUE (job_id, attempt)
);
