#!/usr/bin/python3
"""The Python clients of examples/clients (streamstats_client.py) against a real server binary.

  /usr/bin/python3 tests/clients/test_python_clients.py --server build/dev/tests/websocket/ws_test_server
  (--server-arg X, repeatable, passes X to the server; the test appends --port N itself)

What it proves, over 127.0.0.1, every wait bounded:
 1. round trip: Producer → server → Subscriber; the snapshot's count, mean, stddev, min, max, sma,
    ema equal NumPy's on the same samples (rel 1e-12), the spike's alert carries its exact index and
    value, and an undisturbed subscription reports no gap and no restart; push(NaN) raises; a batch
    the server refuses is reported and flush() still returns;
 2. a network drop (a proxy cuts the subscriber's connection, the server stays up): the subscriber
    reconnects, resubscribes and reports the gap [300, 400) — exactly the samples pushed while it was
    away, which contain the alert it did not receive; a "*" subscriber reports the same gap;
 3. a server restart (SIGKILL, a new process on the same port): the producer reconnects and delivers
    what was pushed while the server was down; the subscriber reports `restart` (count 400 → 50) and
    the gap [0, 50), then gets live snapshots (exact mean) and alerts of the new epoch;
 4. a restart before any producer came back: `restart` (stream_gone), the stream polled until it
    exists, then its snapshot;
 5. the tracker's rules on their own: epoch change, alert index going backwards, backoff bounds;
 6. lost acks (a proxy discards the server's replies, then cuts): the producer resends its 5
    unacknowledged batches; without a producer id the server counts them twice (110 samples for 60),
    with `producer_id` exactly once (60, 50 samples acknowledged as duplicates).
Reference values come from NumPy (Debian python3-numpy), never from the code under test.
"""

import argparse
import asyncio
import os
import random
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "clients"))
sys.path.insert(0, HERE)

from clients_harness import EventLog, ServerProcess, server_and_proxy  # noqa: E402
from streamstats_client import Backoff, Producer, StreamTracker, Subscriber  # noqa: E402

FAST = Backoff(initial=0.05, maximum=0.5)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def close(a, b, rel=1e-12, what=""):
    check(a is not None and abs(a - b) <= rel * max(1.0, abs(b)), f"{what}: {a} vs {b} (rel {rel})")


def ema_span20(xs):
    # pandas ewm(span=20, adjust=False).mean(): m0 = x0, m = (1 - a) m + a x, a = 2 / 21
    a = 2.0 / 21.0
    m = xs[0]
    for x in xs[1:]:
        m = (1.0 - a) * m + a * x
    return m


def check_stats(snap, xs, what):
    arr = np.asarray(xs, dtype=np.float64)
    st = snap["stats"]
    check(snap["count"] == len(xs), f"{what}: count {snap['count']} != {len(xs)}")
    close(st["mean"], float(np.mean(arr)), 1e-12, f"{what} mean")
    close(st["stddev"], float(np.std(arr, ddof=1)), 1e-12, f"{what} stddev")
    check(st["min"] == float(arr.min()) and st["max"] == float(arr.max()), f"{what}: min/max")
    close(st["sma"], float(np.mean(arr[-20:])), 1e-12, f"{what} sma")
    close(st["ema"], ema_span20(xs), 1e-12, f"{what} ema")
    check(snap["last"] == xs[-1], f"{what}: last")


def unit_rules():
    t = StreamTracker()
    check(t.on_snapshot("s", {"count": 10, "epoch": "a"}) == [], "first snapshot: no event")
    ev = t.on_snapshot("s", {"count": 20, "epoch": "b"})
    check([e["type"] for e in ev] == ["restart", "gap"] and ev[0]["reason"] == "epoch", f"epoch change: {ev}")
    check(ev[1]["from_index"] == 0 and ev[1]["to_index"] == 20, f"epoch change gap: {ev}")
    t = StreamTracker()
    t.on_snapshot("s", {"count": 500})
    check(t.on_alert("s", {"index": 450}) == [], "a later alert: no event")
    ev = t.on_alert("s", {"index": 100})
    check(len(ev) == 1 and ev[0]["reason"] == "index_backwards", f"index backwards: {ev}")
    # Coalesced snapshots on one live subscription skip counts by design: no gap.
    t = StreamTracker()
    t.on_snapshot("s", {"count": 5})
    check(t.on_snapshot("s", {"count": 900}) == [], "live snapshots never report a gap")
    b = Backoff(initial=0.1, maximum=2.0, factor=2.0)
    rng = random.Random(3)
    for k in range(12):
        d = [b.delay(k, rng) for _ in range(200)]
        cap = min(2.0, 0.1 * 2**k)
        check(all(0.0 <= x <= cap for x in d), f"backoff {k} within [0, {cap}]")
        check(max(d) > 0.8 * cap and min(d) < 0.2 * cap, f"backoff {k} is jittered over [0, cap]")


async def scenario(server_cmd):
    port, server, proxy = await server_and_proxy(server_cmd)
    url = f"ws://127.0.0.1:{port}/ws"
    sub_url = f"ws://127.0.0.1:{proxy.port}/ws"
    rng = random.Random(15)
    prod_log, sub_log = EventLog(), EventLog()
    producer = Producer(url, backoff=FAST, on_event=prod_log.add)
    producer.start()
    subscriber = Subscriber(sub_url, ["rt"], backoff=FAST, poll_interval=0.1)
    wild_log = EventLog()
    wild = Subscriber(sub_url, ["*"], backoff=FAST)  # every stream: resynced on reconnect too

    async def consume(sub, log):
        async for ev in sub:
            log.add(ev)

    sub_task = wild_task = None
    try:
        # ---- 1. round trip ----
        xs = [rng.gauss(10.0, 2.0) for _ in range(300)]
        xs[200] = 70.0  # 30 sigma: one alert, index 200
        producer.push("rt", xs[0])
        await producer.flush(10)
        sub_task = asyncio.ensure_future(consume(subscriber, sub_log))
        wild_task = asyncio.ensure_future(consume(wild, wild_log))
        await sub_log.wait_for(lambda e: e["type"] == "snapshot" and e["count"] == 1, 10, what="first snapshot")
        i = 1
        while i < len(xs):
            k = rng.randint(1, 40)
            producer.push("rt", xs[i:i + k])
            i += k
        await producer.flush(10)
        check(producer.acked == 300 and producer.resent == 0, f"producer acked {producer.acked}")
        snap = await sub_log.wait_for(lambda e: e["type"] == "snapshot" and e["count"] == 300, 10, what="snapshot 300")
        check_stats(snap, xs, "round trip")
        alert = await sub_log.wait_for(lambda e: e["type"] == "alert", 10, what="the spike's alert")
        check(alert["index"] == 200 and alert["value"] == 70.0 and alert["z"] > 4.5, f"alert: {alert}")
        check(not sub_log.of("gap") and not sub_log.of("restart"), "no gap or restart on a live subscription")
        # NaN cannot travel in JSON: refused at push(), nothing queued. A batch the server refuses
        # (|x| > 1e60: out_of_range) is reported and counted, not resent, and flush() returns.
        try:
            producer.push("rt", [1.0, float("nan")])
            check(False, "push(NaN) must raise")
        except ValueError:
            pass
        check(producer.pending == 0, "nothing queued by a refused push")
        producer.push("rt", [1.0, 1e61])
        await producer.flush(10)
        check(producer.rejected == 2 and producer.acked == 300, f"rejected {producer.rejected}, acked {producer.acked}")
        err = [e for e in prod_log.events if e.get("type") == "error"]
        check(len(err) == 1 and err[0]["code"] == "out_of_range", f"the refusal is reported: {err}")
        await wild_log.wait_for(lambda e: e["type"] == "snapshot" and e["count"] == 300, 10, what="'*' snapshot 300")
        print("py_clients: round trip ok")

        # ---- 2. network drop, server up: a gap, exactly ----
        mark = len(sub_log.events)
        await proxy.cut()
        await sub_log.wait_for(lambda e: e["type"] == "disconnected", 10, mark, "disconnected")
        ys = [rng.gauss(10.0, 2.0) for _ in range(100)]
        ys[50] = 70.0  # index 350: an alert the subscriber cannot see
        producer.push("rt", ys)
        await producer.flush(10)
        await proxy.open()
        gap = await sub_log.wait_for(lambda e: e["type"] == "gap", 10, mark, "the gap")
        check((gap["stream"], gap["from_index"], gap["to_index"], gap["missed"]) == ("rt", 300, 400, 100), f"gap: {gap}")
        snap = await sub_log.wait_for(lambda e: e["type"] == "snapshot", 10, mark, "snapshot after the gap")
        check_stats(snap, xs + ys, "after the gap")
        check(not sub_log.of("alert", mark), "the alert of index 350 was not delivered")
        check(not sub_log.of("restart", mark), "a network drop is not a restart")
        check(len(sub_log.of("connected", mark)) == 1, "one reconnect")
        wgap = await wild_log.wait_for(lambda e: e["type"] == "gap", 10, what="the '*' subscriber's gap")
        check((wgap["stream"], wgap["from_index"], wgap["to_index"]) == ("rt", 300, 400), f"'*' gap: {wgap}")
        await wild.close()
        print("py_clients: gap ok")

        # ---- 3. server restart under connected clients: new epoch, count dropped ----
        mark = len(sub_log.events)
        pmark = len(prod_log.events)
        await proxy.cut()  # the subscriber stays away until the new epoch has samples
        server.kill()
        zs = [rng.gauss(-5.0, 1.0) for _ in range(50)]
        zs[40] = 30.0  # index 40 of the new epoch
        producer.push("rt", zs)  # the server is down: buffered, then delivered to the new one
        server = ServerProcess(server_cmd, port)
        await server.start()
        await producer.flush(15)
        check(any(e["type"] == "disconnected" for e in prod_log.events[pmark:]), "producer saw the drop")
        check(any(e["type"] == "connected" for e in prod_log.events[pmark:]), "producer reconnected")
        await proxy.open()
        restart = await sub_log.wait_for(lambda e: e["type"] == "restart", 15, mark, "the restart")
        check((restart["reason"], restart["previous_count"], restart["count"]) == ("count_dropped", 400, 50), f"restart: {restart}")
        gap = await sub_log.wait_for(lambda e: e["type"] == "gap", 5, mark, "the new epoch's gap")
        check((gap["from_index"], gap["to_index"]) == (0, 50), f"gap after restart: {gap}")
        snap = await sub_log.wait_for(lambda e: e["type"] == "snapshot", 5, mark, "snapshot of the new epoch")
        check_stats(snap, zs, "new epoch")
        # Live again: more samples, a spike at index 70 (< 350, the old epoch's last alert).
        ws_ = [rng.gauss(-5.0, 1.0) for _ in range(30)]
        ws_[20] = 30.0
        producer.push("rt", ws_)
        await producer.flush(10)
        alert = await sub_log.wait_for(lambda e: e["type"] == "alert", 10, mark, "the new epoch's alert")
        check(alert["index"] == 70 and alert["value"] == 30.0, f"alert: {alert}")
        snap = await sub_log.wait_for(lambda e: e["type"] == "snapshot" and e["count"] == 80, 10, mark, "snapshot 80")
        check_stats(snap, zs + ws_, "new epoch, live")
        check(len(sub_log.of("restart", mark)) == 1, "one restart reported, once")
        print("py_clients: restart ok")

        # ---- 4. restart, and the subscriber is back before any producer: stream_gone ----
        mark = len(sub_log.events)
        server.kill()
        server = ServerProcess(server_cmd, port)
        await server.start()
        restart = await sub_log.wait_for(lambda e: e["type"] == "restart", 15, mark, "stream_gone")
        check((restart["reason"], restart["previous_count"], restart["count"]) == ("stream_gone", 80, 0), f"restart: {restart}")
        vs = [float(k) for k in range(1, 11)]
        producer.push("rt", vs)
        await producer.flush(15)
        snap = await sub_log.wait_for(lambda e: e["type"] == "snapshot", 10, mark, "snapshot after stream_gone")
        check(snap["count"] == 10 and snap["stats"]["mean"] == 5.5, f"snapshot: {snap}")
        print("py_clients: stream_gone ok")
    finally:
        await subscriber.close()
        await wild.close()
        for task in (sub_task, wild_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await producer.close()
        await proxy.cut()
        server.stop()


async def lost_acks(server_cmd):
    port, server, proxy = await server_and_proxy(server_cmd)
    url = f"ws://127.0.0.1:{proxy.port}/ws"
    sub_log = EventLog()
    subscriber = Subscriber(f"ws://127.0.0.1:{port}/ws", ["twice", "once"], backoff=FAST, poll_interval=0.1)

    async def consume():
        async for ev in subscriber:
            sub_log.add(ev)

    sub_task = asyncio.ensure_future(consume())
    try:
        for stream, pid, want in (("twice", None, 110), ("once", "py-feeder-1", 60)):
            prod_log = EventLog()
            p = Producer(url, backoff=FAST, max_batch=10, producer_id=pid, on_event=prod_log.add)
            p.start()
            p.push(stream, [float(k) for k in range(10)])
            await p.flush(10)
            proxy.mute = True  # the server's acks for the next 5 batches are lost on the way
            for b in range(5):
                p.push(stream, [float(10 * b + k) for k in range(10)])
            await sub_log.wait_for(lambda e: e["type"] == "snapshot" and e["stream"] == stream and e["count"] == 60,
                                   10, what=f"{stream}: the server has all 60 samples")
            check(p.pending == 50, f"{stream}: 50 samples unacknowledged, {p.pending} pending")
            await proxy.cut()
            proxy.mute = False
            await proxy.open()
            await p.flush(15)  # reconnected; the 5 batches resent and acknowledged
            check(p.resent == 50, f"{stream}: 50 samples resent, not {p.resent}")
            snap = await sub_log.wait_for(
                lambda e: e["type"] == "snapshot" and e["stream"] == stream and e["count"] >= want, 10,
                what=f"{stream}: snapshot of {want}")
            await asyncio.sleep(0.3)  # nothing more arrives
            last = [e for e in sub_log.of("snapshot") if e["stream"] == stream][-1]
            check(snap["count"] == want and last["count"] == want, f"{stream}: counted {last['count']}, want {want}")
            check(p.duplicates == (0 if pid is None else 50), f"{stream}: {p.duplicates} duplicate samples")
            await p.close()
        print("py_clients: lost acks: 110 counted without a producer id, 60 (exactly once) with one")
    finally:
        await subscriber.close()
        sub_task.cancel()
        await asyncio.gather(sub_task, return_exceptions=True)
        await proxy.cut()
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="the server binary (ws_test_server, streamstatsd)")
    ap.add_argument("--server-arg", action="append", default=[], help="an argument for the server (repeatable)")
    a = ap.parse_args()
    unit_rules()
    print("py_clients: tracker rules ok")
    asyncio.run(asyncio.wait_for(scenario([a.server] + a.server_arg), 90))
    asyncio.run(asyncio.wait_for(lost_acks([a.server] + a.server_arg), 60))
    print("py_clients: ok")


if __name__ == "__main__":
    main()
