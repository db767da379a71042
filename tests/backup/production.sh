#!/usr/bin/env bash
# The reference plan's own backup, infrastructure and database-migration
# phases (plans/production.yaml, through production-plan.py, which says
# what it replaces) against a PostgreSQL that corpdeploy deploys as the
# plan's postgres service (an image built here from this machine's
# PostgreSQL 15, pg-image.sh) and an s3rver (pg-lib.sh), with the
# migration run by the plan's unchanged commands, `alembic upgrade head`
# and so on, in a one-off container of a stand-in api image (busybox, psql
# and an alembic shim, alembic/) on the plan's backend network. Shows: a
# first deployment, which finds no database to back up and says so; the
# config and the database (pg_dump inside the postgres container) backed
# up (archive, manifest, upload), the dump restorable; the migration
# applied and its versions recorded before and after; a failing step after
# the migration rolls it back by its down command, and the database
# checksums equal the ones before; `corpdeploy restore` feeds the dump to
# pg_restore inside the container; a down migration that fails is taken
# back by that dump instead, and the report says so; no secret in any
# output.
#
#   production.sh CORPDEPLOY SOURCE_ROOT
# Checks are eval'd strings, which read variables shellcheck cannot see.
# shellcheck disable=SC2016,SC2034
set -u

bin=$(realpath "$1")
top=$(realpath "$2")
here=$top/tests/backup
# shellcheck source=tests/backup/pg-lib.sh
source "$here/pg-lib.sh"
# shellcheck source=tests/backup/pg-image.sh
source "$here/pg-image.sh"
work=$(mktemp -d -t corpdeploy-production.XXXXXX)
chmod 755 "$work"
release="pp$$"
image="corp/api:$release"
pg_image="corp/postgres-test:$release"
plan_name="corporate-intelligence-$release"
pgc="$plan_name-postgres"
site=$work/site
pass=0
fail=0
started_dockerd=""

cleanup() {
	docker ps -aq --filter "label=corpdeploy.plan=$plan_name" | xargs -r docker rm -f -v >/dev/null 2>&1
	docker ps -aq --filter "label=corpdeploy.one-off=$plan_name" | xargs -r docker rm -f >/dev/null 2>&1
	docker volume ls -q --filter "label=corpdeploy.plan=$plan_name" | xargs -r docker volume rm >/dev/null 2>&1
	docker network ls -q --filter "label=corpdeploy.plan=$plan_name" | xargs -r docker network rm >/dev/null 2>&1
	docker images -q "corpdeploy-keep/$plan_name-*" | xargs -r docker rmi -f >/dev/null 2>&1
	docker rmi -f "$image" "$pg_image" >/dev/null 2>&1
	s3_down
	if [ -n "$started_dockerd" ]; then
		kill "$started_dockerd" 2>/dev/null
		for _ in $(seq 1 300); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.1; done
	fi
	[ -n "${CD_TEST_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; [ -f "$work/out" ] && sed 's/^/    /' "$work/out" | tail -30; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
random() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# ---- the site: the plan's directory, with its .env.production and config/ ----
mkdir -p "$site/config/nginx/conf.d"
printf 'events {}\n' >"$site/config/nginx/nginx.conf"
printf 'server { listen 80; }\n' >"$site/config/nginx/conf.d/api.conf"
secrets=(POSTGRES_PASSWORD REDIS_PASSWORD JWT_SECRET_KEY MINIO_ROOT_PASSWORD GRAFANA_ADMIN_PASSWORD
	SLACK_WEBHOOK_URL SMOKE_USER_PASSWORD)
: >"$site/.env.production"
chmod 600 "$site/.env.production"
for s in "${secrets[@]}"; do printf '%s=%s-%s\n' "$s" "$s" "$(random)" >>"$site/.env.production"; done
# s3rver takes any key pair it was told of; these are its defaults.
printf 'BACKUP_S3_ACCESS_KEY=S3RVER\nBACKUP_S3_SECRET_KEY=S3RVER\n' >>"$site/.env.production"
db_password=$(sed -n 's/^POSTGRES_PASSWORD=//p' "$site/.env.production")

# ---- s3rver, with the plan's bucket ----
read -r bucket prefix < <(python3 -c 'import sys, yaml
s = yaml.safe_load(open(sys.argv[1]))["backup_storage"]
print(s["bucket"], s["prefix"])' "$top/plans/production.yaml")
s3_up "$work/s3" "$bucket" || { echo "Bail out! s3rver did not start"; exit 1; }

# ---- the images: PostgreSQL, and the stand-in api (busybox, psql with its libraries, the alembic shim) ----
started_dockerd=$("$top/scripts/dockerd-up.sh") || { echo "Bail out! no Docker engine"; exit 1; }
pg_image_build "$pg_image" "$work/pg-image" || { echo "Bail out! cannot build the PostgreSQL image"; exit 1; }
ctx=$work/image
mkdir -p "$ctx/root/bin" "$ctx/root/usr/local/bin" "$ctx/root/migrations" "$ctx/root/etc"
install -m 0755 /bin/busybox "$ctx/root/bin/busybox"
psql_bin=$PG_BIN/psql
for f in "$psql_bin" $(ldd "$psql_bin" | grep -o '/[^ ]*'); do
	mkdir -p "$ctx/root$(dirname "$f")"
	cp -L "$f" "$ctx/root$f"
done
ln -s "$psql_bin" "$ctx/root/usr/local/bin/psql"
install -m 0755 "$here/alembic/alembic" "$ctx/root/usr/local/bin/alembic"
cp "$here/alembic/order" "$here"/alembic/*.sql "$ctx/root/migrations/"
printf 'root:x:0:0::/:/bin/sh\napi:x:1000:1000::/:/bin/sh\n' >"$ctx/root/etc/passwd"
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY root/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/usr/local/bin:/bin
DOCKERFILE
docker build -q -t "$image" "$ctx" >"$work/build.log" 2>&1 ||
	{ cat "$work/build.log"; echo "Bail out! cannot build the stand-in api image"; exit 1; }

# The test reads the database as the plan's user inside its container (trust on the local socket):
# pg_lib's checksums call pg_dump and psql, which these functions send there.
pg_dump() { docker exec -i "$pgc" pg_dump -U corp "$@"; }
psql() { docker exec -i "$pgc" psql -U corp "$@"; }
db() { psql -d corp -X -tA -v ON_ERROR_STOP=1 "$@"; }
sums() { echo "$(pg_schema_sum corp) $(pg_data_sum corp)"; }
version() { db -c "select version_num from alembic_version"; }
# The image's own alembic, as an operator would run it, on the plan's backend network.
alembic_by_hand() {
	docker run --rm --network "${plan_name}_backend" \
		-e DATABASE_URL="postgresql://corp:$db_password@postgres:5432/corp" "$image" alembic "$@"
}

# ---- the plan: production.yaml's phases, LAST_STEP_EXIT for the step after the migration ----
plan=$site/production.yaml
write_plan() { # LAST_STEP_EXIT
	python3 "$here/production-plan.py" "$top/plans/production.yaml" "$plan" "$work/state" \
		"http://127.0.0.1:$S3_PORT" "$release" "$pg_image" "$1" ||
		{ echo "Bail out! production-plan.py failed"; exit 1; }
}
logs=()
cmd() {
	"$bin" --no-color "$@" >"$work/out" 2>&1
	local rc=$?
	cp "$work/out" "$work/out.${#logs[@]}"
	logs+=("$work/out.${#logs[@]}")
	return $rc
}
latest_run() { ls "$work/state/$plan_name/runs" | sort | tail -1; }
run_dir() { echo "$work/state/$plan_name/runs/$1"; }
manifest() { zstd -dc "$1" | tar -xO MANIFEST.json; }

write_plan 0
cmd lint "$plan"; rc=$?
check "the derived plan lints" '[ $rc = 0 ]'

# 0. A first deployment: no database yet to back up; postgres deployed; migrated from base to head.
cmd up "$plan"; rc=$?
check "a first deployment runs (exit 0)" '[ $rc = 0 ]'
check "the database backup says there was no container to dump" \
	'grep -q "nothing to back up: service .postgres. has no container yet" "$work/out"'
check "postgres is deployed, healthy by its pg_isready check" \
	'grep -q "postgres healthy after" "$work/out" && [ "$(docker inspect -f "{{.State.Running}}" "$pgc" 2>/dev/null)" = true ]'
check "the migration ran from base to head over the plan's network" \
	'[ "$(version)" = 0002_sectors ] && grep -qF "(version (none) -> 0002_sectors)" "$work/out"'
# Back to revision 0001 by hand: the state every later case starts from.
alembic_by_hand downgrade 0001_initial >"$work/out" 2>&1
check "downgraded by hand to 0001_initial" '[ "$(version)" = 0001_initial ]'
before=$(sums)

# 1. A run that succeeds: both backups taken and uploaded, the migration applied and recorded.
cmd up "$plan"; rc=$?
check "backup, infrastructure and migration phases run (exit 0)" '[ $rc = 0 ]'
run=$(latest_run)
dir=$(run_dir "$run")
check "postgres was left running as it was (same release)" \
	'grep -q "unchanged" "$work/out" && [ "$(docker inspect -f "{{.State.Running}}" "$pgc")" = true ]'
check "the migration is at the image's head" '[ "$(version)" = 0002_sectors ]'
check "the output shows the versions before and after" \
	'grep -q "(version 0001_initial -> 0002_sectors)" "$work/out"'
check "the JSON report records them" 'python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
steps = [s for p in r[\"phases\"] for s in p[\"steps\"]]
m = [s for s in steps if s[\"name\"] == \"alembic-upgrade\"][0][\"details\"][\"migration\"]
assert m[\"version_before\"] == \"0001_initial\" and m[\"version_after\"] == \"0002_sectors\", m
d = [s for s in steps if s[\"name\"] == \"database-backup\"][0][\"details\"][\"database\"]
assert d[\"service\"] == \"postgres\", d
" "$dir/report.json"'
check "database archive and config archive, mode 0600" \
	'[ "$(stat -c %a "$dir/backup-database-backup.tar.zst")" = 600 ] && [ "$(stat -c %a "$dir/backup-config-backup.tar.zst")" = 600 ]'
check "the database manifest names the dump parts and the plan's restore command" \
	'manifest "$dir/backup-database-backup.tar.zst" | python3 -c "
import json, sys
m = json.load(sys.stdin)
assert m[\"kind\"] == \"database\" and m[\"release\"] == \"$release\", m
assert m[\"database\"][\"restore\"][:5] == [\"pg_restore\", \"-U\", \"corp\", \"-d\", \"corp\"], m[\"database\"]
e = [e for e in m[\"entries\"] if e[\"path\"] == \"database-backup.dump\"][0]
assert e[\"type\"] == \"stream\" and e[\"size\"] > 0 and len(e[\"parts\"][0][\"sha256\"]) == 64, e
"'
check "the config archive holds .env.production and config/" \
	'zstd -dc "$dir/backup-config-backup.tar.zst" | tar -t >"$work/list" &&
	 grep -q "\.env\.production$" "$work/list" && grep -q "config/nginx/conf.d/api.conf$" "$work/list"'
check "the dump was uploaded to the plan's bucket and read back" \
	'grep -q "uploaded http://127.0.0.1:$S3_PORT/$bucket/$prefix/$run/backup-database-backup.tar.zst" "$work/out"'
cmd restore "$plan" --run "$run" --verify-only; rc=$?
check "restore --verify-only finds both archives whole" '[ $rc = 0 ]'
# The dump restorable: its parts, in order, into an empty database, give the database of before.
psql -d postgres -q -c "create database corp_check" >/dev/null
zstd -dc "$dir/backup-database-backup.tar.zst" | tar -xO --wildcards 'database-backup.dump.part*' |
	docker exec -i "$pgc" pg_restore -U corp -d corp_check --single-transaction 2>"$work/out"; rc=$?
check "the dump restores into an empty database" '[ $rc = 0 ]'
check "and holds revision 0001 with the checksums of before" \
	'[ "$(echo "$(pg_schema_sum corp_check) $(pg_data_sum corp_check)")" = "$before" ]'

alembic_by_hand downgrade 0001_initial >"$work/out" 2>&1
check "downgraded by hand to the checksums of before" '[ "$(sums)" = "$before" ]'

# 2. The step after the migration fails: the down migration, back to the checksums of before.
write_plan 1
cmd up "$plan"; rc=$?
run2=$(latest_run)
check "a failure after the migration rolls back (exit 1)" '[ $rc = 1 ]'
check "the migration ran first" 'grep -q "(version 0001_initial -> 0002_sectors)" "$work/out"'
check "rollback ran alembic downgrade 0001_initial" \
	'grep -q "taken back to version 0001_initial by its down command" "$work/out"'
check "schema and table checksums equal to before" '[ "$(sums)" = "$before" ] && [ "$(version)" = 0001_initial ]'
check "the one-off containers are gone" \
	'[ -z "$(docker ps -aq --filter "label=corpdeploy.one-off=$plan_name")" ]'
check "postgres still runs" '[ "$(docker inspect -f "{{.State.Running}}" "$pgc")" = true ]'

# The plan's restore command puts back data lost since: rows deleted, then the run's dump,
# fed to pg_restore inside the postgres container.
db -q -c "delete from filings where id % 3 = 0" -c "update companies set name = 'lost'"
cmd restore "$plan" --run "$run2" --step database-backup; rc=$?
check "restore --step database-backup (exit 0)" '[ $rc = 0 ] && grep -q "database restored" "$work/out"'
check "the checksums of before again" '[ "$(sums)" = "$before" ]'

# 3. Rolling back a run that found the database at head: `alembic downgrade 0002_sectors`
# goes nowhere, and the database stays as the run found it.
write_plan 0
cmd up "$plan"
at_head=$(sums)
write_plan 1
cmd up "$plan"; rc=$?
check "a failure with the database already at head rolls back (exit 1)" '[ $rc = 1 ]'
check "the down command took it back to the head it found" \
	'grep -q "taken back to version 0002_sectors by its down command" "$work/out"'
check "checksums equal to the run's start" '[ "$(sums)" = "$at_head" ]'

# 4. A down migration that fails: the rollback restores this run's dump, by pg_restore
# inside the postgres container, and says so.
alembic_by_hand downgrade 0001_initial >"$work/out" 2>&1
echo 'select this_down_migration_fails;' >"$ctx/root/migrations/0002_sectors.down.sql"
docker build -q -t "$image" "$ctx" >"$work/build.log" 2>&1 ||
	{ cat "$work/build.log"; echo "Bail out! cannot rebuild the stand-in api image"; exit 1; }
cmd up "$plan"; rc=$?
run4=$(latest_run)
check "a failure after a migration whose down command fails rolls back (exit 1)" '[ $rc = 1 ]'
check "the down command failed, and the dump was restored instead" \
	'grep -q "restoring the database from this run.s dump" "$work/out" &&
	 grep -q "taken back by restoring the dump of .database-backup. (version 0001_initial)" "$work/out"'
# The plan's restore is pg_restore --clean, which drops and restores only what the
# dump holds (corpdeploy-plan(5) shows an exact form): the table 0002 created stays.
check "the dump's tables are back as they were, at 0001_initial; 0002's new table stays" \
	'[ "$(db -c "select count(*) from pg_tables where tablename = \$\$sectors\$\$")" = 1 ] &&
	 db -q -c "drop table sectors" && [ "$(sums)" = "$before" ] && [ "$(version)" = 0001_initial ]'
check "the report says the migration was taken back by the dump" 'python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
steps = [s for p in r[\"phases\"] for s in p[\"steps\"]]
m = [s for s in steps if s[\"name\"] == \"alembic-upgrade\"][0][\"details\"][\"migration\"]
assert m[\"rollback\"] == \"restore\", m
" "$(run_dir "$run4")/report.json"'

# 5. No secret of the plan in any output, report, journal or manifest.
leak=0
values=$(sed -n 's/^[A-Z_]*=//p' "$site/.env.production" | grep -v '^S3RVER$')
for f in "${logs[@]}" $(find "$work/state" -type f ! -name '*.tar.zst'); do
	if grep -qF "$values" "$f"; then
		leak=1
		echo "    leaked into $f"
	fi
done
for a in "$work"/state/*/runs/*/backup-database-backup.tar.zst; do
	manifest "$a" | grep -qF "$values" && { leak=1; echo "    leaked into the manifest of $a"; }
done
check "the plan's secrets in no output, report or state file" '[ $leak = 0 ]'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
