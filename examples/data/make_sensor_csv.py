#!/usr/bin/python3
"""Writes examples/data/sensor.csv, the input of the example.detect_csv test: 120 one-minute samples
(20 + a slow sine + a deterministic ripple), a UTF-8 byte-order mark, a spike of +8 at minute 60, a lasting +5 level shift from
minute 90, CRLF line endings, a header, blank lines and seven bad rows (non-numeric value, missing
value, three fields, trailing garbage, empty timestamp, NaN, one field)."""
import math
import os

lines = ["timestamp,value"]
bad = {15: "2026-11-22T00:15:00,abc", 25: "2026-11-22T00:25:00,", 35: "2026-11-22T00:35:00,1.0,2.0",
       45: "2026-11-22T00:45:00,12.5x", 55: ",20.1", 65: "2026-11-22T01:05:00,nan", 75: "just one field"}
for i in range(120):
    if i in bad:
        lines.append(bad[i])
        continue
    if i in (30, 31, 100):
        lines.append("")
    v = 20.0 + 0.5 * math.sin(i / 3.0) + ((i * 37) % 17 - 8) / 40.0
    if i == 60:
        v += 8.0  # a spike
    if i >= 90:
        v += 5.0  # a lasting level shift
    lines.append("2026-11-22T%02d:%02d:00,%.3f" % (i // 60, i % 60, v))
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sensor.csv")
with open(path, "wb") as f:
    f.write(b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode())  # with a UTF-8 BOM, as Excel writes
