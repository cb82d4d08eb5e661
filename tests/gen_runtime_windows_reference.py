#!/usr/bin/python3
"""Reference values for tests/test_runtime_windows.cpp: windows whose length is chosen at run time.

Run with the Debian interpreter (python3-pandas, python3-numpy):
    /usr/bin/python3 tests/gen_runtime_windows_reference.py
Writes tests/data/pandas/runtime_windows.csv (committed, so the C++ test needs no Python), every
number printed with %.17g (round-trips a float64).

Input x: 3000 samples, seeded: N(100, 10) noise, then a level shift to ~1e6 with σ = 1, a stretch of
spikes, and a run of equal values (the variance collapses to 0 inside long windows).
Columns after x, for every window length w in WINDOWS (the convention of pandas
Series.rolling(w, min_periods=1): partial windows while the first w samples arrive):
  mean_w = .mean()
  var_w  = .var()  (ddof=1; NaN while the window holds one sample)
  min_w  = .min(),  max_w = .max()  (pandas' output; the script checks them against the slice)
mean_w and var_w are exact: running sums S1 = Σx and S2 = Σx² of the window in rational arithmetic
(fractions.Fraction over the float64 inputs), mean = S1/m and var = (S2 − S1²/m)/(m − 1), rounded
once. pandas 1.5's own online var is far off on this series after the 1e6 stretch (even negative:
−0.0053 where the exact value is 6.05e-5, w = 2), so the script asserts that pandas agrees with the
exact values to 1e-9 (mean) and 1e-6 (var: pandas loses 2e-8 at w = 2) relative on the first 1200 samples (the convention is pandas') and prints its
worst error over the rest.
"""
import math
import os
from fractions import Fraction

import numpy as np
import pandas as pd

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pandas")
WINDOWS = [1, 2, 5, 64, 300, 1000]


def fmt(v):
    v = float(v)
    return "nan" if math.isnan(v) else "%.17g" % v


def main():
    rng = np.random.default_rng(20261202)
    x = np.concatenate([
        100.0 + 10.0 * rng.standard_normal(1200),
        1.0e6 + rng.standard_normal(800),
        np.where(rng.random(500) < 0.05, 5000.0, 0.0) + rng.standard_normal(500),
        np.full(500, 42.5),
    ])
    s = pd.Series(x)
    fx = [Fraction(float(v)) for v in x]
    cols = {"x": x}
    for w in WINDOWS:
        r = s.rolling(w, min_periods=1)
        pm, pv, pmin, pmax = r.mean().to_numpy(), r.var().to_numpy(), r.min().to_numpy(), r.max().to_numpy()
        mean = np.empty(len(x))
        var = np.empty(len(x))
        s1 = Fraction(0)
        s2 = Fraction(0)
        for i in range(len(x)):
            s1 += fx[i]
            s2 += fx[i] * fx[i]
            if i >= w:
                s1 -= fx[i - w]
                s2 -= fx[i - w] * fx[i - w]
            m = min(i + 1, w)
            mean[i] = float(s1 / m)
            var[i] = float((s2 - s1 * s1 / m) / (m - 1)) if m > 1 else math.nan
            win = x[max(0, i - w + 1): i + 1]
            assert pmin[i] == win.min() and pmax[i] == win.max()
        assert np.array_equal(np.isnan(pv), np.isnan(var))
        head = slice(0, 1200)
        rel_mean = np.abs(pm - mean) / np.abs(mean)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel_var = np.abs(pv - var) / np.abs(var)
        assert np.nanmax(rel_mean[head]) < 1e-9, (w, np.nanmax(rel_mean[head]))
        worst_var = max([0.0] + [float(v) for v in rel_var if np.isfinite(v)])
        worst_head_var = max([0.0] + [float(v) for v in rel_var[head] if np.isfinite(v)])
        assert worst_head_var < 1e-6, (w, worst_head_var)
        print(f"w={w}: pandas vs exact, worst relative error: mean {np.nanmax(rel_mean):.3g}, "
              f"var {worst_var:.3g}")
        cols[f"mean_{w}"] = mean
        cols[f"var_{w}"] = var
        cols[f"min_{w}"] = pmin
        cols[f"max_{w}"] = pmax
    os.makedirs(OUT, exist_ok=True)
    names = list(cols)
    with open(os.path.join(OUT, "runtime_windows.csv"), "w") as f:
        f.write(",".join(names) + "\n")
        for i in range(len(x)):
            f.write(",".join(fmt(cols[c][i]) for c in names) + "\n")


if __name__ == "__main__":
    main()
