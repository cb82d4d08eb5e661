#!/usr/bin/python3
"""Prints the snapshots and alerts of streamstats streams, and what a reconnect made it miss.

  python3 subscriber.py cpu memory          # Ctrl-C to stop
"""
import argparse
import asyncio

from streamstats_client import Subscriber


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("streams", nargs="+")
    ap.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    a = ap.parse_args()
    async for ev in Subscriber(a.url, a.streams):
        kind = ev["type"]
        if kind == "snapshot":
            st = ev["stats"]
            print(f"{ev['stream']}: n={ev['count']} mean={st['mean']:.4g} sma={st['sma']:.4g} z={st['z']}")
        elif kind == "alert":
            print(f"{ev['stream']}: ALERT sample #{ev['index']} = {ev['value']} (z = {ev['z']:.1f})")
        elif kind == "gap":
            print(f"{ev['stream']}: missed samples {ev['from_index']}..{ev['to_index'] - 1} while away")
        elif kind == "restart":
            print(f"{ev['stream']}: server restarted ({ev['reason']}): {ev['previous_count']} -> {ev['count']} samples")
        elif kind in ("connected", "disconnected"):
            print(ev)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
