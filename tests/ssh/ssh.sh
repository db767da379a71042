#!/bin/bash
# SSH targets end to end, against real OpenSSH servers started here on
# 127.0.0.1 (each with its own host keys) and stopped by PID at the end.
# usage: ssh.sh CORPDEPLOY SOURCE_ROOT DOCKER_EXEC_STDIN
set -u
bin=$1
exec_stdin=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
SSH_TEST_DIR=$(mktemp -d /tmp/cd-ssh-test.XXXXXX)
T=$SSH_TEST_DIR
. "$here/sshd-lib.sh"
agent_pid=
top=$(cd "${2:-$here/../..}" && pwd)
dtag="sshdk$$"
cleanup() {
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
	if command -v docker >/dev/null; then
		for id in $(docker ps -aq --filter "label=corpdeploy.plan=$dtag" 2>/dev/null); do
			docker rm -f "$id" >/dev/null 2>&1
		done
		for img in $(docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep "/$dtag-"); do
			docker rmi -f "$img" >/dev/null 2>&1
		done
		"$top/tests/docker/engine-down.sh" "$T" >/dev/null 2>&1
	fi
	sshd_stop_all
	[ -n "${KEEP_SSH_TEST_DIR:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
ssh_client_home "$T"
fails=0
check() {
	if eval "$2"; then
		echo "ok - $1"
	else
		echo "not ok - $1"
		sed 's/^/    | /' "$T/out" | tail -20
		fails=$((fails + 1))
	fi
}
KH=$T/known_hosts
up() { "$bin" --no-color up --known-hosts "$KH" "$@" >"$T/out" 2>&1; echo $?; }

sshd_init
key=$T/client/id_ed25519
declare -A P
for h in h1 h2 h3 h4 h5; do
	P[$h]=$(free_port "${h#h}")
	sshd_start "$h" "${P[$h]}" || exit 1
done

# A plan header with every host as a target.
head_plan() {
	printf 'corpdeploy: 1\nname: %s\nrelease: "1"\n' "$1"
	printf 'state_dir: %s/state\n' "$T"
	printf 'targets:\n'
	for h in h1 h2 h3 h4 h5; do
		printf '  %s:\n    ssh: root@127.0.0.1:%s\n    identity: %s\n' "$h" "${P[$h]}" "$key"
	done
	printf '  all:\n    hosts: [h1, h2, h3, h4, h5]\n'
}

# 1. An unknown host key: refused before authenticating, exit 4, its fingerprint printed.
{ head_plan t1; cat <<'EOF2'; } >"$T/t1.yaml"
phases:
  - name: one
    steps:
      - run: [echo, hello]
        target: h1
EOF2
rc=$(up "$T/t1.yaml")
fp=$(ssh-keygen -lf "$T/h1/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
check "unknown host key: exit 4 with its SHA256 fingerprint" \
	'[ "$rc" = 4 ] && grep -q "unknown host key ssh-ed25519 $fp" "$T/out"'
check "unknown host key: nothing was authenticated" '! grep -q "Accepted publickey" "$T/h1/sshd.log"'

# 2. trust records it; a second trust finds it; up then connects.
"$bin" --no-color trust --known-hosts "$KH" "$T/t1.yaml" h1 >"$T/out" 2>&1
check "trust records the key and prints its fingerprint" 'grep -q "h1: $fp recorded" "$T/out"'
"$bin" --no-color trust --known-hosts "$KH" "$T/t1.yaml" h1 >"$T/out" 2>&1
check "trust again: already known" 'grep -q "h1: $fp already known" "$T/out"'
rc=$(up "$T/t1.yaml")
check "a trusted host runs a command" '[ "$rc" = 0 ] && grep -q "exit 0: hello" "$T/out"'
"$bin" --no-color trust --known-hosts "$KH" "$T/t1.yaml" all >/dev/null 2>&1

# 3. Exit status, signal, timeout, and both streams at volume.
{ head_plan t3; cat <<EOF2; } >"$T/t3.yaml"
phases:
  - name: one
    steps:
      - name: volume
        run: "for i in \$(seq 1 30000); do echo out\$i; echo err\$i >&2; done"
        target: h2
        timeout: 5m
      - name: fails
        run: "echo stderr-\$((6*7)) >&2; exit 3"
        target: h2
EOF2
rc=$(up "$T/t3.yaml")
check "stdout and stderr at volume do not stall" 'grep -q "ok volume.*exit 0: out30000" "$T/out"'
check "a failing command fails the step with its exit code and stderr" \
	'[ "$rc" = 1 ] && grep -q "exited with 3, expected 0: " "$T/out" && grep -q "stderr-42" "$T/out"'

{ head_plan t3s; cat <<EOF2; } >"$T/t3s.yaml"
phases:
  - name: one
    steps:
      - run: "kill -TERM \$\$"
        target: h2
EOF2
rc=$(up "$T/t3s.yaml")
check "a command killed by a signal: 128+signal and the signal's name" \
	'[ "$rc" = 1 ] && grep -q "exited with 143" "$T/out" && grep -q "killed by signal TERM" "$T/out"'

# A duration of this test's own, so that looking for it finds no other test's sleep.
nap="317.$$"
{ head_plan t3t; cat <<EOF2; } >"$T/t3t.yaml"
phases:
  - name: one
    steps:
      - run: "echo \$\$ > $T/sleeper.pid; sleep $nap"
        target: h2
        timeout: 3s
EOF2
rc=$(up "$T/t3t.yaml")
# The remote login shell may start the command late (a busy host, a slow ~/.bashrc): wait
# for it to have started and then stopped; a command that was not stopped lives 317 s.
spid=
for _ in $(seq 1 1200); do
	spid=$(cat "$T/sleeper.pid" 2>/dev/null)
	if [ -n "$spid" ] && ! kill -0 "$spid" 2>/dev/null; then break; fi
	sleep 0.1
done
check "a timeout fails the step" '[ "$rc" = 1 ] && grep -q "timed out after" "$T/out"'
check "a timeout really stops the remote process" '[ -n "$spid" ] && ! kill -0 "$spid" 2>/dev/null'
check "... and its children" '! pgrep -x -f "sleep $nap" >/dev/null'

# 4. Injection: plan values arrive as data; the marker file never appears.
marker=$T/pwned
{ head_plan t4; cat <<EOF2; } >"$T/t4.yaml"
vars:
  EVIL: "x; touch $marker"
phases:
  - name: one
    steps:
      - run: [echo, "\${EVIL}", "\$(touch $marker)", "\`touch $marker\`", "a'b\"c", "line1\nline2; touch $marker", "*"]
        target: h3
EOF2
rc=$(up "$T/t4.yaml")
check "injection attempts arrive as data (no marker file)" '[ "$rc" = 0 ] && [ ! -e "$marker" ]'

# 5. Secrets on stdin only: never on a command line (checked with ps on the remote side) nor in output.
secret='S3ntinel-7f3a-never-print'
{ head_plan t5; cat <<EOF2; } >"$T/t5.yaml"
secrets: [DB_PASSWORD]
phases:
  - name: one
    steps:
      - run: "read v; ps -eo args > $T/ps.txt; echo got \$\${#v} chars"
        target: h3
        stdin_secret: DB_PASSWORD
EOF2
DB_PASSWORD=$secret rc=$(DB_PASSWORD=$secret up "$T/t5.yaml")
check "a secret reaches the command on stdin" '[ "$rc" = 0 ] && grep -q "got ${#secret} chars" "$T/out"'
check "the secret is on no command line and in no output" \
	'! grep -q "$secret" "$T/ps.txt" && ! grep -rq "$secret" "$T/out" "$T/state"'

# 6. Changed key: refused, even with --accept-new.
sshd_stop_one h4
rm -f "$T/h4/ssh_host_ed25519_key"* "$T/h4/ssh_host_ecdsa_key"*
sshd_start h4 "${P[h4]}"
{ head_plan t6; cat <<'EOF2'; } >"$T/t6.yaml"
phases:
  - name: one
    steps:
      - run: [echo, hello]
        target: h4
EOF2
rc=$(up --accept-new "$T/t6.yaml")
check "a changed host key is refused, even with --accept-new" \
	'[ "$rc" = 4 ] && grep -q "REMOTE HOST KEY CHANGED" "$T/out"'

# 7. Revoked key.
echo "@revoked * $(cut -d' ' -f1,2 "$T/h5/ssh_host_ed25519_key.pub")" >>"$KH"
{ head_plan t7; cat <<'EOF2'; } >"$T/t7.yaml"
phases:
  - name: one
    steps:
      - run: [echo, hello]
        target: h5
EOF2
rc=$(up "$T/t7.yaml")
check "a key listed under @revoked is refused" '[ "$rc" = 4 ] && grep -q "@revoked" "$T/out"'

# 8. Hashed known_hosts (~/.ssh/known_hosts written by ssh-keygen -H), and ed25519 chosen
#    although the server also offers ECDSA.
host_key_line h4 "${P[h4]}" >"$HOME/.ssh/known_hosts"
ssh-keygen -q -H -f "$HOME/.ssh/known_hosts" 2>/dev/null
rm -f "$HOME/.ssh/known_hosts.old"
rc=$("$bin" --no-color up "$T/t6.yaml" >"$T/out" 2>&1; echo $?)
check "a hashed known_hosts entry matches" '[ "$rc" = 0 ] && grep -q "^|1|" "$HOME/.ssh/known_hosts"'
cp "$HOME/.ssh/known_hosts" "$T/kh-hashed"
"$bin" --no-color trust --known-hosts "$T/kh-hashed" "$T/t7.yaml" h5 >"$T/out" 2>&1
check "trust hashes the names it records in a hashed known_hosts, as OpenSSH reads them" \
	'[ "$(grep -c "^|1|" "$T/kh-hashed")" = 2 ] && ! grep -q 127.0.0.1 "$T/kh-hashed" &&
	ssh-keygen -F "[127.0.0.1]:${P[h5]}" -f "$T/kh-hashed" | grep -q ssh-ed25519'

# 9. A pinned key in the plan; a wrong pin is refused.
fp5=$(ssh-keygen -lf "$T/h5/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
sed "s|^  h5:|  h5:\n    host_key: \"$fp5\"|" "$T/t7.yaml" >"$T/t9.yaml"
rc=$("$bin" --no-color up "$T/t9.yaml" >"$T/out" 2>&1; echo $?)
check "a host key pinned in the plan is accepted without known_hosts" '[ "$rc" = 0 ]'
sed "s|^  h5:|  h5:\n    host_key: \"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"|" "$T/t7.yaml" >"$T/t9b.yaml"
rc=$("$bin" --no-color up "$T/t9b.yaml" >"$T/out" 2>&1; echo $?)
check "a different pinned key is refused" '[ "$rc" = 4 ] && grep -q "REMOTE HOST KEY CHANGED" "$T/out"'

# 10. A key with a passphrase, from a secret.
pass='Pa55phrase-from-secret'
ssh-keygen -q -t ed25519 -N "$pass" -f "$T/client/id_pass"
cat "$T/client/id_pass.pub" >>"$T/authorized_keys"
{ head_plan t10 | sed "s|identity: $key|identity: $T/client/id_pass\n    passphrase_secret: KEY_PASS|"; cat <<'EOF2'; } >"$T/t10.yaml"
secrets: [KEY_PASS]
phases:
  - name: one
    steps:
      - run: [echo, with-passphrase]
        target: h1
EOF2
rc=$(KEY_PASS=$pass up "$T/t10.yaml")
check "a key with a passphrase from a secret authenticates" '[ "$rc" = 0 ] && ! grep -q "$pass" "$T/out"'
rc=$(KEY_PASS=wrong-passphrase up "$T/t10.yaml")
check "a wrong passphrase: exit 4 with a clear message" '[ "$rc" = 4 ] && grep -q "wrong passphrase" "$T/out"'

# 11. ssh-agent, and ~/.ssh/config supplying HostName, Port and User for an alias.
ssh-keygen -q -t ed25519 -N '' -f "$T/client/id_agent"
cat "$T/client/id_agent.pub" >>"$T/authorized_keys"
eval "$(ssh-agent -s -a "$T/agent.sock")" >/dev/null
agent_pid=$SSH_AGENT_PID
ssh-add -q "$T/client/id_agent" 2>/dev/null
printf 'Host app-alias\n  HostName 127.0.0.1\n  Port %s\n  User root\n' "${P[h1]}" >"$HOME/.ssh/config"
cat >"$T/t11.yaml" <<EOF2
corpdeploy: 1
name: t11
release: "1"
state_dir: $T/state
targets:
  app: { ssh: app-alias }
phases:
  - name: one
    steps:
      - run: [echo, via-agent]
        target: app
EOF2
"$bin" --no-color trust --known-hosts "$KH" "$T/t11.yaml" >"$T/out" 2>&1
rc=$(up "$T/t11.yaml")
check "ssh-agent and ~/.ssh/config (HostName, Port, User)" '[ "$rc" = 0 ] && grep -q "via-agent" "$T/out"'
kill "$agent_pid"
agent_pid=
unset SSH_AUTH_SOCK SSH_AGENT_PID
rm -f "$HOME/.ssh/config"

# 12. An RSA key: refused with the reason.
ssh-keygen -q -t rsa -b 2048 -N '' -f "$T/client/id_rsa_test"
{ head_plan t12 | sed "s|identity: $key|identity: $T/client/id_rsa_test|"; cat <<'EOF2'; } >"$T/t12.yaml"
phases:
  - name: one
    steps:
      - run: [echo, hello]
        target: h1
EOF2
rc=$(up "$T/t12.yaml")
check "an RSA key gets a clear message" '[ "$rc" = 4 ] && grep -q "RSA keys cannot be used" "$T/out" && grep -q "OpenSSH 8.8" "$T/out"'

# 13. copy: a template rendered and uploaded with its mode; the old file comes back on rollback.
mkdir -p "$T/templates" "$T/remote"
printf 'listen ${LISTEN}\nrelease ${release}\n' >"$T/templates/app.conf"
echo "old config" >"$T/remote/app.conf"
{ head_plan t13; cat <<EOF2; } >"$T/t13.yaml"
vars:
  LISTEN: "127.0.0.1:8080"
phases:
  - name: one
    steps:
      - copy: app.conf
        template: true
        dest: $T/remote/app.conf
        mode: "0640"
        owner: "nobody:nogroup"
        target: h1
EOF2
cp "$T/t13.yaml" "$T/t13-fail.yaml"
cat >>"$T/t13-fail.yaml" <<EOF2
      - copy: templates/app.conf
        dest: $T/remote/new.conf
        target: h1
      - run: "exit 1"
        target: h1
EOF2
rc=$(up "$T/t13-fail.yaml")
check "a failed run puts the previous file back and removes a new one" \
	'[ "$rc" = 1 ] && [ "$(cat "$T/remote/app.conf")" = "old config" ] && [ ! -e "$T/remote/new.conf" ] && [ -z "$(ls -A "$T/remote" | grep -v "^app.conf$")" ]'
cmds_before=$(grep -c "Starting session: command" "$T/h1/sshd.log")
rc=$(up "$T/t13.yaml")
check "a template is rendered with the plan's variables and uploaded" \
	'[ "$rc" = 0 ] && [ "$(cat "$T/remote/app.conf")" = "$(printf "listen 127.0.0.1:8080\nrelease 1")" ]'
check "... with its mode and owner, leaving no temporary or kept file" \
	'[ "$(stat -c %a:%U:%G "$T/remote/app.conf")" = 640:nobody:nogroup ] && [ "$(ls -A "$T/remote")" = app.conf ]'
check "... over SFTP alone: no command ran on the host" \
	'[ "$(grep -c "Starting session: command" "$T/h1/sshd.log")" = "$cmds_before" ] && grep -q "Starting session: subsystem .sftp." "$T/h1/sshd.log"'

# 14. An upload killed in the middle leaves the old file whole and no partial target.
head -c 60M /dev/urandom >"$T/big.bin" 2>/dev/null
echo "previous" >"$T/remote/big.bin"
{ head_plan t14; cat <<EOF2; } >"$T/t14.yaml"
phases:
  - name: one
    steps:
      - copy: big.bin
        dest: $T/remote/big.bin
        target: h1
EOF2
"$bin" --no-color up --known-hosts "$KH" "$T/t14.yaml" >"$T/out" 2>&1 &
cpid=$!
for _ in $(seq 1 600); do
	tmpf=$(ls "$T/remote"/.big.bin.corpdeploy-tmp-* 2>/dev/null | head -1)
	[ -n "$tmpf" ] && [ "$(stat -c %s "$tmpf" 2>/dev/null || echo 0)" -gt 1000000 ] && break
	sleep 0.05
done
kill -9 "$cpid"
wait "$cpid" 2>/dev/null
check "an upload killed in the middle leaves the old file intact" \
	'[ -n "$tmpf" ] && [ "$(cat "$T/remote/big.bin")" = previous ]'
rm -f "$T/big.bin"

# 15. Rolling through a group, one host at a time: host 3 fails, hosts 4 and 5 are never
#     touched, and the rollback undoes hosts 1 and 2 (and 3).
"$bin" --no-color trust --known-hosts "$KH" "$T/t1.yaml" h4 h5 >/dev/null 2>&1
grep -v "^@revoked" "$KH" >"$KH.new" && mv "$KH.new" "$KH"
sed -i "/127.0.0.1\]:${P[h4]} /d" "$KH"
host_key_line h4 "${P[h4]}" >>"$KH"
{ head_plan t15 | sed 's|    hosts: \[h1, h2, h3, h4, h5\]|    hosts: [h1, h2, h3, h4, h5]\n    serial: 1|'; cat <<EOF2; } >"$T/t15.yaml"
phases:
  - name: roll
    steps:
      - run: "p=\$\${SSH_CONNECTION##* }; echo \$p >> $T/applied; [ \$p != ${P[h3]} ]"
        undo: "p=\$\${SSH_CONNECTION##* }; echo \$p >> $T/undone"
        target: all
EOF2
rm -f "$T/applied" "$T/undone"
rc=$(up "$T/t15.yaml")
check "rolling: host 3 of 5 fails, hosts 4 and 5 are not started" \
	'[ "$rc" = 1 ] && [ "$(cat "$T/applied" | tr "\n" " ")" = "${P[h1]} ${P[h2]} ${P[h3]} " ]'
check "rolling: the rollback undoes hosts 1 and 2" \
	'grep -qx "${P[h1]}" "$T/undone" && grep -qx "${P[h2]}" "$T/undone" && ! grep -qx "${P[h4]}" "$T/undone"'
check "rolling: a line per host with its result" \
	'grep -q "h1: ok" "$T/out" && grep -q "h3: FAILED" "$T/out" && grep -q "2 not started" "$T/out"'

# 16. The whole group in parallel, a failure within max_fail.
{ head_plan t16 | sed 's|    hosts: \[h1, h2, h3, h4, h5\]|    hosts: [h1, h2, h3, h4, h5]\n    max_fail: 20%|'; cat <<EOF2; } >"$T/t16.yaml"
phases:
  - name: all
    steps:
      - check: command
        command: "p=\$\${SSH_CONNECTION##* }; [ \$p != ${P[h3]} ]"
        target: all
EOF2
rc=$(up "$T/t16.yaml")
check "parallel with max_fail 20%: one failure of five is tolerated" \
	'[ "$rc" = 0 ] && grep -q "4 of 5 hosts ok, 1 failed within max_fail" "$T/out"'

# 17. A remote Docker engine through `docker system dial-stdio` over SSH: the local engine,
#     reached through sshd, builds and runs a service of the quickstart with its health check.
if "$top/tests/docker/engine-up.sh" "$T" >/dev/null 2>&1; then
	mkdir -p "$T/stack"
	cp -r "$top/examples/quickstart/images" "$T/stack/"
	install -m 0755 /bin/busybox "$T/stack/images/busybox"
	cat >"$T/stack/plan.yaml" <<EOF2
corpdeploy: 1
name: $dtag
release: "r1"
state_dir: $T/state
targets:
  remote:
    ssh: root@127.0.0.1:${P[h1]}
    identity: $key
    docker: ssh
services:
  api:
    target: remote
    build: { context: images, dockerfile: api.Dockerfile, args: { RELEASE: r1 } }
    network_mode: host
    health:
      command: [/bin/busybox, "true"]
      interval: 250ms
      timeout: 30s
    stop_timeout: 1s
phases:
  - name: checks
    steps:
      - check: docker_version
        min: "19.03"
        target: remote
  - name: deploy
    steps:
      - deploy: [api]
EOF2
	rc=$(up "$T/stack/plan.yaml")
	check "remote Docker through dial-stdio: engine version, build and deploy" \
		'[ "$rc" = 0 ] && grep -q "Docker Engine" "$T/out" && [ "$(docker ps -q --filter "label=corpdeploy.plan=$dtag" | wc -l)" = 1 ]'
	check "... over the SSH connection (sshd ran dial-stdio)" \
		'grep -q "dial-stdio\|Accepted publickey" "$T/h1/sshd.log"'

	# 18. stdin into a container of the remote engine: 20 MiB through dial-stdio, whose
	#     half-close at the end reaches the process as EOF; then one that stops reading early.
	api=$(docker ps -q --filter "label=corpdeploy.plan=$dtag" | head -1)
	head -c 20M /dev/urandom >"$T/dump.bin"
	want=$(sha256sum <"$T/dump.bin" | cut -d' ' -f1)
	"$exec_stdin" "$KH" "$T/stack/plan.yaml" remote "$api" /bin/busybox sh -c \
		'/bin/busybox cat > /stdin.bin && /bin/busybox sha256sum /stdin.bin; rm -f /stdin.bin' \
		<"$T/dump.bin" >"$T/exec.out" 2>"$T/out"
	rc=$?
	check "remote Docker: 20 MiB on an exec's stdin arrive whole (dial-stdio passes the EOF on)" \
		'[ "$rc" = 0 ] && grep -qx "exit 0" "$T/out" && [ "$(cut -d" " -f1 "$T/exec.out")" = "$want" ]'
	"$exec_stdin" "$KH" "$T/stack/plan.yaml" remote "$api" /bin/busybox sh -c \
		'/bin/busybox head -c 10 >/dev/null; echo stopped early >&2; exit 3' \
		<"$T/dump.bin" >"$T/exec.out" 2>"$T/out"
	rc=$?
	check "remote Docker: a command that stops reading ends the call with its exit code" \
		'[ "$rc" = 0 ] && grep -qx "exit 3" "$T/out" && grep -qx "stopped early" "$T/out"'
	rm -f "$T/dump.bin"

	# 19. A database backup of the remote service and its restore: both commands run in its
	#     container through dial-stdio, the dump on the restore command's stdin.
	sed -n '1,/^phases:/p' "$T/stack/plan.yaml" >"$T/stack/backup.yaml"
	cat >>"$T/stack/backup.yaml" <<'EOF2'
  - name: backup
    steps:
      - name: api-dump
        backup: database
        service: api
        dump: [/bin/busybox, cat, /www/health]
        restore: [/bin/busybox, sh, -c, '/bin/busybox cat > /www/health.restored']
EOF2
	# h1's key is in $KH only (trust above): the global --known-hosts serves backup and restore.
	"$bin" --no-color backup "$T/stack/backup.yaml" >"$T/out" 2>&1
	rc=$?
	check "without --known-hosts, backup refuses h1's key, unknown to ~/.ssh/known_hosts" \
		'[ "$rc" = 1 ] && grep -q "unknown host key ssh-ed25519 SHA256:" "$T/out"'
	"$bin" --no-color --known-hosts "$KH" backup "$T/stack/backup.yaml" >"$T/out" 2>&1
	brun=$(sed -n 's/^run //p' "$T/out")
	"$bin" --no-color --known-hosts "$KH" restore "$T/stack/backup.yaml" --run "$brun" >"$T/out" 2>&1
	rc=$?
	check "remote Docker: a dump restored into the remote service's container" \
		'[ -n "$brun" ] && [ "$rc" = 0 ] && grep -q "api-dump: database restored" "$T/out" &&
		[ "$(docker exec "$api" /bin/busybox cat /www/health.restored)" = "$(docker exec "$api" /bin/busybox cat /www/health)" ]'
else
	echo "not ok - remote Docker: no Docker engine could be started"
	fails=$((fails + 1))
fi

echo "$fails failed"
[ "$fails" = 0 ]
