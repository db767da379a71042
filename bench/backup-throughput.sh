#!/usr/bin/env bash
# Backup throughput: `corpdeploy backup` of a database dump against
# `pg_dump | zstd` to a file, on the same machine and the same data.
#
#   bench/backup-throughput.sh CORPDEPLOY [GIB]
#   BACKUP_BENCH_GIB=0.25 bench/backup-throughput.sh CORPDEPLOY
#
# Starts a PostgreSQL of its own (initdb in a temporary directory,
# 127.0.0.1 on a free port), fills a table with about GIB GiB of rows that
# compress about as well as real data (GIB: the argument, else
# BACKUP_BENCH_GIB, else 1; a smaller dump for a busy machine), then times,
# twice each, alternating:
#   baseline    pg_dump DB | zstd -3 -T1 > file
#   corpdeploy  corpdeploy backup PLAN, whose step runs the same pg_dump and
#               streams it into its archive
# Both compress alike: zstd level 3 (the CLI's default) with one worker
# thread beside the one reading (-T1, the CLI's default; corpdeploy gives
# libzstd one worker thread). corpdeploy also does what the baseline does
# not: the sha256 of every 4 MiB part and of the archive, and the tar.
# Prints the dump's size, each run's MiB/s (dump bytes / wall time), the
# CPU seconds and CPU seconds per GiB of dump (user + sys of the whole
# pipeline, pg_dump included: on a loaded machine the steadier figure) and
# corpdeploy's peak RSS (/usr/bin/time -v), with the load average before
# and after. Stops its server by PID.
set -u

bin=$(realpath "$1")
gib=${2:-${BACKUP_BENCH_GIB:-1}}
pg_bin=/usr/lib/postgresql/15/bin
work=$(mktemp -d -t corpdeploy-bench-backup.XXXXXX)
chmod 755 "$work"
started=""

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
	[ -n "$started" ] && as_pg "$pg_bin/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres: "$work/pg"
as_pg "$pg_bin/initdb" -D "$work/pg/data" -U postgres --auth=trust -E UTF8 >/dev/null || exit 1
as_pg "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w -t 60 \
	-o "-p $port -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_wal_size=4GB" \
	start >/dev/null || exit 1
started=1
export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres

# Rows of ~250 bytes: ids, a timestamp, hex digests (incompressible in part)
# and repeated words (compressible), roughly what order tables hold.
rows=$(python3 -c "print(int($gib * 1024**3 / 250))")
echo "generating $rows rows (~${gib} GiB of table data)..."
psql -q -d postgres -c "create database benchdb" || exit 1
psql -q -d benchdb -v ON_ERROR_STOP=1 -c "create table orders as
	select g as id, timestamp '2026-01-01' + g * interval '1 second' as at,
	       md5(g::text) || md5((g * 7)::text) as ref,
	       'customer-' || (g % 10000) || ' ordered item-' || (g % 997) || ' qty ' || (g % 13) ||
	       ' status shipped warehouse ' || (g % 17) || ' note ' || repeat('ok ', 20) as body
	from generate_series(1, $rows) g" || exit 1
psql -tA -d benchdb -c "select pg_size_pretty(pg_total_relation_size('orders'))" |
	sed 's/^/table size: /'

cat >"$work/plan.yaml" <<EOF
corpdeploy: 1
name: bench
release: bench
state_dir: $work/state
phases:
  - name: backup
    steps:
      - name: db
        backup: database
        dump: [pg_dump, -h, 127.0.0.1, -p, "$port", -U, postgres, benchdb]
        restore: [psql, -h, 127.0.0.1, -p, "$port", -U, postgres, -d, benchdb]
        keep: 1
EOF

now() { date +%s.%N; }
per_gib() { python3 -c "print(f'{$1 / ($2 / 1073741824):.1f}')"; } # CPU s, bytes
mib_s() { python3 -c "print(f'{$1 / 1048576 / ($3 - $2):.1f}')"; }

dump_bytes=""
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in 1 2; do
	sync
	t0=$(now)
	# shellcheck disable=SC2016 # "$1" is the inner shell's
	/usr/bin/time -f "%U %S" -o "$work/base-time.txt" \
		sh -c 'pg_dump -d benchdb | zstd -3 -T1 -q >"$1"' sh "$work/baseline.sql.zst"
	t1=$(now)
	base_cpu=$(awk '{ print $1 + $2 }' "$work/base-time.txt")
	base_size=$(stat -c %s "$work/baseline.sql.zst")
	[ -z "$dump_bytes" ] && dump_bytes=$(zstd -dc "$work/baseline.sql.zst" | wc -c)
	rm -f "$work/baseline.sql.zst"
	echo "round $round baseline:   $(mib_s "$dump_bytes" "$t0" "$t1") MiB/s" \
		"($(python3 -c "print(f'{$t1 - $t0:.1f}')")s, CPU ${base_cpu}s =" \
		"$(per_gib "$base_cpu" "$dump_bytes") s/GiB, compressed $((base_size / 1048576)) MiB)"
	sync
	t0=$(now)
	/usr/bin/time -v -o "$work/time.txt" "$bin" -q backup "$work/plan.yaml" >"$work/out" 2>&1 ||
		{ cat "$work/out"; exit 1; }
	t1=$(now)
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
	cpu=$(awk -F': ' '/User time|System time/ { t += $2 } END { print t }' "$work/time.txt")
	arch=$(ls "$work"/state/bench/runs/*/backup-db.tar.zst)
	echo "round $round corpdeploy: $(mib_s "$dump_bytes" "$t0" "$t1") MiB/s" \
		"($(python3 -c "print(f'{$t1 - $t0:.1f}')")s, CPU ${cpu}s = $(per_gib "$cpu" "$dump_bytes") s/GiB," \
		"archive $(($(stat -c %s "$arch") / 1048576)) MiB," \
		"peak RSS $((rss / 1024)) MiB)"
done
echo "dump size: $((dump_bytes / 1048576)) MiB (plain pg_dump output)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
