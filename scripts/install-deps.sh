#!/usr/bin/env bash
# Installs what corpdeploy needs to build, test and deploy on Debian 12.
# Idempotent: packages already installed are left alone.
set -euo pipefail

packages=(
	build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
	libyaml-dev libcurl4-openssl-dev libssh2-1-dev libcjson-dev libarchive-dev libgit2-dev libssl-dev libzstd-dev
	check valgrind python3 git shellcheck groff man-db curl
	docker.io docker-registry apache2-utils busybox-static tmux docker-compose
	openssh-server openssh-client postgresql redis-server redis-tools nginx-light
	libxml2-utils chromium python3-jsonschema wrk sqlite3 zstd bc pssh ansible
)
# npm (for the S3 test server): the machine's own Node.js when it has one.
command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# s3rver, the S3 server of the backup tests, outside the repository.
s3rver_cache=/var/cache/corpdeploy-test/npm
[ -x "$s3rver_cache/node_modules/.bin/s3rver" ] ||
	npm install --prefix "$s3rver_cache" --no-audit --no-fund s3rver@3 >/dev/null
