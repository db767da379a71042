#!/usr/bin/env bash
# corpdeploy's load generator beside wrk on the same local nginx endpoint:
# throughput (requests per second) and p99 latency, the median of RUNS runs
# of each, alternating, and the ratios. The endpoint is answered by nginx
# itself (no backend), so the figures measure the generators.
#
#   bench/load-vs-wrk.sh [RUNS]          (default 3; each run lasts DURATION)
#   CONNECTIONS=10 DURATION=5 BENCH_BUILD_DIR=build bench/load-vs-wrk.sh
#
# Goal: corpdeploy reaches at least 80% of wrk's throughput, with a
# p99 within 10% of wrk's, read as no more than 10% above it: a lower p99
# is a generator adding less of its own delay. Both use the same threads and connections,
# keep their connections alive, and time a request from sending it to reading
# the end of its answer. Each run also prints the CPU time (user + system) the
# generator spent per request, the figure that decides its throughput here
# and the one that stays comparable on a busy machine; the load average is
# printed before and after.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
conns=${CONNECTIONS:-10}
secs=${DURATION:-5}
# corpdeploy's load generator runs one thread per CPU, at most one per
# connection: wrk gets the same number.
threads=$(nproc)
[ "$threads" -le "$conns" ] || threads=$conns
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

# Runs a command with its stdout to FILE and prints the CPU time (user + system,
# seconds) it and its children used: what a request costs a generator decides
# its throughput on a small machine where nginx shares the CPUs.
cpu_of() { # FILE COMMAND...
	"$PY" - "$@" <<'PYEOF'
import resource, subprocess, sys
with open(sys.argv[1], "w") as out:
    subprocess.run(sys.argv[2:], stdout=out, check=True)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{ru.ru_utime + ru.ru_stime:.3f}")
PYEOF
}

# wrk prints "N requests in", "Requests/sec: 12345.67" and, with --latency, "99%  1.23ms".
wrk_run() { # -> "qps p99_ms cpu_us_per_request"
	local cpu
	cpu=$(cpu_of "$work/wrk.out" wrk -t"$threads" -c"$conns" -d"${secs}s" --latency "$url")
	"$PY" - "$work/wrk.out" "$cpu" <<'PYEOF'
import re, sys
out = open(sys.argv[1]).read()
n = int(re.search(r"(\d+) requests in", out).group(1))
qps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
v, unit = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
p99 = float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
print(f"{qps:.1f} {p99:.3f} {float(sys.argv[2]) * 1e6 / n:.2f}")
PYEOF
}

cd_run() { # [PLAN] -> "qps p99_ms cpu_us_per_request"
	local cpu
	cpu=$(cpu_of "$work/cd.json" "$bin" validate --json "${1:-$work/plan.yaml}")
	"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))[0]["details"]; print("%.1f %.3f %.2f" % (d["qps"], d["p99_ms"], float(sys.argv[2]) * 1e6 / d["requests"]))' "$work/cd.json" "$cpu"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

echo "endpoint: $url (nginx $(nginx -v 2>&1 | sed 's/.*\///')), $conns connections, $threads threads each, ${secs}s per run, $runs runs each, $(nproc) CPUs"
echo "load average before: $(loadavg)"
printf '%-4s %-10s %12s %10s %12s\n' run tool req/s p99_ms cpu_us/req
: > "$work/wrk.txt"
: > "$work/cd.txt"
for i in $(seq "$runs"); do
	w=$(wrk_run); echo "$w" >> "$work/wrk.txt"
	printf '%-4s %-10s %12s %10s %12s\n' "$i" wrk $w
	c=$(cd_run); echo "$c" >> "$work/cd.txt"
	printf '%-4s %-10s %12s %10s %12s\n' "$i" corpdeploy $c
done
# Latency depends on the load: corpdeploy again, held to wrk's median rate,
# for a p99 at equal throughput. wrk has no rate of its own to hold to, so
# this compares only when corpdeploy does reach that rate.
wrk_median=$("$PY" -c 'import statistics,sys; print("%.0f" % statistics.median(float(l.split()[0]) for l in open(sys.argv[1])))' "$work/wrk.txt")
write_plan "$work/plan-rate.yaml" "$wrk_median"
: > "$work/cd-rate.txt"
for i in $(seq "$runs"); do
	c=$(cd_run "$work/plan-rate.yaml"); echo "$c" >> "$work/cd-rate.txt"
	printf '%-4s %-10s %12s %10s %12s   (rate %s/s)\n' "$i" corpdeploy $c "$wrk_median"
done
echo "load average after: $(loadavg)"
"$PY" - "$work/wrk.txt" "$work/cd.txt" "$work/cd-rate.txt" "$wrk_median" <<'PYEOF'
import statistics, sys
def med(path):
    rows = [tuple(map(float, l.split())) for l in open(path) if l.strip()]
    return [statistics.median(r[i] for r in rows) for i in range(3)]
wq, wp, wc = med(sys.argv[1])
cq, cp, cc = med(sys.argv[2])
rq, rp, _ = med(sys.argv[3])
target = float(sys.argv[4])
print()
print(f"median        wrk {wq:10.1f} req/s  p99 {wp:7.3f} ms  cpu {wc:6.2f} us/req")
print(f"median corpdeploy {cq:10.1f} req/s  p99 {cp:7.3f} ms  cpu {cc:6.2f} us/req")
print(f"throughput: corpdeploy/wrk = {cq / wq * 100:.1f}%  (goal >= 80%)")
print(f"p99:        corpdeploy/wrk = {cp / wp * 100:.1f}%  (goal: no more than 10% above wrk's, <= 110%)")
print(f"cpu/req:    corpdeploy/wrk = {cc / wc * 100:.1f}%")
reached = rq / target * 100
if reached >= 97:
    print(f"at wrk's rate ({target:.0f}/s): corpdeploy {rq:.1f} req/s, p99 {rp:.3f} ms = {rp / wp * 100:.1f}% of wrk's")
else:
    print(f"at wrk's rate ({target:.0f}/s): corpdeploy reached only {rq:.1f} req/s ({reached:.0f}%): no comparison at equal rate")
PYEOF
