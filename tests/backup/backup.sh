#!/usr/bin/env bash
# Backups, restores and migrations through the binary, against a PostgreSQL
# (initdb in a temporary directory, password authentication, 127.0.0.1 on a
# free port) and an s3rver (npm, 127.0.0.1), both started here and stopped
# by PID at the end. Plans run pg_dump, pg_restore and psql locally against
# that server. Covers: a files backup and its restore; a corrupted archive
# (refused, nothing touched); a migration failing half way (database
# restored from the dump: schema and data checksums as before); a migration
# followed by a failing deploy step (down migration, data intact); a down
# migration that fails (dump restored, and the output says so); S3 upload,
# read back and retention; the database password and S3 keys in no output,
# log or state file; a dump inside a service's container (a busybox image
# made here, 64 MiB on stdout with stderr between) streamed into its archive
# byte for byte, with the peak RSS printed, and restored into it by exec
# with the dump on stdin. Files inside a container: container-files.sh.
# shellcheck disable=SC2016
set -u

bin=$(realpath "$1")
# shellcheck source=tests/backup/pg-lib.sh
source "$(dirname "$(realpath "$0")")/pg-lib.sh"
# shellcheck source=tests/backup/test-lib.sh
source "$(dirname "$(realpath "$0")")/test-lib.sh"
work=$(mktemp -d -t corpdeploy-backup.XXXXXX)
chmod 755 "$work"
pass=0
fail=0
top=$(cd "$(dirname "$0")/../.." && pwd)
docker_tag="corpdeploy-test/backup-$$"
docker_used=""

cleanup() {
	pg_down
	s3_down
	if [ -n "$docker_used" ]; then
		engine_down "ctr-db" "ctr-fail-db" -- "$docker_tag:1"
	fi
	[ -n "${CD_TEST_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# Secrets: random, so that finding one anywhere means it leaked.
export DB_PASSWORD="pw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export S3_ACCESS_KEY=S3RVER S3_SECRET_KEY=S3RVER

# ---- PostgreSQL ----
pg_up "$work/pg" "$DB_PASSWORD" || { echo "Bail out! postgres did not start"; exit 1; }
pg_port=$PG_PORT
export PGPORT=$pg_port
export PGHOST=127.0.0.1 PGUSER=postgres PGPASSWORD=$DB_PASSWORD
pg_seed_appdb 5000
# The binary gets the password only as the secret DB_PASSWORD, never as PGPASSWORD.
unset PGPASSWORD

db() { PGPASSWORD=$DB_PASSWORD psql -d appdb -tA -v ON_ERROR_STOP=1 "$@"; }
schema_sum() { PGPASSWORD=$DB_PASSWORD pg_schema_sum appdb; }
data_sum() { PGPASSWORD=$DB_PASSWORD pg_data_sum appdb; }

# ---- s3rver ----
s3_up "$work/s3" backups || { echo "Bail out! s3rver did not start"; exit 1; }
s3_port=$S3_PORT

# ---- plans ----
mkdir -p "$work/site/conf"
printf 'listen 80;\n' >"$work/site/conf/app.conf"
printf 'v1\n' >"$work/site/VERSION"
chmod 640 "$work/site/conf/app.conf"

pg_failing_migration "$work/migrate-fail.sql"
cat >"$work/migrate.sql" <<'SQL'
alter table orders add column note text;
update schema_version set version = '002';
SQL
cat >"$work/down.sql" <<'SQL'
alter table orders drop column note;
update schema_version set version = :'ver';
SQL
cat >"$work/down-broken.sql" <<'SQL'
alter table orders drop column no_such_column;
SQL

# plan NAME MIGRATE_SQL DOWN_SQL(or -) API_EXIT [UPLOAD]
plan() {
	local name=$1 up=$2 down=$3 api=$4 upload=${5:-false}
	local f="$work/$name.yaml"
	cat >"$f" <<EOF
corpdeploy: 1
name: $name
release: rel-$name
secrets: [DB_PASSWORD, S3_ACCESS_KEY, S3_SECRET_KEY]
state_dir: $work/state
backup_storage:
  endpoint: http://127.0.0.1:$s3_port
  bucket: backups
  prefix: ci/$name
  access_key_secret: S3_ACCESS_KEY
  secret_key_secret: S3_SECRET_KEY
phases:
  - name: backup
    steps:
      - name: site-backup
        backup: files
        paths: [$work/site]
        keep: 2
        upload: $upload
      - name: db-backup
        backup: database
        dump: [pg_dump, -h, 127.0.0.1, -p, "$pg_port", -U, postgres, -Fc, appdb]
        restore: [pg_restore, -h, 127.0.0.1, -p, "$pg_port", -U, postgres, -d, appdb, --clean, --if-exists, --single-transaction]
        env: { PGPASSWORD: "\${DB_PASSWORD}" }
        keep: 2
        upload: $upload
  - name: migration
    steps:
      - name: migrate
        run: [psql, -h, 127.0.0.1, -p, "$pg_port", -U, postgres, -d, appdb, -v, ON_ERROR_STOP=1, -q, -f, $up]
        env: { PGPASSWORD: "\${DB_PASSWORD}" }
EOF
	if [ "$down" != - ]; then
		echo "        undo: [psql, -h, 127.0.0.1, -p, \"$pg_port\", -U, postgres, -d, appdb, -v, ON_ERROR_STOP=1, -v, \"ver=\${previous.migration}\", -q, -f, $down]" >>"$f"
	fi
	cat >>"$f" <<EOF
        migration:
          version_query: [psql, -h, 127.0.0.1, -p, "$pg_port", -U, postgres, -d, appdb, -tAc, "select version from schema_version"]
  - name: application
    steps:
      - name: deploy-api
        run: [sh, -c, "exit $api"]
EOF
	echo "$f"
}

logs=()
run_cd() { # saves output in $work/out and a copy for the leak check
	"$bin" "$@" >"$work/out" 2>&1
	local rc=$?
	cp "$work/out" "$work/out.$((${#logs[@]}))"
	logs+=("$work/out.$((${#logs[@]}))")
	return $rc
}
latest_run() { ls "$work/state/$1/runs" | sort | tail -1; } # run ids sort by time

# 1. A migration followed by a failing deploy: the down migration runs; data intact.
before_schema=$(schema_sum)
before_data=$(data_sum)
p=$(plan down-ok "$work/migrate.sql" "$work/down.sql" 1)
run_cd up "$p"; rc=$?
check "failing deploy after a migration rolls back (exit 1)" '[ $rc = 1 ]'
check "the down migration took it back" 'grep -q "taken back to version 001 by its down command" "$work/out"'
check "schema as before" '[ "$(schema_sum)" = "$before_schema" ]'
check "data as before" '[ "$(data_sum)" = "$before_data" ]'
run=$(latest_run down-ok)
check "database archive in the run directory, mode 0600" \
	'[ "$(stat -c %a "$work/state/down-ok/runs/$run/backup-db-backup.tar.zst")" = 600 ]'
check "run directory mode 0700" '[ "$(stat -c %a "$work/state/down-ok/runs/$run")" = 700 ]'

# 2. A migration failing half way, without a down command: the dump is restored.
p=$(plan half "$work/migrate-fail.sql" - 0)
run_cd up "$p"; rc=$?
check "half-way migration fails and rolls back (exit 1)" '[ $rc = 1 ]'
check "rollback restored the dump" 'grep -q "taken back by restoring the dump of .db-backup." "$work/out"'
check "schema checksum equal to before" '[ "$(schema_sum)" = "$before_schema" ]'
check "table checksums equal to before" '[ "$(data_sum)" = "$before_data" ]'

# 3. A down migration that fails: the dump is restored, and the output says so.
p=$(plan down-broken "$work/migrate.sql" "$work/down-broken.sql" 3)
run_cd up "$p"; rc=$?
check "failing down migration still rolls back cleanly (exit 1)" '[ $rc = 1 ]'
check "output names the failed down command" 'grep -q "undo command exited with" "$work/out"'
check "output says the dump was restored" 'grep -q "taken back by restoring the dump" "$work/out"'
check "schema as before after dump restore" '[ "$(schema_sum)" = "$before_schema" ]'
check "data as before after dump restore" '[ "$(data_sum)" = "$before_data" ]'

# 4. A successful run keeps the migration; the versions are in the summary line.
p=$(plan good "$work/migrate.sql" "$work/down.sql" 0)
run_cd up "$p"; rc=$?
check "successful run (exit 0)" '[ $rc = 0 ]'
check "version went 001 -> 002" '[ "$(db -c "select version from schema_version")" = 002 ]'
check "summary shows the versions" 'grep -q "version 001 -> 002" "$work/out"'
check "the schema checksum sees the migration" '[ "$(schema_sum)" != "$before_schema" ]'
good_run=$(latest_run good)
# Put the database back from that run with the restore command.
run_cd restore "$p" --run "$good_run" --step db-backup; rc=$?
check "restore --run puts the database back (exit 0)" '[ $rc = 0 ] && grep -q "database restored" "$work/out"'
check "database back at 001 after restore" '[ "$(db -c "select version from schema_version")" = 001 ]'
check "data as before after restore" '[ "$(data_sum)" = "$before_data" ]'

# 5. Files: backup, change, restore; a corrupted archive is refused and nothing touched.
run_cd backup "$p"; rc=$?
check "backup command takes both backups" '[ $rc = 0 ] && grep -q "^run " "$work/out"'
brun=$(sed -n 's/^run //p' "$work/out")
printf 'v2\n' >"$work/site/VERSION"
chmod 666 "$work/site/conf/app.conf"
run_cd restore "$p" --run "$brun" --step site-backup; rc=$?
check "restore of files (exit 0)" '[ $rc = 0 ]'
check "file content back" '[ "$(cat "$work/site/VERSION")" = v1 ]'
check "file mode back" '[ "$(stat -c %a "$work/site/conf/app.conf")" = 640 ]'
printf 'v3\n' >"$work/site/VERSION"
arch="$work/state/good/runs/$brun/backup-site-backup.tar.zst"
size=$(stat -c %s "$arch")
printf '\xff\xff\xff\xff' | dd of="$arch" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
run_cd restore "$p" --run "$brun" --step site-backup; rc=$?
check "corrupted archive: restore refuses (exit 4)" '[ $rc = 4 ] && grep -q "nothing was restored" "$work/out"'
check "corrupted archive: nothing touched" '[ "$(cat "$work/site/VERSION")" = v3 ]'
run_cd restore "$p" --run "$brun" --verify-only; rc=$?
check "verify-only reports the corruption" '[ $rc = 4 ]'

# 6. S3: upload, read back, retention of 2 runs there and here.
p=$(plan s3 "$work/migrate.sql" "$work/down.sql" 0 true)
for i in 1 2 3; do
	db -q -c "update schema_version set version = '001'" -c "alter table orders drop column if exists note"
	run_cd up "$p"; rc=$?
	check "upload run $i succeeds" '[ $rc = 0 ]'
	sleep 1.1 # distinct modification times for retention
done
check "upload read back and verified" 'grep -q "uploaded http://127.0.0.1:$s3_port/backups/ci/s3/.*and read it back" "$work/out"'
check "retention keeps 2 remote copies of the dump" '[ "$(find "$work/s3" -path "*ci/s3/*" -name "backup-db-backup.tar.zst._S3rver_object" | wc -l)" = 2 ]'
check "retention keeps 2 local copies" '[ "$(ls "$work"/state/s3/runs/*/backup-db-backup.tar.zst | wc -l)" = 2 ]'
run_cd backups "$p"; rc=$?
check "backups lists local and s3 copies" '[ $rc = 0 ] && [ "$(grep -c "local, s3" "$work/out")" = 4 ]'
newest=$(latest_run s3)
obj=$(find "$work/s3" -path "*ci/s3/$newest/backup-db-backup.tar.zst._S3rver_object")
check "remote copy equals the local archive" \
	'cmp -s "$obj" "$work/state/s3/runs/$newest/backup-db-backup.tar.zst"'

# 7. Secrets: in no output, log, journal or archive manifest.
find_leaks "$DB_PASSWORD" S3RVER -- "${logs[@]}"
check "database password and S3 keys in no output or state file" '[ $leak = 0 ]'

# 8. A dump inside a service's container: streamed out by exec, stdout only.
if engine_up; then
	docker_used=1
	busybox_rootfs "$work/rootfs" sh
	tar -C "$work/rootfs" -c bin | docker import - "$docker_tag:1" >/dev/null
	# 64 MiB of numbered rows, a line on stderr after each MiB.
	dump='i=0; while [ $i -lt 64 ]; do busybox yes "row $i of the dump" | busybox head -c 1048576; echo "dumped $i MiB" >&2; i=$((i+1)); done'
	for name in ctr ctr-fail; do
		docker rm -f "$name-db" >/dev/null 2>&1
		docker run -d --name "$name-db" --network none "$docker_tag:1" /bin/busybox sleep 600 >/dev/null
	done
	ctr_plan() { # NAME DUMP
		db_backup_plan "$1" "$docker_tag:1" db-dump >"$work/$1.yaml"
		cat >>"$work/$1.yaml" <<EOF
        dump: '$2'
        restore: [busybox, sh, -c, "busybox sha256sum > /restored.sha"]
EOF
		echo "$work/$1.yaml"
	}
	p=$(ctr_plan ctr "$dump")
	/usr/bin/time -f "%M" -o "$work/rss" "$bin" backup "$p" >"$work/out" 2>&1; rc=$?
	check "backup of a dump inside the container (exit 0)" '[ $rc = 0 ]'
	arch=$(ls "$work"/state/ctr/runs/*/backup-db-dump.tar.zst 2>/dev/null | head -1)
	want=$(busybox sh -c "$dump" 2>/dev/null | sha256sum | cut -c1-64)
	got=$(zstd -dc "$arch" 2>/dev/null | tar -xO --wildcards 'db-dump.dump.part*' | sha256sum | cut -c1-64)
	check "the archived dump is the container's stdout, byte for byte" '[ -n "$arch" ] && [ "$got" = "$want" ]'
	check "the manifest says 64 MiB in 16 parts" \
		'zstd -dc "$arch" | tar -xO MANIFEST.json | python3 -c "import json,sys; s=[e for e in json.load(sys.stdin)[\"entries\"] if e[\"type\"]==\"stream\"][0]; sys.exit(not (s[\"size\"]==64<<20 and len(s[\"parts\"])==16))"'
	echo "# container dump: 64 MiB streamed, corpdeploy peak RSS $(($(tail -1 "$work/rss") / 1024)) MiB"
	run=$(latest_run ctr)
	run_cd restore "$p" --run "$run" --step db-dump; rc=$?
	check "restoring into the container feeds the 64 MiB back to its restore command, byte for byte" \
		'[ $rc = 0 ] && [ "$(docker exec ctr-db busybox cat /restored.sha | cut -c1-64)" = "$want" ]'
	p=$(ctr_plan ctr-fail 'echo "dump failed: no such database" >&2; exit 3')
	run_cd backup "$p"; rc=$?
	check "a failing dump in the container fails the step with its stderr" \
		'[ $rc != 0 ] && grep -q "exited with 3: dump failed: no such database" "$work/out"'
	check "and leaves no archive" '! ls "$work"/state/ctr-fail/runs/*/*.tar.zst >/dev/null 2>&1'
else
	not_ok "a Docker engine for the container dump (tests/docker/engine-up.sh)"
fi

echo "1..$((pass + fail))"
[ "$fail" = 0 ]
