#!/usr/bin/python3
"""A client from another ecosystem: Python's `websockets` (Debian python3-websockets) against
streamstats::websocket::server. Checks pushes (JSON and binary), acks, subscriptions, snapshots,
errors and list; the expected statistics come from Python's `statistics` module.

  /usr/bin/python3 tests/websocket/py_client.py --server build/.../ws_test_server
  /usr/bin/python3 tests/websocket/py_client.py --port 8080        (a server already running)
Exit status 0 on success (after the server, when started here, has shut down cleanly); a failed
check raises, which exits non-zero.
"""
import argparse
import asyncio
import json
import math
import random
import statistics
import struct
import subprocess
import sys

import websockets


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def close(a, b, rel=1e-12):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


async def recv_json(ws, timeout=5.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_type(ws, kind, timeout=5.0):
    while True:
        msg = await recv_json(ws, timeout)
        if msg.get("type") == kind:
            return msg


async def run(port, stop_server):
    url = f"ws://127.0.0.1:{port}/ws"
    rng = random.Random(6)
    values = [rng.gauss(10.0, 2.0) for _ in range(500)]
    async with websockets.connect(url) as prod, websockets.connect(url) as sub:
        # JSON single pushes (fire-and-forget), a JSON batch with an id, a binary frame.
        for v in values[:100]:
            await prod.send(json.dumps({"stream": "py", "value": v}))
        await prod.send(json.dumps({"stream": "py", "values": values[100:300], "id": "b1"}))
        ack = await recv_json(prod)
        check(ack == {"type": "ack", "stream": "py", "accepted": 200, "id": "b1"}, f"ack: {ack}")
        frame = bytes([1, 2]) + b"py" + struct.pack("<200d", *values[300:])
        await prod.send(frame)

        # A snapshot on demand equals Python's statistics of the 500 samples.
        await prod.send(json.dumps({"type": "snapshot", "stream": "py", "id": 5}))
        snap = await recv_type(prod, "snapshot")
        check(snap["id"] == 5, f"snapshot id: {snap}")
        check(snap["count"] == 500, f"count: {snap['count']}")
        st = snap["stats"]
        check(close(st["mean"], statistics.fmean(values)), f"mean {st['mean']} vs {statistics.fmean(values)}")
        check(close(st["stddev"], statistics.stdev(values), 1e-10), f"stddev {st['stddev']} vs {statistics.stdev(values)}")
        check(st["min"] == min(values) and st["max"] == max(values), "min/max")
        check(close(st["sma"], statistics.fmean(values[-20:]), 1e-10), f"sma {st['sma']}")
        check(snap["last"] == values[-1], "last")
        # EMA, span 20, pandas adjust=False: y0 = x0, y = (1 - a) y + a x with a = 2 / 21.
        a = 2.0 / 21.0
        ema = values[0]
        for v in values[1:]:
            ema = (1.0 - a) * ema + a * v
        check(close(st["ema"], ema, 1e-12), f"ema {st['ema']} vs {ema}")
        # The band: mean ∓ 4.5 sample stddev of the detector's baseline, the last 64 samples (no
        # sample of this Gaussian series is beyond 4.5 sigma, so none was learned winsorised).
        last64 = values[-64:]
        m64, s64 = statistics.fmean(last64), statistics.stdev(last64)
        check(close(st["band_lo"], m64 - 4.5 * s64, 1e-10), f"band_lo {st['band_lo']} vs {m64 - 4.5 * s64}")
        check(close(st["band_hi"], m64 + 4.5 * s64, 1e-10), f"band_hi {st['band_hi']} vs {m64 + 4.5 * s64}")
        # z of the last sample against the 64 before it.
        prev64 = values[-65:-1]
        z = (values[-1] - statistics.fmean(prev64)) / statistics.stdev(prev64)
        check(close(st["z"], z, 1e-9), f"z {st['z']} vs {z}")
        check(0.0 <= st["score"] <= 1.0, f"score {st['score']}")

        # Subscribe: the ack, an immediate snapshot, then a throttled one after a push.
        await sub.send(json.dumps({"type": "subscribe", "stream": "py"}))
        check(await recv_json(sub) == {"type": "subscribed", "stream": "py"}, "subscribed")
        first = await recv_type(sub, "snapshot")
        check(first["count"] == 500, f"first snapshot: {first['count']}")
        await prod.send(json.dumps({"stream": "py", "value": 1.0}))
        nxt = await recv_type(sub, "snapshot")
        check(nxt["count"] == 501, f"next snapshot: {nxt['count']}")

        # Errors keep the connection open.
        for bad, code in [("{nope", "malformed_json"), ('{"stream":"py","value":"x"}', "wrong_type"),
                          ('{"type":"subscribe","stream":"missing"}', "unknown_stream"),
                          ('{"stream":"py","value":1e999}', "non_finite"),
                          (bytes([1, 2]) + b"py" + b"\x00" * 7, "bad_binary_frame")]:
            await prod.send(bad)
            err = await recv_json(prod)
            check(err["type"] == "error" and err["code"] == code, f"{bad!r}: {err}")
        await prod.send(json.dumps({"type": "list", "id": "l"}))
        lst = await recv_type(prod, "streams")
        check(lst["id"] == "l", "list id")
        # Counted on "py": wrong_type, non_finite and bad_binary_frame (they name the stream).
        check(lst["streams"] == [{"name": "py", "count": 501, "rejected": 3, "subscribers": 1}], f"list: {lst}")
        check(lst["rejected"] == 5, f"rejected: {lst['rejected']}")

        if stop_server:
            # Graceful shutdown while the subscriber is connected: a final snapshot of its stream,
            # then a close frame with code 1001 (docs/protocol.md).
            stop_server()
            final = await recv_type(sub, "snapshot", 10.0)
            check(final["count"] == 501, f"final snapshot: {final}")
            try:
                extra = await asyncio.wait_for(sub.recv(), 10.0)
                raise AssertionError(f"a message after the final snapshot: {extra!r}")
            except websockets.ConnectionClosed:
                pass
            check(sub.close_code == 1001, f"close code on shutdown: {sub.close_code}")
    return values


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int)
    ap.add_argument("--server", help="a server executable that prints 'port <n>' (ws_test_server)")
    args = ap.parse_args()
    proc = None
    port = args.port
    if args.server:
        proc = subprocess.Popen([args.server, "--interval-ms", "20"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        check(line.startswith("port "), f"server said: {line!r}")
        port = int(line.split()[1])
    stop_server = proc.stdin.close if proc else None  # the server stops on EOF
    try:
        values = asyncio.run(asyncio.wait_for(run(port, stop_server), 30))
        if proc:
            # Success needs the server to have stopped by itself, with status 0 and its own count of
            # the 501 samples: a server that never stops fails here (ctest looks at the exit status).
            proc.wait(10)
            out = proc.stdout.read()
            check(proc.returncode == 0, f"server exit status {proc.returncode}")
            check("stopped: " in out and " samples 501 " in out, f"server said on stopping: {out!r}")
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
    print("py_client: ok (500 samples, mean %.6f, stddev %.6f; server stopped)"
          % (statistics.fmean(values), statistics.stdev(values)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
