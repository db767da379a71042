#!/usr/bin/env bash
# How fast corpdeploy loads the production plan, and how much memory lint needs.
#
#   bench/plan-parse.sh                 # 200 iterations, build dir build-bench
#   ITERATIONS=1000 bench/plan-parse.sh
#   BENCH_BUILD_DIR=build-x PLAN=examples/local-stack/plan.yaml bench/plan-parse.sh
#
# Configures BENCH_BUILD_DIR (default build-bench, the project's default
# buildtype, tests off) if needed, builds the library and the binary, compiles
# bench/bench-plan.c against its libcorpdeploy.a, then prints:
#
#   * wall time (CLOCK_MONOTONIC) of loading the plan in process, median and p90:
#       full    cd_plan_load() as lint runs it: the file, its smoke suite(s), and
#               the git repository opened by libgit2 for `release: git`
#       no-git  the same text with the release replaced by a literal, loaded
#               with cd_plan_load_buffer(): parse, decode, interpolation and checks,
#               smoke suite(s) still read from disk
#       yaml    the YAML parse alone (cd_yaml_parse, no decoding)
#   * peak RSS (KiB, ru_maxrss from wait4) of `corpdeploy lint PLAN`, as is and
#     with the release replaced by a literal (a copy in a temporary directory),
#     beside the floor: lint of a file that is not a plan at all
#   * with valgrind installed, the peak heap of the same three runs (massif)
#
# Targets: a load under 5 ms, lint under 10 MiB. Figures only: the exit status
# is 0 unless the benchmark itself cannot run.
set -euo pipefail

cd "$(dirname "$0")/.."
builddir=${BENCH_BUILD_DIR:-build-bench}
iterations=${ITERATIONS:-200}
plan=${PLAN:-plans/production.yaml}
rss_runs=${RSS_RUNS:-5}
target_ms=5
target_kib=$((10 * 1024))

quiet() { # runs a command, shows its output only if it fails
	local out
	if ! out=$("$@" 2>&1); then
		printf '%s\n' "$out" >&2
		echo "plan-parse.sh: failed: $*" >&2
		exit 1
	fi
}
if [ ! -f "$builddir/build.ninja" ]; then
	quiet meson setup "$builddir" -Dtests=disabled
fi
quiet meson compile -C "$builddir"

deps="yaml-0.1 libcurl libssh2 libcjson libarchive libgit2"
# shellcheck disable=SC2046,SC2086 # pkg-config output is a list of words
"${CC:-cc}" -O2 -g -std=gnu17 -D_GNU_SOURCE -Wall -Wextra \
	-Iinclude -I"$builddir" $(pkg-config --cflags $deps) \
	bench/bench-plan.c "$builddir/libcorpdeploy.a" \
	$(pkg-config --libs $deps) -lm -o "$builddir/bench-plan"

bench=$builddir/bench-plan
bin=$builddir/corpdeploy
buildtype=$(meson introspect --buildoptions "$builddir" |
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))')

echo "$("$bin" version 2>/dev/null | head -n1 || true), build $builddir ($buildtype), $(uname -m), $(nproc) cpu"
echo "release line in $plan: $(grep -m1 '^release:' "$plan" || echo '(none: defaults to git)')"
echo

# ---- time
times=$("$bench" time "$plan" "$iterations")
echo "$times"
echo
# Field 4 of a result line is the median, field 7 the p90 (see bench-plan.c).
awk -v t="$target_ms" '
	$1 == "full" || $1 == "no-git" || $1 == "yaml" {
		printf "%-7s median %8.3f ms = %5.1f%% of the %d ms target, p90 %8.3f ms = %5.1f%%\n",
			$1, $4, 100 * $4 / t, t, $7, 100 * $7 / t
	}' <<<"$times"
echo

# ---- memory
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The same plan with a literal release, beside a copy of everything in its directory
# (smoke suites are relative to it), outside any git repository.
cp -R "$(dirname "$plan")"/. "$tmp"/
nogit_plan=$tmp/$(basename "$plan")
if grep -q '^release:' "$nogit_plan"; then
	sed -i 's/^release:.*/release: "bench"/' "$nogit_plan"
else
	printf 'release: "bench"\n' >>"$nogit_plan"
fi

peak_rss() { # prints the largest maxrss of $rss_runs runs, and the exit status seen
	local max=0 kib status line
	for _ in $(seq "$rss_runs"); do
		line=$("$bench" rss "$@")
		kib=$(awk '{print $2}' <<<"$line")
		status=$(awk '{print $4}' <<<"$line")
		[ "$kib" -gt "$max" ] && max=$kib
	done
	echo "$max $status"
}

read -r full_kib full_status < <(peak_rss "$bin" lint "$plan")
read -r nogit_kib nogit_status < <(peak_rss "$bin" lint "$nogit_plan")
# The same with a plan that is not YAML at all: what the binary and its libraries cost.
printf 'x\n' >"$tmp/empty.yaml"
read -r base_kib _ < <(peak_rss "$bin" lint "$tmp/empty.yaml")

printf 'lint peak RSS (max of %d runs; shared libraries count as resident):\n' "$rss_runs"
awk -v t="$target_kib" -v full="$full_kib" -v fs="$full_status" -v nogit="$nogit_kib" \
	-v ns="$nogit_status" -v base="$base_kib" 'BEGIN {
	printf "  full    %6d KiB (%5.2f MiB) = %5.1f%% of the 10 MiB target  (lint exit %s)\n",
		full, full / 1024, 100 * full / t, fs
	printf "  no-git  %6d KiB (%5.2f MiB) = %5.1f%% of the 10 MiB target  (lint exit %s)\n",
		nogit, nogit / 1024, 100 * nogit / t, ns
	printf "  floor   %6d KiB (%5.2f MiB): lint of a one-line non-plan (the process and its libraries)\n",
		base, base / 1024
}'

# Peak heap (malloc) of the same runs, when valgrind is there: what corpdeploy itself
# allocates, without the pages of the shared libraries that dominate the RSS.
if command -v valgrind >/dev/null; then
	peak_heap() {
		valgrind --tool=massif --massif-out-file="$tmp/massif.out" "$@" >/dev/null 2>&1 || true
		sed -n 's/^mem_heap_B=//p' "$tmp/massif.out" | sort -n | tail -n1
	}
	echo "peak heap (valgrind massif, bytes):"
	printf '  full    %8d\n' "$(peak_heap "$bin" lint "$plan")"
	printf '  no-git  %8d\n' "$(peak_heap "$bin" lint "$nogit_plan")"
	printf '  floor   %8d\n' "$(peak_heap "$bin" lint "$tmp/empty.yaml")"
fi
