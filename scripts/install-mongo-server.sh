#!/usr/bin/env bash
# Builds the test-only MongoDB wire-protocol server (test/support/mongo-server/) into
# .tools/mongo-server/ unless the build there is already up to date with its sources.
# Needs Java 17+ and Maven; dependencies come from Maven Central (default local repository).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/test/support/mongo-server"
out="$root/.tools/mongo-server"

stamp="$(cat "$src/pom.xml" "$src/MongoServerLauncher.java" | sha256sum | cut -d' ' -f1)"
if [ -f "$out/mongo-server.jar" ] && [ -d "$out/lib" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install-mongo-server: '$tool' is required (Java 17+ and Maven, e.g. apt-get install openjdk-17-jdk-headless maven)" >&2
    exit 1
  fi
done

echo "install-mongo-server: building test MongoDB server into .tools/mongo-server/" >&2
rm -rf "$out"
mkdir -p "$out"
if ! mvn -B -ntp -Dstyle.color=never -f "$src/pom.xml" -Dtools.dir="$out" package >"$out/build.log" 2>&1; then
  cat "$out/build.log" >&2
  echo "install-mongo-server: maven build failed" >&2
  exit 1
fi
rm -f "$out/build.log"
rm -rf "$out/build"
test -f "$out/mongo-server.jar"
printf '%s\n' "$stamp" >"$out/.stamp"
