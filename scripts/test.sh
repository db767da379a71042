#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test
# suite (unit, cli, docker, e2e). Tests that need the Docker engine start
# it when it does not answer, and stop only what they started.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
meson compile -C build >/dev/null
meson test -C build --print-errorlogs "$@"
