#!/usr/bin/python3
"""Pushes numbers to a streamstats stream: one per line from stdin, or a synthetic signal.

  python3 producer.py --stream cpu < values.txt
  python3 producer.py --stream cpu --synthetic 10000      # 10k samples of noise with a spike
"""
import argparse
import asyncio
import random
import sys

from streamstats_client import Producer


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    ap.add_argument("--stream", default="cpu")
    ap.add_argument("--token", default=None, help="the server's producer token, if it has one")
    ap.add_argument("--synthetic", type=int, default=0, metavar="N", help="push N generated samples")
    ap.add_argument("--producer-id", default=None,
                    help="number the batches under this id: a resend after a lost ack is not counted twice")
    a = ap.parse_args()
    async with Producer(a.url, token=a.token, producer_id=a.producer_id, on_event=lambda ev: print(ev, file=sys.stderr)) as p:
        if a.synthetic:
            rng = random.Random(1)
            for i in range(a.synthetic):
                p.push(a.stream, 25.0 if i == a.synthetic // 2 else rng.gauss(0.0, 1.0))
        else:
            for line in sys.stdin:
                if line.strip():
                    p.push(a.stream, float(line))
                    await asyncio.sleep(0)  # let the sender run while stdin is read
    print(f"acknowledged {p.acked} samples (resent {p.resent}, duplicates {p.duplicates}, dropped {p.dropped})",
          file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
