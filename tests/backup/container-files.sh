#!/usr/bin/env bash
# Files inside a service's container, through the binary and the real Docker
# engine (tests/docker/engine-up.sh; a busybox image made here). A running
# container holds a directory tree (nested files of several modes and
# owners, a 1 MiB and a 64 MiB file, a symlink, a hard link, a symlink to a
# directory with a file backed up through it) and a config file of mode 0640
# owned by 1234:1234; `corpdeploy backup` archives them through the engine's
# archive endpoint; files are then changed, deleted (a directory too) and
# added, and `corpdeploy restore --run` puts every backed-up one back byte
# for byte with its mode and owner (checked by exec in the container),
# leaving no staged file behind; corpdeploy's peak RSS stays below the
# 64 MiB file's size both ways. An archive with a flipped byte is refused by
# restore and by --verify-only, and nothing in the container changes. A
# missing path fails the backup; a service with no container yet is
# nothing to back up. A container without /bin/sh is refused before
# anything is staged. Containers and images made here are removed at the
# end.
# Checks are strings evaluated later: the variables they read look unused.
# shellcheck disable=SC2016,SC2034
set -u

bin=$(realpath "$1")
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/backup/test-lib.sh
source "$top/tests/backup/test-lib.sh"
work=$(mktemp -d -t corpdeploy-ctr-files.XXXXXX)
tag="corpdeploy-test/ctr-files-$$"
# Plan names of this run's own: its containers meet no other run's.
pn="ctrfiles$$"
pass=0
fail=0
engine=""

cleanup() {
	if [ -n "$engine" ]; then
		engine_down "${pn}-app" "${pn}-nosh-app" -- "$tag:1" "$tag-nosh:1"
	fi
	[ -n "${CD_TEST_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

run_cd() { "$bin" "$@" >"$work/out" 2>&1; }

if ! engine_up; then
	echo "Bail out! no Docker engine (tests/docker/engine-up.sh) or no /bin/busybox"
	exit 1
fi
engine=1

# Two images: busybox with sh, and busybox alone.
busybox_rootfs "$work/rootfs" sh
busybox_rootfs "$work/rootfs-nosh"
tar -C "$work/rootfs" -c bin | docker import - "$tag:1" >/dev/null
tar -C "$work/rootfs-nosh" -c bin | docker import - "$tag-nosh:1" >/dev/null

plan() { # NAME IMAGE PATHS [FILE]: the plan's file, $work/FILE.yaml (FILE: NAME)
	local file="$work/${4:-$1}.yaml"
	cat >"$file" <<EOF
corpdeploy: 1
name: $1
release: r1
state_dir: $work/state
services:
  app:
    image: $2
phases:
  - name: backup
    steps:
      - name: app-files
        backup: files
        service: app
        paths: $3
EOF
	echo "$file"
}

in_ctr() { docker exec "${ctr:?}" /bin/busybox sh -c "$1"; }
# Every entry under the given paths, one a line: path, mode, owner, type, and the sha256 or link target.
listing() {
	in_ctr 'for p in $(/bin/busybox find '"$1"' | /bin/busybox sort); do
		extra=""
		if [ -L "$p" ]; then extra=$(/bin/busybox readlink "$p")
		elif [ -f "$p" ]; then extra=$(/bin/busybox sha256sum "$p" | /bin/busybox cut -c1-64); fi
		echo "$(/bin/busybox stat -c "%n %a %u:%g %F" "$p") $extra"
	done'
}

ctr=${pn}-app
docker rm -f "$ctr" >/dev/null 2>&1
docker run -d --name "$ctr" --network none "$tag:1" /bin/busybox sleep 600 >/dev/null
in_ctr '
	set -e
	mkdir -p /srv/app/data/nested/deeper /srv/app/empty
	echo "<h1>v1</h1>" > /srv/app/index.html
	echo "deep v1" > /srv/app/data/nested/deep.txt
	echo "deeper v1" > /srv/app/data/nested/deeper/deepest.txt
	head -c 1048576 /dev/urandom > /srv/app/data/blob.bin
	head -c 67108864 /dev/urandom > /srv/app/data/big.bin
	printf "#!/bin/sh\necho run\n" > /srv/app/run.sh
	ln -s data/nested/deep.txt /srv/app/current
	ln /srv/app/index.html /srv/app/index-again.html
	mkdir -p /srv/real-conf.d; echo "included" > /srv/real-conf.d/inc.conf
	ln -s /srv/real-conf.d /srv/app/conf.d
	chmod 0755 /srv/app/run.sh; chmod 0600 /srv/app/data/blob.bin; chmod 0750 /srv/app/data
	chmod 0700 /srv/app/data/nested/deeper
	chown -R 1234:1234 /srv/app/data; chown -h 1234:1234 /srv/app/current
	mkdir -p /etc
	echo "listen 80" > /etc/app.conf
	chmod 0640 /etc/app.conf; chown 1234:1234 /etc/app.conf'
before=$(listing '/srv/app /etc/app.conf /srv/real-conf.d')

p=$(plan ${pn} "$tag:1" '[/srv/app, /etc/app.conf, /srv/app/conf.d/inc.conf]')
/usr/bin/time -f "%M" -o "$work/rss" "$bin" backup "$p" >"$work/out" 2>&1; rc=$?
check "backup of files inside the container (exit 0)" '[ $rc = 0 ] && grep -q "^run " "$work/out"'
rss=$(($(tail -1 "$work/rss") / 1024))
echo "# backup of a 64 MiB file out of the container: corpdeploy peak RSS $rss MiB"
check "memory stays bounded: the 64 MiB file is never held whole (backup)" '[ "$rss" -lt 48 ]'
run=$(sed -n 's/^run //p' "$work/out")
arch="$work/state/${pn}/runs/$run/backup-app-files.tar.zst"
manifest() { zstd -dc "$arch" | tar -xO MANIFEST.json; }
check "the archive holds the tree and the config file by their paths in the container" \
	'manifest | python3 -c "
import json, sys
e = {x[\"path\"]: x for x in json.load(sys.stdin)[\"entries\"]}
want = {\"/srv/app\": \"dir\", \"/srv/app/empty\": \"dir\", \"/srv/app/index.html\": \"file\",
	\"/srv/app/data/nested/deeper/deepest.txt\": \"file\", \"/srv/app/current\": \"symlink\",
	\"/srv/app/data/blob.bin\": \"file\", \"/etc/app.conf\": \"file\"}
ok = all(p in e and e[p][\"type\"] == t for p, t in want.items())
c = e.get(\"/etc/app.conf\", {})
ok = ok and c.get(\"mode\") in (\"0640\", \"640\") and c.get(\"uid\") == 1234 and c.get(\"gid\") == 1234
ok = ok and e[\"/srv/app/current\"].get(\"target\") == \"data/nested/deep.txt\"
ok = ok and e[\"/srv/app/data/blob.bin\"].get(\"size\") == 1048576
sys.exit(0 if ok else 1)"'
check "the 1 MiB file in the archive is the container's, byte for byte" \
	'[ "$(zstd -dc "$arch" | tar -xO files/srv/app/data/blob.bin | sha256sum | cut -c1-64)" = "$(in_ctr "sha256sum /srv/app/data/blob.bin" | cut -c1-64)" ]'

# Change one, delete one, add one; modes and owners changed too.
in_ctr '
	set -e
	echo "<h1>v2</h1>" > /srv/app/index.html
	rm /srv/app/data/nested/deep.txt /srv/app/current
	rm -r /srv/app/data/nested/deeper
	ln -s index.html /srv/app/current
	echo added > /srv/app/added.txt
	echo "changed through the link" > /srv/app/conf.d/inc.conf
	head -c 1000 /dev/urandom > /srv/app/data/blob.bin
	echo small > /srv/app/data/big.bin
	chmod 0666 /etc/app.conf; chown 0:0 /etc/app.conf; chmod 0777 /srv/app/data'
/usr/bin/time -f "%M" -o "$work/rss" "$bin" restore "$p" --run "$run" >"$work/out" 2>&1; rc=$?
rss=$(($(tail -1 "$work/rss") / 1024))
echo "# restore of a 64 MiB file into the container: corpdeploy peak RSS $rss MiB"
check "memory stays bounded: the 64 MiB file is never held whole (restore)" '[ "$rss" -lt 48 ]'
check "restore --run puts the files back (exit 0)" '[ $rc = 0 ] && grep -q "app-files: .* files put back" "$work/out"'
after=$(listing '/srv/app /etc/app.conf /srv/real-conf.d' | grep -v '^/srv/app/added.txt ')
check "every backed-up entry back byte for byte, with its mode, owner and type" \
	'[ -n "$before" ] && [ "$after" = "$before" ]'
check "the config file is back as 0640 1234:1234" \
	'[ "$(in_ctr "stat -c \"%a %u:%g\" /etc/app.conf")" = "640 1234:1234" ]'
check "a file added since the backup is left alone" '[ "$(in_ctr "cat /srv/app/added.txt")" = added ]'
check "no staged file is left behind" '[ -z "$(in_ctr "find / -xdev -name \"*.cd-restore-*\"")" ]'

# A flipped byte: restore and --verify-only refuse; nothing in the container changes.
in_ctr 'echo "<h1>v3</h1>" > /srv/app/index.html; chmod 0600 /etc/app.conf'
snapshot=$(listing '/srv /etc')
size=$(stat -c %s "$arch")
printf '\xff' | dd of="$arch" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
run_cd restore "$p" --run "$run" --verify-only; rc=$?
check "verify-only refuses the corrupted archive (exit 4)" '[ $rc = 4 ]'
run_cd restore "$p" --run "$run"; rc=$?
check "restore refuses the corrupted archive (exit 4)" '[ $rc = 4 ] && grep -q "nothing was restored" "$work/out"'
check "and nothing in the container changed" '[ "$(listing "/srv /etc")" = "$snapshot" ]'

# A path missing in the container: the engine's words, and no archive.
p=$(plan ${pn} "$tag:1" '[/srv/app, /srv/missing]' ${pn}-missing)
runs_before=$(find "$work/state/${pn}/runs" -name '*.tar.zst*' | wc -l)
run_cd backup "$p"; rc=$?
check "a missing path fails the backup, naming it and the container" \
	'[ $rc != 0 ] && grep -q "cannot copy ./srv/missing. out of container .${pn}-app.: " "$work/out"'
check "and leaves no archive" '[ "$(find "$work/state/${pn}/runs" -name "*.tar.zst*" | wc -l)" = "$runs_before" ]'

# A service with no container yet (a first deployment): nothing to back up, and no failure.
p=$(plan ${pn}-none "$tag:1" '[/srv/app]')
run_cd backup "$p"; rc=$?
check "a service without a container yet: nothing backed up, no failure" \
	'[ $rc = 0 ] && grep -q "nothing to back up: service .app. has no container yet" "$work/out" &&
	 [ -z "$(find "$work/state/${pn}-none" -name "*.tar.zst*" 2>/dev/null)" ]'

# A container without /bin/sh: refused before anything is staged, saying what is missing.
ctr=${pn}-nosh-app
docker rm -f "$ctr" >/dev/null 2>&1
docker run -d --name "$ctr" --network none "$tag-nosh:1" /bin/busybox sleep 600 >/dev/null
docker exec "$ctr" /bin/busybox sh -c '/bin/busybox mkdir -p /srv/x && echo one > /srv/x/f'
p=$(plan ${pn}-nosh "$tag-nosh:1" '[/srv/x]')
run_cd backup "$p"; rc=$?
check "backup in a container without sh (exit 0: no exec needed)" '[ $rc = 0 ]'
run=$(sed -n 's/^run //p' "$work/out")
docker exec "$ctr" /bin/busybox sh -c 'echo two > /srv/x/f'
run_cd restore "$p" --run "$run"; rc=$?
check "restore into a container without sh is refused, naming /bin/sh" \
	'[ $rc != 0 ] && grep -q "it has no /bin/sh" "$work/out"'
check "and nothing was staged there" \
	'[ "$(docker exec "$ctr" /bin/busybox ls -a /srv/x | /bin/busybox tr "\n" " ")" = ". .. f " ] &&
	 [ "$(docker exec "$ctr" /bin/busybox cat /srv/x/f)" = two ]'

echo "1..$((pass + fail))"
[ "$fail" = 0 ]
