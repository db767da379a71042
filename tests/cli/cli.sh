#!/bin/bash
# End-to-end checks of the corpdeploy binary: commands and exit codes, the
# plan listing and its JSON, colour, secret redaction and git release ids.
#
#   tests/cli/cli.sh CORPDEPLOY [REPO_TOP]
#
# Prints ok/FAIL per check and exits non-zero if any check failed.
set -u

TIME_LIMIT=30

usage() {
	echo "usage: $0 CORPDEPLOY [REPO_TOP]" >&2
	exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	usage
fi
bin=$1
if [ $# -eq 2 ]; then
	top=$2
else
	top=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
fi
case $bin in
/*) ;;
*) bin=$PWD/$bin ;;
esac
[ -x "$bin" ] || { echo "$0: $bin is not an executable" >&2; exit 2; }
cd "$top" || exit 2
[ -f plans/production.yaml ] || { echo "$0: $top has no plans/production.yaml" >&2; exit 2; }

# python3 parses JSON and provides a terminal. Resolved once: the shims of
# version managers can take seconds to start.
py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) ||
	{ echo "$0: python3 is needed" >&2; exit 2; }

# What a test harness sets for corpdeploy (meson's MALLOC_PERTURB_, sanitizer
# options) passes through the otherwise clean environment it runs in.
passenv=()
for v in MALLOC_PERTURB_ ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
	if [ -n "${!v+x}" ]; then
		passenv+=("$v=${!v}")
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/corpdeploy-cli.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tab=$'\t' # cJSON_Print puts one after each key
passed=0
failed=0
failed_names=()
current=""
problems=()

# ---- helpers ----------------------------------------------------------------

# A check is: begin NAME, then run/expect_* calls, then end. A problem names
# the command it concerns; the output of the first failing command is shown.
begin() {
	current=$1
	problems=()
	last_cmd=""
	rm -f "$tmp/fail-out" "$tmp/fail-err" "$tmp/fail-cmd"
}
problem() {
	problems+=("${last_cmd:+[$last_cmd] }$*")
	if [ ! -e "$tmp/fail-cmd" ] && [ -n "$last_cmd" ]; then
		printf '%s (exit %s)\n' "$last_cmd" "$rc" >"$tmp/fail-cmd"
		cp "$tmp/out" "$tmp/fail-out" 2>/dev/null
		cp "$tmp/err" "$tmp/fail-err" 2>/dev/null
	fi
}
end() {
	if [ ${#problems[@]} -eq 0 ]; then
		echo "ok   $current"
		passed=$((passed + 1))
		return
	fi
	echo "FAIL $current"
	printf '    %s\n' "${problems[@]}" | cat -v
	if [ -e "$tmp/fail-cmd" ]; then
		echo "    --- first failing command: $(cat -v "$tmp/fail-cmd")"
		echo "    --- its stdout:"
		head -c 3000 "$tmp/fail-out" | cat -v | sed 's/^/    | /'
		echo "    --- its stderr:"
		head -c 3000 "$tmp/fail-err" | cat -v | sed 's/^/    | /'
	fi
	failed=$((failed + 1))
	failed_names+=("$current")
}

# run [VAR=value...] -- ARGS...: runs corpdeploy ARGS in a clean environment
# (plus the given variables); sets rc, stdout in $tmp/out, stderr in $tmp/err.
run() {
	local -a vars=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		vars+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	last_cmd="${vars[*]} corpdeploy $*"
	{
		env -i ${passenv[@]+"${passenv[@]}"} PATH="$PATH" HOME="$tmp/home" LC_ALL=C TMPDIR="$tmp" ${vars[@]+"${vars[@]}"} \
			timeout "$TIME_LIMIT" "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
		rc=$?
	} 2>/dev/null
	check_ended
}

# A run must end by itself, without a signal or a sanitizer report.
check_ended() {
	if [ "$rc" -ge 124 ]; then
		problem "ended with status $rc (timeout or signal)"
	fi
	if grep -q -e 'runtime error:' -e 'Sanitizer' "$tmp/err" "$tmp/out" 2>/dev/null; then
		problem "sanitizer report"
	fi
}

expect_rc() {
	[ "$rc" = "$1" ] || problem "exit status $rc, expected $1"
}
# expect_in out|err TEXT: TEXT (fixed string) appears in stdout or stderr.
expect_in() {
	grep -q -F -e "$2" "$tmp/$1" || problem "std$1 does not contain: $2"
}
expect_not_in() {
	if grep -q -F -e "$2" "$tmp/$1"; then
		problem "std$1 contains: $2"
	fi
}
expect_empty() {
	[ ! -s "$tmp/$1" ] || problem "std$1 is not empty"
}
expect_no_escape() {
	if LC_ALL=C grep -q $'\033' "$tmp/$1"; then
		problem "std$1 holds escape sequences"
	fi
}

# Runs corpdeploy with stdout and stderr on a terminal; output in $tmp/tty.
run_tty() {
	local -a vars=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		vars+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	last_cmd="(on a terminal) ${vars[*]} corpdeploy $*"
	env -i ${passenv[@]+"${passenv[@]}"} PATH="$PATH" HOME="$tmp/home" LC_ALL=C TERM=xterm ${vars[@]+"${vars[@]}"} \
		timeout "$TIME_LIMIT" "$py" -c '
import os, subprocess, sys
master, slave = os.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
os.close(slave)
out = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
sys.stdout.buffer.write(out)
sys.exit(p.wait())
' "$bin" "$@" >"$tmp/tty" 2>"$tmp/err"
	rc=$?
	cp "$tmp/tty" "$tmp/out"
	check_ended
}

mkdir -p "$tmp/home"

# ---- commands and exit codes ------------------------------------------------

begin "--version exits 0 and prints the version"
run -- --version
expect_rc 0
expect_in out "corpdeploy "
end

begin "version exits 0"
run -- version
expect_rc 0
expect_in out "corpdeploy "
expect_in out "plan format 1"
end

begin "no command exits 2"
run --
expect_rc 2
expect_in err "no command given"
end

begin "unknown command 'lnit' exits 2 with a hint"
run -- lnit plans/production.yaml
expect_rc 2
expect_in err "unknown command 'lnit' (did you mean 'lint'?)"
end

begin "unknown global option exits 2"
run -- --frobnicate lint plans/production.yaml
expect_rc 2
expect_in err "unknown option '--frobnicate'"
end

begin "lint --help exits 0 and prints usage"
run -- lint --help
expect_rc 0
expect_in out "usage: corpdeploy lint"
end

begin "plan --help exits 0 and prints usage"
run -- plan --help
expect_rc 0
expect_in out "usage: corpdeploy plan"
end

begin "help lint exits 0"
run -- help lint
expect_rc 0
expect_in out "usage: corpdeploy lint"
end

begin "lint with no plan exits 2"
run -- lint
expect_rc 2
expect_in err "no plan given"
expect_in err "usage: corpdeploy lint"
end

begin "plan with no plan exits 2"
run -- plan
expect_rc 2
expect_in err "usage: corpdeploy plan"
end

begin "lint with an unknown option exits 2"
run -- lint --frobnicate plans/production.yaml
expect_rc 2
expect_in err "usage: corpdeploy lint"
end

begin "lint of a missing file exits 2 and names it"
run -- lint "$tmp/no-such-plan.yaml"
expect_rc 2
expect_in err "$tmp/no-such-plan.yaml"
expect_in err "No such file or directory"
end

begin "lint of a directory exits 2 and says so"
run -- lint "$tmp"
expect_rc 2
expect_in err "$tmp: cannot read: it is a directory"
end

# A device is neither a plan nor a readable file; the message must say why,
# not whatever errno an earlier call left behind.
begin "lint of a device exits 2 with a meaningful reason"
run -- lint /dev/null
expect_rc 2
expect_in err "/dev/null"
expect_not_in err "Inappropriate ioctl"
expect_not_in err "Success"
end

begin "lint of the production plan and the examples exits 0"
run -- lint plans/production.yaml examples/*/plan.yaml
expect_rc 0
for p in plans/production.yaml examples/*/plan.yaml; do
	expect_in err "$p: ok ("
done
end

begin "lint --strict fails on warnings (production has no env file here)"
run -- lint --strict plans/production.yaml
expect_rc 2
end

begin "lint of a valid and a broken plan exits 2 and reports both"
run -- lint examples/local-stack/plan.yaml tests/data/broken/03-unknown-key.yaml
expect_rc 2
expect_in err "examples/local-stack/plan.yaml: ok ("
expect_in err "tests/data/broken/03-unknown-key.yaml:9:5: unknown key 'imgae' in services.api (did you mean 'image'?)"
end

begin "lint --json is one JSON array with positioned diagnostics"
run -- lint --json examples/local-stack/plan.yaml tests/data/broken/47-several-errors.yaml
expect_rc 2
if ! "$py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d, list) and len(d) == 2, "expected an array of 2 results"
assert d[0]["ok"] is True and d[0]["diagnostics"] == [], d[0]
assert d[1]["ok"] is False, d[1]
diags = d[1]["diagnostics"]
assert len(diags) == 5, "expected 5 diagnostics, got %d" % len(diags)
for g in diags:
    assert g["severity"] == "error" and g["line"] > 0 and g["column"] > 0, g
lines = [g["line"] for g in diags]
assert lines == sorted(lines), "diagnostics out of order: %s" % lines
' "$tmp/out" 2>"$tmp/py"; then
	problem "lint --json: $(tail -n 1 "$tmp/py")"
fi
end

# ---- plan -----------------------------------------------------------------

begin "plan shows 6 phases, 13 services and 28 smoke checks"
run -- plan plans/production.yaml
expect_rc 0
summary=$(grep -E '^[0-9]+ services, ' "$tmp/out")
case $summary in
"13 services, 6 phases, "*", 28 smoke checks in "*) ;;
*) problem "summary line is '$summary'" ;;
esac
expect_in out "services (13)"
phases=$(grep -c -E '^[0-9]+\. ' "$tmp/out")
[ "$phases" = 6 ] || problem "$phases phase headings, expected 6"
end

begin "plan --json is one JSON document with 6 phases, 13 services, 28 smoke checks"
run -- plan --json plans/production.yaml
expect_rc 0
if ! "$py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["phases"]) == 6, "phases: %d" % len(d["phases"])
assert len(d["services"]) == 13, "services: %d" % len(d["services"])
def steps(lst):
    for s in lst:
        yield s
        if s.get("kind") == "parallel":
            yield from steps(s.get("parallel", []))
n = 0
for p in d["phases"]:
    for s in steps(p["steps"]):
        if s.get("kind") == "smoke":
            n += sum(len(c["checks"]) for c in s["suite"]["categories"])
assert n == 28, "smoke checks: %d" % n
' "$tmp/out" 2>"$tmp/py"; then
	problem "plan --json: $(tail -n 1 "$tmp/py")"
fi
end

begin "plan of a broken plan exits 2 and prints no listing"
run -- plan tests/data/broken/03-unknown-key.yaml
expect_rc 2
expect_empty out
expect_in err "unknown key 'imgae'"
end

# ---- colour -----------------------------------------------------------------

# Colour is for terminals only. Without a terminal there is never any; on
# one, NO_COLOR (set and not empty) and --no-color turn it off.
begin "no escape sequences when output is not a terminal"
run -- plan plans/production.yaml
expect_no_escape out
expect_no_escape err
run -- lint plans/production.yaml tests/data/broken/47-several-errors.yaml
expect_no_escape out
expect_no_escape err
end

if ! "$py" -c 'import os; os.openpty()' 2>/dev/null; then
	echo "skip colour on a terminal: no pseudo-terminal available"
else

	begin "on a terminal, plan output is coloured (control for the NO_COLOR checks)"
	run_tty -- plan plans/production.yaml
	expect_rc 0
	LC_ALL=C grep -q $'\033' "$tmp/tty" || problem "no escape sequence on a terminal"
	end

	begin "NO_COLOR=1 on a terminal: no escape sequences"
	run_tty NO_COLOR=1 -- plan plans/production.yaml
	expect_rc 0
	expect_no_escape tty
	run_tty NO_COLOR=1 -- lint plans/production.yaml tests/data/broken/47-several-errors.yaml
	expect_rc 2
	expect_no_escape tty
	end

	begin "--no-color on a terminal: no escape sequences"
	run_tty -- --no-color plan plans/production.yaml
	expect_rc 0
	expect_no_escape tty
	run_tty -- --no-color lint plans/production.yaml tests/data/broken/47-several-errors.yaml
	expect_rc 2
	expect_no_escape tty
	end

fi

# ---- secret redaction -------------------------------------------------------

# A random sentinel is the value of SENTINEL_TOKEN; the fixture plans use it
# in env, vars, commands, headers and URLs. Neither it, nor its base64 or
# URL-encoded forms, nor any 10-character piece of it may appear anywhere,
# and *** must show where it was.
random_alnum() { # N
	local s=""
	while [ ${#s} -lt "$1" ]; do
		s+=$(head -c 48 /dev/urandom | base64 | LC_ALL=C tr -dc 'A-Za-z0-9')
	done
	printf '%s' "${s:0:$1}"
}

# Writes to $tmp/forms every form of the secret $1 that must not be printed:
# the value, its base64 (with and without padding), its URL encodings, and
# every 10-character piece of it.
secret_forms() {
	local s=$1 b64 i
	b64=$(printf '%s' "$s" | base64 | tr -d '\n')
	{
		printf '%s\n' "$s" "$b64" "${b64%%=*}"
		"$py" -c '
import re, sys, urllib.parse
s = sys.argv[1]
q = urllib.parse.quote(s, safe="")
print(q)
print(urllib.parse.quote_plus(s, safe=""))
print(re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), q))
' "$s"
		for ((i = 0; i + 10 <= ${#s}; i++)); do
			printf '%s\n' "${s:i:10}"
		done
	} >"$tmp/forms"
}

# Checks $tmp/out and $tmp/err against the forms in $tmp/forms.
expect_no_secret() {
	local f
	for f in out err; do
		if grep -q -F -f "$tmp/forms" "$tmp/$f"; then
			problem "std$f shows the secret or part of it: $(grep -o -F -f "$tmp/forms" "$tmp/$f" |
				sort -u | head -n 3 | sed "s/.*/'&'/" | tr '\n' ' ')"
		fi
	done
}

# Runs every command that prints the sentinel plans, checking each.
check_redaction() { # SECRET
	local s=$1
	secret_forms "$s"
	run SENTINEL_TOKEN="$s" -- -v plan tests/data/plans/secret-sentinel.yaml
	expect_rc 0
	expect_no_secret
	expect_in out "***"

	run SENTINEL_TOKEN="$s" -- plan --json tests/data/plans/secret-sentinel.yaml
	expect_rc 0
	expect_no_secret
	expect_in out "\"API_TOKEN\":${tab}\"***\""

	run SENTINEL_TOKEN="$s" -- lint --json tests/data/plans/secret-sentinel.yaml
	expect_rc 0
	expect_no_secret

	run SENTINEL_TOKEN="$s" -- -v lint tests/data/plans/secret-sentinel-error.yaml
	expect_rc 2
	expect_no_secret
	expect_in err "tests/data/plans/secret-sentinel-error.yaml:10:13: services.api.ports: '***:80': "
	expect_in err "tests/data/plans/secret-sentinel-error.yaml:11:14: services.api.restart: expected no, always, unless-stopped, on-failure or on-failure:N, got 'on-failure:***'"
	expect_in err "tests/data/plans/secret-sentinel-error.yaml:16:15: phases[1].steps[2].wait: expected a duration like 10s or a URL like tcp://127.0.0.1:5432, got '***'"

	run SENTINEL_TOKEN="$s" -- lint --json tests/data/plans/secret-sentinel-error.yaml
	expect_rc 2
	expect_no_secret
	expect_in out "'on-failure:***'"

	run SENTINEL_TOKEN="$s" -- plan tests/data/plans/secret-sentinel-error.yaml
	expect_rc 2
	expect_no_secret
	expect_in err "'***:80'"
}

r=$(random_alnum 20)
# 24 characters, with some that URL encoding changes: its forms differ.
sentinel="${r:0:6}/${r:6:5}+${r:11:4}@${r:15:3}:${r:18:1}%${r:19:1}"
sentinel=${sentinel:0:24}
begin "secret redaction: a random sentinel never shows, *** does"
check_redaction "$sentinel"
end

# A quote in a secret: plan listings shell-quote commands ('it'\''s'), which
# must not cut the secret into pieces the redactor no longer recognises.
r=$(random_alnum 23)
begin "secret redaction: a sentinel with a single quote, in a shell-quoted command"
check_redaction "${r:0:10}'${r:10:13}"
end

# A control character in a secret: JSON output escapes it (\f), and that form
# must be redacted like the others.
r=$(random_alnum 23)
begin "secret redaction: a sentinel with a form feed, in JSON"
check_redaction "${r:0:11}"$'\f'"${r:11:12}"
end

# ---- release: git -----------------------------------------------------------

repo=$tmp/repo
git_() {
	env -i ${passenv[@]+"${passenv[@]}"} PATH="$PATH" HOME="$tmp/home" LC_ALL=C GIT_CONFIG_NOSYSTEM=1 \
		GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@example.com \
		GIT_COMMITTER_NAME=test GIT_COMMITTER_EMAIL=test@example.com \
		git -C "$repo" -c commit.gpgsign=false "$@"
}
release_id() { # prints release_id of plan --json of $repo/plan.yaml
	"$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["release_id"])' "$tmp/out" 2>/dev/null
}

mkdir -p "$repo"
cp tests/data/plans/release-git.yaml "$repo/plan.yaml"
echo "a tracked file" >"$repo/README"
if git_ init -q && git_ add plan.yaml README && git_ commit -q -m "a plan"; then
	full=$(git_ rev-parse HEAD)
	short=$(git_ rev-parse --short HEAD)

	begin "release: git is the short id of HEAD"
	run -- plan --json "$repo/plan.yaml"
	expect_rc 0
	id=$(release_id)
	# The abbreviation's length may differ between git and libgit2: compare
	# by prefix.
	if [ ${#id} -lt 7 ] || [ "${full#"$id"}" = "$full" ]; then
		problem "release_id '$id' is not an abbreviation of HEAD $full"
	elif [ "${id#"$short"}" = "$id" ] && [ "${short#"$id"}" = "$short" ]; then
		problem "release_id '$id' and git's '$short' disagree"
	fi
	expect_in out "\"image\":${tab}\"example/api:$id\""
	end

	begin "release: git from inside the repository, by a relative path"
	last_cmd="(cd repo) corpdeploy plan --json plan.yaml"
	{
		(cd "$repo" && env -i ${passenv[@]+"${passenv[@]}"} PATH="$PATH" HOME="$tmp/home" LC_ALL=C \
			timeout "$TIME_LIMIT" "$bin" plan --json plan.yaml >"$tmp/out" 2>"$tmp/err")
		rc=$?
	} 2>/dev/null
	expect_rc 0
	[ "$(release_id)" = "$id" ] || problem "release_id '$(release_id)', expected '$id'"
	end

	begin "an untracked file does not make the release dirty"
	echo "untracked" >"$repo/notes.txt"
	run -- plan --json "$repo/plan.yaml"
	expect_rc 0
	[ "$(release_id)" = "$id" ] || problem "release_id '$(release_id)', expected '$id'"
	rm -f "$repo/notes.txt"
	end

	begin "a modified tracked file makes the release id end with -dirty"
	echo "a change" >>"$repo/README"
	run -- plan --json "$repo/plan.yaml"
	expect_rc 0
	[ "$(release_id)" = "$id-dirty" ] || problem "release_id '$(release_id)', expected '$id-dirty'"
	expect_in out "\"image\":${tab}\"example/api:$id-dirty\""
	end
else
	begin "release: git (scratch repository)"
	problem "could not create a git repository in $repo"
	end
fi

# Outside any repository, release: git is an error that says what to do.
outside=$tmp/outside
mkdir -p "$outside"
cp tests/data/plans/release-git.yaml "$outside/plan.yaml"
if ! git -C "$outside" rev-parse >/dev/null 2>&1; then
	begin "release: git outside a repository exits 2 and suggests a literal release"
	run -- lint "$outside/plan.yaml"
	expect_rc 2
	expect_in err "release: git: "
	expect_in err "(give a literal release like \"1.0.0\" instead)"
	end
fi

# ---- a rollback that cannot finish: its manual steps ------------------------

begin "manual steps: one entry per undo, a multi-line error indented under it"
mkdir -p "$tmp/manual"
cat >"$tmp/manual/plan.yaml" <<'PLAN'
corpdeploy: 1
name: manual-steps
release: "1"
phases:
  - name: p
    steps:
      - name: change
        run: [sh, -c, "true"]
        undo: [sh, -c, "printf 'ERROR: cannot drop x\nDETAIL: y depends on it\n\nHINT: use CASCADE\n' >&2; exit 1"]
      - name: breaks
        run: [sh, -c, "exit 3"]
PLAN
run -- --no-color up "$tmp/manual/plan.yaml"
expect_rc 5
grep -A4 "by hand:" "$tmp/err" | sed 's/^corpdeploy: //' >"$tmp/manual/steps"
[ "$(sed -n 2p "$tmp/manual/steps")" = "  - run sh -c 'printf '\''ERROR: cannot drop x\nDETAIL: y depends on it\n\nHINT: use CASCADE\n'\'' >&2; exit 1': undo command exited with 1: ERROR: cannot drop x" ] ||
	problem "the entry is not on one line: $(sed -n 2p "$tmp/manual/steps")"
[ "$(sed -n 3,4p "$tmp/manual/steps")" = "$(printf '      DETAIL: y depends on it\n      HINT: use CASCADE')" ] ||
	problem "the error's further lines are not indented under it, blank lines left out"
end

# ---- summary ----------------------------------------------------------------

echo
echo "$passed passed, $failed failed"
if [ "$failed" != 0 ]; then
	printf '  failed: %s\n' "${failed_names[@]}"
	exit 1
fi
exit 0
