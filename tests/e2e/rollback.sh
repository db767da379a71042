#!/usr/bin/env bash
# Rollback against the real Docker Engine, driven by fault injection (the
# binary is built with -Dfault_injection=true): for every step of a
# three-phase plan, before and after it runs, `up` of release r2 is killed
# with SIGKILL there; the next `up` must refuse (exit 3, the unfinished run
# named), `rollback` must bring release r1 back exactly (same containers,
# image ids, names, ports, health, the old content over HTTP), and a second
# `rollback` must change nothing. Also: `resume` after a crash, SIGINT in the
# middle of a deploy, a validation that fails after the switch, an idempotent
# re-run with no changing engine call, `rollback` to the previous release and
# `--to`, `history`, and a rollback whose image was deleted by hand (exit 5).
# Checks are eval'd strings, which read variables shellcheck cannot see.
# shellcheck disable=SC2034,SC2016
set -u

bin=$(realpath "$1")
top=$(realpath "$2")
work=$(mktemp -d -t corpdeploy-rollback.XXXXXX)
tag="rb$$"
port=$((20000 + ($$ + 7919) % 20000))
started_dockerd=""
pass=0
fail=0

cleanup() {
	for id in $(docker ps -aq --filter "label=corpdeploy.plan" 2>/dev/null); do
		name=$(docker inspect -f '{{index .Config.Labels "corpdeploy.plan"}}' "$id" 2>/dev/null)
		case "$name" in "$tag"*) docker rm -f "$id" >/dev/null 2>&1 ;; esac
	done
	docker network ls --format '{{.Name}}' | grep "^$tag" | xargs -r docker network rm >/dev/null 2>&1
	docker images --format '{{.Repository}}:{{.Tag}}' |
		grep -E "^corpdeploy(-keep)?/$tag" | xargs -r docker rmi -f >/dev/null 2>&1
	if [ -n "$started_dockerd" ]; then
		kill "$started_dockerd" 2>/dev/null
		for _ in $(seq 1 300); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=tests/e2e/lib.sh
source "$top/tests/e2e/lib.sh"
require_fault_injection
started_dockerd=$("$top/scripts/dockerd-up.sh") || { echo "Bail out! no Docker engine"; exit 1; }

mkdir -p "$work/stack"
cp -r "$top/examples/quickstart/images" "$work/stack/"
install -m 0755 /bin/busybox "$work/stack/images/busybox"
plan="$work/stack/plan.yaml"

# write_plan NAME RELEASE [VALIDATION-EXPECTS]: the quickstart's services in three
# phases, with a run step that leaves a marker file and undoes it.
write_plan() {
	local expect=${3:-'${release}'}
	sed -n '/^services:/,/^phases:/p' "$top/examples/quickstart/plan.yaml" | sed '$d' |
		sed -e "s/18080/$port/g" >"$work/services.yaml"
	cat >"$plan" <<PLAN
corpdeploy: 1
name: $1
release: "$2"
$(cat "$work/services.yaml")
phases:
  - name: prepare
    steps:
      - name: engine-version
        check: docker_version
        min: "20.10"
      - name: mark
        run: [/bin/sh, -c, "echo $2 > $work/marker-$2"]
        undo: [/bin/rm, -f, "$work/marker-$2"]
  - name: deploy
    steps:
      - name: deploy-api
        deploy: [api]
        timeout: 2m
      - name: deploy-rest
        deploy: [worker, proxy]
        timeout: 2m
  - name: validate
    steps:
      - name: serves-release
        http: http://127.0.0.1:$port/health
        expect: { status: 200, json: { "\$.release": "$expect" } }
        retries: 2
        retry_delay: 300ms
PLAN
}

up() { "$bin" --no-color up "$@" >"$work/out" 2>&1; echo $?; }
cmd() { "$bin" --no-color "$@" >"$work/out" 2>&1; echo $?; }
health() { curl -s -m 2 "http://127.0.0.1:$port/health"; }
# What must come back exactly: each container's name, id, image id, ports, state and health.
snapshot() {
	docker ps -a --filter "label=corpdeploy.plan=$1" -q | sort | while read -r id; do
		docker inspect -f '{{.Name}} {{.Id}} {{.Image}} {{json .HostConfig.PortBindings}} {{.State.Status}}' "$id"
	done
}
# Running, none unhealthy, and the proxy answering. (Docker itself reports command checks
# as starting until its first check at the steady interval; corpdeploy checked them.)
wait_healthy() {
	for _ in $(seq 1 100); do
		[ "$(docker ps --filter "label=corpdeploy.plan=$1" --filter status=running -q | wc -l)" = 3 ] &&
			[ -z "$(docker ps --filter "label=corpdeploy.plan=$1" --filter health=unhealthy -q)" ] &&
			health | grep -q '"status":"ok"' && return 0
		sleep 0.2
	done
	return 1
}

# The baseline: release r1 deployed and serving.
name="${tag}m"
write_plan "$name" r1
rc=$(up "$plan")
check "release r1 deploys" '[ "$rc" = 0 ] && health | grep -q "\"release\":\"r1\""'
r1=$(snapshot "$name")

# An idempotent re-run asks nothing of the engine that changes anything.
rc=$(up "$plan")
check "the same release again exits 0 with no changing engine call" '[ "$rc" = 0 ] && grep -q "of which 0 changing" "$work/out"'
check "and keeps every container" '[ "$(snapshot "$name")" = "$r1" ]'

# The crash matrix.
for point in prepare:engine-version:before prepare:mark:before prepare:mark:after \
	deploy:deploy-api:before deploy:deploy-api:after deploy:deploy-rest:before \
	deploy:deploy-rest:after validate:serves-release:before validate:serves-release:after; do
	write_plan "$name" r2
	IFS=: read -r phase step when <<<"$point"
	rc=$(CORPDEPLOY_FAULT="$phase:$step:kill9:$when" up "$plan")
	check "[$point] up is killed there" '[ "$rc" = 137 ]'
	rc=$(up "$plan")
	check "[$point] the next up refuses: unfinished run (exit 3)" '[ "$rc" = 3 ] && grep -q "unfinished" "$work/out" && grep -q "corpdeploy rollback" "$work/out"'
	rc=$(cmd rollback "$plan")
	check "[$point] rollback exits 0" '[ "$rc" = 0 ]'
	wait_healthy "$name"
	check "[$point] release r1 is back exactly" '[ "$(snapshot "$name")" = "$r1" ]'
	check "[$point] r1 serves over HTTP" 'health | grep -q "\"release\":\"r1\""'
	check "[$point] the run step was undone" '[ ! -e "$work/marker-r2" ]'
	rc=$(cmd rollback "$plan")
	check "[$point] a second rollback changes nothing" '[ "$rc" = 0 ] && grep -q "nothing to do" "$work/out" && [ "$(snapshot "$name")" = "$r1" ]'
done

# A crash, then resume: the run carries on from its first step not done.
write_plan "$name" r2
rc=$(CORPDEPLOY_FAULT="deploy:deploy-api:kill9:after" up "$plan")
rc=$(cmd resume "$plan")
check "resume finishes the interrupted run" '[ "$rc" = 0 ] && grep -q "resuming run" "$work/out"'
check "release r2 serves after resume" 'health | grep -q "\"release\":\"r2\""'
check "no parked container is left after resume" '[ "$(docker ps -a --filter "label=corpdeploy.plan=$name" -q | wc -l)" = 3 ]'
r2=$(snapshot "$name")

# A validation that fails after the switch rolls back to r2.
write_plan "$name" r3 not-this-release
rc=$(up "$plan")
check "a failed validation after the switch exits 1" '[ "$rc" = 1 ] && grep -q "serves-release" "$work/out"'
wait_healthy "$name"
check "and r2 is back exactly" '[ "$(snapshot "$name")" = "$r2" ] && health | grep -q "\"release\":\"r2\""'

# SIGINT in the middle of a deploy: finish the call in flight, roll back, exit 130.
write_plan "$name" r3
CORPDEPLOY_FAULT="deploy:deploy-api:hang:after" "$bin" --no-color up "$plan" >"$work/out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
	grep -q "deploy-api" "$work/out" 2>/dev/null && [ "$(docker ps --filter "label=corpdeploy.plan=$name" --filter "label=corpdeploy.release=r3" -q | wc -l)" = 1 ] && break
	sleep 0.2
done
kill -INT "$pid"
wait "$pid"
rc=$?
check "SIGINT rolls back and exits 130" '[ "$rc" = 130 ] && grep -q "rolled back" "$work/out"'
wait_healthy "$name"
check "r2 is back after SIGINT" '[ "$(snapshot "$name")" = "$r2" ]'
rc=$(up "$plan")
check "after SIGINT the plan is not left unfinished (r3 deploys)" '[ "$rc" = 0 ] && health | grep -q "\"release\":\"r3\""'

# Manual rollback: to the previous release, then --to an earlier one.
rc=$(cmd rollback "$plan")
check "rollback returns to the previous release (r2)" '[ "$rc" = 0 ] && wait_healthy "$name" && health | grep -q "\"release\":\"r2\""'
rc=$(cmd rollback "$plan")
check "a second rollback changes nothing" '[ "$rc" = 0 ] && grep -q "nothing to do" "$work/out" && health | grep -q "\"release\":\"r2\""'
rc=$(cmd rollback --to r1 "$plan")
check "rollback --to r1" '[ "$rc" = 0 ] && wait_healthy "$name" && health | grep -q "\"release\":\"r1\""'
rc=$(cmd rollback --to r9 "$plan")
check "rollback --to an unknown release exits 4 naming the kept ones" '[ "$rc" = 4 ] && grep -q "kept: .*r1" "$work/out"'
"$bin" history --json "$plan" >"$work/history.json" 2>"$work/out"
check "history lists the kept releases and the runs with results" 'python3 -c "
import json,sys
h=json.load(open(sys.argv[1]))
rels=[r[\"release\"] for r in h[\"releases\"]]
assert set([\"r1\",\"r2\",\"r3\"]) <= set(rels), rels
results=[r[\"result\"] for r in h[\"runs\"]]
assert \"ok\" in results and \"rolled-back\" in results, results
assert all(\"duration_ms\" in r for r in h[\"runs\"] if r[\"result\"]==\"ok\")
" "$work/history.json"'
check "kept releases are tagged against pruning" '[ "$(docker images --format "{{.Repository}}:{{.Tag}}" | grep -c "^corpdeploy-keep/$name-api:")" -ge 3 ]'

# A rollback target whose image was deleted by hand: exit 5, manual steps, r1 keeps serving.
write_plan "$name" r4
rc=$(up "$plan")
docker rmi -f "corpdeploy-keep/$name-api:r1" "corpdeploy/$name-api:r1" >/dev/null 2>&1
rc=$(cmd rollback --to r1 "$plan")
check "rollback to a release whose image is gone exits 5 with manual steps" '[ "$rc" = 5 ] && grep -q "by hand" "$work/out"'
check "and the release that ran (r4) still serves" 'wait_healthy "$name" && health | grep -q "\"release\":\"r4\""'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
