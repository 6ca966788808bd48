#!/usr/bin/env bash
# kiln's main job on a fresh machine: build kiln, make the example image when
# it is absent, set up the embedded database, build the example package tree
# in the local Docker engine, and print the submit's jobs.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked
kiln=target/release/kiln

scripts/make-test-image.sh kiln-busybox:latest
"$kiln" --repo examples db setup
"$kiln" --repo examples submit world -I busybox
