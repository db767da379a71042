#!/usr/bin/env bash
# corpdeploy's load generator beside wrk on the same local nginx endpoint:
# throughput (requests per second) and p99 latency, the median of RUNS runs
# of each, alternating, and the ratios. The endpoint is answered by nginx
# itself (no backend), so the figures measure the generators.
#
#   bench/load-vs-wrk.sh [RUNS]          (default 3; each run lasts DURATION)
#   CONNECTIONS=10 DURATION=5 BENCH_BUILD_DIR=build bench/load-vs-wrk.sh
#
# Goal (issue 7): corpdeploy reaches at least 80% of wrk's throughput, with a
# p99 within 10% of wrk's. Both use 2 threads and the same connection count.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
conns=${CONNECTIONS:-10}
secs=${DURATION:-5}
bin="$top/${BENCH_BUILD_DIR:-build}/corpdeploy"
[ -x "$bin" ] || { echo "build corpdeploy first: meson compile -C ${BENCH_BUILD_DIR:-build}" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh installs it" >&2; exit 2; }

source "$top/tests/validate/stack.sh"
work=$(mktemp -d -t corpdeploy-loadbench.XXXXXX)
trap 'stack_down; rm -rf "$work"' EXIT
stack_up "$work/stack" >/dev/null
url="$BASE_URL/static"

write_plan() { # FILE [RATE]
	cat > "$1" <<PLAN
corpdeploy: 1
name: loadbench
release: "1"
state_dir: $work/state
phases:
  - name: validation
    steps:
      - name: load
        load: $url
        concurrency: $conns
        duration: ${secs}s
${2:+        rate: $2}
PLAN
}
write_plan "$work/plan.yaml"

# wrk prints "Requests/sec: 12345.67" and, with --latency, "99%  1.23ms".
wrk_run() {
	local out
	out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$url")
	"$PY" - "$out" <<'PYEOF'
import re, sys
out = sys.argv[1]
qps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
v, unit = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
p99 = float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
print(f"{qps:.1f} {p99:.3f}")
PYEOF
}

cd_run() { # [PLAN]
	"$bin" validate --json "${1:-$work/plan.yaml}" > "$work/cd.json"
	"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))[0]["details"]; print("%.1f %.3f" % (d["qps"], d["p99_ms"]))' "$work/cd.json"
}

echo "endpoint: $url (nginx $(nginx -v 2>&1 | sed 's/.*\///')), $conns connections, ${secs}s per run, $runs runs each, $(nproc) CPUs"
printf '%-4s %-10s %12s %10s\n' run tool req/s p99_ms
: > "$work/wrk.txt"
: > "$work/cd.txt"
for i in $(seq "$runs"); do
	w=$(wrk_run); echo "$w" >> "$work/wrk.txt"
	read -r qps p99 <<<"$w"
	printf '%-4s %-10s %12s %10s\n' "$i" wrk "$qps" "$p99"
	c=$(cd_run); echo "$c" >> "$work/cd.txt"
	read -r qps p99 <<<"$c"
	printf '%-4s %-10s %12s %10s\n' "$i" corpdeploy "$qps" "$p99"
done
# Latency depends on the load: corpdeploy again, held to wrk's median rate, for a p99 at equal throughput.
wrk_median=$("$PY" -c 'import statistics,sys; print("%.0f" % statistics.median(float(l.split()[0]) for l in open(sys.argv[1])))' "$work/wrk.txt")
write_plan "$work/plan-rate.yaml" "$wrk_median"
: > "$work/cd-rate.txt"
for i in $(seq "$runs"); do
	c=$(cd_run "$work/plan-rate.yaml"); echo "$c" >> "$work/cd-rate.txt"
	printf '%-4s %-10s %12s %10s   (rate %s/s)\n' "$i" corpdeploy $c "$wrk_median"
done
"$PY" - "$work/wrk.txt" "$work/cd.txt" "$work/cd-rate.txt" <<'PYEOF'
import statistics, sys
def med(path):
    rows = [tuple(map(float, l.split())) for l in open(path) if l.strip()]
    return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
wq, wp = med(sys.argv[1])
cq, cp = med(sys.argv[2])
rq, rp = med(sys.argv[3])
print()
print(f"median      wrk {wq:10.1f} req/s  p99 {wp:7.3f} ms")
print(f"median corpdeploy {cq:10.1f} req/s  p99 {cp:7.3f} ms")
print(f"throughput: corpdeploy/wrk = {cq / wq * 100:.1f}%  (goal >= 80%)")
print(f"p99:        corpdeploy/wrk = {cp / wp * 100:.1f}%  (goal within 10%: 90-110%)")
print(f"at wrk's rate: corpdeploy {rq:.1f} req/s, p99 {rp:.3f} ms = {rp / wp * 100:.1f}% of wrk's")
PYEOF
