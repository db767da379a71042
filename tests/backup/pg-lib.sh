# shellcheck shell=bash
# A PostgreSQL and an s3rver for the backup and migration tests, sourced by
# them: initdb in a directory of the test's, password authentication,
# 127.0.0.1 on a free port; s3rver (npm) on 127.0.0.1. pg_down and s3_down
# stop exactly what pg_up and s3_up started.
#
#   pg_up DIR PASSWORD   sets PG_PORT; the superuser is postgres
#   pg_down
#   s3_up DIR BUCKET...  sets S3_PORT; the buckets exist, empty
#   s3_down
#   pg_schema_sum DB, pg_data_sum DB   checksums (connection from PG* variables)
#   pg_seed_appdb ROWS   database appdb: schema_version 001 and ROWS orders (the same)
#   pg_failing_migration FILE   SQL for appdb that changes data and schema, then fails

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DATA=""
PG_PORT=""
S3_PID=""
S3_PORT=""

pg_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# PostgreSQL refuses to run as root: initdb and the server run as postgres then.
pg_as_server() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_up() { # DIR PASSWORD
	local dir=$1
	PG_PORT=$(pg_free_port)
	mkdir -p "$dir"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir"
	printf '%s\n' "$2" >"$dir/pw"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir/pw"
	if ! pg_as_server "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=scram-sha-256 \
		--pwfile="$dir/pw" -E UTF8 >"$dir/initdb.log" 2>&1; then
		rm -f "$dir/pw"
		cat "$dir/initdb.log"
		return 1
	fi
	rm -f "$dir/pw"
	if ! pg_as_server "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
		-o "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null; then
		cat "$dir/log"
		return 1
	fi
	PG_DATA=$dir/data
}

pg_down() {
	[ -n "$PG_DATA" ] || return 0
	pg_as_server "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1
	PG_DATA=""
}

s3_up() { # DIR BUCKET...
	local dir=$1 npm_cache=${CD_TEST_NPM_CACHE:-/var/cache/corpdeploy-test/npm}
	shift
	local s3rver="$npm_cache/node_modules/.bin/s3rver" buckets=()
	if [ ! -x "$s3rver" ]; then
		mkdir -p "$npm_cache"
		npm install --prefix "$npm_cache" --no-audit --no-fund s3rver@3 >"$dir.npm.log" 2>&1 ||
			{ cat "$dir.npm.log"; return 1; }
	fi
	for b in "$@"; do buckets+=(--configure-bucket "$b"); done
	S3_PORT=$(pg_free_port)
	mkdir -p "$dir"
	"$s3rver" -d "$dir" -a 127.0.0.1 -p "$S3_PORT" -s --no-vhost-buckets "${buckets[@]}" \
		>"$dir.log" 2>&1 &
	S3_PID=$!
	for _ in $(seq 1 100); do
		curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/" && return 0
		sleep 0.1
	done
	cat "$dir.log"
	return 1
}

s3_down() {
	[ -n "$S3_PID" ] || return 0
	kill "$S3_PID" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$S3_PID" 2>/dev/null || break; sleep 0.1; done
	S3_PID=""
}

pg_seed_appdb() { # ROWS
	psql -q -d postgres -c "create database appdb" >/dev/null
	psql -q -d appdb -v ON_ERROR_STOP=1 >/dev/null <<SQL
create table schema_version (version text not null);
insert into schema_version values ('001');
create table orders (id serial primary key, item text not null, qty int not null);
insert into orders (item, qty) select 'item-' || g, g % 7 from generate_series(1, $1) g;
SQL
}

pg_failing_migration() { # FILE
	cat >"$1" <<'SQL'
alter table orders add column note text;
update orders set note = 'migrated', qty = qty + 1;
insert into orders (item, qty) values ('added', 1);
update schema_version set version = '002';
select * from no_such_table;
SQL
}

# The schema without comments and the random \restrict key recent pg_dump versions write.
pg_schema_sum() { # DB
	pg_dump -d "$1" -s | grep -v -e '^--' -e '^\\restrict' -e '^\\unrestrict' |
		sha256sum | cut -c1-64
}

# Every row of every table of the public schema, in a stable order.
pg_data_sum() { # DB
	local tables q sep=""
	tables=$(psql -d "$1" -tA -v ON_ERROR_STOP=1 -c \
		"select tablename from pg_tables where schemaname = 'public' order by 1") || return 1
	q="select md5(coalesce(string_agg(t, ',' order by t), '')) from ("
	for t in $tables; do
		q="$q$sep select '$t:' || x::text as t from \"$t\" x"
		sep=" union all"
	done
	[ -n "$sep" ] || q="$q select ''::text as t where false"
	psql -d "$1" -tA -v ON_ERROR_STOP=1 -c "$q) all_rows"
}
