#!/bin/sh
# Makes sure a Docker engine answers on the socket; starts dockerd when none
# does, and records its PID in STATE_DIR/dockerd.pid so that engine-down.sh
# stops exactly that process and nothing it did not start.
#
#   tests/docker/engine-up.sh STATE_DIR [SOCKET]
set -eu

state=${1:?usage: engine-up.sh STATE_DIR [SOCKET]}
sock=${2:-/var/run/docker.sock}
pidfile=$state/dockerd.pid

answers() {
	if command -v curl >/dev/null; then
		curl -fsS --max-time 2 --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1
	else
		timeout 5 docker -H "unix://$sock" version >/dev/null 2>&1
	fi
}

if answers; then
	exit 0
fi
mkdir -p "$state"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
	echo "engine-up: dockerd $(cat "$pidfile") from an earlier run does not answer yet" >&2
else
	if [ ! -x /usr/sbin/dockerd ]; then
		echo "engine-up: no engine answers on $sock and /usr/sbin/dockerd is missing" \
			"(apt-get install docker.io)" >&2
		exit 1
	fi
	log=$(mktemp /tmp/corpdeploy-dockerd.XXXXXX)
	# Its own session, so that the end of the test's process group does not end it.
	setsid /usr/sbin/dockerd -H "unix://$sock" >"$log" 2>&1 </dev/null &
	echo $! >"$pidfile"
	echo "engine-up: started dockerd $! (log: $log)" >&2
fi

i=0
while [ $i -lt 600 ]; do
	if answers; then
		exit 0
	fi
	if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		echo "engine-up: dockerd exited; the end of its log:" >&2
		tail -n 20 "${log:-/dev/null}" >&2
		rm -f "$pidfile"
		exit 1
	fi
	sleep 0.1
	i=$((i + 1))
done
echo "engine-up: dockerd does not answer on $sock after 60s" >&2
exit 1
