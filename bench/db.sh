#!/usr/bin/env bash
# Benchmark of the `kiln db` listings on a large history.
#
# Fills two databases through SQL (bench/generate.sql):
#   kiln_bench_small:  10,000 submits, 100,000 jobs,   200,000 artifacts
#   kiln_bench:       100,000 submits, 1,000,000 jobs, 2,000,000 artifacts,
#                     10,000 packages, ~1 GiB of raw log (one ~1 KiB zstd chunk
#                     per job) plus one job with a 100 MiB log
# then times every listing (default limit 50, and with each filter), `db job`,
# `db submit`, and `db log-of` of the 100 MiB log, with a release build.
#
# Query time is the sum of the execution times that auto_explain (ANALYZE)
# logs for the process's statements (the lowest of several runs); the plans are checked for sequential
# scans of the big tables and for sorts over many rows. Process time is the
# median wall time of several runs (the lowest is shown beside it; the
# machine's load average is printed, since other work inflates these). Targets: listing and `db job` under
# 20 ms of query time and 60 ms of process time; `db log-of` at >= 100 MB/s
# in constant memory; the same listing on 100,000 and 1,000,000 jobs within
# 1.5x (query time; differences under 1 ms count as equal).
#
# Environment: KILN_BENCH_ADMIN_URL (default: the local server's socket),
# KILN_BENCH_PG_LOG (the server log auto_explain writes to), KILN_BENCH_RUNS
# (timed runs per case, default 7), KILN_BENCH_QUERY_RUNS (runs with
# auto_explain per case, default 5; the lowest counts), KILN_BENCH_REGENERATE=1 to rebuild the data,
# KILN_BENCH_SKIP_BUILD=1 to use the existing release binary.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
ADMIN_URL=${KILN_BENCH_ADMIN_URL:-postgres:///postgres?host=/var/run/postgresql}
PG_LOG=${KILN_BENCH_PG_LOG:-/var/log/postgresql/postgresql-15-main.log}
RUNS=${KILN_BENCH_RUNS:-7}
QUERY_RUNS=${KILN_BENCH_QUERY_RUNS:-5}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
KILN=$TARGET_DIR/release/kiln
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export NO_COLOR=1 COLUMNS=160 XDG_CONFIG_HOME=$WORK/config XDG_DATA_HOME=$WORK/data

if [[ -z ${KILN_BENCH_SKIP_BUILD:-} ]]; then
    cargo build --release --bin kiln
fi

db_url() { # NAME -> URL of that database on the admin server
    printf '%s\n' "$ADMIN_URL" | sed -E "s#^([a-z]+://[^/?]*)(/[^?]*)?#\\1/$1#"
}

sql() { # DB SQL...
    local db=$1; shift
    # kiln's tables are in its schema (`database_schema`, default `kiln`).
    PGOPTIONS="-c search_path=kiln,public" psql "$(db_url "$db")" -v ON_ERROR_STOP=1 -Atq "$@"
}

make_chunk() { # KIND RAW_BYTES -> an INSERT of one stored log chunk into bench_chunk
    # The chunk is in kiln's stored format (src/log/chunk.rs): zstd of a
    # version byte, then per line a source tag, a little-endian u32 length
    # and the line's bytes.
    local kind=$1 size=$2
    python3 - "$size" "$WORK/raw" "$WORK/meta" <<'PY'
import random, struct, sys
random.seed(7)
size, payload_path, meta_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
payload, raw, n = [b"\x01"], 0, 0
while raw < size:
    n += 1
    line = ("2026-11-22T03:%02d:%02dZ [build] cc -O2 -c src/%08x.c -o obj/%08x.o # %d"
            % (n // 60 % 60, n % 60, random.getrandbits(32), random.getrandbits(32), n)).encode()
    payload.append(b"\x00" + struct.pack("<I", len(line)) + line)
    raw += len(line) + 1
open(payload_path, "wb").write(b"".join(payload))
open(meta_path, "w").write("%d %d\n" % (raw, n))
PY
    local raw lines
    read -r raw lines <"$WORK/meta"
    zstd -q -3 -c "$WORK/raw" >"$WORK/raw.zst"
    printf "INSERT INTO bench_chunk VALUES ('%s', %s, %s, decode('%s', 'hex'));\n" \
        "$kind" "$raw" "$lines" "$(xxd -p "$WORK/raw.zst" | tr -d '\n')"
}

prepare() { # DB SUBMITS BIG_LOG_CHUNKS
    local db=$1 submits=$2 chunks=$3
    local have
    have=$(psql "$ADMIN_URL" -Atc "SELECT 1 FROM pg_database WHERE datname = '$db'")
    if [[ -n $have && -z ${KILN_BENCH_REGENERATE:-} ]] \
        && [[ $(sql "$db" -c "SELECT count(*) FROM submits" 2>/dev/null || true) == $((submits + 1)) ]]; then
        echo "== $db: reusing the existing data"
        "$KILN" --database-url "$(db_url "$db")" db setup >/dev/null
        return
    fi
    echo "== $db: generating $submits submits, $((submits * 10)) jobs, $((submits * 20)) artifacts"
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    "$KILN" --database-url "$(db_url "$db")" db setup >/dev/null
    {
        echo "CREATE TABLE bench_chunk (kind TEXT, raw_bytes INTEGER, line_count INTEGER, data BYTEA);"
        make_chunk small 1024
        make_chunk big 65536
    } >"$WORK/chunks.sql"
    sql "$db" -f "$WORK/chunks.sql"
    local start=$SECONDS
    sql "$db" -v submits="$submits" -v big_log_chunks="$chunks" -f bench/generate.sql
    echo "   generated in $((SECONDS - start)) s; sizes:"
    sql "$db" -c "SELECT '   ' || relname || ': ' || pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class
                  WHERE relname IN ('jobs', 'artifacts', 'log_chunks', 'job_envs', 'submits') ORDER BY relname"
    sql "$db" -c "SELECT '   raw log bytes: ' || pg_size_pretty(sum(raw_bytes)::bigint) || ', stored: '
                  || pg_size_pretty(sum(length(data))::bigint) FROM log_chunks"
}

now_ns() { date +%s%N; }

# Prints: <query_ms> <statements> <problems> <notes> <rows> for QUERY_RUNS
# runs with auto_explain (the lowest query time, the least disturbed by other
# work on the machine; JSON output, to count rows).
query_time() { # DB ARGS...
    local db=$1; shift
    local offset rows results=()
    for _ in $(seq "$QUERY_RUNS"); do
        offset=$(stat -c %s "$PG_LOG")
        rows=$(PGOPTIONS="-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 -c auto_explain.log_analyze=on -c auto_explain.log_format=json -c auto_explain.log_nested_statements=on" \
            "$KILN" --database-url "$(db_url "$db")" "$@" --output json 2>/dev/null \
            | python3 -c 'import json, sys; v = json.load(sys.stdin); print(len(v) if isinstance(v, list) else 1)')
        sleep 0.1
        results+=("$(python3 bench/plans.py "$PG_LOG" "$offset" "$db") $rows")
    done
    printf '%s\n' "${results[@]}" | sort -n -k1,1 | head -n 1
}

# Prints the median and the lowest wall time in ms of RUNS runs.
process_time() { # DB ARGS...
    local db=$1; shift
    local url times=()
    url=$(db_url "$db")
    "$KILN" --database-url "$url" "$@" >/dev/null 2>&1 # warm the cache
    for _ in $(seq "$RUNS"); do
        local t0 t1
        t0=$(now_ns)
        "$KILN" --database-url "$url" "$@" >/dev/null 2>&1
        t1=$(now_ns)
        times+=($(((t1 - t0) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f\n", a[int((NR+1)/2)]/1000, a[1]/1000}'
}

FAILURES=0
declare -A QUERY_MS ROWS

case_line() { # DB LABEL ARGS...
    local db=$1 label=$2; shift 2
    local q n problems notes rows p best verdict=ok
    read -r q n problems notes rows < <(query_time "$db" "$@")
    read -r p best < <(process_time "$db" "$@")
    QUERY_MS["$db|$label"]=$q
    ROWS["$db|$label"]=$rows
    if awk -v q="$q" -v p="$p" 'BEGIN { exit !(q >= 20 || p >= 60) }'; then verdict=SLOW; fi
    if [[ $problems != - ]]; then verdict="$verdict PLAN"; fi
    if [[ $verdict != ok ]]; then FAILURES=$((FAILURES + 1)); fi
    [[ $notes == - ]] && notes=
    printf '%-52s %5s %8s %5s %8s %6s  %-6s %s %s\n' "$label" "$rows" "$q" "$n" "$p" "$best" "$verdict" "$problems" "$notes"
}

run_cases() { # DB
    local db=$1
    local submit job commit sha
    submit=$(sql "$db" -c "SELECT substr(uuid::text, 1, 8) FROM submits WHERE id = (SELECT max(id) / 2 FROM submits)")
    job=$(sql "$db" -c "SELECT substr(uuid::text, 1, 8) FROM jobs WHERE id = (SELECT max(id) / 2 FROM jobs)")
    commit=$(sql "$db" -c "SELECT substr(hash, 1, 10) FROM git_hashes WHERE id = (SELECT repo_hash_id FROM submits WHERE id = 5000)")
    sha=$(sql "$db" -c "SELECT substr(sha256, 1, 10) FROM artifacts WHERE id = 7777")
    echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
    printf '%-52s %5s %8s %5s %8s %6s  %s\n' "case ($db)" "rows" "query ms" "stmts" "proc ms" "best" "verdict"
    local l=(--limit 50)
    case_line "$db" "submits" db submits "${l[@]}"
    case_line "$db" "submits --package pkg120" db submits "${l[@]}" --package pkg120
    case_line "$db" "submits --package pkg120@1.0" db submits "${l[@]}" --package pkg120@1.0
    case_line "$db" "submits --with-package pkg123" db submits "${l[@]}" --with-package pkg123
    case_line "$db" "submits --image alpine:3" db submits "${l[@]}" --image alpine:3
    case_line "$db" "submits --commit PREFIX" db submits "${l[@]}" --commit "$commit"
    case_line "$db" "submits --status failed" db submits "${l[@]}" --status failed
    case_line "$db" "submits --status running (one row)" db submits "${l[@]}" --status running
    case_line "$db" "submits --older-than '30 days'" db submits "${l[@]}" --older-than "30 days"
    case_line "$db" "submits --newer-than 2h" db submits "${l[@]}" --newer-than 2h
    case_line "$db" "jobs" db jobs "${l[@]}"
    case_line "$db" "jobs --submit PREFIX" db jobs "${l[@]}" --submit "$submit"
    case_line "$db" "jobs --package pkg123" db jobs "${l[@]}" --package pkg123
    case_line "$db" "jobs --package pkg123@1.3" db jobs "${l[@]}" --package pkg123@1.3
    case_line "$db" "jobs --image alpine:3" db jobs "${l[@]}" --image alpine:3
    case_line "$db" "jobs --endpoint build-2" db jobs "${l[@]}" --endpoint build-2
    case_line "$db" "jobs --status failed" db jobs "${l[@]}" --status failed
    case_line "$db" "jobs --status timed_out" db jobs "${l[@]}" --status timed_out
    case_line "$db" "jobs --env VAR4=value-4" db jobs "${l[@]}" --env VAR4=value-4
    case_line "$db" "jobs --env VAR4=value-4 --env VAR4=value-104" db jobs "${l[@]}" --env VAR4=value-4 --env VAR4=value-104
    case_line "$db" "jobs --env VAR19=value-199 (no job)" db jobs "${l[@]}" --env VAR19=value-199
    case_line "$db" "jobs --older-than '30 days'" db jobs "${l[@]}" --older-than "30 days"
    case_line "$db" "jobs --newer-than 1h" db jobs "${l[@]}" --newer-than 1h
    case_line "$db" "artifacts" db artifacts "${l[@]}"
    case_line "$db" "artifacts --job PREFIX" db artifacts "${l[@]}" --job "$job"
    case_line "$db" "artifacts --submit PREFIX" db artifacts "${l[@]}" --submit "$submit"
    case_line "$db" "artifacts --package pkg123" db artifacts "${l[@]}" --package pkg123
    case_line "$db" "artifacts --released" db artifacts "${l[@]}" --released
    case_line "$db" "artifacts --unreleased" db artifacts "${l[@]}" --unreleased
    case_line "$db" "artifacts --sha256 PREFIX" db artifacts "${l[@]}" --sha256 "$sha"
    case_line "$db" "releases" db releases "${l[@]}"
    case_line "$db" "releases --store stable" db releases "${l[@]}" --store stable
    case_line "$db" "releases --package pkg123" db releases "${l[@]}" --package pkg123
    case_line "$db" "releases --older-than '30 days'" db releases "${l[@]}" --older-than "30 days"
    case_line "$db" "envvars" db envvars "${l[@]}"
    case_line "$db" "images" db images "${l[@]}"
    case_line "$db" "endpoints" db endpoints "${l[@]}"
    case_line "$db" "packages" db packages "${l[@]}"
    case_line "$db" "packages --name pkg123" db packages "${l[@]}" --name pkg123
    case_line "$db" "submit PREFIX" db submit "$submit"
    case_line "$db" "job PREFIX" db job "$job"
    case_line "$db" "job PREFIX --script --env" db job "$job" --script --env
    printf '%-52s %5s %8s\n' "stats --since '30 days' (no target)" "" "$(query_time "$db" db stats | cut -d' ' -f1)"
}

prepare kiln_bench_small 10000 160
prepare kiln_bench 100000 1600

echo
run_cases kiln_bench_small
echo
run_cases kiln_bench

echo
echo "== scaling: query time on 100,000 jobs and on 1,000,000 jobs (target: <= 1.5x, or under 1 ms"
echo "   apart; compared only where both return the same number of rows)"
for key in "${!QUERY_MS[@]}"; do
    [[ $key == kiln_bench\|* ]] || continue
    label=${key#kiln_bench|}
    big=${QUERY_MS[$key]}
    small=${QUERY_MS["kiln_bench_small|$label"]:-}
    [[ -n $small ]] || continue
    if [[ ${ROWS[$key]} != "${ROWS["kiln_bench_small|$label"]}" ]]; then
        verdict="n/a: ${ROWS["kiln_bench_small|$label"]} vs ${ROWS[$key]} rows"
    else
        verdict=$(awk -v b="$big" -v s="$small" 'BEGIN { r = (s > 0 ? b / s : 1); printf "%s %.2fx", ((b - s < 1 || r <= 1.5) ? "ok" : "GROWS"), r }')
    fi
    printf '%-52s %8s %8s  %s\n' "$label" "$small" "$big" "$verdict"
done | sort >"$WORK/scaling"
cat "$WORK/scaling"
FAILURES=$((FAILURES + $(grep -c GROWS "$WORK/scaling" || true)))

echo
echo "== db log-of of the 100 MiB log"
big_job=b16b16b1-0000-4000-8000-000000000001
raw=$(sql kiln_bench -c "SELECT sum(raw_bytes) FROM log_chunks WHERE job_id = (SELECT id FROM jobs WHERE uuid = '$big_job')")
"$KILN" --database-url "$(db_url kiln_bench)" db log-of "$big_job" >/dev/null # warm the cache
/usr/bin/time -v "$KILN" --database-url "$(db_url kiln_bench)" db log-of "$big_job" 2>"$WORK/time" >"$WORK/log"
written=$(stat -c %s "$WORK/log")
rm -f "$WORK/log"
elapsed=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$WORK/time")
rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time")
rate=$(awk -v b="$written" -v s="$elapsed" 'BEGIN { printf "%.0f", b / 1e6 / s }')
echo "   $written bytes written (stored raw: $raw) in $elapsed s: $rate MB/s, peak RSS $((rss / 1024)) MiB"
if [[ $written != "$raw" ]]; then echo "   WRONG SIZE"; FAILURES=$((FAILURES + 1)); fi
if ((rate < 100)); then echo "   SLOW (target >= 100 MB/s)"; FAILURES=$((FAILURES + 1)); fi
if ((rss > 64 * 1024)); then echo "   MEMORY (target: constant, well under the log's size)"; FAILURES=$((FAILURES + 1)); fi

echo
echo "$FAILURES case(s) missed a target"
