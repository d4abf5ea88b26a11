"""Traffic and scrape helper of scripts/container-test.sh (run with /usr/bin/python3, which has
Debian's python3-websockets).

  ws URL N           N WebSocket handshakes (each: send, echo, close); prints `STATUS <code> <count>`
  get URL N          N plain GETs; prints `STATUS <code> <count>`
  scrape URL         prints the body of URL
  up URL SECONDS     waits until URL answers 200
  wait URL SERIES WANT [SECONDS]
                     polls URL (Prometheus text) until SERIES equals WANT; exit 1 with the last
                     value on timeout. SERIES is `name{label="v",...}`, label order free. An
                     absent series fails (a renamed metric must not pass a check for 0), except
                     with WANT written `0?`: absent or 0 (a label value never seen).
  same URL SERIES WANT SECONDS
                     SERIES stays WANT for SECONDS (nothing is counted late or twice); `0?` as
                     for wait
"""

import asyncio
import collections
import re
import sys
import time
import urllib.error
import urllib.request

import websockets


async def ws_once(url):
    try:
        async with websockets.connect(url, open_timeout=10, close_timeout=5) as ws:
            await ws.send("ping")
            if await asyncio.wait_for(ws.recv(), 10) != "ping":
                raise SystemExit(f"{url}: echo did not come back")
            return 101
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def report(statuses):
    for code, n in sorted(collections.Counter(statuses).items()):
        print(f"STATUS {code} {n}")


def parse_series(text):
    m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?', text.strip())
    if not m:
        raise SystemExit(f"bad series {text!r}")
    labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
    return m.group(1), labels


def value(url, series):
    want = parse_series(series)
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read().decode()
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, v = line.rpartition(" ")
        if parse_series(name_labels) == want:
            return float(v)
    return None


def want_arg(text):
    """`0?` accepts an absent series as 0; any other WANT needs the series present."""
    if text == "0?":
        return 0.0, True
    return float(text), False


def matches(got, want, absent_ok):
    if got is None:
        return absent_ok
    return got == want


def main():
    cmd, url = sys.argv[1], sys.argv[2]
    if cmd == "ws":
        report([asyncio.run(ws_once(url)) for _ in range(int(sys.argv[3]))])
    elif cmd == "get":
        report([http_status(url) for _ in range(int(sys.argv[3]))])
    elif cmd == "scrape":
        with urllib.request.urlopen(url, timeout=10) as r:
            sys.stdout.write(r.read().decode())
    elif cmd == "up":
        deadline = time.monotonic() + float(sys.argv[3])
        while True:
            try:
                if http_status(url) == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit(f"{url} did not answer 200")
            time.sleep(0.2)
    elif cmd == "wait":
        series, (want, absent_ok) = sys.argv[3], want_arg(sys.argv[4])
        deadline = time.monotonic() + float(sys.argv[5] if len(sys.argv) > 5 else 30)
        while True:
            try:
                got = value(url, series)
            except OSError as e:
                got = f"unreachable ({e})"
            if not isinstance(got, str) and matches(got, want, absent_ok):
                return
            if time.monotonic() > deadline:
                sys.exit(f"{series}: want {want:g}, got {'no such series' if got is None else got}")
            time.sleep(0.2)
    elif cmd == "same":
        series, (want, absent_ok) = sys.argv[3], want_arg(sys.argv[4])
        deadline = time.monotonic() + float(sys.argv[5])
        while time.monotonic() < deadline:
            got = value(url, series)
            if not matches(got, want, absent_ok):
                sys.exit(f"{series}: was {want:g}, now {'no such series' if got is None else got}")
            time.sleep(0.5)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
