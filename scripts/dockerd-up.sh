#!/usr/bin/env bash
# Starts dockerd when the local engine does not answer, and waits until it does.
# Prints the PID of a dockerd it started (nothing when one was running), so
# that whoever started it can stop exactly that process later.
set -euo pipefail

sock=/var/run/docker.sock
answers() { curl -s --max-time 2 --unix-socket "$sock" http://docker/_ping 2>/dev/null | grep -q OK; }

if answers; then
	exit 0
fi
log=$(mktemp -t dockerd.XXXXXX.log)
setsid /usr/sbin/dockerd >"$log" 2>&1 < /dev/null &
pid=$!
for _ in $(seq 1 120); do
	if answers; then
		echo "$pid"
		exit 0
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "dockerd exited; its log:" >&2
		tail -20 "$log" >&2
		exit 1
	fi
	sleep 0.5
done
echo "dockerd did not answer within 60s; its log is $log" >&2
exit 1
