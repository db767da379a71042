# Helpers for the SSH tests and the fan-out bench: real OpenSSH servers on
# 127.0.0.1 ports, each with its own host keys, all stopped by PID.
# Source it; set SSH_TEST_DIR first (a temporary directory you own).

SSHD_PIDS=()

sshd_init() {
	mkdir -p /run/sshd "$SSH_TEST_DIR/client"
	chmod 0755 /run/sshd
	ssh-keygen -q -t ed25519 -N '' -C corpdeploy-test -f "$SSH_TEST_DIR/client/id_ed25519"
	cat "$SSH_TEST_DIR/client/id_ed25519.pub" >"$SSH_TEST_DIR/authorized_keys"
}

# ssh_client_home DIR: HOME is DIR/home, with an empty .ssh, and no agent:
# no key or known host of the user's takes part.
ssh_client_home() {
	export HOME=$1/home
	mkdir -p "$HOME/.ssh"
	unset SSH_AUTH_SOCK SSH_AGENT_PID
}

# A port nobody listens on, from a range chosen by our pid.
free_port() {
	local p=$((20000 + ($$ * 7 + ${1:-0} * 13 + RANDOM) % 30000))
	while ss -Hltn "sport = :$p" | grep -q .; do p=$((p + 1)); done
	echo "$p"
}

# sshd_start NAME PORT [LISTEN_ADDRESS...]: its own keys in $SSH_TEST_DIR/NAME.
sshd_start() {
	local name=$1 port=$2 dir="$SSH_TEST_DIR/$1"
	shift 2
	mkdir -p "$dir"
	[ -f "$dir/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/ssh_host_ed25519_key"
	[ -f "$dir/ssh_host_ecdsa_key" ] || ssh-keygen -q -t ecdsa -N '' -f "$dir/ssh_host_ecdsa_key"
	{
		echo "Port $port"
		if [ $# -gt 0 ]; then
			for a in "$@"; do echo "ListenAddress $a"; done
		else
			echo "ListenAddress 127.0.0.1"
		fi
		echo "HostKey $dir/ssh_host_ed25519_key"
		echo "HostKey $dir/ssh_host_ecdsa_key"
		echo "AuthorizedKeysFile $SSH_TEST_DIR/authorized_keys"
		echo "PidFile $dir/sshd.pid"
		echo "StrictModes no"
		echo "UsePAM no"
		echo "PermitRootLogin prohibit-password"
		echo "PasswordAuthentication no"
		echo "KbdInteractiveAuthentication no"
		echo "MaxStartups 500:30:1000"
		echo "MaxSessions 100"
		echo "UseDNS no"
		echo "LogLevel VERBOSE"
		echo "Subsystem sftp internal-sftp"
	} >"$dir/sshd_config"
	/usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log" &
	local pid=$!
	SSHD_PIDS+=("$pid")
	echo "$pid" >"$dir/pid"
	local i
	for i in $(seq 1 100); do
		if ss -Hltn "sport = :$port" | grep -q .; then return 0; fi
		kill -0 "$pid" 2>/dev/null || { cat "$dir/sshd.log" >&2; return 1; }
		sleep 0.05
	done
	echo "sshd $name did not listen on $port" >&2
	return 1
}

sshd_stop_one() {
	local pid
	pid=$(cat "$SSH_TEST_DIR/$1/pid")
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

sshd_stop_all() {
	local pid
	for pid in "${SSHD_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${SSHD_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	SSHD_PIDS=()
}

# known_hosts line of a server: "[127.0.0.1]:PORT ssh-ed25519 AAAA..."
host_key_line() {
	local name=$1 port=$2 type=${3:-ed25519}
	echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$SSH_TEST_DIR/$name/ssh_host_${type}_key.pub")"
}
