#!/usr/bin/python3
"""The server people write today in Python: asyncio `websockets` + NumPy, per message the running
mean, a 20-sample moving average and the z-score against the previous 64 samples, results pushed as
JSON to the stream's subscribers, an alert when |z| > 4.5. It speaks the subset of the streamstats
protocol (docs/protocol.md) that bench/peers/load_client.cpp uses, so one client measures it, the
Node peer and streamstats in the same run.

  /usr/bin/python3 bench/peers/py_server.py --port 9001     (prints "port N" once it listens)

Written the way the websockets documentation and typical services do it — one handler coroutine
per connection, `async for message in websocket`, `websockets.broadcast` to fan out — with nothing
deliberately slow and nothing exotic (no uvloop, no orjson: Debian 12's python3 packages only).
"""
import argparse
import asyncio
import json
import signal
import time
from collections import defaultdict, deque

import numpy as np
import websockets

WINDOW = 64  # z-score baseline: the previous 64 samples
MA = 20  # moving average span
WARMUP = 30
THRESHOLD = 4.5


class Stream:
    def __init__(self, name):
        self.name = name
        self.count = 0
        self.total = 0.0
        self.window = deque(maxlen=WINDOW + 1)
        self.last = None
        self.result = None
        self.subscribers = set()

    def push(self, x):
        """Updates the statistics; returns the alert message when x is anomalous, else None."""
        self.count += 1
        self.total += x
        self.last = x
        self.window.append(x)
        arr = np.fromiter(self.window, dtype=np.float64, count=len(self.window))
        ma = float(arr[-MA:].mean())
        base = arr[:-1]
        z = None
        if len(base) >= WARMUP:
            sd = float(base.std(ddof=1))
            if sd > 0:
                z = float((x - base.mean()) / sd)
        self.result = {"type": "snapshot", "stream": self.name, "count": self.count, "last": x,
                       "t": time.time(), "stats": {"mean": self.total / self.count, "sma": ma, "z": z}}
        if z is not None and abs(z) > THRESHOLD:
            return {"type": "alert", "stream": self.name, "index": self.count - 1, "value": x, "z": z,
                    "t": time.time()}
        return None


streams = {}


def get_stream(name):
    s = streams.get(name)
    if s is None:
        s = streams[name] = Stream(name)
    return s


async def handler(websocket, path=None):
    subscribed = set()
    try:
        async for message in websocket:
            msg = json.loads(message)
            kind = msg.get("type", "push")
            name = msg.get("stream")
            rid = msg.get("id")
            if kind == "push":
                s = get_stream(name)
                values = msg["values"] if "values" in msg else [msg["value"]]
                for x in values:
                    alert = s.push(float(x))
                    # Every result goes to the subscribers at once, one JSON message per sample.
                    websockets.broadcast(s.subscribers, json.dumps(s.result))
                    if alert is not None:
                        websockets.broadcast(s.subscribers, json.dumps(alert))
                if rid is not None:
                    await websocket.send(json.dumps({"type": "ack", "stream": name, "accepted": len(values), "id": rid}))
            elif kind == "subscribe":
                s = get_stream(name)
                s.subscribers.add(websocket)
                subscribed.add(s)
                reply = {"type": "subscribed", "stream": name}
                if rid is not None:
                    reply["id"] = rid
                await websocket.send(json.dumps(reply))
                if s.result is not None:
                    await websocket.send(json.dumps(s.result))
            elif kind == "snapshot":
                s = streams.get(name)
                if s is None:
                    await websocket.send(json.dumps({"type": "error", "code": "unknown_stream", "id": rid}))
                    continue
                reply = dict(s.result or {"type": "snapshot", "stream": name, "count": 0})
                if rid is not None:
                    reply["id"] = rid
                await websocket.send(json.dumps(reply))
    finally:
        for s in subscribed:
            s.subscribers.discard(websocket)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=9001)
    a = ap.parse_args()
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with websockets.serve(handler, "127.0.0.1", a.port, max_size=1 << 20) as server:
        print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
