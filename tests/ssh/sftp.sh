#!/bin/bash
# Runs check-sftp against a real OpenSSH server started here on 127.0.0.1
# and stopped by PID at the end.
# usage: sftp.sh CHECK_SFTP
set -u
check_sftp=$1
here=$(cd "$(dirname "$0")" && pwd)
SSH_TEST_DIR=$(mktemp -d /tmp/cd-sftp-test.XXXXXX)
. "$here/sshd-lib.sh"
cleanup() {
	sshd_stop_all
	rm -rf "$SSH_TEST_DIR"
}
trap cleanup EXIT
sshd_init
port=$(free_port 1)
sshd_start sftp "$port" || exit 1
mkdir -p "$SSH_TEST_DIR/files"
SFTP_TEST_PORT=$port SFTP_TEST_KEY=$SSH_TEST_DIR/client/id_ed25519 \
	SFTP_TEST_HOSTKEY=$(ssh-keygen -lf "$SSH_TEST_DIR/sftp/ssh_host_ed25519_key.pub" | cut -d' ' -f2) \
	SFTP_TEST_DIR=$SSH_TEST_DIR/files "$check_sftp"
