#!/usr/bin/env python3
"""A stub OAuth2 authorization server on 127.0.0.1, for ferry's tests.

    oauth_stub.py --state-dir DIR --refresh-token TOKEN --user NAME [--expires-in SECONDS]

It writes the port it listens on to DIR/port (bound to 0, so the kernel picks a free one),
then serves:

  POST /token       RFC 6749 section 6: grant_type=refresh_token with the known refresh token
                    gives a new access token valid for --expires-in seconds; any other refresh
                    token gives 400 {"error": "invalid_grant", ...}. With --rotate, each
                    answer carries a new refresh token too, the only one accepted after it
                    (as a provider that rotates them strictly). --token-delay makes each answer
                    take that long (one at a time: requests queue). Every request to /token
                    counts, and the count is kept in DIR/token_requests.
  POST /introspect  RFC 7662, as Dovecot's oauth2 passdb asks with introspection_mode = post:
                    token=ACCESS_TOKEN gives {"active": true, "username": NAME} while the
                    token is one it issued and not expired, else {"active": false}. Counted in
                    DIR/introspect_requests.

It exits by itself after --ttl seconds (default 600): a test that dies does not leave it behind.
"""

import argparse
import json
import os
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Stub:
    def __init__(self, args):
        self.args = args
        self.issued = {}  # access token -> expiry (epoch seconds)
        self.refresh_token = args.refresh_token
        self.counts = {"token_requests": 0, "introspect_requests": 0}
        self.lock = threading.Lock()
        for name in self.counts:
            write_atomic(os.path.join(args.state_dir, name), "0\n")

    def count(self, name):
        with self.lock:
            self.counts[name] += 1
            write_atomic(os.path.join(self.args.state_dir, name), "%d\n" % self.counts[name])


def make_handler(stub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            with open(os.path.join(stub.args.state_dir, "requests.log"), "a") as f:
                f.write("%s %s\n" % (self.command, self.path))

        def reply(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def form(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n).decode("ascii", "replace")
            return {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}

        def do_POST(self):
            path = self.path.split("?", 1)[0]
            if path == "/token":
                self.token(self.form())
            elif path == "/introspect":
                self.introspect(self.form())
            else:
                self.reply(404, {"error": "not_found"})

        def do_GET(self):
            self.reply(405, {"error": "method_not_allowed"})

        def token(self, f):
            stub.count("token_requests")
            time.sleep(stub.args.token_delay)
            if f.get("grant_type") != "refresh_token":
                return self.reply(400, {"error": "unsupported_grant_type"})
            if f.get("client_id") != stub.args.client_id:
                return self.reply(401, {"error": "invalid_client",
                                        "error_description": "Unknown client."})
            if f.get("refresh_token") != stub.refresh_token:
                return self.reply(400, {"error": "invalid_grant",
                                        "error_description":
                                        "Token has been expired or revoked."})
            access = "stub-at-" + secrets.token_urlsafe(24)
            with stub.lock:
                stub.issued[access] = time.time() + stub.args.expires_in
            answer = {"access_token": access, "token_type": "Bearer",
                      "expires_in": stub.args.expires_in, "scope": "imap"}
            if stub.args.rotate:
                with stub.lock:
                    stub.refresh_token = "rotated-" + secrets.token_urlsafe(12)
                    answer["refresh_token"] = stub.refresh_token
            self.reply(200, answer)

        def introspect(self, f):
            stub.count("introspect_requests")
            with stub.lock:
                expiry = stub.issued.get(f.get("token", ""))
            if expiry is None or expiry < time.time():
                return self.reply(200, {"active": False})
            self.reply(200, {"active": True, "username": stub.args.user,
                             "exp": int(expiry)})

    return Handler


def main():
    p = argparse.ArgumentParser(description="stub OAuth2 token and introspection endpoint")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--refresh-token", required=True)
    p.add_argument("--client-id", default="ferry-test")
    p.add_argument("--user", required=True)
    p.add_argument("--expires-in", type=int, default=3600)
    p.add_argument("--ttl", type=int, default=600)
    p.add_argument("--rotate", action="store_true")
    p.add_argument("--token-delay", type=float, default=0.0)
    args = p.parse_args()
    stub = Stub(args)
    server = HTTPServer(("127.0.0.1", 0), make_handler(stub))
    write_atomic(os.path.join(args.state_dir, "port"), "%d\n" % server.server_address[1])
    timer = threading.Timer(args.ttl, server.shutdown)
    timer.daemon = True
    timer.start()
    server.serve_forever()


if __name__ == "__main__":
    main()
