#!/usr/bin/env bash
# Runs every fault script in build/test/faults with node, one after the other; each prints one JSON
# line with its figures and exits non-zero when they show a loss. Fails if any of them failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
shopt -s nullglob
for f in build/test/faults/*.js; do
  echo "== ${f}"
  if ! node "$f"; then
    echo "FAILED: ${f}"
    status=1
  fi
done
exit "$status"
