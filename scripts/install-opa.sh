#!/usr/bin/env bash
# Installs the pinned opa CLI into .tools/ when neither .tools/ nor PATH has that version.
set -euo pipefail
OPA_VERSION="v1.22.2"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"

# Reads the whole output before matching: `| grep -q` would exit at the first match and, under
# pipefail, the SIGPIPE that opa may then receive fails the script (exit 141).
have_version() {
  local out
  out="$("$1" version 2>/dev/null)" || return 1
  [[ $'\n'"$out"$'\n' == *$'\n'"Version: ${OPA_VERSION#v}"$'\n'* ]]
}

if [ -x "$tools/opa" ] && have_version "$tools/opa"; then
  exit 0
fi
if command -v opa >/dev/null 2>&1 && have_version "$(command -v opa)"; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-opa: Go is required to install opa ${OPA_VERSION}" >&2
  exit 1
fi
mkdir -p "$tools"
echo "install-opa: installing opa ${OPA_VERSION} into .tools/" >&2
GOBIN="$tools" CGO_ENABLED=0 go install "github.com/open-policy-agent/opa@${OPA_VERSION}"
have_version "$tools/opa"
