#!/usr/bin/env bash
# Fuzzes the HTTP API from its own /openapi.json with Schemathesis (pip install schemathesis): starts
# build/test/support/fuzz-server.js on a loopback port and runs every check once per role (enterprise,
# processor, operator). Exits non-zero on any failure. Build first (npm run build:ts).
#   FUZZ_MAX_EXAMPLES  test cases per operation (default 30)
#   FUZZ_SEED          Schemathesis seed (default: random)
set -euo pipefail
cd "$(dirname "$0")/.."

st=$(command -v schemathesis || command -v st || true)
if [[ -z "$st" && -x "$HOME/.local/bin/schemathesis" ]]; then st="$HOME/.local/bin/schemathesis"; fi
if [[ -z "$st" ]]; then
  echo 'schemathesis is not installed: python3 -m pip install --user schemathesis' >&2
  exit 2
fi
if [[ ! -f build/test/support/fuzz-server.js ]]; then
  echo 'build/test/support/fuzz-server.js is missing: run npm run build:ts first' >&2
  exit 2
fi

work=$(mktemp -d)
node build/test/support/fuzz-server.js 0 >"$work/server.json" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  [[ -s "$work/server.json" ]] && break
  kill -0 "$server" 2>/dev/null || { echo 'the fuzz server did not start' >&2; exit 1; }
  sleep 0.1
done
field() { node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(process.argv[2].split(".").reduce((o, k) => o[k], s))' "$work/server.json" "$1"; }
url=$(field url)

common=(--checks all --max-examples "${FUZZ_MAX_EXAMPLES:-30}" --workers 2)
if [[ -n "${FUZZ_SEED:-}" ]]; then common+=(--seed "$FUZZ_SEED"); fi

status=0
run() {
  local role=$1
  shift
  echo "== $role" >&2
  "$st" --config-file test/fuzz/schemathesis.toml run "$url/openapi.json" -H "Authorization: Bearer $(field "tokens.$role")" "${common[@]}" "$@" || status=1
}
# Every operation as an enterprise (the other roles' routes answer the documented 403).
run enterprise
run processor --include-tag authorizations
run operator --include-tag operator --include-operation-id revokeCredential
exit "$status"
