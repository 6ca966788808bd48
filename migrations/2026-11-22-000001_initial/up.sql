-- kiln's initial schema: every entity of spec/records.md.
-- Conventions: surrogate integer keys for joins, UUIDs for what users see,
-- timestamptz everywhere (stored in UTC), lookup rows unique so that
-- concurrent submits can `INSERT ... ON CONFLICT DO NOTHING` them.

CREATE TABLE git_hashes (
    id   SERIAL PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{40}([0-9a-f]{24})?$')
);
CREATE INDEX git_hashes_hash_prefix ON git_hashes (hash text_pattern_ops);

CREATE TABLE packages (
    id      SERIAL PRIMARY KEY,
    name    TEXT NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._+-]*$'),
    version TEXT NOT NULL CHECK (version <> ''),
    UNIQUE (name, version)
);

CREATE TABLE images (
    id   SERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name <> '')
);

CREATE TABLE image_digests (
    id         SERIAL PRIMARY KEY,
    image_id   INTEGER NOT NULL REFERENCES images (id),
    digest     TEXT NOT NULL CHECK (digest <> ''),
    first_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (image_id, digest)
);

CREATE TABLE endpoints (
    id              SERIAL PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE CHECK (name <> ''),
    uri             TEXT NOT NULL,
    engine_version  TEXT,
    api_version     TEXT,
    last_checked_at TIMESTAMPTZ,
    last_seen_at    TIMESTAMPTZ,
    healthy         BOOLEAN,
    last_error      TEXT
);

CREATE TABLE env_vars (
    id    SERIAL PRIMARY KEY,
    name  TEXT NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]*$'),
    value TEXT NOT NULL,
    UNIQUE (name, value)
);

CREATE TABLE submits (
    id                   SERIAL PRIMARY KEY,
    uuid                 UUID NOT NULL UNIQUE,
    started_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at             TIMESTAMPTZ,
    status               TEXT NOT NULL DEFAULT 'running'
                         CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled', 'lost')),
    requested_package_id INTEGER NOT NULL REFERENCES packages (id),
    requested_image_id   INTEGER NOT NULL REFERENCES images (id),
    repo_hash_id         INTEGER NOT NULL REFERENCES git_hashes (id),
    repo_dirty           BOOLEAN NOT NULL,
    repo_diff_sha256     TEXT CHECK (repo_diff_sha256 ~ '^[0-9a-f]{64}$'),
    submitter_user       TEXT NOT NULL,
    submitter_host       TEXT NOT NULL,
    kiln_version         TEXT NOT NULL,
    tree                 JSONB NOT NULL,
    plan                 JSONB NOT NULL,
    CHECK (repo_dirty = (repo_diff_sha256 IS NOT NULL)),
    CHECK ((status = 'running') = (ended_at IS NULL)),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX submits_started_at ON submits (started_at DESC, id DESC);
CREATE INDEX submits_requested_package ON submits (requested_package_id, id DESC);
CREATE INDEX submits_requested_image ON submits (requested_image_id, id DESC);
CREATE INDEX submits_repo_hash ON submits (repo_hash_id, id DESC);
CREATE INDEX submits_status ON submits (status, id DESC);
CREATE INDEX submits_uuid_prefix ON submits ((uuid::text) text_pattern_ops);

CREATE TABLE submit_envs (
    submit_id INTEGER NOT NULL REFERENCES submits (id) ON DELETE CASCADE,
    env_id    INTEGER NOT NULL REFERENCES env_vars (id),
    PRIMARY KEY (submit_id, env_id)
);
CREATE INDEX submit_envs_env ON submit_envs (env_id, submit_id);

CREATE TABLE jobs (
    id                 SERIAL PRIMARY KEY,
    uuid               UUID NOT NULL UNIQUE,
    submit_id          INTEGER NOT NULL REFERENCES submits (id) ON DELETE CASCADE,
    package_id         INTEGER NOT NULL REFERENCES packages (id),
    image_id           INTEGER NOT NULL REFERENCES images (id),
    image_digest       TEXT,
    endpoint_id        INTEGER REFERENCES endpoints (id),
    container_id       TEXT,
    status             TEXT NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'timed_out',
                                         'cancelled', 'lost', 'reused', 'dep_failed')),
    queued_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at         TIMESTAMPTZ,
    finished_at        TIMESTAMPTZ,
    exit_status        INTEGER,
    failed_phase       TEXT,
    error_message      TEXT,
    script             TEXT NOT NULL,
    build_key          TEXT NOT NULL CHECK (build_key ~ '^[0-9a-f]{64}$'),
    build_key_inputs   JSONB NOT NULL,
    reused_job_id      INTEGER REFERENCES jobs (id),
    log_bytes          BIGINT NOT NULL DEFAULT 0 CHECK (log_bytes >= 0),
    log_truncated      BOOLEAN NOT NULL DEFAULT false,
    CHECK ((status = 'reused') = (reused_job_id IS NOT NULL)),
    CHECK (started_at IS NULL OR started_at >= queued_at),
    CHECK (finished_at IS NULL OR finished_at >= COALESCE(started_at, queued_at)),
    CHECK (status NOT IN ('queued', 'running') OR finished_at IS NULL)
);
CREATE INDEX jobs_queued_at ON jobs (queued_at DESC, id DESC);
CREATE INDEX jobs_submit ON jobs (submit_id, id);
CREATE INDEX jobs_package ON jobs (package_id, id DESC);
CREATE INDEX jobs_image ON jobs (image_id, id DESC);
CREATE INDEX jobs_endpoint ON jobs (endpoint_id, id DESC);
CREATE INDEX jobs_status ON jobs (status, id DESC);
CREATE INDEX jobs_build_key ON jobs (build_key) WHERE status = 'succeeded';
CREATE INDEX jobs_reused_job ON jobs (reused_job_id) WHERE reused_job_id IS NOT NULL;
CREATE INDEX jobs_uuid_prefix ON jobs ((uuid::text) text_pattern_ops);
CREATE INDEX jobs_active ON jobs (endpoint_id) WHERE status = 'running';

-- The edges of the build plan inside one submit: `job_id` waits for `dependency_job_id`.
CREATE TABLE job_dependencies (
    job_id            INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    dependency_job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind              TEXT NOT NULL CHECK (kind IN ('build', 'runtime')),
    PRIMARY KEY (job_id, dependency_job_id),
    CHECK (job_id <> dependency_job_id)
);
CREATE INDEX job_dependencies_dependency ON job_dependencies (dependency_job_id);

CREATE TABLE job_envs (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    env_id INTEGER NOT NULL REFERENCES env_vars (id),
    PRIMARY KEY (job_id, env_id)
);
CREATE INDEX job_envs_env ON job_envs (env_id, job_id);

CREATE TABLE artifacts (
    id         SERIAL PRIMARY KEY,
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    path       TEXT NOT NULL CHECK (path <> '' AND path !~ '^/' AND path !~ '(^|/)\.\.(/|$)'),
    size       BIGINT NOT NULL CHECK (size >= 0),
    sha256     TEXT NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (job_id, path)
);
CREATE INDEX artifacts_sha256_prefix ON artifacts (sha256 text_pattern_ops);

CREATE TABLE job_input_artifacts (
    job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    artifact_id INTEGER NOT NULL REFERENCES artifacts (id),
    PRIMARY KEY (job_id, artifact_id)
);
CREATE INDEX job_input_artifacts_artifact ON job_input_artifacts (artifact_id);

CREATE TABLE release_stores (
    id   SERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name <> '')
);

CREATE TABLE releases (
    id               SERIAL PRIMARY KEY,
    artifact_id      INTEGER NOT NULL REFERENCES artifacts (id),
    release_store_id INTEGER NOT NULL REFERENCES release_stores (id),
    released_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    released_by      TEXT NOT NULL,
    UNIQUE (artifact_id, release_store_id)
);
CREATE INDEX releases_store ON releases (release_store_id, released_at DESC);
CREATE INDEX releases_released_at ON releases (released_at DESC, id DESC);

-- A job's log, written while it runs: zstd-compressed chunks of whole lines.
CREATE TABLE log_chunks (
    job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL CHECK (seq >= 0),
    written_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    first_line  BIGINT NOT NULL CHECK (first_line >= 0),
    line_count  INTEGER NOT NULL CHECK (line_count >= 0),
    raw_bytes   INTEGER NOT NULL CHECK (raw_bytes >= 0),
    data        BYTEA NOT NULL,
    PRIMARY KEY (job_id, seq)
);
