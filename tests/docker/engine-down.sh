#!/bin/sh
# Stops the dockerd that engine-up.sh started, by the PID it recorded, and
# only if that PID is still a dockerd. An engine it did not start is left alone.
#
#   tests/docker/engine-down.sh STATE_DIR
set -eu

state=${1:?usage: engine-down.sh STATE_DIR}
pidfile=$state/dockerd.pid

[ -f "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
rm -f "$pidfile"
case $(readlink "/proc/$pid/exe" 2>/dev/null || true) in
*/dockerd) ;;
*) exit 0 ;; # gone, or the PID now belongs to another program
esac
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
if kill -0 "$pid" 2>/dev/null; then
	echo "engine-down: dockerd $pid did not stop within 30s; killing it" >&2
	kill -KILL "$pid"
fi
