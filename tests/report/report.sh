#!/usr/bin/env bash
# Reports end to end. 1) The recorded reference run (fixtures/reference-run.json,
# a real run recorded by `examples/reference/run.sh OUT --fixture FILE`: six
# phases, 13 services, 28 smoke checks in 8 categories, a load test against
# its baseline, a security finding, backups, a migration) rendered in every format
# and compared with the golden files (CD_UPDATE_GOLDEN=1 rewrites them); the
# JUnit against junit.xsd with xmllint; the HTML in headless Chromium, with a
# screenshot and no console message. 2) `up` of plans that need no engine: a
# failed run and a successful one write their reports (0600) into the run
# directory and report.dir, no report and no webhook body shows the plan's
# secret, and the plan's webhook is delivered although its receiver fails the
# first two tries, while a dead webhook only warns.
# Checks are eval'd strings, which read variables shellcheck cannot see.
# shellcheck disable=SC2034,SC2016
set -u

bin=$(realpath "$1")
top=$(realpath "$2")
here="$top/tests/report"
work=$(mktemp -d -t corpdeploy-report.XXXXXX)
receiver=""
pass=0
fail=0

cleanup() {
	[ -n "$receiver" ] && kill "$receiver" 2>/dev/null && wait "$receiver" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; [ -f "$work/out" ] && sed 's/^/    /' "$work/out" | tail -30; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

# ---- 1. the reference run against golden files -----------------------------------
# rollback-failed-run.json: a real run whose Docker engine stopped answering
# mid-deploy, and whose rollback could not finish.
fixture="$here/fixtures/reference-run.json"
for run in reference-run rollback-failed-run; do
	for f in json md html junit; do
		ext=$f; [ $f = junit ] && ext=xml
		out="$work/$run.$ext"
		"$bin" --no-color report --from "$here/fixtures/$run.json" --format $f -o "$out" 2>"$work/out"
		if [ "${CD_UPDATE_GOLDEN:-}" = 1 ]; then cp "$out" "$here/golden/$run.$ext"; fi
		if diff -u "$here/golden/$run.$ext" "$out" >"$work/out"; then
			ok "golden: $run $f"
		else
			not_ok "golden: $run $f differs from golden/$run.$ext"
		fi
		check "report -o writes $f with mode 0600" '[ "$(stat -c %a "$out")" = 600 ]'
	done
done
for ext in json md html xml; do cp "$work/reference-run.$ext" "$work/ref.$ext"; done
check "the rolled-back run's junit validates, with the failure and the skipped steps" \
	'xmllint --noout --schema "$here/junit.xsd" "$work/rollback-failed-run.xml" 2>/dev/null && grep -q "<failure message=\"cannot start container" "$work/rollback-failed-run.xml" && [ "$(grep -c "<skipped" "$work/rollback-failed-run.xml")" = 2 ]'
check "the rolled-back run's markdown lists what was not undone" \
	'grep -qF "FAILED, ROLLBACK FAILED" "$work/rollback-failed-run.md" && grep -qF "❌ NOT undone: put back the previous container of '"'"'proxy'"'"'" "$work/rollback-failed-run.md"'
check "the rolled-back run's HTML draws the rollback" 'grep -q "<title>rollback: 2m 35s</title>" "$work/rollback-failed-run.html"'

check "json re-rendered equals the recorded report" \
	'python3 -c "import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))" "$fixture" "$work/ref.json"'
check "markdown has the reference sections" \
	'for s in "## Executive Summary" "## Deployment Timeline" "## Services Deployed" "## Database Migration Summary" "## Performance Validation Results" "## Smoke Test Results" "## Security Validation" "## Rollback Readiness" "## Issues and Warnings"; do grep -qF "$s" "$work/ref.md" || exit 1; done'
check "markdown counts 28 of 28 checks in 8 categories" 'grep -qF "28 of 28 checks passed (100%) in 8 categories" "$work/ref.md"'
check "report to stdout equals report -o" \
	'"$bin" report --from "$fixture" --format md | cmp -s - "$work/ref.md"'

# The report's JSON Schema (templates/report.schema.json), where python3 has jsonschema.
schema="$top/templates/report.schema.json"
if python3 -c "import jsonschema" 2>/dev/null; then
	check "the recorded report is valid against report.schema.json" \
		'python3 "$here/validate-schema.py" "$schema" "$fixture" >"$work/out" 2>&1'
	python3 -c "import json,sys; r=json.load(open(sys.argv[1])); r['run']['outcome']='fine'; del r['phases'][0]['steps'][0]['attempts']; json.dump(r,open(sys.argv[2],'w'))" "$fixture" "$work/broken.json"
	check "report.schema.json rejects a report with a bad outcome and a step without attempts" \
		'! python3 "$here/validate-schema.py" "$schema" "$work/broken.json" >/dev/null 2>&1'
else
	echo "ok - report.schema.json # SKIP python3 has no jsonschema (Debian: python3-jsonschema)"
fi

if xmllint --noout --schema "$here/junit.xsd" "$work/ref.xml" >"$work/out" 2>&1; then
	ok "junit validates against junit.xsd"
else
	not_ok "junit validates against junit.xsd"
fi
printf '<testsuites><testsuite name="s" tests="1"><testcase name="no-classname"/></testsuite></testsuites>\n' >"$work/bad.xml"
check "junit.xsd rejects a testcase without classname" \
	'! xmllint --noout --schema "$here/junit.xsd" "$work/bad.xml" >/dev/null 2>&1'
check "junit: 45 tests (17 steps, 28 smoke checks)" 'grep -q "<testsuites [^>]*tests=\"45\" failures=\"0\"" "$work/ref.xml"'

# A template of the user's own replaces the built-in one; errors name the line.
printf '{{plan.name}}: {{#smoke}}{{name}}={{passed}}/{{total}};{{/smoke}}\n' >"$work/mine.tmpl"
check "report --template renders a user template" \
	'[ "$("$bin" report --from "$fixture" --template "$work/mine.tmpl")" = "corporate-intelligence-reference: health=3/3;database=3/3;cache=3/3;auth=3/3;api=4/4;errors=3/3;performance=5/5;monitoring=4/4;" ]'
printf 'a\n{{#smoke}}\n' >"$work/bad.tmpl"
"$bin" --no-color report --from "$fixture" --template "$work/bad.tmpl" >"$work/out" 2>&1
check "a broken template is an error naming its line" \
	'grep -qF "template line 2: {{#smoke}} is never closed" "$work/out"'
"$bin" --no-color report --from "$work/nothing.json" >"$work/out" 2>&1; code=$?
check "a missing report exits 2 naming it" '[ $code = 2 ] && grep -q "nothing.json" "$work/out"'
"$bin" --no-color report --from "$fixture" --format pdf >"$work/out" 2>&1; code=$?
check "an unknown format exits 2" '[ $code = 2 ] && grep -q "unknown format" "$work/out"'

# Headless Chromium: the page renders, the screenshot shows it, the console stays quiet.
chromium_shot() { # html png log
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$(mktemp -d -p "$work")" --window-size=1200,2400 \
		--screenshot="$2" --enable-logging=stderr --v=0 "file://$1" >/dev/null 2>"$3"
}
console_messages() { grep -E 'CONSOLE|Refused to|Content Security Policy|net::ERR' "$1"; }
if command -v chromium >/dev/null; then
	chromium_shot "$work/ref.html" "$work/ref.png" "$work/chromium.log"
	check "chromium takes a screenshot of the HTML report" \
		'[ -s "$work/ref.png" ] && [ "$(head -c 8 "$work/ref.png" | od -An -tx1 | tr -d " \n")" = 89504e470d0a1a0a ] && [ "$(stat -c %s "$work/ref.png")" -gt 50000 ]'
	check "no console message or blocked request" '! console_messages "$work/chromium.log" >"$work/out"'
	[ -n "${CD_REPORT_SCREENSHOT:-}" ] && cp "$work/ref.png" "$CD_REPORT_SCREENSHOT"
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$(mktemp -d -p "$work")" --no-pdf-header-footer \
		--print-to-pdf="$work/ref.pdf" "file://$work/ref.html" >/dev/null 2>&1
	check "chromium prints the HTML report to PDF" \
		'[ "$(head -c 5 "$work/ref.pdf" 2>/dev/null)" = "%PDF-" ] && [ "$(stat -c %s "$work/ref.pdf")" -gt 20000 ]'
	# The check above can fail: a page that asks for the network is caught.
	sed 's|<body>|<body><img src="http://127.0.0.1:9/x.png" alt="">|' "$work/ref.html" >"$work/net.html"
	chromium_shot "$work/net.html" "$work/net.png" "$work/net.log"
	check "a page requesting the network is caught by the console check" 'console_messages "$work/net.log" >/dev/null'
else
	echo "ok - chromium # SKIP chromium is not installed (scripts/install-deps.sh installs it)"
fi
check "the HTML is self-contained (no script, no external URL in an attribute)" \
	'! grep -qiE "<script|<link|(src|href)=\"(https?:)?//" "$work/ref.html"'
check "the HTML has the SVG timeline and histogram" \
	'grep -q "aria-label=\"timeline of phases and steps\"" "$work/ref.html" && grep -q "aria-label=\"latency histogram\"" "$work/ref.html"'

# ---- 2. up: reports of real runs, secrets, webhooks --------------------------------
python3 "$here/receiver.py" "$work/port" "$work/bodies" &
receiver=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port" 2>/dev/null)
[ -n "$port" ] || { echo "Bail out! the webhook receiver did not start"; exit 1; }

sentinel="rep0rt-Sentinel-$$-x9"
mkdir -p "$work/plan"
write_plan() { # name failing-url
	cat >"$work/plan/$1.yaml" <<PLAN
corpdeploy: 1
name: $1
release: "1.4.2"
secrets: [REPORT_SECRET]
report:
  dir: shared-reports
  formats: [json, markdown, html, junit]
notify:
  - url: "http://127.0.0.1:$port/hook"
    on: [success, failure, rollback]
    retries: 3
  - url: "http://127.0.0.1:1/dead?key=\${REPORT_SECRET}"
    retries: 0
    timeout: 2s
phases:
  - name: checks
    budget: 1m
    steps:
      - name: service-answers
        http: "http://127.0.0.1:$port/ok"
      - name: tell-the-channel
        notify: "http://127.0.0.1:$port/step"
        message: "starting with \${REPORT_SECRET}"
        format: slack
  - name: validation
    budget: 30s
    steps:
      - name: token-check
        http: "$2"
      - name: never-reached
        wait: 10ms
PLAN
}
write_plan failing "http://127.0.0.1:$port/fail?token=\${REPORT_SECRET}"
write_plan passing "http://127.0.0.1:$port/ok?token=\${REPORT_SECRET}"

REPORT_SECRET=$sentinel "$bin" --no-color up "$work/plan/failing.yaml" >"$work/out" 2>&1; code=$?
runs="$work/plan/.corpdeploy/failing/runs"
run_id=$(find "$runs" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | head -1)
check "a failed run exits 4 (nothing changed)" '[ $code = 4 ]'
check "the failed run wrote report.json, .md, .html and junit.xml" \
	'for f in report.json report.md report.html junit.xml; do [ -s "$runs/$run_id/$f" ] || exit 1; done'
check "reports are mode 0600" \
	'for f in "$runs/$run_id"/report.* "$runs/$run_id"/junit.xml "$work/plan/shared-reports"/*; do [ "$(stat -c %a "$f")" = 600 ] || exit 1; done'
check "report.dir has the run's files named after it" '[ -s "$work/plan/shared-reports/$run_id-report.md" ]'
check "report.json records the failure" \
	'python3 -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(not (r[\"run\"][\"outcome\"]==\"precheck-failed\" and r[\"run\"][\"exit_code\"]==4 and r[\"phases\"][1][\"steps\"][0][\"result\"]==\"failed\" and r[\"phases\"][1][\"steps\"][1][\"result\"]==\"skipped\" and r[\"issues\"][0][\"severity\"]==\"critical\"))" "$runs/$run_id/report.json"' 
check "the junit of the failed run validates and has the failure" \
	'xmllint --noout --schema "$here/junit.xsd" "$runs/$run_id/junit.xml" 2>/dev/null && grep -q "<failure message=" "$runs/$run_id/junit.xml"'
check "the markdown says what failed" 'grep -q "FAILED BEFORE CHANGING ANYTHING" "$runs/$run_id/report.md" && grep -q "token-check" "$runs/$run_id/report.md"'
check "the webhook was delivered on the third try" 'grep -q "notify\[0\]: failure notification delivered (3 attempts)" "$work/out"'
check "the dead webhook only warns, with its URL redacted" 'grep -q "warning: notify\[1\]: webhook http://127.0.0.1:1/dead?key=\*\*\* failed after 1 attempt" "$work/out"'
check "the notify step posted when it ran (slack form)" 'grep -q "^/step 1 application/json {\"text\":" "$work/bodies"'
check "three tries of the failure message reached the receiver" '[ "$(grep -c "^/hook .*\"event\":\"failure\"" "$work/bodies")" = 3 ]'

rm -f "$work/bodies"
REPORT_SECRET=$sentinel "$bin" --no-color up "$work/plan/passing.yaml" >"$work/out" 2>&1; code=$?
check "a passing run exits 0 even with a dead webhook" '[ $code = 0 ]'
check "the success message was delivered after two failures" \
	'[ "$(grep -c "^/hook .*\"event\":\"success\"" "$work/bodies")" = 1 ] && grep -q "success notification delivered (1 attempt)" "$work/out"'
"$bin" --no-color report "$work/plan/passing.yaml" --last --format md >"$work/last.md" 2>"$work/out"
check "report PLAN --last renders the last run" 'grep -q "\*\*SUCCEEDED\*\*" "$work/last.md"'
pid=$(find "$work/plan/.corpdeploy/passing/runs" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | head -1)
"$bin" --no-color report "$work/plan/passing.yaml" "$pid" --format junit -o "$work/passing.xml" 2>"$work/out"
check "report PLAN RUN-ID --format junit validates" 'xmllint --noout --schema "$here/junit.xsd" "$work/passing.xml" 2>/dev/null'
"$bin" --no-color report "$work/plan/passing.yaml" ../../etc >"$work/out" 2>&1; code=$?
check "a run id with a slash is refused" '[ $code = 2 ]'

"$bin" --no-color history "$work/plan/failing.yaml" >"$work/history" 2>"$work/out"
check "history links the run to its Markdown report" \
	'grep -qxF "      markdown report: $runs/$run_id/report.md  (also html, json, junit beside it)" "$work/history"'
"$bin" history --json "$work/plan/failing.yaml" >"$work/history.json" 2>"$work/out"
check "history --json lists every report of the run, the shared copies too" \
	'python3 -c "import json,sys; r=json.load(open(sys.argv[1]))[\"runs\"][0][\"reports\"]; sys.exit(not (sorted(r)==[\"html\",\"json\",\"junit\",\"markdown\"] and r[\"markdown\"]==[sys.argv[2]+\"/report.md\", sys.argv[3]+\"-report.md\"]))" "$work/history.json" "$runs/$run_id" "$work/plan/shared-reports/$run_id"'

if python3 -c "import jsonschema" 2>/dev/null; then
	check "the reports of both runs are valid against report.schema.json" \
		'python3 "$here/validate-schema.py" "$schema" "$runs/$run_id/report.json" "$work/plan/.corpdeploy/passing/runs/$pid/report.json" >"$work/out" 2>&1'
fi
check "the secret is in no report, no webhook body, no output" \
	'! grep -rqF "$sentinel" "$work/plan" "$work/bodies" "$work/out" "$work/last.md" "$work/passing.xml"'
check "the secret's place shows ***" 'grep -q "token=\*\*\*" "$runs/$run_id/report.md"'

echo "1..$((pass + fail))"
echo "# $pass passed, $fail failed"
[ "$fail" = 0 ]
