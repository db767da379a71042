#!/usr/bin/env python3
"""A stand-in for the reference API behind nginx in the validation tests.

Serves health endpoints, a list of 500 companies, ticker lookup, category
filter, a bearer-token login, protected endpoints, 404 and 422 answers and
the monitoring endpoints; /slow answers after 300 ms. For the load
generator's framing: /chunked (chunk extensions and trailers), /until-close
(an HTTP/1.0 body ended by closing), /malformed (no valid status line),
/hang (answers after 12 s, past the load client's 10 s timeout) and
POST /echo-length. Usage: api.py PORT STATE_DIR. The password comes
from SMOKE_USER_PASSWORD; the release id from API_RELEASE (sent as
X-Release). Paths listed one per line in STATE_DIR/broken answer 500, which
is how tests break one endpoint.
"""
import json
import os
import secrets
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PORT = int(sys.argv[1])
STATE = sys.argv[2]
PASSWORD = os.environ.get("SMOKE_USER_PASSWORD", "")
RELEASE = os.environ.get("API_RELEASE", "test")
SECTORS = ["Technology", "Health Care", "Financials", "Energy", "Industrials"]
COMPANIES = [{"ticker": "AAPL", "name": "Apple Inc.", "category": "Technology"}] + [
    {"ticker": "C%03d" % i, "name": "Company %d" % i, "category": SECTORS[i % len(SECTORS)]}
    for i in range(1, 500)
]
TOKENS = set()


def broken():
    try:
        with open(os.path.join(STATE, "broken")) as f:
            return {line.strip() for line in f if line.strip()}
    except FileNotFoundError:
        return set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms delayed-ACK stalls

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/json"):
        data = (json.dumps(body) if ctype == "application/json" else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Release", RELEASE)
        self.end_headers()
        self.wfile.write(data)

    def raw(self, data):
        """Bytes as they are, then the connection closes."""
        self.close_connection = True
        self.wfile.write(data)

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in TOKENS

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        path = url.path
        if path in broken():
            return self.reply(500, {"detail": "internal error"})
        if path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5;part=1\r\nhello\r\n7\r\n, world\r\n0;last\r\nX-Checksum: 42\r\n\r\n")
            return None
        if path == "/until-close":
            return self.raw(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthe body ends with the connection\n")
        if path == "/malformed":
            return self.raw(b"HTTP/1.1 OK\r\n\r\n")
        if path == "/hang":
            time.sleep(12)
            return self.reply(200, {"status": "late"})
        if path == "/slow":
            time.sleep(0.3)
            return self.reply(200, {"status": "slow"})
        if path == "/health":
            return self.reply(200, {"status": "healthy", "release": RELEASE})
        if path == "/health/ping":
            return self.reply(200, "pong", "text/plain")
        if path == "/health/detailed":
            return self.reply(200, {"status": "healthy", "database": "ok", "cache": "ok"})
        if path == "/api/v1/companies":
            items = COMPANIES
            if "limit" in q:
                try:
                    items = items[: int(q["limit"][0])]
                except ValueError:
                    return self.reply(422, {"detail": "limit must be an integer"})
            if "category" in q:
                items = [c for c in items if c["category"] == q["category"][0]]
            return self.reply(200, {"items": items, "total": len(items)})
        if path.startswith("/api/v1/companies/"):
            ticker = path.rsplit("/", 1)[1]
            for c in COMPANIES:
                if c["ticker"] == ticker:
                    return self.reply(200, c)
            return self.reply(404, {"detail": "no company " + ticker})
        if path in ("/api/v1/auth/me", "/api/v1/financial/metrics"):
            if not self.authorized():
                return self.reply(401, {"detail": "not authenticated"})
            return self.reply(200, {"user": "smoke@corp.example", "metrics": []})
        if path.startswith("/monitoring/"):
            return self.reply(200, {"status": "up", "service": path.split("/")[2]})
        return self.reply(404, {"detail": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length)
        if self.path in broken():
            return self.reply(500, {"detail": "internal error"})
        if self.path == "/echo-length":
            return self.reply(200, {"length": len(body)})
        if self.path == "/api/v1/auth/login":
            try:
                creds = json.loads(body or b"{}")
            except ValueError:
                return self.reply(422, {"detail": "expected JSON"})
            if not isinstance(creds, dict):
                return self.reply(422, {"detail": "expected a JSON object"})
            if not PASSWORD or creds.get("password") != PASSWORD:
                return self.reply(401, {"detail": "wrong credentials"})
            token = secrets.token_urlsafe(24)
            TOKENS.add(token)
            return self.reply(200, {"access_token": token, "token_type": "bearer"})
        return self.reply(404, {"detail": "not found"})


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
