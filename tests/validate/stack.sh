# The validation test stack, sourced by the tests and bench/load-vs-wrk.sh:
# api.py (the reference API's stand-in), redis-server, a SQLite database and
# nginx in front of them on 127.0.0.1, with certificates made here by
# openssl. Everything lives in $STACK (a temporary directory) and is stopped
# by PID in stack_down.
#
#   stack_up DIR   start everything; sets the *_PORT variables, BASE_URL...
#   stack_down     stop what stack_up started

# The system interpreter starts in milliseconds; a version manager's shim can take seconds.
PY=$(command -v /usr/bin/python3 || command -v python3)

stack_free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stack_wait_port() { # PORT
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

stack_certs() { # DIR
	local d=$1
	# A CA and a certificate for localhost signed by it: the good case.
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" -days 30 \
		-subj "/CN=corpdeploy test CA" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -keyout "$d/good.key" -out "$d/good.csr" \
		-subj "/CN=localhost" 2>/dev/null
	printf 'subjectAltName=DNS:localhost\n' > "$d/san.ext"
	openssl x509 -req -in "$d/good.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
		-out "$d/good.pem" -days 90 -extfile "$d/san.ext" 2>/dev/null
	# Self-signed, not trusted by anyone.
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/self.key" -out "$d/self.pem" -days 90 \
		-subj "/CN=localhost" -addext "subjectAltName=DNS:localhost" 2>/dev/null
	# Expired in 2020, signed by the CA: only the dates are wrong.
	mkdir -p "$d/ca"
	: > "$d/ca/index.txt"
	echo 1000 > "$d/ca/serial"
	cat > "$d/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
dir = $d/ca
database = $d/ca/index.txt
serial = $d/ca/serial
new_certs_dir = $d/ca
default_md = sha256
policy = any
copy_extensions = copy
[any]
commonName = supplied
CNF
	openssl req -newkey rsa:2048 -nodes -keyout "$d/expired.key" -out "$d/expired.csr" \
		-subj "/CN=localhost" -addext "subjectAltName=DNS:localhost" 2>/dev/null
	openssl ca -batch -config "$d/ca.cnf" -cert "$d/ca.pem" -keyfile "$d/ca.key" \
		-in "$d/expired.csr" -out "$d/expired.pem" -startdate 20200101000000Z \
		-enddate 20200201000000Z 2>/dev/null
}

stack_up() { # DIR
	STACK=$1
	mkdir -p "$STACK/nginx/logs" "$STACK/api"
	API_PORT=$(stack_free_port)
	REDIS_PORT=$(stack_free_port)
	NGINX_PORT=$(stack_free_port)
	BAD_PORT=$(stack_free_port)
	GOOD_TLS_PORT=$(stack_free_port)
	SELF_TLS_PORT=$(stack_free_port)
	EXPIRED_TLS_PORT=$(stack_free_port)
	CLOSED_PORT=$(stack_free_port)
	BASE_URL=http://127.0.0.1:$NGINX_PORT
	NGINX_ADDR=127.0.0.1:$NGINX_PORT
	DB_FILE=$STACK/companies.db
	export API_PORT REDIS_PORT NGINX_PORT BAD_PORT GOOD_TLS_PORT SELF_TLS_PORT EXPIRED_TLS_PORT
	export CLOSED_PORT BASE_URL NGINX_ADDR DB_FILE STACK

	rm -f "$DB_FILE"
	"$PY" -c 'import sqlite3,sys
c = sqlite3.connect(sys.argv[1])
c.execute("create table companies (ticker text primary key, name text)")
c.executemany("insert into companies values (?, ?)", [("C%03d" % i, "Company %d" % i) for i in range(500)])
c.commit()' "$DB_FILE"
	stack_certs "$STACK"

	"$PY" "$(dirname "${BASH_SOURCE[0]}")/api.py" "$API_PORT" "$STACK/api" &
	API_PID=$!
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$STACK" --daemonize no > "$STACK/redis.log" 2>&1 &
	REDIS_PID=$!

	local sec='add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
		add_header X-Frame-Options DENY always;
		add_header X-Content-Type-Options nosniff always;
		add_header Content-Security-Policy "default-src '\''self'\''" always;
		add_header Referrer-Policy no-referrer always;'
	cat > "$STACK/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 2;
pid $STACK/nginx/nginx.pid;
error_log $STACK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $STACK/nginx/body;
	proxy_temp_path $STACK/nginx/proxy;
	fastcgi_temp_path $STACK/nginx/fastcgi;
	uwsgi_temp_path $STACK/nginx/uwsgi;
	scgi_temp_path $STACK/nginx/scgi;
	keepalive_requests 1000000;
	upstream api { server 127.0.0.1:$API_PORT; keepalive 16; }
	# Per client and user agent: the smoke suite's curl burst must not use up corpdeploy's own logins.
	limit_req_zone "\$binary_remote_addr\$http_user_agent" zone=login:1m rate=1r/s;
	limit_req_status 429;
	proxy_http_version 1.1;
	proxy_set_header Connection "";

	# The release as deployed: security headers, rate-limited login.
	server {
		listen 127.0.0.1:$NGINX_PORT;
		$sec
		location = /static { default_type text/plain; return 200 "static\n"; }
		location = /error500 { return 500; }
		# Answers with Connection: close: every request opens a new connection.
		location = /close { keepalive_timeout 0; default_type text/plain; return 200 "close\n"; }
		location = /api/v1/auth/login { limit_req zone=login burst=5 nodelay; proxy_pass http://api; }
		location / { proxy_pass http://api; }
	}
	# A broken one: no security headers, the companies list answers 500.
	server {
		listen 127.0.0.1:$BAD_PORT;
		location = /api/v1/companies { return 500; }
		location / { proxy_pass http://api; }
	}
	server {
		listen 127.0.0.1:$GOOD_TLS_PORT ssl;
		ssl_certificate $STACK/good.pem;
		ssl_certificate_key $STACK/good.key;
		$sec
		location / { return 200 "tls\n"; }
	}
	server {
		listen 127.0.0.1:$SELF_TLS_PORT ssl;
		ssl_certificate $STACK/self.pem;
		ssl_certificate_key $STACK/self.key;
		location / { return 200 "tls\n"; }
	}
	server {
		listen 127.0.0.1:$EXPIRED_TLS_PORT ssl;
		ssl_certificate $STACK/expired.pem;
		ssl_certificate_key $STACK/expired.key;
		location / { return 200 "tls\n"; }
	}
}
CONF
	nginx -p "$STACK/nginx" -c "$STACK/nginx/nginx.conf" -e "$STACK/nginx/logs/error.log" &
	NGINX_PID=$!
	stack_wait_port "$API_PORT" && stack_wait_port "$REDIS_PORT" && stack_wait_port "$NGINX_PORT" &&
		stack_wait_port "$EXPIRED_TLS_PORT"
}

stack_down() {
	local pid
	for pid in ${NGINX_PID:-} ${REDIS_PID:-} ${API_PID:-}; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in ${NGINX_PID:-} ${REDIS_PID:-} ${API_PID:-}; do
		wait "$pid" 2>/dev/null || true
	done
	NGINX_PID= REDIS_PID= API_PID=
}
