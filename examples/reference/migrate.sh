#!/bin/sh
# An alembic look-alike for the reference scenario: numbered SQL files in
# migrations/ (NNN_name.up.sql with its NNN_name.down.sql), the version kept in
# alembic_version as alembic does. psql reads PGHOST, PGPORT, PGUSER,
# PGDATABASE and PGPASSWORD from the environment.
#
#   migrate.sh current            print the version ("base" before the first)
#   migrate.sh upgrade head       apply every migration newer than the current one
#   migrate.sh downgrade VERSION  revert the migrations newer than VERSION
set -eu
cd "$(dirname "$0")/migrations"

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

current() {
	if [ "$(psql_q -tA -c "select to_regclass('alembic_version') is not null")" = t ]; then
		v=$(psql_q -tA -c "select version_num from alembic_version")
		echo "${v:-base}"
	else
		echo base
	fi
}

# One transaction per migration: its SQL and the version change commit together.
apply() { # FILE NEW-VERSION
	{
		echo "begin;"
		cat "$1"
		if [ "$2" = base ]; then
			echo "drop table if exists alembic_version;"
		else
			echo "create table if not exists alembic_version (version_num text not null);"
			echo "delete from alembic_version; insert into alembic_version values ('$2');"
		fi
		echo "commit;"
	} | psql_q -f -
}

case "${1:-}" in
current)
	current
	;;
upgrade)
	[ "${2:-}" = head ] || { echo "migrate.sh: only 'upgrade head' is supported" >&2; exit 2; }
	now=$(current)
	for up in *.up.sql; do
		v=${up%%_*}
		if [ "$now" = base ] || [ "$v" \> "$now" ]; then
			echo "upgrade $now -> $v (${up%.up.sql})"
			apply "$up" "$v"
			now=$v
		fi
	done
	;;
downgrade)
	to=${2:?migrate.sh downgrade VERSION}
	now=$(current)
	# Newest first: each step goes back to the migration before it.
	for down in $(ls -r -- *.down.sql); do
		v=${down%%_*}
		[ "$now" != base ] && [ "$v" = "$now" ] || continue
		[ "$to" = base ] || [ "$v" \> "$to" ] || break
		prev=base
		for up in *.up.sql; do
			[ "${up%%_*}" \< "$v" ] && prev=${up%%_*}
		done
		echo "downgrade $now -> $prev (${down%.down.sql})"
		apply "$down" "$prev"
		now=$prev
	done
	;;
*)
	echo "usage: migrate.sh current | upgrade head | downgrade VERSION" >&2
	exit 2
	;;
esac
