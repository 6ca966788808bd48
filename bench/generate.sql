-- Fills an empty kiln database (after `kiln db setup`) with a synthetic
-- history, for bench/db.sh. psql variables:
--   submits    number of submits (10 jobs each, 2 artifacts per job)
--   big_log_chunks  chunks of the one big log (64 KiB raw each)
-- and a table bench_chunk(kind, raw_bytes, line_count, data) holding one
-- zstd chunk of each kind ('small': ~1 KiB of log lines, 'big': 64 KiB).
\set ON_ERROR_STOP on
SET synchronous_commit = off;

INSERT INTO packages (name, version)
SELECT 'pkg' || (n / 5), '1.' || (n % 5) FROM generate_series(0, 9999) AS n;

INSERT INTO images (name) VALUES
    ('debian:bookworm'), ('debian:bullseye'), ('ubuntu:24.04'), ('alpine:3'), ('fedora:41');
INSERT INTO image_digests (image_id, digest, first_seen, last_seen)
SELECT i, 'sha256:' || md5(i::text || '-' || d) || md5(d::text), now() - (d || ' days')::interval, now()
  FROM generate_series(1, 5) AS i, generate_series(1, 20) AS d;

INSERT INTO endpoints (name, uri, engine_version, api_version, last_checked_at, last_seen_at, healthy)
SELECT 'build-' || n, 'http://10.0.0.' || n || ':2375', '20.10.24', '1.41', now(), now(), n <> 4
  FROM generate_series(1, 4) AS n;

INSERT INTO env_vars (name, value)
SELECT 'VAR' || (n % 20), 'value-' || n FROM generate_series(1, 200) AS n;

INSERT INTO git_hashes (hash)
SELECT md5('commit' || n) || substr(md5('x' || n), 1, 8) FROM generate_series(1, 20000) AS n;

INSERT INTO release_stores (name) VALUES ('default'), ('stable');

-- Submits: one every 10 minutes up to now; ids follow time.
INSERT INTO submits (uuid, started_at, ended_at, status, requested_package_id, requested_image_id,
                     repo_hash_id, repo_dirty, repo_diff_sha256, submitter_user, submitter_host,
                     kiln_version, tree, plan, alive_until)
SELECT md5('submit' || s)::uuid,
       now() - ((:submits - s + 1) * interval '10 minutes'),
       CASE WHEN s = :submits THEN NULL
            ELSE now() - ((:submits - s + 1) * interval '10 minutes') + interval '9 minutes' END,
       CASE WHEN s = :submits THEN 'running' WHEN s % 10 = 0 THEN 'failed' ELSE 'succeeded' END,
       ((s::bigint * 79190) % 10000)::int + 1,
       (s % 5) + 1,
       ((s * 31) % 20000) + 1,
       s % 7 = 0,
       CASE WHEN s % 7 = 0 THEN md5('d' || s) || md5('e' || s) END,
       'user' || (s % 30), 'host' || (s % 12), '0.1.0',
       '{"tree": {}}', '{"plan": []}',
       -- The running one's kiln holds a current lease: listings leave it running.
       CASE WHEN s = :submits THEN now() + interval '1 day' END
  FROM generate_series(1, :submits) AS s;

-- Jobs: 10 per submit, queued when the submit started.
INSERT INTO jobs (uuid, submit_id, package_id, image_id, image_digest, endpoint_id, container_id, status,
                  queued_at, started_at, finished_at, exit_status, failed_phase, error_message,
                  script, build_key, build_key_inputs, log_bytes)
SELECT md5('job' || j)::uuid,
       s.id,
       ((j::bigint * 7919) % 10000)::int + 1,
       s.requested_image_id,
       'sha256:' || md5(s.requested_image_id::text || '-1') || md5('1'),
       (j % 4) + 1,
       md5('container' || j),
       st.status,
       s.started_at + (j % 10) * interval '1 second',
       CASE WHEN st.status = 'dep_failed' THEN NULL ELSE s.started_at + (j % 10) * interval '1 second' + interval '5 seconds' END,
       CASE WHEN st.status IN ('running') OR st.status = 'dep_failed' THEN NULL
            ELSE s.started_at + (j % 10) * interval '1 second' + interval '5 seconds' + ((j::bigint * 37) % 500 + 10) * interval '1 second' END,
       CASE WHEN st.status = 'succeeded' THEN 0 WHEN st.status = 'failed' THEN 2 END,
       CASE WHEN st.status = 'failed' THEN 'build' END,
       CASE WHEN st.status = 'failed' THEN 'make: *** [all] Error 2' END,
       E'#!/bin/bash\nset -e\n./configure --prefix=/usr\nmake -j4\nmake install DESTDIR=/outputs\n',
       md5('key' || j) || md5('key2' || j),
       '{"inputs": []}',
       1024
  FROM generate_series(1, :submits * 10) AS j
  JOIN submits s ON s.id = (j - 1) / 10 + 1
  CROSS JOIN LATERAL (SELECT CASE
       WHEN s.status = 'running' THEN 'running'
       WHEN j % 20 = 0 THEN 'failed'
       WHEN j % 97 = 0 THEN 'timed_out'
       WHEN j % 89 = 0 THEN 'dep_failed'
       ELSE 'succeeded' END AS status) AS st;

-- Two variables per job.
INSERT INTO job_envs (job_id, env_id)
SELECT j, (j % 100) + 1 FROM generate_series(1, :submits * 10) AS j;
INSERT INTO job_envs (job_id, env_id)
SELECT j, 101 + (j % 97) FROM generate_series(1, :submits * 10) AS j;
INSERT INTO submit_envs (submit_id, env_id)
SELECT s, (s % 100) + 1 FROM generate_series(1, :submits) AS s;

-- Two artifacts per job.
INSERT INTO artifacts (job_id, path, size, sha256, created_at)
SELECT (a + 1) / 2,
       'pkg-' || ((a + 1) / 2) || CASE WHEN a % 2 = 0 THEN '-dev' ELSE '' END || '.tar.gz',
       (a::bigint * 7919) % 100000000,
       md5('a' || a) || md5('b' || a),
       now()
  FROM generate_series(1, :submits * 20) AS a;

-- Each job's second artifact is an input of the next job of its submit.
INSERT INTO job_input_artifacts (job_id, artifact_id)
SELECT j + 1, 2 * j FROM generate_series(1, :submits * 10 - 1) AS j WHERE j % 10 <> 0;

-- 1% of artifacts released.
INSERT INTO releases (artifact_id, release_store_id, released_at, released_by,
                      package_id, path, released_host)
SELECT a.id, (a.id / 100) % 2 + 1, j.queued_at + interval '1 hour', 'user' || (a.id % 30),
       j.package_id, a.path, 'host' || (a.id % 3)
  FROM artifacts a JOIN jobs j ON j.id = a.job_id
 WHERE a.id % 100 = 0;

-- Logs: one small chunk per job, and one big log.
INSERT INTO log_chunks (job_id, seq, written_at, first_line, line_count, raw_bytes, data)
SELECT j.id, 0, j.queued_at, 0, c.line_count, c.raw_bytes, c.data
  FROM jobs j CROSS JOIN bench_chunk c
 WHERE c.kind = 'small';

INSERT INTO submits (uuid, started_at, ended_at, status, requested_package_id, requested_image_id,
                     repo_hash_id, repo_dirty, submitter_user, submitter_host, kiln_version, tree, plan)
VALUES ('b16b16b1-0000-4000-8000-000000000000', now() - interval '1 year', now() - interval '1 year' + interval '1 hour',
        'succeeded', 1, 1, 1, false, 'bench', 'bench', '0.1.0', '{}', '{}');
INSERT INTO jobs (uuid, submit_id, package_id, image_id, endpoint_id, status, queued_at, started_at, finished_at,
                  exit_status, script, build_key, build_key_inputs, log_bytes)
SELECT 'b16b16b1-0000-4000-8000-000000000001', s.id, 1, 1, 1, 'succeeded', s.started_at, s.started_at,
       s.started_at + interval '1 hour', 0, 'echo big', md5('big') || md5('log'), '{}',
       (:big_log_chunks)::bigint * (SELECT raw_bytes FROM bench_chunk WHERE kind = 'big')
  FROM submits s WHERE s.uuid = 'b16b16b1-0000-4000-8000-000000000000';
INSERT INTO log_chunks (job_id, seq, written_at, first_line, line_count, raw_bytes, data)
SELECT j.id, n, j.started_at, n::bigint * c.line_count, c.line_count, c.raw_bytes, c.data
  FROM jobs j CROSS JOIN bench_chunk c CROSS JOIN generate_series(0, :big_log_chunks - 1) AS n
 WHERE j.uuid = 'b16b16b1-0000-4000-8000-000000000001' AND c.kind = 'big';

DROP TABLE bench_chunk;
VACUUM ANALYZE;
