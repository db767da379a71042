#!/bin/bash
# Runs check-ssh-exec against a real sshd started here on 127.0.0.1 (its
# key trusted in a known_hosts file of our own) and stopped by PID.
# usage: exec-stream.sh CHECK_SSH_EXEC
set -u
here=$(cd "$(dirname "$0")" && pwd)
SSH_TEST_DIR=$(mktemp -d /tmp/cd-ssh-exec.XXXXXX)
. "$here/sshd-lib.sh"
cleanup() {
	sshd_stop_all
	rm -rf "$SSH_TEST_DIR"
}
trap cleanup EXIT
ssh_client_home "$SSH_TEST_DIR"
sshd_init
port=$(free_port 1)
sshd_start exec "$port" || exit 1
host_key_line exec "$port" >"$SSH_TEST_DIR/known_hosts"
mkdir -p "$SSH_TEST_DIR/files"
CD_SSH_TEST_PORT=$port CD_SSH_TEST_KEY=$SSH_TEST_DIR/client/id_ed25519 \
	CD_SSH_TEST_KNOWN_HOSTS=$SSH_TEST_DIR/known_hosts CD_SSH_TEST_DIR=$SSH_TEST_DIR/files \
	"$1"
