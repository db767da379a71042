# shellcheck shell=bash
# A PostgreSQL container image for the tests, built from this machine's
# Debian PostgreSQL 15 (no registry is reachable): its server and client
# programs with the libraries they load, busybox for a shell, and an
# entrypoint that behaves as the official image's does for what the tests
# use: on an empty $PGDATA it creates the cluster with POSTGRES_USER as
# superuser (trust over the local socket, scram-sha-256 with
# POSTGRES_PASSWORD over TCP) and the database POSTGRES_DB, then runs the
# server in the foreground, listening on every address of the container.
# It runs as the user postgres (uid 999), as the official image's server does.
#
#   pg_image_build TAG DIR   builds TAG from a context made in DIR

pg_image_build() { # TAG DIR
	local tag=$1 ctx=$2 bin=${PG_BIN:-/usr/lib/postgresql/15/bin} f
	local root=$ctx/root
	mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/var/run/postgresql" \
		"$root/var/lib/postgresql/data" "$root/usr/local/bin"
	install -m 0755 /bin/busybox "$root/bin/busybox"
	local progs=(postgres initdb pg_ctl pg_dump pg_restore psql pg_isready)
	for p in "${progs[@]}"; do
		for f in "$bin/$p" $(ldd "$bin/$p" | grep -o '/[^ ]*'); do
			[ -e "$root$f" ] && continue
			mkdir -p "$root$(dirname "$f")"
			cp -L "$f" "$root$f"
		done
	done
	# The server's share directory, its loadable modules (not the JIT), and the zones.
	local share lib
	share=$("$bin/pg_config" --sharedir)
	lib=$("$bin/pg_config" --pkglibdir)
	mkdir -p "$root$share" "$root$lib" "$root/usr/share"
	cp -a "$share/." "$root$share/"
	find "$lib" -maxdepth 1 -name '*.so' ! -name 'llvmjit*' -exec cp -L {} "$root$lib/" \;
	cp -a /usr/share/zoneinfo "$root/usr/share/"
	for p in "${progs[@]}"; do ln -sf "$bin/$p" "$root/usr/local/bin/$p"; done
	printf 'root:x:0:0::/root:/bin/sh\npostgres:x:999:999::/var/lib/postgresql:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\npostgres:x:999:\n' >"$root/etc/group"
	cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'ENTRYPOINT'
#!/bin/sh
set -eu
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}" "${PGDATA:=/var/lib/postgresql/data}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	pw=$(mktemp)
	printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >"$pw"
	initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" -E UTF8 --locale=C \
		--auth-local=trust --auth-host=scram-sha-256 >/dev/null
	rm -f "$pw"
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	# The setup server listens on a socket of its own: a pg_isready on the usual
	# one answers only once the real server runs.
	setup=$(mktemp -d)
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k $setup" -w start >/dev/null
	if [ "$POSTGRES_DB" != postgres ]; then
		# Variables are not interpolated in -c: the statement comes on stdin.
		echo 'create database :"db";' | psql -q -h "$setup" -U "$POSTGRES_USER" -d postgres \
			-v ON_ERROR_STOP=1 -v db="$POSTGRES_DB"
	fi
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	rmdir "$setup"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c fsync=off
ENTRYPOINT
	chmod 0755 "$root/usr/local/bin/docker-entrypoint.sh"
	cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY root/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN ["/bin/sh", "-c", "chown -R 999:999 /var/lib/postgresql /var/run/postgresql && chmod 0700 /var/lib/postgresql/data && chmod 1777 /tmp"]
ENV PATH=/usr/local/bin:/bin PGDATA=/var/lib/postgresql/data
USER postgres
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
DOCKERFILE
	docker build -q -t "$tag" "$ctx" >"$ctx/build.log" 2>&1 || { cat "$ctx/build.log"; return 1; }
}
