#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Send QMP commands to a QEMU monitor socket: qmp.py SOCKET JSON_COMMAND...

Each command is a JSON object such as '{"execute": "query-status"}'. Prints every reply's
"return" value as JSON, one per line; exits 1 on a QMP error or a timeout."""
import json
import socket
import sys


def main():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(sys.argv[1])
    stream = sock.makefile("rw")

    def reply():
        while True:
            msg = json.loads(stream.readline())
            if "event" in msg:
                continue
            return msg

    json.loads(stream.readline())  # greeting
    for cmd in [{"execute": "qmp_capabilities"}] + [json.loads(a) for a in sys.argv[2:]]:
        stream.write(json.dumps(cmd) + "\n")
        stream.flush()
        msg = reply()
        if "error" in msg:
            print(f"qmp: {cmd['execute']}: {msg['error'].get('desc')}", file=sys.stderr)
            return 1
        if cmd["execute"] != "qmp_capabilities":
            print(json.dumps(msg.get("return")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
