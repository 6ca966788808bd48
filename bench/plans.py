"""Reads the auto_explain entries one kiln process left in the PostgreSQL
server log and sums their execution time; flags sequential scans of the big
tables and sorts over many rows. Used by bench/db.sh.

usage: plans.py LOGFILE OFFSET DBNAME PID_FILTER
prints: <query_ms> <statements> <problems or -> <notes or ->

Problems (targets missed): a sequential scan of jobs, artifacts or
log_chunks; a sort over many rows. Notes: sequential scans of other tables
(the planner's choice on small tables).
"""
import json
import re
import sys

BIG = {"jobs", "artifacts", "log_chunks"}
WATCHED = {"job_envs", "releases", "submits", "job_input_artifacts"}
SORT_LIMIT = 2000  # rows a sort may take before it counts as "over many rows"

def walk(node, problems, notes):
    kind = node.get("Node Type", "")
    rel = node.get("Relation Name")
    if kind == "Seq Scan" and rel in BIG:
        problems.append(f"SeqScan({rel})")
    elif kind == "Seq Scan" and rel in WATCHED:
        notes.append(f"SeqScan({rel}:{node.get('Actual Rows', 0)}rows)")
    if kind in ("Sort", "Incremental Sort"):
        rows = sum(c.get("Actual Rows", 0) * c.get("Actual Loops", 1) for c in node.get("Plans", []))
        if rows > SORT_LIMIT:
            problems.append(f"{kind}({rows} rows)")
    for child in node.get("Plans", []):
        walk(child, problems, notes)

def main():
    path, offset, db = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(path, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    total = 0.0
    count = 0
    problems = []
    notes = []
    # An entry: "<time> [pid] user@db LOG:  duration: X ms  plan:\n\t{json...}"
    pattern = re.compile(r"@" + re.escape(db) + r" LOG:  duration: ([0-9.]+) ms  plan:\n((?:\t.*\n?)+)")
    for m in pattern.finditer(text):
        total += float(m.group(1))
        count += 1
        body = "\n".join(line[1:] for line in m.group(2).splitlines())
        try:
            plan = json.loads(body)
        except ValueError:
            continue
        walk(plan.get("Plan", {}), problems, notes)
    print(f"{total:.2f} {count} {','.join(sorted(set(problems))) or '-'} {','.join(sorted(set(notes))) or '-'}")

main()
