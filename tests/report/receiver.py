#!/usr/bin/env python3
"""A webhook receiver for the report tests, on 127.0.0.1 only.

GET /ok answers 200 and GET /fail 500 (steps of the test plans). POST /hook
fails its first two requests with 503, then answers 200: corpdeploy must try
again. Every POST body is appended, one per line, to BODIES; the port chosen
by the kernel is written to PORTFILE once the server listens."""
import http.server
import sys

portfile, bodies = sys.argv[1], sys.argv[2]
posts = {}


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, status, text=b"ok\n"):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def do_GET(self):
        self.reply(500 if self.path.startswith("/fail") else 200)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path = self.path.split("?")[0]
        posts[path] = posts.get(path, 0) + 1
        with open(bodies, "ab") as f:
            f.write(b"%s %d %s %s\n" % (path.encode(), posts[path],
                                        self.headers.get("Content-Type", "").encode(), body))
        if path == "/hook" and posts[path] <= 2:
            self.reply(503, b"try again later\n")
        else:
            self.reply(200)

    def log_message(self, fmt, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
