# SPDX-License-Identifier: BSD-3-Clause
"""JSON-RPC client and check helpers for the system tests (050, 051).

Requests are framed like SPDK's scripts/rpc.py: one indented JSON value, no delimiter, and
answers are read back by decoding until one complete value parses.
"""
import json
import socket
import sys

checks = 0


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__("%d: %s" % (code, message))
        self.code, self.message = code, message


def fail(msg):
    print("FAIL: client: %s" % msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    global checks
    checks += 1
    if not cond:
        fail(msg)


def section(name):
    print("ok: %s (%d checks so far)" % (name, checks))


class Client:
    def __init__(self, path, timeout=60):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # A blocking connect, like rpc.py: it waits while the listen backlog is full.
        self.s.connect(path)
        self.s.settimeout(timeout)
        self.buf = ""
        self.id = 0

    def send_raw(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def read(self):
        """The next JSON value the server sent."""
        dec = json.JSONDecoder()
        while True:
            text = self.buf.lstrip()
            try:
                obj, idx = dec.raw_decode(text)
                self.buf = text[idx:]
                return obj
            except ValueError:
                pass
            data = self.s.recv(4096)
            if not data:
                raise EOFError("connection closed; have %r" % self.buf[:200])
            self.buf += data.decode()

    def call(self, method, params=None):
        self.id += 1
        req = {"jsonrpc": "2.0", "method": method, "id": self.id}
        if params is not None:
            req["params"] = params
        self.send_raw(json.dumps(req, indent=2))
        resp = self.read()
        check(resp.get("jsonrpc") == "2.0" and resp.get("id") == self.id,
              "%s: bad envelope %r" % (method, resp))
        if "error" in resp:
            raise RpcError(resp["error"]["code"], resp["error"]["message"])
        check("result" in resp, "%s: no result" % method)
        return resp["result"]

    def expect_error(self, method, params, code, needle):
        """The error message of a call that must fail with code and mention needle."""
        try:
            r = self.call(method, params)
        except RpcError as e:
            check(e.code == code, "%s %r: code %d, want %d (%s)" % (method, params, e.code,
                                                                  code, e.message))
            check(needle in e.message, "%s %r: message %r lacks %r" % (method, params,
                                                                       e.message, needle))
            return e.message
        fail("%s %r: expected error %d, got %r" % (method, params, code, r))

    def closed(self):
        """True when the server closed the connection (after any queued answer)."""
        try:
            return self.s.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.s.close()
