#!/usr/bin/env bash
# Deploys 13 services (the reference stack's shape, with a test image) with
# corpdeploy and with docker-compose on the same engine, from nothing each
# time, and prints both medians and their ratio. corpdeploy waits until
# every service is healthy (a command check run in each container); compose does not wait.
# Usage: bench/deploy-13.sh [RUNS]   (default 5)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
bin="$top/build/corpdeploy"
work=$(mktemp -d -t corpdeploy-bench.XXXXXX)
name="bench$$"
started_dockerd=""

cleanup() {
	docker ps -aq --filter "label=corpdeploy.plan=$name" | xargs -r docker rm -f >/dev/null 2>&1 || true
	(cd "$work" && docker-compose -p "$name" down -t 1 >/dev/null 2>&1) || true
	docker rmi -f "cdbench/$name:1" >/dev/null 2>&1 || true
	if [ -n "$started_dockerd" ]; then
		# Ours alone, by PID; wait until it is gone so the next engine can start cleanly.
		kill "$started_dockerd" 2>/dev/null
		for _ in $(seq 1 300); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$work"
}
trap cleanup EXIT

command -v docker-compose >/dev/null || {
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1
}
[ -x "$bin" ] || { meson setup "$top/build" >/dev/null && meson compile -C "$top/build" >/dev/null; }
started_dockerd=$("$top/scripts/dockerd-up.sh")

mkdir -p "$work/rootfs/bin"
install -m 0755 /bin/busybox "$work/rootfs/bin/busybox"
tar -C "$work/rootfs" -c . | docker import - "cdbench/$name:1" >/dev/null

services="postgres postgres-exporter redis redis-exporter minio api nginx prometheus grafana jaeger alertmanager node-exporter cadvisor"
{
	printf 'corpdeploy: 1\nname: %s\nrelease: "1"\nservices:\n' "$name"
	for s in $services; do
		printf '  %s:\n    image: "cdbench/%s:1"\n    pull: never\n    network_mode: none\n' "$s" "$name"
		printf '    command: [/bin/busybox, sleep, "3600"]\n    stop_timeout: 1s\n'
		printf '    health: { command: [/bin/busybox, "true"], interval: 100ms, timeout: 60s }\n'
	done
	printf 'phases:\n  - name: deploy\n    steps:\n      - deploy: [%s]\n' "${services// /, }"
} >"$work/plan.yaml"
{
	printf 'version: "2.4"\nservices:\n'
	for s in $services; do
		printf '  %s:\n    image: "cdbench/%s:1"\n    network_mode: none\n' "$s" "$name"
		printf '    command: ["/bin/busybox", "sleep", "3600"]\n    stop_grace_period: 1s\n'
	done
} >"$work/docker-compose.yml"

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

cd_times=() compose_times=()
for i in $(seq 1 "$runs"); do
	docker ps -aq --filter "label=corpdeploy.plan=$name" | xargs -r docker rm -f >/dev/null
	t0=$(now)
	"$bin" --no-color up "$work/plan.yaml" >"$work/out" 2>&1
	t1=$(now)
	cd_times+=($(((t1 - t0) / 1000000)))
	# corpdeploy's own checks (Docker runs them only every steady_interval afterwards).
	healthy=$(grep -c "healthy after" "$work/out")
	docker ps -aq --filter "label=corpdeploy.plan=$name" | xargs -r docker rm -f >/dev/null

	(cd "$work" && docker-compose -p "$name" down -t 1 >/dev/null 2>&1) || true
	t0=$(now)
	(cd "$work" && docker-compose -p "$name" up -d >/dev/null 2>&1)
	t1=$(now)
	compose_times+=($(((t1 - t0) / 1000000)))
	(cd "$work" && docker-compose -p "$name" down -t 1 >/dev/null 2>&1)
	echo "run $i: corpdeploy ${cd_times[-1]} ms ($healthy/13 healthy), docker-compose ${compose_times[-1]} ms"
done

cd_med=$(printf '%s\n' "${cd_times[@]}" | median)
co_med=$(printf '%s\n' "${compose_times[@]}" | median)
echo "13 services, $runs runs, engine $(docker version -f '{{.Server.Version}}'), $(nproc) cores"
echo "corpdeploy up (waits healthy):       median ${cd_med} ms"
echo "docker-compose up -d (no waiting):   median ${co_med} ms"
awk -v a="$cd_med" -v b="$co_med" 'BEGIN { printf "ratio corpdeploy/compose:             %.2f\n", a / b }'
