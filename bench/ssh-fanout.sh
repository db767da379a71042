#!/usr/bin/env bash
# One command on 1, 10 and 50 SSH hosts, and a 1 MiB file copied to 50 hosts,
# with corpdeploy, parallel-ssh (Debian's pssh) and Ansible (forks=50,
# pipelining on), on the same loopback hosts: one sshd listening on
# 127.0.0.2-51 (50 addresses, so 50 distinct hosts to every client). Prints
# the medians, the ratios, and the floor the SSH handshakes set on this
# machine: handshake CPU (client + server, measured) x hosts / cores. All
# three tools log in as one dedicated user whose login shell is plain
# /bin/sh with no rc files (created here when missing), so no tool pays for
# a slow interactive setup. CPU time per host (client + sshd, user + sys) is
# printed beside the wall-clock medians: it is what a noisy machine distorts least.
# Usage: bench/ssh-fanout.sh [RUNS]   (default 3; needs root for sshd and useradd)
#        ANSIBLE_RUNS=3 ... (default 1: one Ansible run takes a minute or more here)
#        SCENARIOS="cmd50 copy50" bench/ssh-fanout.sh 1   (a subset)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
ansible_runs=${ANSIBLE_RUNS:-1}
bin=${CORPDEPLOY:-$top/build/corpdeploy}
[ -x "$bin" ] || bin=$(ls "$top"/build*/corpdeploy 2>/dev/null | head -1)
SSH_TEST_DIR=$(mktemp -d -t corpdeploy-sshbench.XXXXXX)
W=$SSH_TEST_DIR
. "$top/tests/ssh/sshd-lib.sh"
trap 'sshd_stop_all; [ -n "${KEEP_BENCH_DIR:-}" ] || rm -rf "$W"' EXIT

if ! command -v parallel-ssh >/dev/null || ! command -v ansible >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pssh ansible >/dev/null 2>&1 || true
fi

export HOME=$W/home
mkdir -p "$HOME/.ssh"
unset SSH_AUTH_SOCK
sshd_init
key=$W/client/id_ed25519

# The login user of every tool: /bin/sh reads no rc file when it runs a command.
user=corpdeploy-bench
if ! getent passwd "$user" >/dev/null; then
	useradd --system --create-home --home-dir "/var/lib/$user" --shell /bin/sh "$user"
fi
[ "$(getent passwd "$user" | cut -d: -f7)" = /bin/sh ] || { echo "$user must have /bin/sh as its shell" >&2; exit 1; }
# A locked account ("!" password) is refused by sshd without PAM: no password at all instead.
usermod -p '*' "$user"
uhome=$(getent passwd "$user" | cut -d: -f6)
install -d -o "$user" -m 0700 "$uhome/.ssh"
install -o "$user" -m 0600 "$W/authorized_keys" "$uhome/.ssh/authorized_keys"
rm -f "$uhome/.profile" "$uhome/.bashrc" "$uhome/.bash_profile" "$uhome/.bash_logout"
# sshd reads the shared authorized_keys as the user; the user writes the copies' destination.
chmod 0755 "$W"
chmod 0644 "$W/authorized_keys"
port=$(free_port 7)
addrs=()
for i in $(seq 2 51); do addrs+=("127.0.0.$i"); done
# sshd listens on at most 16 sockets: four servers of 13 addresses each (own host keys).
kh=$W/known_hosts
: >"$kh"
for k in 0 1 2 3; do
	slice=("${addrs[@]:$((k * 13)):13}")
	sshd_start "bench$k" "$port" "${slice[@]}"
	for a in "${slice[@]}"; do
		echo "[$a]:$port $(cut -d' ' -f1,2 "$W/bench$k/ssh_host_ed25519_key.pub")" >>"$kh"
	done
done
cp "$kh" "$HOME/.ssh/known_hosts"
head -c 1048576 /dev/urandom >"$W/payload.bin"
install -d -o "$user" -m 0755 "$W/dest" "$W/remote-tmp"
sshopts="-o UserKnownHostsFile=$kh -o StrictHostKeyChecking=yes -o BatchMode=yes -i $key"

write_inputs() { # N
	local n=$1 i
	{
		printf 'corpdeploy: 1\nname: bench%s\nrelease: "1"\nstate_dir: %s/state\ntargets:\n' "$n" "$W"
		for i in $(seq 1 "$n"); do
			printf '  h%s: { ssh: "%s@%s:%s", identity: %s }\n' "$i" "$user" "${addrs[$((i - 1))]}" "$port" "$key"
		done
		printf '  all:\n    parallel: 50\n    hosts: ['
		for i in $(seq 1 "$n"); do printf 'h%s%s' "$i" "$([ "$i" = "$n" ] || echo ', ')"; done
		printf ']\nphases:\n  - name: fan-out\n    steps:\n'
	} >"$W/head$n.yaml"
	{ cat "$W/head$n.yaml"; printf '      - run: [uname, -n]\n        target: all\n'; } >"$W/cmd$n.yaml"
	{ cat "$W/head$n.yaml"; printf '      - copy: payload.bin\n        dest: %s/dest/payload.bin\n        target: all\n' "$W"; } >"$W/copy$n.yaml"
	: >"$W/hosts$n"
	for i in $(seq 1 "$n"); do echo "$user@${addrs[$((i - 1))]}:$port" >>"$W/hosts$n"; done
	{
		echo "[all]"
		for i in $(seq 1 "$n"); do
			echo "h$i ansible_host=${addrs[$((i - 1))]} ansible_port=$port ansible_user=$user"
		done
	} >"$W/inventory$n"
}

export ANSIBLE_PIPELINING=1 ANSIBLE_FORKS=50 ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_STDOUT_CALLBACK=minimal
export ANSIBLE_SSH_ARGS="-o ControlMaster=no $sshopts" ANSIBLE_PRIVATE_KEY_FILE=$key
export ANSIBLE_LOCAL_TEMP=$W/ansible-tmp ANSIBLE_REMOTE_TEMP=$W/remote-tmp ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3

now() { date +%s.%N; }
# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# CPU seconds (user + sys) the four sshd listeners reaped: every connection's sshd processes.
tck=$(getconf CLK_TCK)
server_cpu() {
	local k t=0
	for k in 0 1 2 3; do
		t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$(cat "$W/bench$k/pid")/stat")))
	done
	echo "$t / $tck" | bc -l
}
# CPU seconds of this shell's finished children into $CHILDREN_CPU: `times` must run in the
# measuring shell itself (a subshell has no children of its own yet), so not in $(...).
children_cpu() {
	times >"$W/times"
	CHILDREN_CPU=$(tail -1 "$W/times" | tr 'ms' '  ' | awk '{print $1*60 + $2 + $3*60 + $4}')
}

# time_runs HOSTS CMD...: runs it $runs times (or $ansible_runs); echoes "median-seconds median-cpu-ms-per-host" (or "fail").
time_runs() {
	local n=$1 t=() c=() i s e c0 c1 v0 v1 CHILDREN_CPU k=$runs
	shift
	[ "${1#ansible}" = "$1" ] || k=$ansible_runs
	for i in $(seq 1 "$k"); do
		children_cpu
		c0=$CHILDREN_CPU
		v0=$(server_cpu)
		s=$(now)
		if ! "$@" >"$W/last.out" 2>&1; then
			echo fail
			sed 's/^/    /' "$W/last.out" | tail -5 >&2
			return
		fi
		e=$(now)
		sleep 0.2 # the last sshd processes are reaped
		children_cpu
		c1=$CHILDREN_CPU
		v1=$(server_cpu)
		t+=("$(echo "$e - $s" | bc -l)")
		c+=("$(echo "($c1 - $c0 + $v1 - $v0) * 1000 / $n" | bc -l)")
	done
	echo "$(median "${t[@]}") $(median "${c[@]}")"
}

cd_cmd() { "$bin" --no-color up "$W/$1.yaml"; }
pssh_cmd() { parallel-ssh -h "$W/hosts$1" -p 50 -t 120 -x "$sshopts" uname -n; }
pscp_cmd() { parallel-scp -h "$W/hosts$1" -p 50 -t 120 -x "$sshopts" "$W/payload.bin" "$W/dest/payload.bin"; }
ansible_cmd() { ansible all -i "$W/inventory$1" -f 50 -m command -a "uname -n"; }
ansible_copy() { ansible all -i "$W/inventory$1" -f 50 -m copy -a "src=$W/payload.bin dest=$W/dest/payload.bin"; }

# The floor: CPU of one handshake + login + `true` through /bin/sh, client and server
# together, from 20 sequential OpenSSH connections with the algorithms corpdeploy's
# libssh2 negotiates (curve25519-sha256, ssh-ed25519, aes128-ctr, hmac-sha2-256).
algs="-o KexAlgorithms=curve25519-sha256 -o HostKeyAlgorithms=ssh-ed25519 -o Ciphers=aes128-ctr -o MACs=hmac-sha2-256"
children_cpu
c0=$CHILDREN_CPU
v0=$(server_cpu)
for _ in $(seq 1 20); do
	# shellcheck disable=SC2086
	ssh $sshopts $algs -p "$port" "$user@127.0.0.2" true
done
sleep 0.2
children_cpu
hs=$(echo "($CHILDREN_CPU - $c0 + $(server_cpu) - $v0) / 20" | bc -l)
cores=$(nproc)
printf 'handshake CPU (client + server, OpenSSH, %s cores): %.1f ms\n' "$cores" "$(echo "$hs * 1000" | bc -l)"

ratio() { if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]]; then printf '%.2f' "$(echo "$1 / $2" | bc -l)"; else echo -; fi; }
fmt() { if [[ $1 =~ ^[0-9.]+$ ]]; then printf '%.2fs' "$1"; else echo "${1:-n/a}"; fi; }
fms() { if [[ $1 =~ ^[0-9.]+$ ]]; then printf '%.1f' "$1"; else echo "${1:--}"; fi; }
printf '\nwall clock, median of %s runs (Ansible: %s) (login user %s)\n' "$runs" "$ansible_runs" "$user"
printf '%-10s %10s %10s %10s %10s %9s %9s %9s\n' scenario corpdeploy pssh ansible floor "pssh/cd" "ans/cd" "cd/floor"
cpu_lines=()
for scen in ${SCENARIOS:-cmd1 cmd10 cmd50 copy50}; do
	n=${scen#cmd}
	n=${n#copy}
	write_inputs "$n"
	read -r c cc <<<"$(time_runs "$n" cd_cmd "$scen")"
	p=n/a pc= a=n/a ac=
	if [ "${scen#copy}" != "$scen" ]; then
		command -v parallel-scp >/dev/null && read -r p pc <<<"$(time_runs "$n" pscp_cmd "$n")"
		command -v ansible >/dev/null && read -r a ac <<<"$(time_runs "$n" ansible_copy "$n")"
	else
		command -v parallel-ssh >/dev/null && read -r p pc <<<"$(time_runs "$n" pssh_cmd "$n")"
		command -v ansible >/dev/null && read -r a ac <<<"$(time_runs "$n" ansible_cmd "$n")"
	fi
	floor=$(echo "$hs * $n / $cores" | bc -l)
	printf '%-10s %10s %10s %10s %10s %9s %9s %9s\n' "$scen" "$(fmt "$c")" "$(fmt "$p")" "$(fmt "$a")" \
		"$(fmt "$floor")" "$(ratio "$p" "$c")" "$(ratio "$a" "$c")" "$(ratio "$c" "$floor")"
	cpu_lines+=("$(printf '%-10s %10s %10s %10s %10s %9s %9s %9s' "$scen" "$(fms "$cc")" "$(fms "$pc")" \
		"$(fms "$ac")" "$(fms "$(echo "$hs * 1000" | bc -l)")" "$(ratio "$pc" "$cc")" "$(ratio "$ac" "$cc")" \
		"$(ratio "$cc" "$(echo "$hs * 1000" | bc -l)")")")
done
printf '\nCPU ms per host, client + sshd, user + sys (median)\n'
printf '%-10s %10s %10s %10s %10s %9s %9s %9s\n' scenario corpdeploy pssh ansible handshk "pssh/cd" "ans/cd" "cd/hs"
printf '%s\n' "${cpu_lines[@]}"
echo
echo "goal at 50 hosts: pssh/cd >= 1.5, ans/cd >= 5, cd/floor <= 1.3"
echo "load average during the bench: $(cut -d' ' -f1-3 /proc/loadavg)"
