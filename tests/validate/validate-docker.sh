#!/usr/bin/env bash
# Validation against containers on the real Docker Engine: smoke commands
# run in a service's container, container health, the logs of services
# scanned for secret values, and the downtime prober watching a recreate
# deploy (it tells the new release by the release id in the answer).
# Everything it creates carries the plan name "vd$$" and is removed at the end.
#
#   validate-docker.sh CORPDEPLOY SOURCE_ROOT
set -uo pipefail
bin=$(realpath "$1")
top=$(realpath "$2")
work=$(mktemp -d -t corpdeploy-validate-docker.XXXXXX)
name="vd$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')  # free now; docker publishes it next
started_dockerd=""
failures=0

cleanup() {
	docker ps -aq --filter "label=corpdeploy.plan=$name" | xargs -r docker rm -f >/dev/null 2>&1
	docker network ls --format '{{.Name}}' | grep "^$name" | xargs -r docker network rm >/dev/null 2>&1
	docker images --format '{{.Repository}}:{{.Tag}}' | grep -E "^corpdeploy/$name" |
		xargs -r docker rmi -f >/dev/null 2>&1
	if [ -n "$started_dockerd" ]; then
		# Ours alone, by PID.
		kill "$started_dockerd" 2>/dev/null
		for _ in $(seq 1 300); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); sed 's/^/    /' "$work/out" | tail -30 >&2; }
pass() { echo "ok: $*"; }

started_dockerd=$("$top/scripts/dockerd-up.sh") || { echo "no Docker engine" >&2; exit 1; }
cp -r "$top/examples/quickstart/images" "$work/"
install -m 0755 /bin/busybox "$work/images/busybox"
export LEAKY_SECRET=leaky-Secret-Value-9931

write_plan() { # RELEASE SCAN_LOGS
	cat > "$work/plan.yaml" <<PLAN
corpdeploy: 1
name: $name
release: "$1"
secrets: [LEAKY_SECRET]
probe: { url: "http://127.0.0.1:$port/health", interval: 50ms, timeout: 500ms }

services:
  api:
    build: { context: images, dockerfile: api.Dockerfile, args: { RELEASE: "\${release}" } }
    networks: [app]
    health: { command: [/bin/busybox, wget, -q, -O, /dev/null, "http://127.0.0.1:8080/health"], interval: 250ms, timeout: 30s }
    stop_timeout: 1s
  worker:
    build: { context: images, dockerfile: worker.Dockerfile }
    networks: [app]
    depends_on: [api]
    # A careless service: it prints a secret into its log.
    command: [/bin/sh, -c, "echo connecting with key \$\${LEAKY}; exec /bin/poll"]
    env: { API_URL: "http://api:8080/health", INTERVAL: "1", LEAKY: "\${LEAKY_SECRET}" }
    health: { command: [/bin/busybox, test, -s, /tmp/last-poll], interval: 250ms, timeout: 30s }
    stop_timeout: 1s
  proxy:
    build: { context: images, dockerfile: proxy.Dockerfile }
    networks: [app]
    depends_on: [api]
    env: { UPSTREAM_HOST: api, UPSTREAM_PORT: "8080" }
    ports: ["127.0.0.1:$port:8080"]
    health: { http: "http://127.0.0.1:$port/health", interval: 250ms, timeout: 30s }
    stop_timeout: 1s

phases:
  - name: deploy
    steps:
      - deploy: [api, worker, proxy]
  - name: validation
    steps:
      - name: smoke
        smoke:
          base_url: http://127.0.0.1:$port
          categories:
            - name: containers
              checks:
                - { name: api healthy, container: api }
                - { name: worker healthy, container: worker }
                - name: the api answers inside its container
                  command: [/bin/busybox, wget, -q, -O, -, "http://127.0.0.1:8080/health"]
                  in: api
                  expect: { output: "$1" }
                - name: the worker has polled
                  command: [cat, /tmp/last-poll]
                  in: worker
                  expect: { exit: 0, output: ok }
            - name: http
              checks:
                - name: health through the proxy
                  http: /health
                  expect: { json: { "\$.release": "$1" } }
      - name: security
        security:
        scan_logs: $2

rollback:
  triggers: { downtime_over: 1h }
PLAN
}

# 1. Deploy r1: the smoke suite's container checks pass; the api's logs hold no secret.
write_plan r1 "[api, proxy]"
rc=0; "$bin" --no-color up "$work/plan.yaml" > "$work/out" 2>&1 || rc=$?
[ "$rc" = 0 ] && pass "r1 deploys and validates" || fail "up r1 exits $rc"
grep -q "5/5 checks passed" "$work/out" && pass "5 smoke checks pass, in containers too" || fail "smoke checks"

# 2. The worker's log holds the secret: the scan finds it, and does not print it.
write_plan r1 true
rc=0; "$bin" --no-color validate "$work/plan.yaml" > "$work/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && pass "validate with a secret in a log exits 1" || fail "validate exits $rc"
grep -q "critical logs worker: a secret value appears in the logs of '$name-worker'" "$work/out" &&
	pass "the leak is a critical finding naming the service" || fail "no leak finding"
if grep -q "$LEAKY_SECRET" "$work/out"; then fail "the secret was printed"; else pass "the secret is not printed"; fi

# 3. A recreate deploy of r2 under the prober: downtime measured, the new release recognised.
write_plan r2 "[api]"
rc=0; "$bin" --no-color up "$work/plan.yaml" > "$work/out" 2>&1 || rc=$?
[ "$rc" = 0 ] && pass "r2 deploys" || fail "up r2 exits $rc"
if grep -Eq "downtime: [1-9][0-9]* probes of http://127.0.0.1:$port/health" "$work/out"; then
	pass "the prober measured the deploy"
else
	fail "no downtime figures"
fi
# The api answers {"release": "r2"}: the prober tells the new release by it.
grep -Eq "the new release answered after [0-9.]+m?s" "$work/out" && pass "the new release's first answer is timed" ||
	fail "no time to the new release's first answer"

if [ "$failures" -gt 0 ]; then
	echo "$failures failures" >&2
	exit 1
fi
echo "all validation tests on Docker passed"
