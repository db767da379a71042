#!/usr/bin/env bash
# The reference scenario, measured on this machine: deploys plan.yaml twice
# (release 2026.11.1, then 2026.11.2 with one more migration, compared with the
# first as its baseline) and writes the second run's reports, as
# corpdeploy writes them after every run, into OUT:
#
#   examples/reference/run.sh [OUT]      (default: ./reference-report)
#   examples/reference/run.sh OUT --fixture tests/report/fixtures/reference-run.json
#
# --fixture also stores the report.json as the report tests' recorded run,
# with its temporary directory renamed to a stable one (then rewrite the
# golden files: CD_UPDATE_GOLDEN=1 meson test -C build --suite report).
#
# OUT gets report.json, report.md, report.html, report.xml (JUnit), the timing
# log, both runs' output, and report.png, a screenshot of the HTML report
# taken by headless Chromium. Needs root (dockerd, PostgreSQL run as the
# postgres user) and what scripts/install-deps.sh installs. Everything it
# starts (stand-in API, nginx, Redis, PostgreSQL, containers, and dockerd if
# it was not running) is stopped again by PID or by the plan's label.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here="$top/examples/reference"
out=$(realpath -m "${1:-reference-report}")
fixture=""
if [ "${2:-}" = --fixture ]; then fixture=$(realpath -m "${3:?--fixture FILE}"); fi
bin=${CORPDEPLOY:-$top/build/corpdeploy}
plan_name=corporate-intelligence-reference
releases=("2026.11.1" "2026.11.2")
# The newest migration each release ships.
declare -A head=([2026.11.1]=002 [2026.11.2]=003)

for cmd in nginx redis-server sqlite3 openssl pg_dump pg_isready psql docker; do
	command -v "$cmd" >/dev/null || { echo "$cmd is missing: run scripts/install-deps.sh" >&2; exit 2; }
done
if [ ! -x "$bin" ]; then
	[ -d "$top/build" ] || meson setup "$top/build" >/dev/null
	meson compile -C "$top/build" >/dev/null
fi

work=$(mktemp -d -t corpdeploy-reference.XXXXXX)
chmod 755 "$work"
started_dockerd=""
pg_ctl=""

cleanup() {
	set +e
	docker ps -aq --filter "label=corpdeploy.plan=$plan_name" | xargs -r docker rm -f >/dev/null 2>&1
	docker images -q 'corpref/*' | sort -u | xargs -r docker rmi -f >/dev/null 2>&1
	[ -n "$pg_ctl" ] && as_postgres "$pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1
	stack_down
	if [ -n "$started_dockerd" ]; then
		kill "$started_dockerd" 2>/dev/null
		for _ in $(seq 1 300); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$work"
}
trap cleanup EXIT

as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# ---- the stand-ins ---------------------------------------------------------------
started_dockerd=$("$top/scripts/dockerd-up.sh")

# shellcheck source=tests/validate/stack.sh
source "$top/tests/validate/stack.sh"
export SMOKE_USER_PASSWORD=smoke-$RANDOM$RANDOM-pass
export API_RELEASE=${releases[1]}
stack_up "$work/stack" >/dev/null
export CA_FILE=$STACK/ca.pem

# PostgreSQL on 127.0.0.1, password authentication, in $work/pg.
POSTGRES_PASSWORD=pg-$RANDOM$RANDOM-secret
pg_bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
pg_ctl=$pg_bin/pg_ctl
mkdir -p "$work/pg"
printf '%s\n' "$POSTGRES_PASSWORD" > "$work/pg/pw"
chown -R postgres "$work/pg" 2>/dev/null || true
as_postgres "$pg_bin/initdb" -D "$work/pg/data" -U corp --auth=scram-sha-256 \
	--pwfile="$work/pg/pw" -E UTF8 >"$work/pg/initdb.log"
PGPORT=$(stack_free_port)
as_postgres "$pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w -t 60 \
	-o "-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$work/pg" start >/dev/null
export PGHOST=127.0.0.1 PGPORT PGUSER=corp PGDATABASE=corp
PGPASSWORD=$POSTGRES_PASSWORD createdb corp

# One busybox image for the services, and the api's image per release.
image() { # TAG HEALTH-TEXT
	local root="$work/rootfs"
	rm -rf "$root" && mkdir -p "$root/bin" "$root/www"
	install -m 0755 /bin/busybox "$root/bin/busybox"
	for a in sh httpd wget; do ln -s busybox "$root/bin/$a"; done
	printf '%s\n' "$2" > "$root/www/health"
	tar -C "$root" -c . | docker import -c 'CMD ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]' - "$1" >/dev/null
}
image corpref/base:1 '{"status": "healthy"}'
for r in "${releases[@]}"; do image "corpref/api:$r" "{\"status\": \"healthy\", \"release\": \"$r\"}"; done

# ---- the plan's directory and environment ------------------------------------------
# The same layout as the repository: the plan's smoke suite is ../../tests/validate/.
plan_dir=$work/src/examples/reference
mkdir -p "$plan_dir/migrations" "$work/src/tests/validate"
cp "$here/plan.yaml" "$here/migrate.sh" "$plan_dir/"
cp "$top/tests/validate/smoke-reference.yaml" "$work/src/tests/validate/"
printf 'POSTGRES_PASSWORD=%s\nSMOKE_USER_PASSWORD=%s\n' "$POSTGRES_PASSWORD" "$SMOKE_USER_PASSWORD" > "$plan_dir/env"
chmod 600 "$plan_dir/env"
for v in PORT_PG_EXPORTER PORT_REDIS_EXPORTER PORT_MINIO PORT_API PORT_NGINX PORT_PROMETHEUS PORT_GRAFANA PORT_HTTPS; do
	export "$v=$(stack_free_port)"
done
mkdir -p "$out"
cd "$plan_dir"

for r in "${releases[@]}"; do
	cp "$here/migrations/"[0-9]*.sql migrations/
	for f in migrations/*.sql; do
		n=$(basename "$f"); [ "${n%%_*}" \> "${head[$r]}" ] && rm "$f"
	done
	sed -i "s/^release: .*/release: \"$r\"/" plan.yaml
	echo "== corpdeploy up, release $r"
	rc=0
	"$bin" --no-color up --state-dir "$work/state" plan.yaml > "$out/up-$r.log" 2>&1 || rc=$?
	tail -3 "$out/up-$r.log"
	[ "$rc" = 0 ] || { echo "up of release $r exited $rc; its output:" >&2; cat "$out/up-$r.log" >&2; exit 1; }
done

# ---- the second run's reports --------------------------------------------------------
for f in json md html junit; do
	ext=$f; [ "$f" = junit ] && ext=xml
	"$bin" report --state-dir "$work/state" plan.yaml --last --format "$f" -o "$out/report.$ext"
done
cp "$(ls -d "$work"/state/*/runs/* | sort | tail -1)/timing.log" "$out/timing.log"
if command -v chromium >/dev/null; then
	timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$work/chromium" --window-size=1200,2400 \
		--screenshot="$out/report.png" "file://$out/report.html" >/dev/null 2>&1 || true
fi
if [ -n "$fixture" ]; then
	sed "s,$work,/var/tmp/corpdeploy-reference,g" "$out/report.json" > "$fixture"
	echo "recorded: $fixture"
fi
echo
echo "reports of release ${releases[1]}, measured here: $out"
ls "$out"
