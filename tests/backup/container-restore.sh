#!/usr/bin/env bash
# A database dump put back inside a service's container, through the
# binary and the real Docker Engine: a busybox container (an image imported
# here) whose "database" is the file /data/db, 8 MiB of random bytes after a
# version line, dumped with `cat` and restored by a command reading its
# stdin. Covers: backup, change, `restore --run` (byte for byte, the step's
# env reaching the command); a restore command that fails (its exit code
# and stderr, the data left as the command left it); a stopped container
# (the engine's words); a failing migration without a down command rolled
# back by restoring the dump into the container (the output, the report and
# `history` say so; byte for byte); and a real PostgreSQL in a container
# (this machine's binaries imported as an image): pg_dump and pg_restore by
# exec, a half-way migration rolled back, checksums as before. Containers
# and images are removed at the end; a dockerd is stopped only when
# engine-up.sh started it.
#
#   container-restore.sh CORPDEPLOY SOURCE_ROOT
# Checks are eval'd strings, which read variables shellcheck cannot see.
# shellcheck disable=SC2016,SC2034,SC2012
set -u

bin=$(realpath "$1")
top=$(realpath "$2")
# shellcheck source=tests/backup/test-lib.sh
source "$top/tests/backup/test-lib.sh"
work=$(mktemp -d -t corpdeploy-ctr-restore.XXXXXX)
name="ctrrestore$$"
tag="corpdeploy-test/$name"
ctr="$name-db"
pass=0
fail=0
engine_checked=""

cleanup() {
	if [ -n "$engine_checked" ]; then
		engine_down "$ctr" "${name}pg-db" -- "$tag:1" "$tag-pg:1"
	fi
	[ -n "${CD_TEST_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

run_cd() { "$bin" --no-color "$@" >"$work/out" 2>&1; }

if ! engine_up; then
	echo "Bail out! needs a Docker engine (tests/docker/engine-up.sh) and busybox-static"
	exit 1
fi
engine_checked=1

# The image: busybox and the applets the commands use, an empty /data.
busybox_rootfs "$work/rootfs" sh cat mv head sleep sha256sum
mkdir -p "$work/rootfs/data" "$work/rootfs/tmp"
tar -C "$work/rootfs" -c bin data tmp | docker import -c 'ENV PATH=/bin' - "$tag:1" >/dev/null ||
	{ echo "Bail out! cannot import the busybox image"; exit 1; }

# The service's container, as a deployment of the plan names it (<plan>-<service>).
start_db() {
	docker rm -f "$ctr" >/dev/null 2>&1
	docker run -d --name "$ctr" --network none "$tag:1" sleep 3600 >/dev/null
}
put_db() { docker exec -i "$ctr" sh -c 'cat > /data/db' <"$1"; }
db_sum() { docker exec "$ctr" sha256sum /data/db | cut -c1-64; }

{ echo 1; head -c 8M /dev/urandom; } >"$work/db.v1"
want=$(sha256sum <"$work/db.v1" | cut -c1-64)
start_db
put_db "$work/db.v1"

# plan RESTORE_COMMAND: the backup phase, then a migration without a down command that
# writes version 2 and garbage, then fails.
plan() {
	db_backup_plan "$name" "$tag:1" db-backup >"$work/plan.yaml"
	cat >>"$work/plan.yaml" <<EOF
        dump: [cat, /data/db]
        restore: [sh, -c, '$1']
        env: { RESTORE_MARK: "restored-by-\${release}" }
  - name: migration
    steps:
      - name: migrate
        run: [sh, -c, "{ echo 2; echo garbage; } > /data/db.tmp && mv /data/db.tmp /data/db && exit 1"]
        in: db
        migration:
          version_query: [head, -n, "1", /data/db]
EOF
	echo "$work/plan.yaml"
}
good_restore='cat > /data/db.new && mv /data/db.new /data/db && echo "$RESTORE_MARK" > /data/mark'

# 1. backup, change the data, restore --run: byte for byte, with the step's env.
p=$(plan "$good_restore")
run_cd backup "$p"; rc=$?
check "backup of the dump inside the container (exit 0)" '[ $rc = 0 ] && grep -q "^run " "$work/out"'
brun=$(sed -n 's/^run //p' "$work/out")
echo "changed since the backup" | docker exec -i "$ctr" sh -c 'cat > /data/db'
check "the data changed" '[ "$(db_sum)" != "$want" ]'
run_cd restore "$p" --run "$brun"; rc=$?
check "restore --run into the container (exit 0)" '[ $rc = 0 ] && grep -q "db-backup: database restored" "$work/out"'
check "the data is back byte for byte" '[ "$(db_sum)" = "$want" ]'
check "the restore command got the step's env" '[ "$(docker exec "$ctr" cat /data/mark)" = restored-by-r1 ]'

# 2. A restore command that fails: its exit code and stderr; it wrote nothing, so nothing changed.
echo "changed again" | docker exec -i "$ctr" sh -c 'cat > /data/db'
p=$(plan 'head -c 100 > /dev/null; echo "restore refused: disk full" >&2; exit 5')
run_cd restore "$p" --run "$brun"; rc=$?
check "a failing restore command fails the restore (exit != 0)" '[ $rc != 0 ]'
check "... with its exit code and stderr" 'grep -q "restore command .sh. exited with 5: restore refused: disk full" "$work/out"'
check "... and the data is as the command left it" '[ "$(docker exec "$ctr" cat /data/db)" = "changed again" ]'

# 3. A stopped container: the engine's words, nothing sent.
docker stop -t 0 "$ctr" >/dev/null
p=$(plan "$good_restore")
run_cd restore "$p" --run "$brun"; rc=$?
check "restoring into a stopped container fails with the engine's words" \
	'[ $rc != 0 ] && grep -q "is not running" "$work/out"'
start_db
put_db "$work/db.v1"

# 4. A migration that fails after changing the data, with no down command: `up` rolls it back
#    by restoring this run's dump into the container.
run_cd up "$p"; rc=$?
check "a failing migration rolls back (exit 1)" '[ $rc = 1 ]'
check "... by restoring the dump into the container" \
	'grep -q "migration .migrate. taken back by restoring the dump of .db-backup. (version 1)" "$work/out"'
check "... and the data is back byte for byte" '[ "$(db_sum)" = "$want" ]'
urun=$(ls "$work/state/$name/runs" | sort | tail -1)
check "the report records the rollback as a restore" \
	'python3 -c "import json,sys
r = json.load(open(sys.argv[1]))
m = [s for p in r[\"phases\"] for s in p[\"steps\"] if s[\"name\"] == \"migrate\"][0]
sys.exit(m[\"details\"][\"migration\"][\"rollback\"] != \"restore\")" "$work/state/$name/runs/$urun/report.json"'
run_cd history "$p"; rc=$?
check "history lists the run as rolled back, its report says restore" \
	'[ $rc = 0 ] && grep -q "$urun .* rolled-back" "$work/out" &&
	grep -q "rollback by: restore" "$work/state/$name/runs/$urun/report.md"'

# 5. A real PostgreSQL in a container (an image of this machine's Debian PostgreSQL
#    binaries and the libraries they load): pg_dump -Fc out, pg_restore back in, both by
#    exec; a migration that fails half way is taken back by the restore, schema and data
#    checksums as before.
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
pgname="${name}pg"
pgc="$pgname-db"
if [ -x "$pg_bin/postgres" ]; then
	# shellcheck source=tests/backup/pg-image.sh
	source "$top/tests/backup/pg-image.sh"
	pg_image_build "$tag-pg:1" "$work/pg-image" >/dev/null || not_ok "PostgreSQL image built"
	docker rm -f "$pgc" >/dev/null 2>&1
	docker run -d --name "$pgc" --network none -e POSTGRES_USER=postgres \
		-e POSTGRES_PASSWORD="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
		"$tag-pg:1" >/dev/null
	for _ in $(seq 1 600); do
		docker exec "$pgc" pg_isready -q 2>/dev/null && break
		sleep 0.1
	done
	# The checksums of pg-lib.sh, with the container's client programs.
	# shellcheck source=tests/backup/pg-lib.sh
	source "$top/tests/backup/pg-lib.sh"
	psql() { docker exec "$pgc" psql "$@"; }
	pg_dump() { docker exec "$pgc" pg_dump "$@"; }
	psql -q -d postgres -c "create database appdb" >/dev/null
	psql -q -d appdb -v ON_ERROR_STOP=1 \
		-c "create table schema_version (version text not null)" \
		-c "insert into schema_version values ('001')" \
		-c "create table orders (id serial primary key, item text not null, qty int not null)" \
		-c "insert into orders (item, qty) select 'item-' || g, g % 7 from generate_series(1, 5000) g" \
		>/dev/null
	before="$(pg_schema_sum appdb) $(pg_data_sum appdb)"
	check "PostgreSQL in a container: the database is up with its 5000 rows" \
		'[ "$(psql -d appdb -tAc "select count(*) from orders")" = 5000 ]'
	db_backup_plan "$pgname" "$tag-pg:1" db-backup >"$work/pg.yaml"
	cat >>"$work/pg.yaml" <<EOF
        dump: [pg_dump, -Fc, appdb]
        restore: [pg_restore, -d, appdb, --clean, --if-exists, --single-transaction]
  - name: migration
    steps:
      - name: migrate
        in: db
        run: [psql, -d, appdb, -v, ON_ERROR_STOP=1, -q,
          -c, "alter table orders add column note text",
          -c, "update orders set note = 'migrated', qty = qty + 1",
          -c, "update schema_version set version = '002'",
          -c, "select * from no_such_table"]
        migration:
          version_query: [psql, -d, appdb, -tAc, "select version from schema_version"]
EOF
	run_cd up "$work/pg.yaml"; rc=$?
	check "PostgreSQL in a container: a migration failing half way rolls back (exit 1)" \
		'[ $rc = 1 ] && grep -q "FAILED migrate .*exited with 1, expected 0: ERROR:  relation .no_such_table. does not exist" "$work/out"'
	check "... by pg_restore of the dump inside the container" \
		'grep -q "migration .migrate. taken back by restoring the dump of .db-backup. (version 001)" "$work/out"'
	check "... schema and data checksums as before" \
		'[ "$(pg_schema_sum appdb) $(pg_data_sum appdb)" = "$before" ]'
	run_cd backup "$work/pg.yaml"
	prun=$(sed -n 's/^run //p' "$work/out")
	psql -q -d appdb -c "delete from orders where id % 3 = 0" -c "drop table schema_version" >/dev/null
	check "... (the database changed since its backup)" \
		'[ -n "$prun" ] && [ "$(pg_schema_sum appdb) $(pg_data_sum appdb)" != "$before" ]'
	run_cd restore "$work/pg.yaml" --run "$prun"; rc=$?
	check "PostgreSQL in a container: restore --run puts the database back" \
		'[ $rc = 0 ] && [ "$(pg_schema_sum appdb) $(pg_data_sum appdb)" = "$before" ]'
	unset -f psql pg_dump
	docker rm -f "$pgc" >/dev/null 2>&1
	docker rmi -f "$tag-pg:1" >/dev/null 2>&1
else
	not_ok "PostgreSQL in a container: no PostgreSQL binaries at $pg_bin (postgresql-15)"
fi

echo "1..$((pass + fail))"
[ "$fail" = 0 ]
