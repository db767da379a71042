#!/usr/bin/env bash
# Validation end to end: the reference validation phase (28 smoke checks, a
# load test, the security policy) against the test stack, through
# `corpdeploy validate` and `corpdeploy up`; baselines and triggers; every
# failing case (missing header, slow endpoint, 500s, self-signed, expired
# and misnamed certificates, open port, loose file mode); secrets kept out of
# the output; measured downtime and its trigger.
#
#   validate.sh CORPDEPLOY SOURCE_ROOT
set -euo pipefail
CD=$(realpath "$1")
HERE=$(realpath "$2")/tests/validate
source "$HERE/stack.sh"

T=$(mktemp -d /tmp/corpdeploy-validate.XXXXXX)
cleanup() {
	stack_down
	rm -rf "$T"
}
trap cleanup EXIT

failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}
pass() { echo "ok: $*"; }
expect_rc() { # WANT GOT WHAT
	if [ "$1" = "$2" ]; then pass "$3 exits $1"; else fail "$3 exits $2, expected $1"; fi
}
expect_in() { # FILE TEXT WHAT
	if grep -qF -- "$2" "$1"; then pass "$3"; else
		fail "$3: '$2' not in $1:"
		sed 's/^/    /' "$1" >&2
	fi
}
expect_not_in() { # FILE TEXT WHAT
	if grep -qF -- "$2" "$1"; then fail "$3: '$2' found in $1"; else pass "$3"; fi
}
json_get() { # FILE PYTHON-EXPRESSION-ON-d
	"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

export SMOKE_USER_PASSWORD=pa55word-Sekret-4711
export API_RELEASE=r1
stack_up "$T/stack"
export CA_FILE=$STACK/ca.pem ENV_FILE=$T/env LOOSE_FILE=$T/loose.env
printf 'SMOKE_USER_PASSWORD=%s\n' "$SMOKE_USER_PASSWORD" > "$ENV_FILE"
chmod 600 "$ENV_FILE"
cp "$ENV_FILE" "$LOOSE_FILE"
chmod 644 "$LOOSE_FILE"
cp "$HERE/smoke-reference.yaml" "$T/smoke.yaml"

plan() { # TEMPLATE OUT RELEASE [DOWNTIME_OVER]
	sed -e "s|@RELEASE@|$3|g" -e "s|@STATE_DIR@|$T/state|" -e "s|@ENV_FILE@|$ENV_FILE|" \
		-e "s|@SUITE@|$T/smoke.yaml|" -e "s|@DOWNTIME_OVER@|${4:-0s}|" "$HERE/plans/$1" > "$T/$2"
}

# ---- the reference validation phase passes: 28/28 ----
plan reference.yaml ref-r1.yaml r1
rc=0; "$CD" validate "$T/ref-r1.yaml" > "$T/out" 2>&1 || rc=$?
expect_rc 0 "$rc" "validate on the reference stack"
expect_in "$T/out" "smoke: 28/28 checks passed in 8 categories" "28 of 28 smoke checks pass"
expect_in "$T/out" "ok   security: score 100/100" "the security policy scores 100"
expect_in "$T/out" "ok   threshold p99_ms" "the load test judges its p99 threshold"
expect_not_in "$T/out" "$SMOKE_USER_PASSWORD" "the password never appears"
[ ! -e "$STACK/deployed" ] || fail "validate changed something"

rc=0; "$CD" validate --json "$T/ref-r1.yaml" > "$T/out.json" 2> "$T/err" || rc=$?
expect_rc 0 "$rc" "validate --json"
[ "$(json_get "$T/out.json" 'd[0]["details"]["passed"]')" = 28 ] && pass "JSON: 28 passed" ||
	fail "JSON smoke details: $(head -c 300 "$T/out.json")"
[ "$(json_get "$T/out.json" 'sorted(d[0]["details"]["checks"][0].keys())')" = \
	"['category', 'duration_ms', 'kind', 'name', 'result', 'status']" ] && pass "JSON: a check's keys" ||
	fail "JSON check keys: $(json_get "$T/out.json" 'd[0]["details"]["checks"][0]')"
[ "$(json_get "$T/out.json" 'd[1]["details"]["requests"]')" = 200 ] && pass "JSON: 200 load requests" ||
	fail "JSON load requests"
[ "$(json_get "$T/out.json" 'sum(b["count"] for b in d[1]["details"]["histogram"])')" = 200 ] &&
	pass "JSON: the histogram holds every request" || fail "JSON histogram"
[ "$(json_get "$T/out.json" 'd[1]["details"]["status_classes"]["2xx"]')" = 200 ] &&
	pass "JSON: 200 answers of class 2xx" || fail "JSON status classes"

# ---- up stores the baseline; the next release is compared with it ----
rc=0; "$CD" up "$T/ref-r1.yaml" > "$T/out" 2>&1 || rc=$?
expect_rc 0 "$rc" "up of release r1"
base=$T/state/validate-reference/baselines/latest.json
if [ -f "$base" ]; then
	pass "the baseline is stored"
	[ "$(json_get "$base" 'd["release"]')" = r1 ] && pass "baseline of release r1" || fail "baseline release"
	json_get "$base" 'd["metrics"]["load companies.p99_ms"] > 0' | grep -qx True &&
		pass "the baseline holds the load test's p99" || fail "no p99 in the baseline"
	json_get "$base" 'd["metrics"]["smoke.success_rate"] == 100' | grep -qx True &&
		pass "the baseline holds the smoke success rate" || fail "smoke success rate in the baseline"
else
	fail "no baseline at $base"
fi
plan reference.yaml ref-r2.yaml r2
rc=0; "$CD" up "$T/ref-r2.yaml" > "$T/out" 2>&1 || rc=$?
expect_rc 0 "$rc" "up of release r2"
expect_in "$T/out" "load companies against release r1:" "r2 is compared with r1's baseline"
expect_in "$T/out" "p99_ms" "the comparison lists p99"
[ "$(json_get "$base" 'd["release"]')" = r2 ] && pass "r2 became the baseline" || fail "baseline not r2"

# ---- a p99 regression against the baseline crosses the trigger ----
rc=0; LOAD_PATH=/slow "$CD" validate --json "$T/ref-r2.yaml" > "$T/out.json" 2> "$T/err" || rc=$?
expect_rc 1 "$rc" "validate with a slow load endpoint"
json_get "$T/out.json" '[t for t in d[1]["details"]["baseline"]["triggers"] if t["name"] == "p99_regression"][0]["crossed"]' |
	grep -qx True && pass "the p99_regression trigger is crossed" || fail "p99_regression not crossed"
expect_in "$T/out.json" "rollback trigger p99_regression crossed" "the failure names the trigger"

# ---- breaking one endpoint makes up roll back, naming the failed check ----
echo /api/v1/companies/AAPL > "$STACK/api/broken"
plan reference.yaml ref-r3.yaml r3
rc=0; "$CD" up "$T/ref-r3.yaml" > "$T/out" 2>&1 || rc=$?
expect_rc 1 "$rc" "up with a broken endpoint"
expect_in "$T/out" "api / GET /api/v1/companies/AAPL: expected status 200, got 500" "the failed check is named"
expect_in "$T/out" "rolled back" "the run was rolled back"
[ ! -e "$STACK/deployed" ] && pass "the change was undone" || fail "the marker of r3 is still there"
[ "$(json_get "$base" 'd["release"]')" = r2 ] && pass "a failed release is no baseline" || fail "r3 became the baseline"
rm -f "$STACK/api/broken"

# ---- every failing case, with secrets kept out ----
plan failing.yaml failing.yaml 1
rc=0; "$CD" validate --json "$T/failing.yaml" > "$T/out.json" 2> "$T/err" || rc=$?
expect_rc 1 "$rc" "validate of the failing plan"
cat "$T/out.json" "$T/err" > "$T/all"
expect_not_in "$T/all" "$SMOKE_USER_PASSWORD" "the password never appears"
expect_in "$T/all" "token=***" "a captured token is redacted"
expect_in "$T/all" "password=***" "a secret in a URL is redacted"
check_msg() { # NAME TEXT
	local m
	m=$(json_get "$T/out.json" "[c for c in d[0]['details']['checks'] if c['name'] == '$1'][0].get('message', 'PASSED')")
	case "$m" in *"$2"*) pass "smoke '$1': $2" ;; *) fail "smoke '$1': '$m' lacks '$2'" ;; esac
}
check_msg "missing header" "expected header X-Frame-Options: DENY, got none"
check_msg "slow endpoint" "expected an answer within 100ms"
check_msg "closed port" "cannot connect to 127.0.0.1:$CLOSED_PORT"
check_msg "command output" "expected the output to contain 'goodbye'"
check_msg "login" "PASSED"
step_json() { # STEP-NAME EXPRESSION-ON-s
	json_get "$T/out.json" "[s for s in d if s['step'] == '$1'][0]$2"
}
expect_step_fail() { # STEP TEXT
	local m
	m=$(step_json "$1" ".get('message', 'PASSED')")
	case "$m" in *"$2"*) pass "step '$1': $2" ;; *) fail "step '$1': '$m' lacks '$2'" ;; esac
}
expect_step_fail "load slow" "threshold p99_ms crossed"
expect_step_fail "load 500s" "threshold max_error_rate crossed"
json_get "$T/out.json" "(lambda s: s['result'] == 'ok' and s['details']['requests'] == 25 and s['details']['duration_ms'] >= 480)([s for s in d if s['step'] == 'load rate'][0])" |
	grep -qx True && pass "a rate holds the requests back (25 at 50/s take 480 ms or more)" ||
	fail "rate: $(step_json "load rate" "")"
[ "$(step_json "load 500s" "['details']['status_classes']['5xx']")" = 40 ] && pass "40 answers of class 5xx" ||
	fail "5xx count: $(step_json "load 500s" "['details']['status_classes']")"
expect_step_fail "headers missing" "header hsts: no Strict-Transport-Security header"
[ "$(step_json "headers missing" "['details']['score']")" = 48 ] && pass "the score counts the findings (100 - 20 - 3x10 - 2)" ||
	fail "score: $(step_json "headers missing" "['details']")"
expect_step_fail "hsts too short" "max-age is 31536000, expected at least 63072000"
expect_step_fail "self-signed" "tls chain"
expect_step_fail "expired" "tls expiry: the certificate of localhost expired"
expect_step_fail "wrong host name" "tls hostname"
expect_step_fail "port open" "127.0.0.1:$NGINX_PORT accepts connections"
expect_step_fail "env file mode" "has mode 0644, wider than 0600"

# ---- the load generator's own HTTP/1.1 client: framing and failures ----
plan load-framing.yaml load-framing.yaml 1
rc=0; "$CD" validate --json "$T/load-framing.yaml" > "$T/out.json" 2> "$T/err" || rc=$?
expect_rc 0 "$rc" "validate of the load framing plan"
load_counts() { # STEP: engine, requests, errors, 2xx, other
	json_get "$T/out.json" "(lambda x: '%s|%d|%d|%d|%d' % (x['engine'], x['requests'], x['errors'], x['status_classes']['2xx'], x['status_classes']['other']))([s for s in d if s['step'] == '$1'][0]['details'])"
}
expect_load() { # STEP WANT WHAT
	local got
	got=$(load_counts "$1")
	if [ "$got" = "$2" ]; then pass "load '$1': $3"; else fail "load '$1': $got, expected $2 ($3)"; fi
}
own="http/1.1 own client"
expect_load "close each" "$own|60|0|60|0" "a server closing after each answer costs no request"
expect_load "chunked" "$own|60|0|60|0" "chunked answers with extensions and trailers"
expect_load "until close" "$own|30|0|30|0" "HTTP/1.0 bodies ended by closing"
expect_load "head" "$own|40|0|40|0" "HEAD answers without a body"
expect_load "post" "$own|40|0|40|0" "a POST body with its Content-Length"
expect_load "refused" "$own|20|20|0|20" "refused connections are errors of class other"
expect_load "malformed" "$own|10|10|0|10" "a malformed answer is an error of class other"
expect_load "hang" "$own|2|2|0|2" "no answer within the timeout is an error of class other"
# With a proxy (nginx takes absolute URLs), libcurl's engine serves the same steps.
rc=0; http_proxy=http://$NGINX_ADDR "$CD" validate --json "$T/load-framing.yaml" > "$T/out.json" 2> "$T/err" || rc=$?
expect_rc 0 "$rc" "validate of the load framing plan through a proxy"
expect_load "close each" "libcurl|60|0|60|0" "libcurl's engine where a proxy applies"
expect_load "head" "libcurl|40|0|40|0" "libcurl's engine for HEAD through a proxy"

# ---- downtime: measured by the prober, judged by downtime_over ----
plan downtime.yaml downtime-0.yaml d1 0s
rc=0; "$CD" up "$T/downtime-0.yaml" > "$T/out" 2>&1 || rc=$?
expect_rc 1 "$rc" "up whose switch takes the endpoint away (downtime_over: 0s)"
expect_in "$T/out" "crossed the downtime_over trigger (0ms)" "downtime_over rolls back"
expect_in "$T/out" "downtime: " "the measured downtime is printed"
plan downtime.yaml downtime-5.yaml d2 5s
rc=0; "$CD" up "$T/downtime-5.yaml" > "$T/out" 2>&1 || rc=$?
expect_rc 0 "$rc" "the same with downtime_over: 5s"
if grep -Eq "downtime: [0-9]+ probes of .*, [1-9][0-9]* failed, longest gap [0-9.]+m?s" "$T/out"; then
	pass "failed probes and the longest gap are measured"
else
	fail "no downtime figures in: $(grep downtime "$T/out")"
fi

if [ "$failures" -gt 0 ]; then
	echo "$failures failures" >&2
	exit 1
fi
echo "all validation tests passed"
