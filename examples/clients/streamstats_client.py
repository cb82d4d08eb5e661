"""Python clients for a streamstats server (the WebSocket protocol of docs/protocol.md).

asyncio and the `websockets` library, used the way today's Python services use it:
`websockets.connect(url)` as an async context manager, `await ws.send(text)`, `await ws.recv()`.
Only calls that mean the same in websockets 10.4 (Debian 12) and in 11-14 are used; the producer
token travels as `?token=` in the URL because the header argument was renamed in 14.

    async with Producer("ws://127.0.0.1:8080/ws") as p:        # reconnects on its own
        p.push("cpu", 0.73)
        p.push("cpu", [0.70, 0.81, 0.92])
    # leaving the block waits until the server acknowledged every sample

    async for ev in Subscriber("ws://127.0.0.1:8080/ws", ["cpu"]):
        if ev["type"] == "snapshot":  print(ev["count"], ev["stats"]["mean"])
        elif ev["type"] == "alert":   print("anomaly", ev["index"], ev["value"], ev["z"])
        elif ev["type"] in ("gap", "restart"):  print("missed:", ev)

What a reconnecting subscriber says it missed. The server keeps no history: it sends a snapshot at
once on (re)subscription and alerts only live. So after a reconnect the subscriber compares the new
snapshot's `count` with the last one it saw, per stream:
  - `gap` {stream, from_index, to_index, missed}: samples [from_index, to_index) of the stream were
    processed while this client was not subscribed; an alert among them was not delivered (alert
    `index` values are positions in the stream, so the range says which alerts could be missing).
  - `restart` {stream, reason, previous_count, count}: the stream began a new epoch — the server
    restarted and lost it. Reasons: `epoch` (the server sent an `epoch` field and it changed),
    `count_dropped` (the count went backwards), `stream_gone` (the stream no longer exists: it is
    polled until a producer creates it again), `index_backwards` (an alert's index is not after the
    previous alert's). A restart is followed by a `gap` from 0 when the new epoch already has
    samples this client did not see.
A restart after which producers pushed more samples than before, on a server that sends no
`epoch`, looks like a gap; nothing in protocol version 1 can tell the two apart.
Other events: `connected` {url, attempt}, `disconnected` {code, reason, retry_in}, and every server
message as is (`subscribed`, `snapshot`, `alert`, `error`, ...).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import math
import random
import urllib.parse
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Deque, Dict, Iterable, List, Optional, Union

import websockets
import websockets.exceptions

__all__ = ["Backoff", "Producer", "Subscriber", "StreamTracker"]

# What a broken connection raises: refused or reset (OSError), handshake timeouts, closes, HTTP
# refusals (503 when the server is full).
class _Resend(Exception):
    """A numbered batch was refused for a transient reason: reconnect, resend in order."""


_CONNECTION_ERRORS = (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException, _Resend)


@dataclass
class Backoff:
    """Exponential backoff with full jitter: retry n waits uniform(0, min(maximum, initial * factor**n)).

    Full jitter (rather than a fixed exponential delay) spreads the reconnects of many clients
    after a server restart instead of sending them all in the same instant.
    """

    initial: float = 0.1
    maximum: float = 10.0
    factor: float = 2.0

    def ceiling(self, attempt: int) -> float:
        return min(self.maximum, self.initial * self.factor ** min(attempt, 64))

    def delay(self, attempt: int, rng: Optional[random.Random] = None) -> float:
        return (rng or random).uniform(0.0, self.ceiling(attempt))


def _close_info(exc: BaseException) -> Dict[str, Any]:
    if isinstance(exc, websockets.exceptions.ConnectionClosed):
        if exc.rcvd is not None:
            return {"code": exc.rcvd.code, "reason": exc.rcvd.reason}
        return {"code": 1006, "reason": "connection lost"}
    return {"code": None, "reason": f"{type(exc).__name__}: {exc}"}


def _with_token(url: str, token: Optional[str]) -> str:
    if not token:
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}token={urllib.parse.quote(token, safe='')}"


class StreamTracker:
    """Per-stream bookkeeping that turns snapshots and alerts into `gap` / `restart` events.

    Kept apart from the socket code so the rules are the same for every transport (the JS module
    in streamstats.mjs implements the same rules).
    """

    def __init__(self) -> None:
        self.count: Optional[int] = None  # the last count seen; None: never seen
        self.epoch: Any = None
        self.last_alert_index = -1
        self.resync = True  # the next snapshot is the first after a (re)subscription

    def _restart(self, stream: str, reason: str, count: int) -> List[Dict[str, Any]]:
        ev = {"type": "restart", "stream": stream, "reason": reason, "previous_count": self.count, "count": count}
        self.count = 0
        self.last_alert_index = -1
        return [ev]

    def on_snapshot(self, stream: str, msg: Dict[str, Any]) -> List[Dict[str, Any]]:
        events: List[Dict[str, Any]] = []
        count = int(msg["count"])
        epoch = msg.get("epoch")
        if self.count is not None:
            if epoch is not None and self.epoch is not None and epoch != self.epoch:
                events += self._restart(stream, "epoch", count)
                self.resync = True
            elif count < self.count:
                events += self._restart(stream, "count_dropped", count)
                self.resync = True
            # Between snapshots of one connection counts jump by design (snapshots are coalesced);
            # only the first snapshot after a (re)subscription can reveal samples never seen.
            if self.resync and count > self.count:
                events.append(
                    {"type": "gap", "stream": stream, "from_index": self.count, "to_index": count,
                     "missed": count - self.count})
        self.count = count
        if epoch is not None:
            self.epoch = epoch
        self.resync = False
        return events

    def on_alert(self, stream: str, msg: Dict[str, Any]) -> List[Dict[str, Any]]:
        events: List[Dict[str, Any]] = []
        index = int(msg["index"])
        epoch = msg.get("epoch")
        if epoch is not None and self.epoch is not None and epoch != self.epoch:
            events += self._restart(stream, "epoch", index + 1)
        elif index <= self.last_alert_index:
            # Within one epoch every alert is a later sample than the one before.
            events += self._restart(stream, "index_backwards", index + 1)
        if epoch is not None:
            self.epoch = epoch
        self.last_alert_index = index
        if self.count is None or self.count < index + 1:
            self.count = index + 1
        return events

    def on_unknown(self, stream: str) -> List[Dict[str, Any]]:
        """The server answered unknown_stream to a subscription: the stream is empty there."""
        events: List[Dict[str, Any]] = []
        if self.count:
            events += self._restart(stream, "stream_gone", 0)
        self.count = 0
        self.resync = True
        return events


class Subscriber:
    """Subscribes to streams, reconnects with backoff, resubscribes, and reports what it missed.

    Iterate it (`async for ev in sub`) to run it; every event is a dict with a "type". Streams
    that do not exist yet are polled every `poll_interval` seconds until they do.
    """

    def __init__(self, url: str, streams: Iterable[str], *, backoff: Optional[Backoff] = None,
                 poll_interval: float = 0.5, open_timeout: float = 5.0, rng: Optional[random.Random] = None,
                 **connect_kwargs: Any) -> None:
        self.url = url
        self.streams: List[str] = list(dict.fromkeys(streams))
        self.backoff = backoff or Backoff()
        self.poll_interval = poll_interval
        self.open_timeout = open_timeout
        self.rng = rng or random.Random()
        self.connect_kwargs = connect_kwargs
        self.trackers: Dict[str, StreamTracker] = collections.defaultdict(StreamTracker)
        self._ws: Any = None
        self._ids = itertools.count(1)
        self._pending: Dict[str, str] = {}  # subscribe request id -> stream
        self._retry_at: Dict[str, float] = {}  # stream -> loop time of the next subscribe attempt
        self._closed = False

    def __aiter__(self) -> AsyncIterator[Dict[str, Any]]:
        return self._run()

    async def subscribe(self, stream: str) -> None:
        if stream not in self.streams:
            self.streams.append(stream)
            if self._ws is not None:
                await self._send_subscribe(stream)

    async def unsubscribe(self, stream: str) -> None:
        if stream in self.streams:
            self.streams.remove(stream)
            self._retry_at.pop(stream, None)
            if self._ws is not None:
                await self._ws.send(json.dumps({"type": "unsubscribe", "stream": stream}))

    async def close(self) -> None:
        self._closed = True
        if self._ws is not None:
            await self._ws.close()

    async def _send_subscribe(self, stream: str) -> None:
        rid = f"sub{next(self._ids)}"
        self._pending[rid] = stream
        self.trackers[stream].resync = True
        await self._ws.send(json.dumps({"type": "subscribe", "stream": stream, "id": rid}))

    def _on_message(self, msg: Dict[str, Any]) -> List[Dict[str, Any]]:
        kind = msg.get("type")
        stream = msg.get("stream")
        rid = msg.get("id")
        if kind == "error" and rid in self._pending:
            stream = self._pending.pop(rid)
            if msg.get("code") == "unknown_stream" and stream in self.streams:
                self._retry_at[stream] = asyncio.get_running_loop().time() + self.poll_interval
                return self.trackers[stream].on_unknown(stream)
            return [msg]
        if kind == "subscribed" and rid in self._pending:
            self._pending.pop(rid)
        if kind == "snapshot" and stream is not None and rid is None:
            return self.trackers[stream].on_snapshot(stream, msg) + [msg]
        if kind == "alert" and stream is not None:
            return self.trackers[stream].on_alert(stream, msg) + [msg]
        return [msg]

    async def _run(self) -> AsyncIterator[Dict[str, Any]]:
        loop = asyncio.get_running_loop()
        attempt = 0
        while not self._closed:
            try:
                async with websockets.connect(self.url, open_timeout=self.open_timeout,
                                              **self.connect_kwargs) as ws:
                    self._ws = ws
                    self._pending.clear()
                    self._retry_at.clear()
                    # Every stream's next snapshot is a resync point, "*" subscriptions' included.
                    for tracker in self.trackers.values():
                        tracker.resync = True
                    yield {"type": "connected", "url": self.url, "attempt": attempt}
                    for stream in list(self.streams):
                        await self._send_subscribe(stream)
                    while True:
                        timeout = None
                        if self._retry_at:
                            timeout = max(0.0, min(self._retry_at.values()) - loop.time())
                        try:
                            raw = await asyncio.wait_for(ws.recv(), timeout)
                        except asyncio.TimeoutError:
                            now = loop.time()
                            for stream, at in list(self._retry_at.items()):
                                if at <= now:
                                    del self._retry_at[stream]
                                    await self._send_subscribe(stream)
                            continue
                        if isinstance(raw, bytes):
                            continue
                        # The server answered on this connection: it is healthy, so the next
                        # failure starts the backoff from the beginning again.
                        attempt = 0
                        for ev in self._on_message(json.loads(raw)):
                            yield ev
            except _CONNECTION_ERRORS as exc:
                self._ws = None
                if self._closed:
                    return
                delay = self.backoff.delay(attempt, self.rng)
                attempt += 1
                yield {"type": "disconnected", **_close_info(exc), "retry_in": delay}
                await asyncio.sleep(delay)
            finally:
                self._ws = None


class Producer:
    """Pushes samples; buffers them while disconnected; every sample is acknowledged or resent.

    Samples go out as JSON batches (`values`) carrying an `id`, at most `max_in_flight`
    unacknowledged messages at a time. After a reconnect the unacknowledged messages are sent again
    first, in order. Without `producer_id` delivery is at least once: a batch the server applied
    just before the connection died, whose ack was lost with it, is counted twice. With
    `producer_id` (1 to 64 printable ASCII characters, no space, unique per producer process) every
    batch is numbered per stream (`"producer"`, `"seq"` 1, 2, 3…: docs/protocol.md) and counted
    exactly once: the server acknowledges a resent batch it already has as a duplicate (`duplicates`
    counts them), and the transient refusals `unavailable`, `rate_limited` and `out_of_order` make
    the producer reconnect and resend every unacknowledged batch in order instead of giving up on
    the batch. While disconnected the buffer holds at most `max_buffered` samples; beyond that the
    oldest are dropped and counted (`dropped`). `on_event(dict)` (optional) hears `connected`,
    `disconnected`, `resent`, `dropped` and error replies (`error`: the batch was refused and is not
    resent; with `producer_id` a transient one is reported with `"retry": true` and resent).
    """

    # Refusals after which a numbered batch is resent (docs/protocol.md: the producer's rule).
    TRANSIENT = frozenset({"unavailable", "rate_limited", "out_of_order"})

    def __init__(self, url: str, *, token: Optional[str] = None, backoff: Optional[Backoff] = None,
                 max_batch: int = 1000, max_in_flight: int = 64, max_buffered: int = 1_000_000,
                 open_timeout: float = 5.0, on_event: Optional[Callable[[Dict[str, Any]], None]] = None,
                 rng: Optional[random.Random] = None, producer_id: Optional[str] = None,
                 **connect_kwargs: Any) -> None:
        if producer_id is not None and not (
                1 <= len(producer_id) <= 64 and all(33 <= ord(c) <= 126 for c in producer_id)):
            raise ValueError("producer_id: 1 to 64 printable ASCII characters, no space")
        self.producer_id = producer_id
        self._seq: Dict[str, int] = {}  # stream -> the last batch number given
        self.url = _with_token(url, token)
        self.backoff = backoff or Backoff()
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self.max_buffered = max_buffered
        self.open_timeout = open_timeout
        self.on_event = on_event
        self.rng = rng or random.Random()
        self.connect_kwargs = connect_kwargs
        # (stream, values, t): t only on chunks pushed with an explicit time (never merged).
        self._queue: Deque[tuple] = collections.deque()
        self._queued = 0
        self._unacked: "collections.OrderedDict[str, tuple]" = collections.OrderedDict()  # id -> (text, n)
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._task: Optional[asyncio.Task] = None
        self._closing = False
        self._answered = False
        self.sent = 0  # samples sent (resends included)
        self.acked = 0  # samples the server acknowledged
        self.resent = 0  # samples sent again after a reconnect
        self.dropped = 0  # samples dropped from a full buffer
        self.rejected = 0  # samples in batches the server refused
        self.duplicates = 0  # samples in resent batches the server already had (producer_id only)

    async def __aenter__(self) -> "Producer":
        self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            if exc[0] is None:
                await self.flush()
        finally:
            await self.close()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def push(self, stream: str, values: Union[float, Iterable[float]], t: Optional[float] = None) -> None:
        """Queues one sample or several; `t` (Unix seconds) is the time of the first one.

        Raises ValueError for NaN or ±Inf (JSON cannot carry them); nothing is queued then.
        """
        vals = [float(values)] if isinstance(values, (int, float)) else [float(v) for v in values]
        if not vals:
            return
        if not all(math.isfinite(v) for v in vals):
            # JSON has no NaN/Inf: json.dumps would write a token the server cannot parse.
            raise ValueError("samples must be finite numbers")
        if t is None and self._queue and self._queue[-1][0] == stream and self._queue[-1][2] is None:
            self._queue[-1][1].extend(vals)
        else:
            self._queue.append((stream, vals, t))
        self._queued += len(vals)
        while self._queued > self.max_buffered:
            stream0, vals0, t0 = self._queue[0]
            k = min(len(vals0), self._queued - self.max_buffered)
            del vals0[:k]
            self._queued -= k
            self.dropped += k
            self._emit({"type": "dropped", "stream": stream0, "samples": k})
            if not vals0:
                self._queue.popleft()
        self._changed.set()

    @property
    def pending(self) -> int:
        """Samples not yet acknowledged (queued or in flight)."""
        return self._queued + sum(n for _, n in self._unacked.values())

    async def flush(self, timeout: Optional[float] = None) -> None:
        """Waits until every sample pushed so far is acknowledged (or refused)."""

        async def wait() -> None:
            while self.pending:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def _emit(self, ev: Dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(ev)

    def _next_message(self) -> tuple:
        stream, vals, t = self._queue[0]
        n = min(len(vals), self.max_batch)
        msg: Dict[str, Any] = {"stream": stream, "values": vals[:n]}
        if t is not None:
            msg["t"] = t
        del vals[:n]
        self._queued -= n
        if not vals:
            self._queue.popleft()
        elif t is not None:
            # The rest of a timed chunk has no time of its own: it becomes arrival-timed.
            self._queue[0] = (stream, vals, None)
        rid = f"p{next(self._ids)}"
        msg["id"] = rid
        if self.producer_id is not None:
            seq = self._seq.get(stream, 0) + 1
            self._seq[stream] = seq
            msg["producer"] = self.producer_id
            msg["seq"] = seq
        # json.dumps writes floats with repr(): they round-trip exactly.
        return rid, json.dumps(msg, separators=(",", ":")), n

    async def _reader(self, ws: Any) -> None:
        async for raw in ws:
            if isinstance(raw, bytes):
                continue
            self._answered = True
            msg = json.loads(raw)
            rid = msg.get("id")
            if (self.producer_id is not None and rid in self._unacked and msg.get("type") == "error"
                    and msg.get("code") in self.TRANSIENT):
                # Kept: reconnect and resend every unacknowledged batch in order, from the first.
                self._emit({**msg, "retry": True})
                raise _Resend(msg.get("code", ""))
            entry = self._unacked.pop(rid, None)
            if entry is None:
                continue
            if msg.get("type") == "ack":
                self.acked += entry[1]
                if msg.get("duplicate"):
                    self.duplicates += entry[1]
            else:
                self.rejected += entry[1]
                self._emit(msg)
            self._changed.set()

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                async with websockets.connect(self.url, open_timeout=self.open_timeout,
                                              **self.connect_kwargs) as ws:
                    self._answered = False
                    self._emit({"type": "connected", "url": self.url, "attempt": attempt})
                    reader = asyncio.ensure_future(self._reader(ws))
                    try:
                        if self._unacked:
                            n = sum(k for _, k in self._unacked.values())
                            for text, k in list(self._unacked.values()):
                                await ws.send(text)
                                self.sent += k
                            self.resent += n
                            self._emit({"type": "resent", "messages": len(self._unacked), "samples": n})
                        while True:
                            if reader.done():
                                reader.result()  # re-raises an abnormal close
                                await ws.recv()  # raises ConnectionClosed with the close code
                            if self._queue and len(self._unacked) < self.max_in_flight:
                                rid, text, n = self._next_message()
                                self._unacked[rid] = (text, n)
                                await ws.send(text)
                                self.sent += n
                                continue
                            self._changed.clear()
                            waiter = asyncio.ensure_future(self._changed.wait())
                            try:
                                await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
                            finally:
                                waiter.cancel()  # also when close() cancels this task meanwhile
                    finally:
                        reader.cancel()
            except _CONNECTION_ERRORS as exc:
                if self._answered and not isinstance(exc, _Resend):
                    attempt = 0  # the server answered on that connection: start the backoff over
                self._answered = False
                delay = self.backoff.delay(attempt, self.rng)
                attempt += 1
                self._emit({"type": "disconnected", **_close_info(exc), "retry_in": delay})
                self._changed.set()
                await asyncio.sleep(delay)
