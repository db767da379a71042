#!/usr/bin/env bash
# Database dumps and restores on an SSH target, through the binary: a real
# sshd on 127.0.0.1 (tests/ssh/sshd-lib.sh) is the host, and pg_dump and
# pg_restore run there by exec against a PostgreSQL started here
# (pg-lib.sh), the password given as a secret in the step's env. Both are
# stopped by PID at the end. Covers: `backup` streams pg_dump -Fc's stdout
# into the archive; `restore --run` streams it into pg_restore --clean's
# stdin (table checksums as before the change); a migration without a down
# command failing makes `up` restore the dump over SSH; a failing dump
# fails the step with its stderr and leaves no archive; a group target is
# refused; 96 MiB with stderr between streams byte for byte both ways with
# corpdeploy's peak RSS below that (printed); the password is on
# no command line on the host (its process list, seen while a dump runs)
# and in no output, log (sshd's included), report or state file.
# usage: ssh-dump.sh CORPDEPLOY
# shellcheck disable=SC2016
set -u

bin=$(realpath "$1")
here=$(dirname "$(realpath "$0")")
# shellcheck source=tests/backup/pg-lib.sh
source "$here/pg-lib.sh"
# shellcheck source=tests/backup/test-lib.sh
source "$here/test-lib.sh"
work=$(mktemp -d -t corpdeploy-ssh-dump.XXXXXX)
chmod 755 "$work"
SSH_TEST_DIR=$work/ssh
# shellcheck source=tests/ssh/sshd-lib.sh
source "$here/../ssh/sshd-lib.sh"
pass=0
fail=0

cleanup() {
	pg_down
	sshd_stop_all
	[ -n "${CD_TEST_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# A random secret, so that finding it anywhere means it leaked.
export DB_PASSWORD="pw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# ---- PostgreSQL ----
pg_up "$work/pg" "$DB_PASSWORD" || { echo "Bail out! postgres did not start"; exit 1; }
pg_port=$PG_PORT
export PGPORT=$pg_port PGHOST=127.0.0.1 PGUSER=postgres
PGPASSWORD=$DB_PASSWORD pg_seed_appdb 20000
db() { PGPASSWORD=$DB_PASSWORD psql -d appdb -tA -v ON_ERROR_STOP=1 "$@"; }
data_sum() { PGPASSWORD=$DB_PASSWORD pg_data_sum appdb; }
schema_sum() { PGPASSWORD=$DB_PASSWORD pg_schema_sum appdb; }

# ---- the SSH host: its key in the known_hosts of a HOME of ours ----
ssh_client_home "$work"
sshd_init
ssh_port=$(free_port 3)
sshd_start db1 "$ssh_port" || { echo "Bail out! sshd did not start"; exit 1; }
host_key_line db1 "$ssh_port" >"$HOME/.ssh/known_hosts"
key=$SSH_TEST_DIR/client/id_ed25519

# The commands run on the host, as root: pg-lib's binaries by full path, the server by address.
pg="-h, 127.0.0.1, -p, \"$pg_port\", -U, postgres"
pg_failing_migration "$work/migrate-fail.sql"

# plan NAME DUMP [MIGRATION_SQL]: an SSH target db1 and a database backup there.
plan() {
	local f="$work/$1.yaml"
	cat >"$f" <<EOF
corpdeploy: 1
name: $1
release: rel-$1
secrets: [DB_PASSWORD]
state_dir: $work/state
targets:
  db1:
    ssh: root@127.0.0.1:$ssh_port
    identity: $key
phases:
  - name: backup
    steps:
      - name: db-backup
        backup: database
        target: db1
        dump: $2
        restore: [pg_restore, $pg, -d, appdb, --clean, --if-exists, --single-transaction]
        env: { PGPASSWORD: "\${DB_PASSWORD}" }
EOF
	if [ -n "${3:-}" ]; then
		cat >>"$f" <<EOF
  - name: migration
    steps:
      - name: migrate
        run: [psql, $pg, -d, appdb, -v, ON_ERROR_STOP=1, -q, -f, $3]
        env: { PGPASSWORD: "\${DB_PASSWORD}" }
        migration:
          version_query: [psql, $pg, -d, appdb, -tAc, "select version from schema_version"]
EOF
	fi
	echo "$f"
}

logs=()
run_cd() { # output in $work/out, and a copy for the leak check
	"$bin" -v -v --no-color "$@" >"$work/out" 2>&1
	local rc=$?
	cp "$work/out" "$work/out.${#logs[@]}"
	logs+=("$work/out.${#logs[@]}")
	return $rc
}
latest_run() { ls "$work/state/$1/runs" | sort | tail -1; }

# 1. backup: pg_dump -Fc on the host, its stdout streamed into the archive.
# The dump command first takes a snapshot of every process's command line on
# the host, while its own chain (sshd, the shells, timeout) is running.
snap="ps -eww -o args >$work/ps.txt; cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\\\0' ' ' >>$work/ps.txt; exec pg_dump -h 127.0.0.1 -p $pg_port -U postgres -Fc appdb"
p=$(plan ssh-db "[sh, -c, \"$snap\"]")
before_data=$(data_sum)
before_schema=$(schema_sum)
run_cd backup "$p"; rc=$?
check "backup of a database on an SSH target (exit 0)" '[ $rc = 0 ] && grep -q "^run " "$work/out"'
brun=$(sed -n 's/^run //p' "$work/out")
arch=$work/state/ssh-db/runs/$brun/backup-db-backup.tar.zst
zstd -dc "$arch" 2>/dev/null | tar -xO --wildcards 'db-backup.dump.part*' >"$work/dump.bin" 2>/dev/null
check "the archive holds pg_dump's custom-format output" \
	'[ "$(head -c 5 "$work/dump.bin")" = PGDMP ] && pg_restore -l "$work/dump.bin" | grep -q "TABLE DATA public orders"'
check "the process list on the host was seen during the dump" \
	'grep -q "pg_dump -h 127.0.0.1" "$work/ps.txt" && grep -q "cd_kv" "$work/ps.txt"'
check "the password is on no command line on the host" '! grep -qF "$DB_PASSWORD" "$work/ps.txt"'

# 2. restore --run: the dump streamed into pg_restore --clean on the host.
db -q -c "update orders set qty = qty + 100 where id % 3 = 0" -c "delete from orders where id > 15000" \
	-c "update schema_version set version = 'changed'"
check "the data changed after the backup" '[ "$(data_sum)" != "$before_data" ]'
run_cd restore "$p" --run "$brun"; rc=$?
check "restore --run over SSH (exit 0)" '[ $rc = 0 ] && grep -q "database restored" "$work/out"'
check "table checksums equal to before the change" '[ "$(data_sum)" = "$before_data" ]'
check "schema equal to before" '[ "$(schema_sum)" = "$before_schema" ]'

# 3. A migration without a down command failing half way: up restores the dump over SSH.
p=$(plan ssh-mig "[pg_dump, $pg, -Fc, appdb]" "$work/migrate-fail.sql")
run_cd up "$p"; rc=$?
check "a failing migration rolls back (exit 1)" '[ $rc = 1 ]'
check "rollback restored the dump on the SSH host" \
	'grep -q "taken back by restoring the dump of .db-backup." "$work/out"'
check "table checksums equal to before the migration" '[ "$(data_sum)" = "$before_data" ]'
check "schema equal to before the migration" '[ "$(schema_sum)" = "$before_schema" ]'
check "no column of the migration left" '! db -c "select note from orders limit 1" >/dev/null 2>&1'

# 4. A dump failing on the host: the step fails with its stderr; no archive is left.
p=$(plan ssh-fail "[sh, -c, \"echo dump failed: no such database >&2; exit 3\"]")
run_cd backup "$p"; rc=$?
check "a failing dump fails the step with its exit code and stderr" \
	'[ $rc != 0 ] && grep -q "exited with 3: dump failed: no such database" "$work/out"'
check "and leaves no archive" '! ls "$work"/state/ssh-fail/runs/*/*.tar.zst >/dev/null 2>&1'

# A group of hosts: refused, by backup and by up's preflight, never run on this machine instead.
p=$(plan ssh-group "[sh, -c, \"touch $work/ran-here; pg_dump $(echo "$pg" | tr -d ',\"') -Fc appdb\"]")
sed -i -e 's/^        target: db1$/        target: both/' -e "s|^    identity: .*|&\n  both:\n    hosts: [db1]|" "$p"
run_cd backup "$p"; rc=$?
check "a backup on a group of hosts is refused" \
	'[ $rc != 0 ] && grep -q "target .both. is not an SSH host" "$work/out" && [ ! -e "$work/ran-here" ]'
run_cd up "$p"; rc=$?
check "up refuses it before starting" '[ $rc != 0 ] && grep -q "group targets cannot be reached" "$work/out" && [ ! -e "$work/ran-here" ]'

# 5. A restore command that fails on the host: restore says so, with its stderr.
p=$(plan ssh-rfail "[pg_dump, $pg, -Fc, appdb]")
sed -i 's|restore: \[pg_restore.*|restore: [sh, -c, "head -c 100 >/dev/null; echo cannot restore >\&2; exit 4"]|' "$p"
run_cd backup "$p"; rc=$?
check "backup for the failing restore (exit 0)" '[ $rc = 0 ]'
frun=$(sed -n 's/^run //p' "$work/out")
run_cd restore "$p" --run "$frun"; rc=$?
check "a failing restore command fails, with its exit code and stderr" \
	'[ $rc != 0 ] && grep -q "exited with 4: cannot restore" "$work/out"'

# 6. A dump larger than anything kept in memory, with stderr between: byte for byte into
# the archive and back out into the restore command, corpdeploy's peak RSS below its size.
# A sanitizer's shadow memory and quarantine say nothing of ours: RSS is not checked then.
rss_check() { # NAME KIB
	if ldd "$bin" 2>/dev/null | grep -q -e libasan -e libtsan -e libmsan; then
		echo "# $1: not checked, the binary is built with a sanitizer"
	else
		check "$1" "[ $2 -lt $((96 * 1024)) ]"
	fi
}
big='i=0; while [ $i -lt 96 ]; do yes "row $i of the dump" | head -c 1048576; echo "dumped $i MiB" >&2; i=$((i+1)); done'
p=$(plan ssh-big "[sh, -c, '$big']")
sed -i "s|restore: \[pg_restore.*|restore: [sh, -c, 'sha256sum >$work/restored.sha']|" "$p"
/usr/bin/time -f "%M" -o "$work/rss" "$bin" --no-color backup "$p" >"$work/out" 2>&1; rc=$?
check "backup of a 96 MiB dump over SSH (exit 0)" '[ $rc = 0 ]'
grun=$(sed -n 's/^run //p' "$work/out")
want=$(sh -c "$big" 2>/dev/null | sha256sum | cut -c1-64)
got=$(zstd -dc "$work/state/ssh-big/runs/$grun/backup-db-backup.tar.zst" 2>/dev/null |
	tar -xO --wildcards 'db-backup.dump.part*' | sha256sum | cut -c1-64)
check "the archived dump is the host's stdout, byte for byte" '[ "$got" = "$want" ]'
rss_kib=$(tail -1 "$work/rss")
echo "# SSH dump: 96 MiB streamed, corpdeploy peak RSS $((rss_kib / 1024)) MiB"
rss_check "memory stays below the dump's size" "$rss_kib"
/usr/bin/time -f "%M" -o "$work/rss" "$bin" --no-color restore "$p" --run "$grun" >"$work/out" 2>&1; rc=$?
check "restore streams it into the command on the host (exit 0)" \
	'[ $rc = 0 ] && [ "$(cut -c1-64 "$work/restored.sha")" = "$want" ]'
rss_kib=$(tail -1 "$work/rss")
echo "# SSH restore: 96 MiB streamed, corpdeploy peak RSS $((rss_kib / 1024)) MiB"
rss_check "memory stays below the dump's size while restoring" "$rss_kib"

# 7. The password: in no output, log, report, state file or sshd log.
find_leaks "$DB_PASSWORD" -- "${logs[@]}" "$SSH_TEST_DIR"/db1/sshd.log
check "the password in no output, log, report or state file" '[ $leak = 0 ]'

echo "1..$((pass + fail))"
[ "$fail" = 0 ]
