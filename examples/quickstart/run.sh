#!/usr/bin/env bash
# The main job, from a fresh Debian machine: install what is needed, start
# the Docker engine if it is not running, build corpdeploy, and deploy the
# quickstart stack. Run it as root (apt-get, dockerd). Running it again
# deploys again: unchanged services are left alone.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

scripts/install-deps.sh
scripts/dockerd-up.sh >/dev/null

# The images run Debian's static busybox; it goes into the build context.
install -m 0755 /bin/busybox examples/quickstart/images/busybox

[ -d build ] || meson setup build >/dev/null
meson compile -C build >/dev/null

build/corpdeploy up examples/quickstart/plan.yaml
echo
build/corpdeploy status examples/quickstart/plan.yaml
echo
echo "serving: $(curl -s http://127.0.0.1:18080/health)"
