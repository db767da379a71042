#!/usr/bin/env bash
# `backup: files` on an SSH target, through the binary, against a real
# OpenSSH server started here on 127.0.0.1 (tests/ssh/sshd-lib.sh) and
# stopped by PID at the end. The host is this machine reached over SFTP
# only, so the test looks at what the backup and the restore did with the
# local file system. Covers: a directory tree (files, a subdirectory, a
# symlink, an empty directory, a file of several MiB) and a file of mode
# 0640 backed up; files changed, deleted and added on the host; the restore
# puts every file back byte for byte with its mode (and owner as root),
# leaves the added one alone and no staging file behind; a corrupted archive
# is refused and nothing on the host changes; a missing path fails the
# backup by name.
# shellcheck disable=SC2016
set -u

bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
SSH_TEST_DIR=$(mktemp -d /tmp/cd-backup-ssh.XXXXXX)
T=$SSH_TEST_DIR
# shellcheck source=tests/ssh/sshd-lib.sh
. "$here/../ssh/sshd-lib.sh"
cleanup() {
	sshd_stop_all
	[ -n "${CD_TEST_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
ssh_client_home "$T"

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; [ -f "$T/out" ] && sed 's/^/    /' "$T/out" | tail -30; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
run_cd() { "$bin" --no-color "$@" >"$T/out" 2>&1; }

sshd_init
port=$(free_port 3)
sshd_start host "$port" || { echo "Bail out! sshd did not start"; exit 1; }
fp=$(ssh-keygen -lf "$T/host/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
root=0
[ "$(id -u)" = 0 ] && root=1

# ---- what lives on the host ----
site=$T/remote/site
key=$T/remote/app.key
mkdir -p "$site/conf" "$site/data/deep" "$site/empty"
printf 'listen 80;\n' >"$site/conf/app.conf"
chmod 640 "$site/conf/app.conf"
printf 'v1\n' >"$site/VERSION"
head -c 3000017 /dev/urandom >"$site/data/blob.bin"
printf 'deep\n' >"$site/data/deep/leaf.txt"
chmod 600 "$site/data/deep/leaf.txt"
ln -s ../VERSION "$site/data/version-link"
chmod 750 "$site/data"
chmod 700 "$site/empty"
printf 'k3y\n' >"$key"
chmod 640 "$key"
if [ $root = 1 ]; then
	chown 1:1 "$site/conf/app.conf"
	chown 2:3 "$key"
	chown 1:1 "$site/data"
fi

# Every path with its type, mode, owner, and content checksum or link target.
snapshot() {
	find "$site" "$key" -printf '%P|%p|%y|%m|%U:%G|%l\n' | sort | while IFS='|' read -r _ p y m o l; do
		sum=-
		[ "$y" = f ] && sum=$(sha256sum <"$p" | cut -d' ' -f1)
		# A symlink gets the login's owner back (SFTP has no lchown).
		[ "$y" = l ] && o=-
		echo "$p $y $m $o $l $sum"
	done
}
leftovers() { find "$T/remote" -name '.*.cd-restore-*' | wc -l; }

cat >"$T/plan.yaml" <<EOF
corpdeploy: 1
name: sshfiles
release: r1
state_dir: $T/state
targets:
  host:
    ssh: root@127.0.0.1:$port
    identity: $T/client/id_ed25519
    host_key: "$fp"
phases:
  - name: backup
    steps:
      - name: host-files
        backup: files
        target: host
        paths: [$site/, $key]
EOF

# 1. The backup.
before=$(snapshot)
run_cd backup "$T/plan.yaml"; rc=$?
check "backup on the SSH host (exit 0)" '[ $rc = 0 ] && grep -q "^run " "$T/out"'
run=$(sed -n 's/^run //p' "$T/out")
arch=$T/state/sshfiles/runs/$run/backup-host-files.tar.zst
check "archive in the run directory" '[ -n "$run" ] && [ -f "$arch" ]'
manifest=$(tar --zstd -xOf "$arch" MANIFEST.json 2>/dev/null)
check "manifest: the big file with its sha256" \
	'echo "$manifest" | grep -q "$(sha256sum <"$site/data/blob.bin" | cut -d" " -f1)"'
check "manifest: the symlink with its target" 'echo "$manifest" | grep -q "\"target\":\"../VERSION\""'
check "manifest: the single file, mode 0640" \
	'echo "$manifest" | tr "{" "\n" | grep "\"path\":\"$key\"" | grep -q "\"mode\":\"0640\""'
if [ $root = 1 ]; then
	check "manifest: owner names from the host" \
		'echo "$manifest" | tr "{" "\n" | grep "\"path\":\"$site/conf/app.conf\"" | grep -q "\"owner\":\"$(getent passwd 1 | cut -d: -f1)\""'
fi
check "entries sorted by name" \
	'[ "$(echo "$manifest" | grep -o "\"path\":\"$site/[^\"]*\"" | sed -n "1,3p" | tr -d "\n")" = "\"path\":\"$site/VERSION\"\"path\":\"$site/conf\"\"path\":\"$site/conf/app.conf\"" ]'
run_cd restore "$T/plan.yaml" --run "$run" --verify-only; rc=$?
check "verify-only accepts the archive" '[ $rc = 0 ]'

# 2. Changed, deleted and added on the host; then the restore.
printf 'v2\n' >"$site/VERSION"
chmod 666 "$site/conf/app.conf"
printf 'other\n' >"$key"
chmod 600 "$key"
[ $root = 1 ] && chown 0:0 "$site/conf/app.conf" "$key"
rm -f "$site/data/blob.bin" "$site/data/version-link"
rm -rf "$site/data/deep" "$site/empty"
printf 'new\n' >"$site/data/new.txt"
run_cd restore "$T/plan.yaml" --run "$run"; rc=$?
check "restore on the SSH host (exit 0)" '[ $rc = 0 ] && grep -q "host-files: 6 files put back" "$T/out"'
after=$(snapshot | grep -v "/data/new.txt ")
check "every path back byte for byte with its mode$([ $root = 1 ] && echo " and owner")" \
	'[ "$after" = "$before" ]'
[ "$after" = "$before" ] || diff <(echo "$before") <(echo "$after") | sed 's/^/    /'
check "a file added after the backup is left alone" '[ "$(cat "$site/data/new.txt")" = new ]'
check "no staging file left" '[ "$(leftovers)" = 0 ]'

# 3. A corrupted archive: refused, nothing on the host changes.
printf 'v3\n' >"$site/VERSION"
rm -f "$site/data/deep/leaf.txt"
chmod 604 "$key"
changed=$(snapshot)
size=$(stat -c %s "$arch")
printf '\xff\xff\xff\xff' | dd of="$arch" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
run_cd restore "$T/plan.yaml" --run "$run"; rc=$?
check "corrupted archive: restore refuses (exit 4)" '[ $rc = 4 ] && grep -q "nothing was restored" "$T/out"'
check "corrupted archive: nothing on the host changed" '[ "$(snapshot)" = "$changed" ]'
check "corrupted archive: no staging file" '[ "$(leftovers)" = 0 ]'

# 4. A path missing on the host fails the backup, naming it.
sed "s|paths: .*|paths: [$T/remote/nothere]|" "$T/plan.yaml" >"$T/missing.yaml"
run_cd backup "$T/missing.yaml"; rc=$?
check "missing path: backup fails naming it" '[ $rc != 0 ] && grep -q "$T/remote/nothere" "$T/out"'

echo "1..$((pass + fail))"
[ $fail = 0 ]
