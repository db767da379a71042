#!/usr/bin/env bash
# End-to-end tests of `corpdeploy up` and `status` against the real Docker
# Engine: deploys, replaces, unchanged re-runs, a health check that never
# passes, a port collision, a missing image, an engine that is not running
# and a parallel group of 13 services. Everything it creates carries a
# plan name starting with "e2e$$" and is removed at the end.
# Checks are eval'd strings, which read variables shellcheck cannot see.
# shellcheck disable=SC2034,SC2016
set -u

bin=$(realpath "$1")
top=$(realpath "$2")
work=$(mktemp -d -t corpdeploy-e2e.XXXXXX)
tag="e2e$$"
port=$((20000 + $$ % 20000))
started_dockerd=""
pass=0
fail=0

cleanup() {
	for id in $(docker ps -aq --filter "label=corpdeploy.plan" 2>/dev/null); do
		name=$(docker inspect -f '{{index .Config.Labels "corpdeploy.plan"}}' "$id" 2>/dev/null)
		case "$name" in "$tag"*) docker rm -f "$id" >/dev/null 2>&1 ;; esac
	done
	docker network ls --format '{{.Name}}' | grep "^$tag" | xargs -r docker network rm >/dev/null 2>&1
	docker images --format '{{.Repository}}:{{.Tag}}' | grep -E "^(corpdeploy/$tag|cdtest/$tag)" |
		xargs -r docker rmi -f >/dev/null 2>&1
	[ -n "${blocker:-}" ] && kill "$blocker" 2>/dev/null
	if [ -n "$started_dockerd" ]; then
		# Ours alone, by PID; wait until it is gone so the next engine can start cleanly.
		kill "$started_dockerd" 2>/dev/null
		for _ in $(seq 1 300); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$work"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; [ -f "$work/out" ] && sed 's/^/    /' "$work/out" | tail -25; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

started_dockerd=$("$top/scripts/dockerd-up.sh") || { echo "Bail out! no Docker engine"; exit 1; }

# A stack like the quickstart's, named and numbered for this test run.
mkdir -p "$work/stack"
cp -r "$top/examples/quickstart/images" "$work/stack/"
install -m 0755 /bin/busybox "$work/stack/images/busybox"
write_plan() { # name release [worker health command]
	sed -e "s/^name: quickstart/name: $1/" -e "s/^release: git.*/release: \"$2\"/" \
		-e "s/18080/$port/g" "$top/examples/quickstart/plan.yaml" >"$work/stack/plan.yaml"
	if [ -n "${3:-}" ]; then
		sed -i "s|command: \[/bin/busybox, test, -s, /tmp/last-poll\]|command: $3|" "$work/stack/plan.yaml"
		sed -i '0,/timeout: 30s/! s/timeout: 30s/timeout: 3s/' "$work/stack/plan.yaml"
	fi
}
up() { "$bin" --no-color up "$@" >"$work/out" 2>&1; echo $?; }
health() { curl -s -m 2 "http://127.0.0.1:$port/health"; }
ids() { docker ps -aq --filter "label=corpdeploy.plan=$1" | sort | tr '\n' ' '; }

# 1. A clean deploy of a 3-service stack with dependencies.
write_plan "${tag}a" r1
rc=$(up "$work/stack/plan.yaml")
check "first deploy exits 0" '[ "$rc" = 0 ]'
check "the proxy serves release r1" 'health | grep -q "\"release\":\"r1\""'
check "the timing log names every phase" 'log=$(sed -n "s/^timing log: //p" "$work/out"); grep -q "phase pre-checks done" "$log" && grep -q "phase deploy done" "$log" && grep -q "phase validation done" "$log"'
# Docker runs the command checks every steady_interval (5s in the quickstart) after the deploy.
for _ in $(seq 1 40); do
	"$bin" status --json "$work/stack/plan.yaml" >"$work/status.json" 2>"$work/out"
	grep -q starting "$work/status.json" || break
	sleep 0.5
done
check "status lists 3 healthy services of r1" 'python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert len(s)==3 and all(x.get(\"health\",\"healthy\")==\"healthy\" and x[\"state\"]==\"running\" and x[\"release\"]==\"r1\" for x in s), s" "$work/status.json"'

# 2. The same release again changes nothing.
before=$(ids "${tag}a")
rc=$(up "$work/stack/plan.yaml")
check "second run of the same release exits 0" '[ "$rc" = 0 ]'
check "second run keeps the same containers" '[ "$(ids "${tag}a")" = "$before" ]'
check "second run reports them unchanged" 'grep -q "unchanged" "$work/out"'

# 3. A second release replaces the first.
write_plan "${tag}a" r2
rc=$(up "$work/stack/plan.yaml")
check "release r2 deploys" '[ "$rc" = 0 ]'
check "the proxy serves release r2" 'health | grep -q "\"release\":\"r2\""'
check "no superseded container is left" '[ "$(docker ps -a --filter "label=corpdeploy.plan=${tag}a" -q | wc -l)" = 3 ]'

# 3b. A one-off container of a service's image joins that service's networks:
# it reaches the api by its service name (with host networking it could not).
write_plan "${tag}a" r2
cat >>"$work/stack/plan.yaml" <<'PLAN'
      - name: one-off-reaches-api-by-name
        run: [/bin/busybox, wget, -q, -O, -, "http://api:8080/health"]
        image: worker
PLAN
rc=$(up "$work/stack/plan.yaml")
check "a one-off container of worker's image reaches 'api' on the plan's network" \
	'[ "$rc" = 0 ] && grep -q "ok one-off-reaches-api-by-name" "$work/out"'

# 4. A health check that never passes: the step fails, r2 goes on serving.
write_plan "${tag}a" r3 "[/bin/busybox, \"false\"]"
rc=$(up "$work/stack/plan.yaml")
check "a health check that never passes exits 1 (rolled back)" '[ "$rc" = 1 ]'
check "the failure names the service" 'grep -q "worker.*did not become healthy" "$work/out"'
check "release r2 is still serving" 'health | grep -q "\"release\":\"r2\""'
check "the previous containers are back under their names" '[ "$(docker ps --filter "label=corpdeploy.plan=${tag}a" --filter "label=corpdeploy.release=r2" -q | wc -l)" = 3 ] && [ "$(docker ps -a --filter "label=corpdeploy.plan=${tag}a" -q | wc -l)" = 3 ]'

# 5. A port collision: another process holds the proxy's port.
write_plan "${tag}b" r1
sed -i "s/$port/$((port + 1))/g" "$work/stack/plan.yaml"
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', $((port + 1)))); s.listen(); time.sleep(300)" &
blocker=$!
sleep 0.5
rc=$(up "$work/stack/plan.yaml")
check "a port collision fails the deploy (exit 1)" '[ "$rc" = 1 ]'
check "the error quotes the engine" 'grep -qi "address already in use\|port is already allocated" "$work/out"'
check "nothing of the failed plan is left" '[ -z "$(docker ps -aq --filter "label=corpdeploy.plan=${tag}b")" ]'
kill "$blocker" 2>/dev/null; blocker=""

# A base image for the remaining plans, imported like a registry-less site would.
mkdir -p "$work/rootfs/bin" && install -m 0755 /bin/busybox "$work/rootfs/bin/busybox"
tar -C "$work/rootfs" -c . | docker import - "cdtest/$tag:1" >/dev/null

# 6. A missing image with pull: never: nothing changes, exit 4.
cat >"$work/missing.yaml" <<PLAN
corpdeploy: 1
name: ${tag}c
release: "1"
services:
  ghost: { image: "cdtest/$tag-missing:1", pull: never }
phases:
  - name: deploy
    steps: [ { deploy: [ghost] } ]
PLAN
rc=$(up "$work/missing.yaml")
check "a missing image exits 4, nothing changed" '[ "$rc" = 4 ] && grep -q "is not on the engine" "$work/out"'

# 7. An engine that is not running.
rc=$(DOCKER_HOST="unix://$work/no-engine.sock" "$bin" --no-color up "$work/missing.yaml" >"$work/out" 2>&1; echo $?)
check "an engine that is not running exits 4 with a clear message" '[ "$rc" = 4 ] && grep -q "cannot reach the Docker engine" "$work/out"'

# 8. A parallel group of 13 services.
{
	printf 'corpdeploy: 1\nname: %sd\nrelease: "1"\nservices:\n' "$tag"
	for i in $(seq 1 13); do
		printf '  s%s:\n    image: "cdtest/%s:1"\n    pull: never\n    network_mode: none\n' "$i" "$tag"
		printf '    command: [/bin/busybox, sleep, "3600"]\n    stop_timeout: 1s\n'
		printf '    health: { command: [/bin/busybox, "true"], interval: 500ms, timeout: 60s }\n'
	done
	printf 'phases:\n  - name: all\n    steps:\n      - deploy: ['
	for i in $(seq 1 13); do printf 's%s%s' "$i" "$([ "$i" = 13 ] || echo ', ')"; done
	printf ']\n'
} >"$work/thirteen.yaml"
rc=$(up "$work/thirteen.yaml")
check "13 services in one parallel group deploy" '[ "$rc" = 0 ] && [ "$(docker ps --filter "label=corpdeploy.plan=${tag}d" --filter status=running -q | wc -l)" = 13 ] && [ "$(grep -c "s[0-9]* healthy after" "$work/out")" = 13 ]'

# 9. One run of a plan at a time: a second up is refused at once, naming the holder;
#    a holder killed with SIGKILL leaves no stale lock behind.
cat >"$work/slow.yaml" <<PLAN
corpdeploy: 1
name: ${tag}e
release: "1"
phases:
  - name: wait
    steps: [ { wait: 20s } ]
PLAN
"$bin" --no-color up "$work/slow.yaml" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 1 50); do
	if ! "$bin" lock status "$work/slow.yaml" >/dev/null 2>&1; then break; fi
	sleep 0.1
done
# It must not wait for the lock; how long it takes is measured, not asserted (shared machines).
t0=$(date +%s%N)
rc=$(up "$work/slow.yaml")
t1=$(date +%s%N)
echo "# the refused up took $(((t1 - t0) / 1000000)) ms"
check "a second up of the same plan exits 3 without waiting" '[ "$rc" = 3 ]'
check "the refusal names the holder's pid" 'grep -q "locked by pid $holder" "$work/out"'
check "lock status names the holder and exits 3" '"$bin" lock status "$work/slow.yaml" >"$work/out" 2>&1; [ $? = 3 ] && grep -q "pid $holder" "$work/out"'
kill -9 "$holder"
wait "$holder" 2>/dev/null
check "after kill -9 the lock is free at once" '"$bin" lock status "$work/slow.yaml" >"$work/out" 2>&1 && grep -q "not locked" "$work/out"'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
