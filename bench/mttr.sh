#!/usr/bin/env bash
# Mean time to recover: a 3-service stack (the quickstart's: api, worker,
# proxy) runs release r1; release r2 then fails its health check, and the
# time from the failure (the timing log's "rolling back" line, in ms) to the
# proxy serving r1 again (a poller asking every 20 ms) is measured, RUNS
# times. Also prints corpdeploy's own rollback time. Goal: under 5 s.
#
#   bench/mttr.sh [RUNS]     (default 5; needs a built build/corpdeploy)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
bin="$top/build/corpdeploy"
work=$(mktemp -d -t corpdeploy-mttr.XXXXXX)
name="mttr$$"
port=$((20000 + ($$ + 104729) % 20000))
started_dockerd=""
poller=""

cleanup() {
	[ -n "$poller" ] && kill "$poller" 2>/dev/null
	docker ps -aq --filter "label=corpdeploy.plan=$name" | xargs -r docker rm -f >/dev/null 2>&1 || true
	docker network ls --format '{{.Name}}' | grep "^$name" | xargs -r docker network rm >/dev/null 2>&1 || true
	docker images --format '{{.Repository}}:{{.Tag}}' | grep -E "^corpdeploy(-keep)?/$name" |
		xargs -r docker rmi -f >/dev/null 2>&1 || true
	if [ -n "$started_dockerd" ]; then
		kill "$started_dockerd" 2>/dev/null
		for _ in $(seq 1 300); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$work"
}
trap cleanup EXIT

[ -x "$bin" ] || { echo "build first: meson setup build && meson compile -C build" >&2; exit 2; }
started_dockerd=$("$top/scripts/dockerd-up.sh")
mkdir -p "$work/stack"
cp -r "$top/examples/quickstart/images" "$work/stack/"
install -m 0755 /bin/busybox "$work/stack/images/busybox"

write_plan() { # release [failing worker health]
	sed -e "s/^name: quickstart/name: $name/" -e "s/^release: git.*/release: \"$1\"/" \
		-e "s/18080/$port/g" "$top/examples/quickstart/plan.yaml" >"$work/stack/plan.yaml"
	if [ -n "${2:-}" ]; then
		sed -i "s|command: \[/bin/busybox, test, -s, /tmp/last-poll\]|command: [/bin/busybox, \"false\"]|" "$work/stack/plan.yaml"
		sed -i '0,/timeout: 30s/! s/timeout: 30s/timeout: 3s/' "$work/stack/plan.yaml"
	fi
}

# Prints the epoch time (s, with ms) at which the proxy serves r1 after having served anything else.
cat >"$work/poll.py" <<'PY'
import sys, time, urllib.request
url, out = sys.argv[1], sys.argv[2]
seen_other = False
deadline = time.time() + 300
while time.time() < deadline:
    try:
        body = urllib.request.urlopen(url, timeout=0.5).read().decode()
    except Exception:
        body = ""
    if '"release":"r1"' in body:
        if seen_other:
            open(out, "w").write("%.3f\n" % time.time())
            break
    else:
        seen_other = True
    time.sleep(0.02)
PY

to_epoch() { date -u -d "$1" +%s.%N; }
mttrs=() rollbacks=()
for i in $(seq 1 "$runs"); do
	write_plan r1
	"$bin" -q up "$work/stack/plan.yaml" >/dev/null 2>&1 || { echo "r1 did not deploy" >&2; exit 1; }
	rm -f "$work/back"
	python3 "$work/poll.py" "http://127.0.0.1:$port/health" "$work/back" &
	poller=$!
	write_plan r2 fail
	"$bin" --no-color up "$work/stack/plan.yaml" >"$work/out" 2>&1 || true
	wait "$poller" || true
	poller=""
	log=$(sed -n 's/^.*timing log: //p' "$work/out")
	failed_at=$(grep -m1 "rolling back" "$log" | cut -d' ' -f1)
	rb=$(grep -o "rolled back in [0-9.]*m\?s" "$work/out" | head -1 | sed 's/rolled back in //')
	if [ ! -s "$work/back" ] || [ -z "$failed_at" ]; then
		echo "run $i: r1 did not come back (see below)"; tail -5 "$work/out"; exit 1
	fi
	ms=$(awk -v a="$(cat "$work/back")" -v b="$(to_epoch "$failed_at")" 'BEGIN { printf "%d", (a - b) * 1000 }')
	mttrs+=("$ms")
	rollbacks+=("$rb")
	echo "run $i: r1 serving again ${ms} ms after the failure (corpdeploy's rollback: $rb)"
	# Back to a clean r1 for the next run.
	docker ps -aq --filter "label=corpdeploy.plan=$name" | xargs -r docker rm -f >/dev/null
	rm -rf "$work/stack/.corpdeploy"
done
mean=$(printf '%s\n' "${mttrs[@]}" | awk '{s+=$1} END {printf "%d", s/NR}')
median=$(printf '%s\n' "${mttrs[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
echo "3 services (quickstart stack), $runs runs, engine $(docker version -f '{{.Server.Version}}'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo "time to recover (failure -> previous release serving): mean ${mean} ms, median ${median} ms (goal < 5000 ms)"
