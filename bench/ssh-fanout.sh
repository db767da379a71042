#!/usr/bin/env bash
# One command on 1, 10 and 50 SSH hosts, and a 1 MiB file copied to 50 hosts,
# with corpdeploy, parallel-ssh (Debian's pssh) and Ansible (forks=50,
# pipelining on), on the same loopback hosts: one sshd listening on
# 127.0.0.2-51 (50 addresses, so 50 distinct hosts to every client). Prints
# the medians, the ratios, and the floor the SSH handshakes set on this
# machine: handshake CPU (client + server, measured) x hosts / cores.
# Usage: bench/ssh-fanout.sh [RUNS]   (default 5; needs root for sshd)
#        SCENARIOS="cmd50 copy50" bench/ssh-fanout.sh 1   (a subset)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
bin=${CORPDEPLOY:-$top/build/corpdeploy}
[ -x "$bin" ] || bin=$(ls "$top"/build*/corpdeploy 2>/dev/null | head -1)
SSH_TEST_DIR=$(mktemp -d -t corpdeploy-sshbench.XXXXXX)
W=$SSH_TEST_DIR
. "$top/tests/ssh/sshd-lib.sh"
trap 'sshd_stop_all; rm -rf "$W"' EXIT

if ! command -v parallel-ssh >/dev/null || ! command -v ansible >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pssh ansible >/dev/null 2>&1 || true
fi

export HOME=$W/home
mkdir -p "$HOME/.ssh"
unset SSH_AUTH_SOCK
sshd_init
key=$W/client/id_ed25519
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
mkdir -p "$W/dest"
sshopts="-o UserKnownHostsFile=$kh -o StrictHostKeyChecking=yes -o BatchMode=yes -i $key"

write_inputs() { # N
	local n=$1 i
	{
		printf 'corpdeploy: 1\nname: bench%s\nrelease: "1"\nstate_dir: %s/state\ntargets:\n' "$n" "$W"
		for i in $(seq 1 "$n"); do
			printf '  h%s: { ssh: "root@%s:%s", identity: %s }\n' "$i" "${addrs[$((i - 1))]}" "$port" "$key"
		done
		printf '  all:\n    parallel: 50\n    hosts: ['
		for i in $(seq 1 "$n"); do printf 'h%s%s' "$i" "$([ "$i" = "$n" ] || echo ', ')"; done
		printf ']\nphases:\n  - name: fan-out\n    steps:\n'
	} >"$W/head$n.yaml"
	{ cat "$W/head$n.yaml"; printf '      - run: [uname, -n]\n        target: all\n'; } >"$W/cmd$n.yaml"
	{ cat "$W/head$n.yaml"; printf '      - copy: payload.bin\n        dest: %s/dest/payload.bin\n        target: all\n' "$W"; } >"$W/copy$n.yaml"
	: >"$W/hosts$n"
	for i in $(seq 1 "$n"); do echo "root@${addrs[$((i - 1))]}:$port" >>"$W/hosts$n"; done
	{
		echo "[all]"
		for i in $(seq 1 "$n"); do
			echo "h$i ansible_host=${addrs[$((i - 1))]} ansible_port=$port ansible_user=root"
		done
	} >"$W/inventory$n"
}

export ANSIBLE_PIPELINING=1 ANSIBLE_FORKS=50 ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_STDOUT_CALLBACK=minimal
export ANSIBLE_SSH_ARGS="-o ControlMaster=no $sshopts" ANSIBLE_PRIVATE_KEY_FILE=$key
export ANSIBLE_LOCAL_TEMP=$W/ansible-tmp ANSIBLE_REMOTE_TEMP=/tmp/.ansible-bench ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3

now() { date +%s.%N; }
# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# time_runs TOOL CMD...: runs it $runs times, echoes the median seconds (or "fail").
time_runs() {
	local t=() i s e
	for i in $(seq 1 "$runs"); do
		s=$(now)
		if ! "$@" >"$W/last.out" 2>&1; then
			echo fail
			sed 's/^/    /' "$W/last.out" | tail -5 >&2
			return
		fi
		e=$(now)
		t+=("$(echo "$e - $s" | bc -l)")
	done
	median "${t[@]}"
}

cd_cmd() { "$bin" --no-color up "$W/$1.yaml"; }
pssh_cmd() { parallel-ssh -h "$W/hosts$1" -p 50 -t 120 -x "$sshopts" uname -n; }
pscp_cmd() { parallel-scp -h "$W/hosts$1" -p 50 -t 120 -x "$sshopts" "$W/payload.bin" "$W/dest/payload.bin"; }
ansible_cmd() { ansible all -i "$W/inventory$1" -f 50 -m command -a "uname -n"; }
ansible_copy() { ansible all -i "$W/inventory$1" -f 50 -m copy -a "src=$W/payload.bin dest=$W/dest/payload.bin"; }

# The floor: CPU of one handshake + login + `true`, client and server together,
# from 20 sequential OpenSSH connections (client: this shell's children; server:
# what the listening sshd reaped).
sshd_pid=$(cat "$W/bench0/pid")
server_cpu() { awk '{print $16 + $17}' "/proc/$sshd_pid/stat"; }
tck=$(getconf CLK_TCK)
# `times` must run in this shell (a subshell's children are not ours), then be parsed.
children_cpu() { tail -1 "$W/times" | tr 'ms' '  ' | awk '{print $1*60 + $2 + $3*60 + $4}'; }
times >"$W/times"
cl0=$(children_cpu)
sv0=$(server_cpu)
for _ in $(seq 1 20); do
	# shellcheck disable=SC2086
	ssh $sshopts -p "$port" root@127.0.0.2 true
done
sv1=$(server_cpu)
times >"$W/times"
cl1=$(children_cpu)
cores=$(nproc)
hs=$(echo "($cl1 - $cl0 + ($sv1 - $sv0) / $tck) / 20" | bc -l)
printf 'handshake CPU (client + server, OpenSSH, %s cores): %.1f ms\n' "$cores" "$(echo "$hs * 1000" | bc -l)"

printf '\n%-22s %10s %10s %10s %10s %9s %9s %9s\n' "scenario ($runs runs)" corpdeploy pssh ansible floor "pssh/cd" "ans/cd" "cd/floor"
for scen in ${SCENARIOS:-cmd1 cmd10 cmd50 copy50}; do
	n=${scen#cmd}
	n=${n#copy}
	write_inputs "$n"
	c=$(time_runs cd_cmd "$scen")
	if [ "${scen#copy}" != "$scen" ]; then
		p=$(command -v parallel-scp >/dev/null && time_runs pscp_cmd "$n" || echo n/a)
		a=$(command -v ansible >/dev/null && time_runs ansible_copy "$n" || echo n/a)
	else
		p=$(command -v parallel-ssh >/dev/null && time_runs pssh_cmd "$n" || echo n/a)
		a=$(command -v ansible >/dev/null && time_runs ansible_cmd "$n" || echo n/a)
	fi
	floor=$(echo "$hs * $n / $cores" | bc -l)
	ratio() { if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]]; then printf '%.2f' "$(echo "$1 / $2" | bc -l)"; else echo -; fi; }
	fmt() { if [[ $1 =~ ^[0-9.]+$ ]]; then printf '%.2fs' "$1"; else echo "$1"; fi; }
	printf '%-22s %10s %10s %10s %10s %9s %9s %9s\n' "$scen" "$(fmt "$c")" "$(fmt "$p")" "$(fmt "$a")" \
		"$(fmt "$floor")" "$(ratio "$p" "$c")" "$(ratio "$a" "$c")" "$(ratio "$c" "$floor")"
done
echo
echo "goal at 50 hosts: pssh/cd >= 1.5, ans/cd >= 5, cd/floor <= 1.3"
echo "load average during the bench: $(cut -d' ' -f1-3 /proc/loadavg)"
