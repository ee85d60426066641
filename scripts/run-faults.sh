#!/usr/bin/env bash
# Runs every fault script of build/test/faults in sequence (each prints its figures as one JSON line);
# fails when any of them exits non-zero. Build first: npm run build.
set -u
status=0
shopt -s nullglob
files=(build/test/faults/*.js)
if [ ${#files[@]} -eq 0 ]; then
  echo "no fault scripts in build/test/faults: run npm run build" >&2
  exit 1
fi
for f in "${files[@]}"; do
  echo "== $f" >&2
  if ! node "$f"; then
    echo "FAILED: $f" >&2
    status=1
  fi
done
exit $status
