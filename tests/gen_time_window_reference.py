#!/usr/bin/python3
"""Reference values for tests/test_time_window.cpp: pandas rolling('5min') at bucket-aligned times.

Run with the Debian interpreter (python3-pandas, python3-numpy):
    /usr/bin/python3 tests/gen_time_window_reference.py
Writes (committed; %.17g round-trips a float64, NaN is "nan"; times are integer nanoseconds):
  tests/data/pandas/time_window_samples.csv  t_ns, x   (sorted by time; equal timestamps occur)
  tests/data/pandas/time_window_queries.csv  t_ns, count, mean, var
Samples: 12000 values 1000 + 10·N(0, 1) (a level shift to 1200 after the first third, a burst of
σ = 100 in the middle) at irregular times, exponential gaps of mean 0.6 s, with a 12-minute silence
(the window empties), runs of equal timestamps, and 3% of the timestamps moved onto a 5 s boundary. Queries: every 5 s from the first sample to 6
minutes after the last, all multiples of 5 s since the epoch (the test's 60 buckets of 5 s).
At each query time q: count, mean, var (ddof=1) of the samples with t ∈ (q − 5 min, q], i.e. pandas
Series.rolling('5min') with its default closed='right', evaluated by adding the query times as NaN
rows placed after the samples with the same timestamp (pandas skips NaN; min_periods=1 for a time
window; var is NaN below 2 samples; the mean of an empty window is NaN).
The values written are exact (running Σx and Σx² in rational arithmetic over the float64 inputs,
rounded once); the script asserts that pandas agrees with them (to 1e-8 relative for var, whose
online update pandas runs in float64: it is off by 1.9e-9 here; 1e-12 for mean) and that the
counts are equal.
"""
import math
import os
from fractions import Fraction

import numpy as np
import pandas as pd

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pandas")
NS = 1_000_000_000
START = 1_700_000_000 * NS  # a multiple of 5 s
WINDOW = 300 * NS
STEP = 5 * NS


def fmt(v):
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    return "nan" if math.isnan(v) else "%.17g" % v


def main():
    rng = np.random.default_rng(20261202)
    n = 12000
    gaps = rng.exponential(0.6 * NS, n).astype(np.int64)
    gaps[rng.random(n) < 0.05] = 0  # equal timestamps
    gaps[6000] = 12 * 60 * NS  # silence: the window empties
    t = START + 123_456_789 + np.cumsum(gaps)
    # 3% of the samples exactly on a 5 s boundary (a query time): the closed side of the window and
    # of the buckets matters for them
    snap = rng.random(n) < 0.03
    t[snap] = (t[snap] // STEP) * STEP
    t = np.sort(t)
    x = 1000.0 + 10.0 * rng.standard_normal(n)
    x[n // 3:] += 200.0
    x[5000:5400] = 1200.0 + 100.0 * rng.standard_normal(400)

    first_q = (int(t[0]) // STEP + 1) * STEP
    last_q = (int(t[-1]) // STEP + 73) * STEP
    qs = np.arange(first_q, last_q + 1, STEP, dtype=np.int64)

    # pandas: samples and NaN query rows, a query after the samples of its timestamp
    df = pd.DataFrame({
        "t": np.concatenate([t, qs]),
        "x": np.concatenate([x, np.full(len(qs), np.nan)]),
        "query": np.concatenate([np.zeros(n, dtype=bool), np.ones(len(qs), dtype=bool)]),
    }).sort_values(["t", "query"], kind="mergesort")
    s = pd.Series(df["x"].to_numpy(), index=pd.to_datetime(df["t"].to_numpy()))
    r = s.rolling("5min")
    pm, pv, pc = r.mean().to_numpy(), r.var().to_numpy(), r.count().to_numpy()
    is_q = df["query"].to_numpy()
    pm, pv, pc = pm[is_q], pv[is_q], pc[is_q]

    # exact, with two pointers over the sorted samples: window (q − W, q]
    fx = [Fraction(float(v)) for v in x]
    lo = hi = 0
    s1 = Fraction(0)
    s2 = Fraction(0)
    counts, means, vars_ = [], [], []
    for q in qs:
        while hi < n and t[hi] <= q:
            s1 += fx[hi]
            s2 += fx[hi] * fx[hi]
            hi += 1
        while lo < hi and t[lo] <= q - WINDOW:
            s1 -= fx[lo]
            s2 -= fx[lo] * fx[lo]
            lo += 1
        m = hi - lo
        counts.append(m)
        means.append(float(s1 / m) if m > 0 else math.nan)
        vars_.append(float((s2 - s1 * s1 / m) / (m - 1)) if m > 1 else math.nan)
    counts = np.array(counts)
    means = np.array(means)
    vars_ = np.array(vars_)
    assert np.array_equal(pc.astype(np.int64), counts), "pandas' window is not (q - 5min, q]"
    assert np.array_equal(np.isnan(pm), np.isnan(means))
    assert np.array_equal(np.isnan(pv), np.isnan(vars_))
    ok = ~np.isnan(means)
    worst_mean = float(np.max(np.abs(pm[ok] - means[ok]) / np.abs(means[ok])))
    okv = ~np.isnan(vars_)
    worst_var = float(np.max(np.abs(pv[okv] - vars_[okv]) / np.abs(vars_[okv])))
    assert worst_mean < 1e-12, worst_mean
    assert worst_var < 1e-8, worst_var
    print(f"{n} samples, {len(qs)} queries ({int((counts == 0).sum())} on an empty window); pandas vs exact: "
          f"mean {worst_mean:.3g}, var {worst_var:.3g}")

    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "time_window_samples.csv"), "w") as f:
        f.write("t_ns,x\n")
        for ti, xi in zip(t, x):
            f.write(f"{int(ti)},{fmt(xi)}\n")
    with open(os.path.join(OUT, "time_window_queries.csv"), "w") as f:
        f.write("t_ns,count,mean,var\n")
        for q, c, m, v in zip(qs, counts, means, vars_):
            f.write(f"{int(q)},{int(c)},{fmt(m)},{fmt(v)}\n")


if __name__ == "__main__":
    main()
