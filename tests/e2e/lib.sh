# Shared by the e2e crash tests (sourced): TAP-style checks and the guard
# that the binary can be crashed on purpose. The sourcing script sets bin,
# work, pass and fail.
# shellcheck shell=bash

ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; [ -f "$work/out" ] && sed 's/^/    /' "$work/out" | tail -30; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

require_fault_injection() {
	if ! "$bin" --version >/dev/null || ! strings "$bin" | grep -q CORPDEPLOY_FAULT; then
		echo "Bail out! $bin was built without -Dfault_injection=true"
		exit 1
	fi
}
