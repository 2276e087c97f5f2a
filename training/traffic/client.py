#!/usr/bin/python3
"""Plays one HTTP/1.1 traffic session (training/traffic/spec.ts) as a
Python program would: http.client, one kept-alive connection per entry of
`conns`, each answer read as it arrives (read1).

    echo '{"session": {...}, "ca": "/path/ca.pem"}' | /usr/bin/python3 training/traffic/client.py
"""
import http.client
import json
import ssl
import sys
import time


def body(req):
    n = req["body"]
    if n <= 0:
        return None
    chat = req["path"].startswith("/v1/") or req["path"].startswith("/api/chat")
    head = '{"model":"m","stream":true,"messages":[{"role":"user","content":"' if chat else '{"data":"'
    tail = '"}]}' if chat else '"}'
    pad = max(0, n - len(head) - len(tail))
    return (head + ("lorem ipsum " * (pad // 12 + 1))[:pad] + tail).encode()


def main():
    spec = json.load(sys.stdin)
    s, ca = spec["session"], spec.get("ca")
    ctx = ssl.create_default_context(cafile=ca) if s["tls"] else None
    for ci, conn in enumerate(s["conns"]):
        if ci:
            time.sleep(s["connGap"][ci - 1] / 1000)
        if s["tls"]:
            c = http.client.HTTPSConnection(s["host"], s["port"], context=ctx, timeout=120)
        else:
            c = http.client.HTTPConnection(s["host"], s["port"], timeout=120)
        for ri, req in enumerate(conn["requests"]):
            if ri:
                time.sleep(conn["think"][ri - 1] / 1000)
            b = body(req)
            headers = {"x-gen": json.dumps(req["gen"], separators=(",", ":"))}
            if b:
                headers["content-type"] = "application/json"
            c.request(req["method"], req["path"], body=b, headers=headers)
            resp = c.getresponse()
            while resp.read1(65536):
                pass
            resp.read()  # read1 leaves a sized response open at its end: this closes it
        c.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the orchestrator counts failed sessions
        print(f"client: {e}", file=sys.stderr)
        sys.exit(1)
