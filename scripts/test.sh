#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test
# suite (unit, cli, docker, e2e). Tests that need the Docker engine start
# it when it does not answer, and stop only what they started.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/install-deps.sh
# A test build: the crash tests need the fault-injection hook (CORPDEPLOY_FAULT).
if [ -f build/build.ninja ]; then
	meson configure build -Dfault_injection=true >/dev/null
else
	meson setup build -Dfault_injection=true >/dev/null
fi
meson compile -C build >/dev/null
meson test -C build --print-errorlogs "$@"
