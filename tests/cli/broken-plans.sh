#!/bin/bash
# Lints every broken plan of tests/data/broken and compares what corpdeploy
# says with the plan's .expect file, then does the same for hostile inputs
# generated here (too large to commit).
#
#   tests/cli/broken-plans.sh CORPDEPLOY [REPO_TOP]
#
# For each plan, `corpdeploy lint PLAN` must
#   - finish within $TIME_LIMIT seconds and exit with status 2 exactly
#     (0 means the error was missed; 1, 124 or a signal is a failure);
#   - print every line of the .expect file on stderr, in that order;
#   - print no other diagnostic: every stderr line is either expected or the
#     final "PLAN: N errors" summary;
#   - print no control character (terminal escapes from a plan must not pass).
# Plans are linted from the repository top, so messages name them as
# tests/data/broken/NN-what.yaml, exactly as the .expect files do.
set -u

TIME_LIMIT=10

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
[ -d tests/data/broken ] || { echo "$0: $top has no tests/data/broken" >&2; exit 2; }

# What a test harness sets for corpdeploy (meson's MALLOC_PERTURB_, sanitizer
# options) passes through the otherwise clean environment it runs in.
passenv=()
for v in MALLOC_PERTURB_ ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
	if [ -n "${!v+x}" ]; then
		passenv+=("$v=${!v}")
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/corpdeploy-broken.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0
failed=0
failed_names=()

# corpdeploy runs with a clean, fixed environment: messages must not depend
# on the caller's locale (strerror), colour settings or stray variables.
run_lint() { # PLAN: runs lint, sets rc; output in $tmp/out and $tmp/err
	# The braces take bash's own "Segmentation fault" line: check_status says it.
	{
		env -i ${passenv[@]+"${passenv[@]}"} PATH="$PATH" HOME="$tmp" LC_ALL=C TMPDIR="$tmp" \
			timeout "$TIME_LIMIT" "$bin" lint "$1" >"$tmp/out" 2>"$tmp/err"
		rc=$?
	} 2>/dev/null
}

# Explains rc when it is not 2; prints nothing and returns 0 when it is.
check_status() {
	case $rc in
	2) return 0 ;;
	0) echo "    exit status 0: the plan was accepted" ;;
	124) echo "    no answer within ${TIME_LIMIT}s (hang?)" ;;
	12[5-7]) echo "    timeout could not run corpdeploy (status $rc)" ;;
	1[3-9][0-9] | 2[0-9][0-9]) echo "    killed by signal $((rc - 128)) (crash?)" ;;
	*) echo "    exit status $rc, expected 2" ;;
	esac
	return 1
}

# Checks $tmp/err against the expect file $2 for plan $1. Prints a diff-like
# explanation and returns 1 on a mismatch.
check_output() {
	local plan=$1 expect=$2 bad=0 i j line found
	local -a want=() got=() used=()

	if [ ! -s "$expect" ]; then
		echo "    missing or empty $expect"
		return 1
	fi
	mapfile -t want <"$expect"
	mapfile -t got <"$tmp/err"
	for ((j = 0; j < ${#got[@]}; j++)); do
		used[j]=0
		# The summary line lint adds after the diagnostics of each plan.
		if [[ ${got[j]} =~ ^(.*):\ [0-9]+\ errors?$ ]] && [ "${BASH_REMATCH[1]}" = "$plan" ]; then
			used[j]=1
		fi
	done
	# Every expected line, in order.
	j=0
	for ((i = 0; i < ${#want[@]}; i++)); do
		line=${want[i]}
		found=-1
		local k
		for ((k = j; k < ${#got[@]}; k++)); do
			if [ "${got[k]}" = "$line" ] && [ "${used[k]}" = 0 ]; then
				found=$k
				break
			fi
		done
		if [ "$found" -ge 0 ]; then
			used[found]=1
			j=$((found + 1))
			continue
		fi
		bad=1
		for ((k = 0; k < j && k < ${#got[@]}; k++)); do
			if [ "${got[k]}" = "$line" ]; then
				found=$k
				break
			fi
		done
		if [ "$found" -ge 0 ]; then
			echo "    out of order: $line"
			used[found]=1
		else
			echo "  - $line"
		fi
	done
	# Nothing else.
	for ((j = 0; j < ${#got[@]}; j++)); do
		if [ "${used[j]}" = 0 ]; then
			echo "  + ${got[j]}"
			bad=1
		fi
	done
	if LC_ALL=C grep -q '[[:cntrl:]]' "$tmp/err"; then
		echo "    stderr holds control characters:"
		LC_ALL=C grep -n '[[:cntrl:]]' "$tmp/err" | cat -v | sed 's/^/      /'
		bad=1
	fi
	if grep -q -e 'runtime error:' -e 'Sanitizer' "$tmp/err"; then
		echo "    sanitizer report in stderr"
		bad=1
	fi
	return $bad
}

report() { # NAME STATUS(0 ok) EXPLANATION-FILE
	if [ "$2" = 0 ]; then
		echo "ok   $1"
		passed=$((passed + 1))
	else
		echo "FAIL $1"
		sed 's/^/  /' "$3" | cat -v
		failed=$((failed + 1))
		failed_names+=("$1")
	fi
}

# ---- the committed corpus ---------------------------------------------------

shopt -s nullglob
plans=(tests/data/broken/[0-9]*.yaml)
shopt -u nullglob
if [ ${#plans[@]} -eq 0 ]; then
	echo "$0: no plans in tests/data/broken" >&2
	exit 2
fi

for plan in "${plans[@]}"; do
	expect=${plan%.yaml}.expect
	run_lint "$plan"
	{
		status=0
		check_status || status=1
		check_output "$plan" "$expect" || status=1
		if [ "$status" != 0 ]; then
			echo "    --- stderr of: corpdeploy lint $plan"
			cut -c1-400 "$tmp/err" | cat -v | sed 's/^/    | /'
		fi
	} >"$tmp/why"
	report "$plan" "$status" "$tmp/why"
done

# ---- generated hostile inputs -----------------------------------------------

gen=$tmp/gen
mkdir -p "$gen"

head_of_plan() {
	printf 'corpdeploy: 1\nname: hostile\nrelease: "1.0.0"\n'
}
tail_of_plan() {
	printf 'phases:\n  - name: deploy\n    steps:\n      - wait: 1s\n'
}
# N copies of character C, without a loop over N.
repeat() { # N C
	local s
	printf -v s '%*s' "$1" ''
	printf '%s' "${s// /$2}"
}

# A generated case with an expect file written here.
generated_case() { # NAME PLAN EXPECT-TEXT
	printf '%s\n' "$3" >"$gen/$1.expect"
	run_lint "$2"
	{
		status=0
		check_status || status=1
		check_output "$2" "$gen/$1.expect" || status=1
		if [ "$status" != 0 ]; then
			echo "    --- stderr of: corpdeploy lint $2"
			cut -c1-400 "$tmp/err" | cat -v | sed 's/^/    | /'
		fi
	} >"$tmp/why"
	report "generated: $1" "$status" "$tmp/why"
}

# A generated plan that must be accepted: the limits are not off by one.
generated_ok() { # NAME PLAN
	run_lint "$2"
	{
		status=0
		if [ "$rc" != 0 ]; then
			echo "    exit status $rc, expected 0 (the plan is at the limit, not over it)"
			cut -c1-400 "$tmp/err" | cat -v | sed 's/^/    | /'
			status=1
		fi
	} >"$tmp/why"
	report "generated: $1" "$status" "$tmp/why"
}

# A scalar one byte over 64 KiB, and one exactly at it.
f=$gen/scalar-over-64k.yaml
{
	head_of_plan
	printf 'vars:\n  BIG: "%s"\n' "$(repeat $((64 * 1024 + 1)) x)"
	tail_of_plan
} >"$f"
generated_case scalar-over-64k "$f" "$f:5:8: value is longer than 64 KiB"

f=$gen/scalar-64k.yaml
{
	head_of_plan
	printf 'vars:\n  BIG: "%s"\n' "$(repeat $((64 * 1024)) x)"
	tail_of_plan
} >"$f"
generated_ok scalar-at-64k "$f"

# A block scalar over the limit: the same rule whatever the style.
f=$gen/block-scalar-over-64k.yaml
{
	head_of_plan
	printf 'description: |\n'
	line=$(repeat 99 y)
	for ((i = 0; i < 700; i++)); do
		printf '  %s\n' "$line"
	done
	tail_of_plan
} >"$f"
generated_case block-scalar-over-64k "$f" "$f:4:14: value is longer than 64 KiB"

# A file one byte over 1 MiB (a valid plan padded with comments), and one
# exactly at 1 MiB.
make_padded() { # FILE SIZE
	local body pad line
	body=$(head_of_plan; tail_of_plan)
	body+=$'\n'
	line="# $(repeat 97 p)"
	{
		printf '%s' "$body"
		pad=$(($2 - ${#body}))
		while [ "$pad" -gt 100 ]; do
			printf '%s\n' "$line"
			pad=$((pad - 100))
		done
		if [ "$pad" -gt 0 ]; then
			printf '#%s\n' "$(repeat $((pad - 2)) q)"
		fi
	} >"$1"
}
f=$gen/file-over-1m.yaml
make_padded "$f" $((1024 * 1024 + 1))
generated_case file-over-1m "$f" "$f: plan is larger than 1024 KiB"

f=$gen/file-1m.yaml
make_padded "$f" $((1024 * 1024))
generated_ok file-at-1m "$f"

# More errors than lint reports: it stops after 200 and says so.
f=$gen/too-many-errors.yaml
{
	head_of_plan
	printf 'services:\n  api:\n    image: example/api:1.0\n'
	for ((i = 1; i <= 300; i++)); do
		printf '    bogus%d: 1\n' "$i"
	done
	tail_of_plan
} >"$f"
many=""
for ((i = 1; i <= 200; i++)); do
	many+="$f:$((i + 6)):5: unknown key 'bogus$i' in services.api"$'\n'
done
many+="$f: warning: too many errors; stopping here"
generated_case too-many-errors "$f" "$many"

# A dependency cycle through 6000 services: found in time, reported once (its
# message is only checked to begin right). The node limit allows about twice
# as many; the checks across services are quadratic, so that would take
# seconds in a sanitizer build.
f=$gen/long-cycle.yaml
n=6000
{
	head_of_plan
	printf 'services:\n'
	for ((i = 0; i < n; i++)); do
		printf '  s%d: { image: x, depends_on: [s%d] }\n' "$i" $(((i + 1) % n))
	done
	tail_of_plan
} >"$f"
run_lint "$f"
{
	status=0
	check_status || status=1
	# Reported at the depends_on list of the last service, "  sN: { image: x, depends_on: [".
	last=s$((n - 1))
	prefix="$f:$((n + 4)):$((29 + ${#last})): services: dependency cycle: s0 -> s1 -> s2 -> "
	if [ "$(grep -c -F -e "$prefix" "$tmp/err")" != 1 ]; then
		echo "  - ${prefix}..."
		status=1
	fi
	if [ "$status" != 0 ]; then
		cut -c1-400 "$tmp/err" | cat -v | sed 's/^/    | /'
	fi
} >"$tmp/why"
report "generated: long-cycle" "$status" "$tmp/why"

# ---- summary ----------------------------------------------------------------

echo
echo "$passed passed, $failed failed"
if [ "$failed" != 0 ]; then
	printf '  failed: %s\n' "${failed_names[@]}"
	exit 1
fi
exit 0
