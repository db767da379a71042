#!/usr/bin/env bash
# The crash matrix of rollback.sh, for a database: a plan that dumps a real
# PostgreSQL (started here, 127.0.0.1), migrates it and then deploys, is
# killed with SIGKILL (fault injection: the binary is built with
# -Dfault_injection=true) before and after the backup, before and after the
# migration, before, during and after the deploy step that follows, and in
# the middle of the rollback itself (before and after the migration's undo,
# in `up`'s own rollback and in `corpdeploy rollback`). Each time
# `corpdeploy rollback` must finish the undo from the journal, the schema and
# table checksums must equal the ones before the run, and a second rollback
# must change nothing. The migration is taken back by its down command, or,
# for a plan without one, by restoring the run's dump (into an emptied
# schema: the migration adds a table that `pg_restore --clean` cannot drop).
#
#   rollback-migration.sh CORPDEPLOY SOURCE_ROOT
# Checks are eval'd strings, which read variables shellcheck cannot see.
# shellcheck disable=SC2034,SC2016
set -u

bin=$(realpath "$1")
top=$(realpath "$2")
# shellcheck source=tests/backup/pg-lib.sh
source "$top/tests/backup/pg-lib.sh"
work=$(mktemp -d -t corpdeploy-rollback-migration.XXXXXX)
chmod 755 "$work"
name="rbm$$"
plan="$work/plan.yaml"
pass=0
fail=0
hung=""

cleanup() {
	[ -n "$hung" ] && kill "$hung" 2>/dev/null
	pg_down
	[ -n "${CD_TEST_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=tests/e2e/lib.sh
source "$top/tests/e2e/lib.sh"
require_fault_injection

DB_PASSWORD="pw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export DB_PASSWORD
pg_up "$work/pg" "$DB_PASSWORD" || { echo "Bail out! postgres did not start"; exit 1; }
# Where every psql, pg_dump and pg_restore connects; the password only through the plan's secret.
export PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres
PGPASSWORD=$DB_PASSWORD pg_seed_appdb 2000
db() { PGPASSWORD=$DB_PASSWORD psql -d appdb -tA -v ON_ERROR_STOP=1 "$@"; }
sums() { echo "$(PGPASSWORD=$DB_PASSWORD pg_schema_sum appdb) $(PGPASSWORD=$DB_PASSWORD pg_data_sum appdb)"; }
before=$(sums)
# The test's own copy, to start each case from the same database should one go wrong.
PGPASSWORD=$DB_PASSWORD pg_dump -Fc -d appdb >"$work/baseline.dump"
# `pg_restore --clean` replaces only what the dump holds: it cannot drop a table the migration
# made (order_audit) whose foreign key holds a constraint it must drop. This restore puts the
# database back exactly, in one transaction: the schema emptied, then the dump as SQL; when
# pg_restore cannot read the dump, a failing statement makes psql roll all of it back.
cat >"$work/clear-schema.sql" <<'SQL'
drop schema public cascade;
create schema public authorization pg_database_owner;
grant usage on schema public to public;
comment on schema public is 'standard public schema';
SQL
restore_cmd="{ cat $work/clear-schema.sql; pg_restore -f - || echo 'select the_dump_cannot_be_read;'; } | psql -d appdb -v ON_ERROR_STOP=1 --single-transaction -q -o /dev/null"
reset_db() {
	PGPASSWORD=$DB_PASSWORD sh -c "$restore_cmd" <"$work/baseline.dump" >/dev/null 2>&1
}

cat >"$work/up.sql" <<'SQL'
alter table orders add column note text;
update orders set note = 'migrated', qty = qty + 1;
insert into orders (item, qty) values ('added', 1);
create index orders_note on orders (note);
create table order_audit (order_id int not null references orders (id), seen timestamptz);
insert into order_audit (order_id) select id from orders where id % 10 = 0;
update schema_version set version = '002';
SQL
cat >"$work/down.sql" <<'SQL'
drop table order_audit;
delete from orders where item = 'added';
update orders set qty = qty - 1;
drop index orders_note;
alter table orders drop column note;
update schema_version set version = :'ver';
SQL
# The deploy step that hangs until killed: it says where it is, then waits.
cat >"$work/deploy-hang.sh" <<EOF2
#!/bin/sh
echo \$\$ > "$work/deploy.pid"
exec sleep 3600
EOF2
chmod 755 "$work/deploy-hang.sh"

psql_cmd='psql, -d, appdb, -v, ON_ERROR_STOP=1, -q'
# write_plan RELEASE DOWN(yes|no) DEPLOY-COMMAND
write_plan() {
	cat >"$plan" <<PLAN
corpdeploy: 1
name: $name
release: "$1"
secrets: [DB_PASSWORD]
state_dir: $work/state
phases:
  - name: backup
    steps:
      - name: db-backup
        backup: database
        dump: [pg_dump, -Fc, -d, appdb]
        restore: [sh, -c, "$restore_cmd"]
        env: { PGPASSWORD: "\${DB_PASSWORD}" }
        keep: 2
  - name: migration
    steps:
      - name: migrate
        run: [$psql_cmd, -f, $work/up.sql]
        env: { PGPASSWORD: "\${DB_PASSWORD}" }
$([ "$2" = yes ] && echo "        undo: [$psql_cmd, -v, \"ver=\${previous.migration}\", -f, $work/down.sql]")
        migration:
          version_query: [psql, -d, appdb, -tAc, "select version from schema_version"]
  - name: application
    steps:
      - name: deploy-api
        run: $3
        undo: [rm, -f, $work/deployed]
PLAN
}
deploy_ok="[sh, -c, \"echo deployed > $work/deployed\"]"
deploy_fails="[sh, -c, \"exit 3\"]"
deploy_hangs="[$work/deploy-hang.sh]"

cmd() { "$bin" --no-color "$@" >"$work/out" 2>&1; echo $?; }

# What the rollback says it did to a migration that ran.
by_down="taken back to version 001 by its down command"
by_dump="taken back by restoring the dump of 'db-backup'"
# after_crash LABEL [SAYS]: rollback finishes the run (and says SAYS); the database is as
# before; a second rollback does nothing.
after_crash() {
	local label=$1 says=${2:-} rc
	rc=$(cmd up "$plan")
	check "[$label] the next up refuses: unfinished run (exit 3)" '[ "$rc" = 3 ] && grep -q "unfinished" "$work/out"'
	rc=$(cmd rollback "$plan")
	check "[$label] rollback exits 0" '[ "$rc" = 0 ]'
	[ -z "$says" ] || check "[$label] rollback says: $says" 'grep -qF "$says" "$work/out"'
	check "[$label] schema and table checksums as before the run" '[ "$(sums)" = "$before" ]'
	check "[$label] the deploy step was undone" '[ ! -e "$work/deployed" ]'
	rc=$(cmd rollback "$plan")
	check "[$label] a second rollback changes nothing" \
		'[ "$rc" = 0 ] && grep -q "nothing to do" "$work/out" && [ "$(sums)" = "$before" ]'
	[ "$(sums)" = "$before" ] || reset_db
	rm -f "$work/deployed"
}

# Killed at each step boundary of up; the migration undone by its down command, then by the dump.
for down in yes no; do
	for point in backup:db-backup:before backup:db-backup:after migration:migrate:before \
		migration:migrate:after application:deploy-api:before application:deploy-api:after; do
		write_plan r2 "$down" "$deploy_ok"
		rc=$(CORPDEPLOY_FAULT="${point%:*}:kill9:${point##*:}" cmd up "$plan")
		check "[$point down=$down] up is killed there" '[ "$rc" = 137 ]'
		case $point:$down in
		backup:* | migration:migrate:before:*) says="" ;;
		*:yes) says=$by_down ;;
		*:no) says=$by_dump ;;
		esac
		after_crash "$point down=$down" "$says"
	done
done

# Killed in the middle of the deploy step after the migration: its command still running.
for down in yes no; do
	write_plan r2 "$down" "$deploy_hangs"
	rm -f "$work/deploy.pid"
	"$bin" --no-color up "$plan" >"$work/out" 2>&1 &
	pid=$!
	for _ in $(seq 1 600); do [ -s "$work/deploy.pid" ] && break; sleep 0.1; done
	hung=$(cat "$work/deploy.pid" 2>/dev/null)
	check "[during deploy-api down=$down] the migration ran before the deploy step" \
		'[ -n "$hung" ] && [ "$(db -c "select version from schema_version")" = 002 ]'
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	# The deploy command outlives corpdeploy, as on a real crash; the test ends it, by its PID.
	[ -n "$hung" ] && kill "$hung" 2>/dev/null
	hung=""
	if [ "$down" = yes ]; then after_crash "during deploy-api down=$down" "$by_down"; else
		after_crash "during deploy-api down=$down" "$by_dump"; fi
done

# Killed in the middle of the rollback: up's own, after the deploy fails, and `rollback`'s.
for down in yes no; do
	for point in rollback:migrate:before rollback:migrate:after rollback:deploy-api:after; do
		write_plan r2 "$down" "$deploy_fails"
		rc=$(CORPDEPLOY_FAULT="${point%:*}:kill9:${point##*:}" cmd up "$plan")
		check "[up, $point down=$down] up's rollback is killed there" '[ "$rc" = 137 ]'
		after_crash "up, $point down=$down"

		write_plan r2 "$down" "$deploy_ok"
		rc=$(CORPDEPLOY_FAULT="application:deploy-api:kill9:after" cmd up "$plan")
		rc=$(CORPDEPLOY_FAULT="${point%:*}:kill9:${point##*:}" cmd rollback "$plan")
		check "[rollback, $point down=$down] rollback is killed there" '[ "$rc" = 137 ]'
		rc=$(cmd rollback "$plan")
		check "[rollback, $point down=$down] the next rollback exits 0" '[ "$rc" = 0 ]'
		check "[rollback, $point down=$down] schema and table checksums as before the run" \
			'[ "$(sums)" = "$before" ]'
		rc=$(cmd rollback "$plan")
		check "[rollback, $point down=$down] a second rollback changes nothing" \
			'[ "$rc" = 0 ] && grep -q "nothing to do" "$work/out" && [ "$(sums)" = "$before" ]'
		[ "$(sums)" = "$before" ] || reset_db
		rm -f "$work/deployed"
	done
done

# The database password is in no output or state file.
leak=0
for f in "$work/out" $(find "$work/state" -type f ! -name '*.tar.zst'); do
	grep -qF "$DB_PASSWORD" "$f" && { leak=1; echo "    leaked into $f"; }
done
check "the database password is in no output or state file" '[ $leak = 0 ]'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
