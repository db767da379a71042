# shellcheck shell=bash
# The sourcing script's variables, and leak for it to read:
# shellcheck disable=SC2154,SC2034
# What the backup tests share (sourced): TAP-style checks, the search for a
# secret in what a run left behind, and the Docker engine with busybox
# images. The sourcing script sets work, pass and fail, and top (the source
# root) before engine_up.
#
#   ok NAME, not_ok NAME, check NAME EXPR   (EXPR eval'd; not_ok shows $work/out)
#   find_leaks SECRET... -- FILE...   sets leak to 1 when a secret is in a file,
#                                     in a file under $work/state (archives
#                                     aside) or in an archive's manifest
#   engine_up                         0 with a Docker engine and /bin/busybox
#   engine_down CONTAINER... -- IMAGE...
#   busybox_rootfs DIR APPLET...      DIR/bin: busybox and links to it
#   db_backup_plan NAME IMAGE STEP    a plan's start, up to its backup step's
#                                     commands: service db of IMAGE, and phase
#                                     backup whose step STEP dumps it

ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; [ -f "$work/out" ] && sed 's/^/    /' "$work/out" | tail -30; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

find_leaks() {
	local pats=() f a
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		pats+=(-e "$1")
		shift
	done
	shift
	leak=0
	for f in "$@" $(find "$work/state" -type f ! -name '*.tar.zst'); do
		if grep -qF "${pats[@]}" "$f"; then
			leak=1
			echo "    leaked into $f"
		fi
	done
	for a in "$work"/state/*/runs/*/*.tar.zst; do
		if zstd -dc "$a" 2>/dev/null | tar -xO MANIFEST.json 2>/dev/null | grep -qF "${pats[@]}"; then
			leak=1
			echo "    leaked into the manifest of $a"
		fi
	done
}

# The engine keeps its state in $work/docker; engine-down.sh stops it only when engine-up.sh started it.
engine_up() {
	sh "$top/tests/docker/engine-up.sh" "$work/docker" && [ -x /bin/busybox ]
}

engine_down() {
	local ctrs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		ctrs+=("$1")
		shift
	done
	shift
	docker rm -f "${ctrs[@]}" >/dev/null 2>&1
	docker rmi -f "$@" >/dev/null 2>&1
	sh "$top/tests/docker/engine-down.sh" "$work/docker"
}

busybox_rootfs() {
	local dir=$1 a
	shift
	mkdir -p "$dir/bin"
	cp /bin/busybox "$dir/bin/busybox"
	for a in "$@"; do
		ln -s busybox "$dir/bin/$a"
	done
}

db_backup_plan() {
	cat <<EOF
corpdeploy: 1
name: $1
release: r1
state_dir: $work/state
services:
  db:
    image: $2
phases:
  - name: backup
    steps:
      - name: $3
        backup: database
        service: db
EOF
}
