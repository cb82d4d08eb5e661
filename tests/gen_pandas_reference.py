#!/usr/bin/python3
"""Reference values for the windows / exponential smoothing tests, from pandas and NumPy.

Run with the Debian interpreter (it has python3-pandas and python3-numpy):
    /usr/bin/python3 tests/gen_pandas_reference.py
Writes tests/data/pandas/*.csv (committed, so the C++ tests need no Python). Every number is
printed with %.17g, which round-trips a float64 exactly; NaN is written as "nan".

Files (first column(s) are the input, the others the expected output after each sample):
  rolling_<s>.csv   x, then for each window N: mean_N, var_N (ddof=1), pvar_N (ddof=0), std_N, pstd_N
                    = pandas Series.rolling(N, min_periods=1). The values written are exact: each
                    window's mean and variance in rational arithmetic (fractions.Fraction) over the
                    float64 inputs, rounded once. pandas' own online algorithm loses up to 4e-3
                    relative on the 1e9-offset series, and even NumPy's two-pass np.var is off by
                    up to 5e-12 there (the rounded mean of two nearly equal 1e9 values); the script
                    asserts that pandas agrees, so the convention is pandas' and the digits exact.
  ewm_<s>.csv       x, then for each decay parameter and adjust in {True, False}:
                    <param>_adj<T|F>_{mean,var,pvar,std} = pandas ewm(...).mean(), .var(bias=False),
                    .var(bias=True), .std() (ignore_na=False, min_periods=0: pandas' defaults).
                    mean is pandas' output. var/pvar/std are pandas' own recurrence (ewmcov in
                    pandas/_libs/window/aggregations.pyx, with pandas' float64 alpha) re-run in
                    60-digit decimal arithmetic, rounded once: pandas' float64 run loses up to 4.4e-7
                    relative on the 1e9-offset series (its weighted mean carries an absolute error
                    of eps*1e9 into the squared deviations). The script asserts that pandas agrees
                    with these values to 1e-12 on the other series and prints its error on all.
  times_ewm.csv     t_ns, x, mean_adjT = pandas ewm(halflife=2.5 s, times=t).mean() (adjust=True, the
                    only mode pandas allows with times), mean_adjF = the adjust=False irregular form
                    w += (1 - 0.5**(dt/h)) * (x - w) (written out below: pandas refuses times with
                    adjust=False), NaN and ±inf rows skip the update but count elapsed time (pandas
                    ignore_na=False; pandas turns ±inf into NaN before ewm).
  times_regular.csv x, mean = pandas ewm(alpha=1 - 0.5**(dt/h), adjust=False) on a regular grid
                    (dt = 0.75 s, h = 2 s): the irregular adjust=False form must reduce to it.
  quantile_small.csv n, p, x0..x4 (first n used), q = numpy.quantile(x[:n], p) (method='linear').
"""
import math
import os
from decimal import Decimal, getcontext
from fractions import Fraction

import numpy as np
import pandas as pd

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pandas")
os.makedirs(OUT, exist_ok=True)


def fmt(v):
    if isinstance(v, (int, np.integer)):
        return str(int(v))  # nanosecond timestamps exceed 2^53: keep them integral
    v = float(v)
    return "nan" if math.isnan(v) else "%.17g" % v


def write(name, columns):
    names = list(columns)
    n = len(columns[names[0]])
    with open(os.path.join(OUT, name), "w") as f:
        f.write(",".join(names) + "\n")
        for i in range(n):
            f.write(",".join(fmt(columns[c][i]) for c in names) + "\n")


rng = np.random.default_rng(20261122)
series = {
    "noise": 10.0 + rng.standard_normal(200) * 3.0,
    "offset": 1e9 + rng.standard_normal(200),
    "constant": np.full(60, 7.25),
}
with_nan = 5.0 + rng.standard_normal(120)
with_nan[[0, 40, 41, 77]] = np.nan  # a leading NaN, a run of two, a single one
# pandas replaces ±inf by NaN before ewm (BaseWindow._prep_values): infinities are missing values too.
with_nan[90] = np.inf
with_nan[101] = -np.inf
series["nan"] = with_nan

# ---- rolling --------------------------------------------------------------------------------------
WINDOWS = [1, 2, 5, 20, 400]  # 400 is longer than every stream: the window never fills
for name in ("noise", "offset", "constant"):
    x = series[name]
    cols = {"x": x}
    s = pd.Series(x)
    for N in WINDOWS:
        mean, var, pvar = [], [], []
        exact = [Fraction(float(v)) for v in x]
        for i in range(len(x)):
            w = exact[max(0, i - N + 1): i + 1]
            m = sum(w) / len(w)
            m2 = sum((v - m) ** 2 for v in w)
            mean.append(float(m))
            var.append(float(m2 / (len(w) - 1)) if len(w) > 1 else np.nan)
            pvar.append(float(m2 / len(w)))
        mean, var, pvar = np.array(mean), np.array(var), np.array(pvar)
        r = s.rolling(N, min_periods=1)
        # Same convention as pandas (partial windows, NaN sample variance below 2 samples).
        assert np.allclose(r.mean().to_numpy(), mean, rtol=1e-9, atol=0, equal_nan=True)
        # pandas' online rolling variance (add/remove sums) loses digits when the offset is large
        # (measured: up to 4e-3 relative at N=2 on the 1e9-offset series), so there the convention
        # check is loose and the reported error is pandas', not ours.
        tol = 1e-2 if name == "offset" else 1e-8
        for label, got, want in (("var", r.var().to_numpy(), var), ("pvar", r.var(ddof=0).to_numpy(), pvar)):
            assert np.array_equal(np.isnan(got), np.isnan(want))
            ok = ~np.isnan(want) & (want != 0)
            err = np.max(np.abs(got[ok] - want[ok]) / np.abs(want[ok]), initial=0.0)
            assert err <= tol, (name, N, err)
            if N == WINDOWS[1] and label == "var":
                print(f"pandas rolling var vs exact, {name}, N={N}: max rel err {err:.3g}")
        cols[f"mean_{N}"] = mean
        cols[f"var_{N}"] = var
        cols[f"pvar_{N}"] = pvar
        cols[f"std_{N}"] = np.sqrt(var)
        cols[f"pstd_{N}"] = np.sqrt(pvar)
    write(f"rolling_{name}.csv", cols)

# ---- ewm ------------------------------------------------------------------------------------------
PARAMS = {
    "span1": dict(span=1),  # alpha = 1: the EMA is the last sample
    "span10": dict(span=10),
    "halflife3.5": dict(halflife=3.5),
    "com0.5": dict(com=0.5),
    "alpha0.05": dict(alpha=0.05),
    "alpha1": dict(alpha=1.0),
}
getcontext().prec = 60


def pandas_alpha(span=None, halflife=None, com=None, alpha=None):
    # pandas.core.window.ewm.get_center_of_mass, then alpha = 1 / (1 + com) as in aggregations.pyx.
    if span is not None:
        com = (span - 1) / 2
    elif halflife is not None:
        com = 1 / (1 - np.exp(np.log(0.5) / halflife)) - 1
    elif alpha is not None:
        com = (1 - alpha) / alpha
    return 1.0 / (1.0 + float(com))


def ewmcov_decimal(x, alpha, adjust):
    # pandas ewmcov(x, x, ignore_na=False, minp=1) in decimal arithmetic: returns (bias=False, bias=True).
    a = Decimal(alpha)
    factor = 1 - a
    new_wt = Decimal(1) if adjust else a
    mean = None
    cov = Decimal(0)
    sum_wt = sum_wt2 = old_wt = Decimal(1)
    unbiased, biased = [], []
    for v in x:
        obs = math.isfinite(v)
        if mean is not None:
            sum_wt *= factor
            sum_wt2 *= factor * factor
            old_wt *= factor
            if obs:
                old_mean = mean
                if mean != Decimal(v):
                    mean = (old_wt * old_mean + new_wt * Decimal(v)) / (old_wt + new_wt)
                cov = (old_wt * (cov + (old_mean - mean) ** 2) + new_wt * (Decimal(v) - mean) ** 2) / (old_wt + new_wt)
                sum_wt += new_wt
                sum_wt2 += new_wt * new_wt
                old_wt += new_wt
                if not adjust:
                    sum_wt /= old_wt
                    sum_wt2 /= old_wt * old_wt
                    old_wt = Decimal(1)
        elif obs:
            mean = Decimal(v)
        if mean is None:
            unbiased.append(math.nan)
            biased.append(math.nan)
            continue
        num = sum_wt * sum_wt
        den = num - sum_wt2
        unbiased.append(float(num / den * cov) if den > 0 else math.nan)
        biased.append(float(cov))
    return np.array(unbiased), np.array(biased)


def max_rel_err(got, want):
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want) & (want != 0)
    bad_zero = np.any(got[~np.isnan(want) & (want == 0)] != 0)
    return math.inf if bad_zero else float(np.max(np.abs(got[ok] - want[ok]) / np.abs(want[ok]), initial=0.0))


for name, x in series.items():
    cols = {"x": x}
    s = pd.Series(x)
    worst = 0.0
    for pname, kw in PARAMS.items():
        for adjust in (True, False):
            e = s.ewm(adjust=adjust, **kw)
            key = f"{pname}_adj{'T' if adjust else 'F'}"
            var, pvar = ewmcov_decimal(x, pandas_alpha(**kw), adjust)
            for got, want in ((e.var(bias=False).to_numpy(), var), (e.var(bias=True).to_numpy(), pvar)):
                err = max_rel_err(got, want)
                worst = max(worst, err)
                assert name == "offset" or err <= 1e-12, (name, key, err)
            cols[key + "_mean"] = e.mean().to_numpy()
            cols[key + "_var"] = var
            cols[key + "_pvar"] = pvar
            cols[key + "_std"] = np.sqrt(var)
    print(f"pandas ewm var vs 60-digit recurrence, {name}: max rel err {worst:.3g}")
    write(f"ewm_{name}.csv", cols)

# ---- irregular time -------------------------------------------------------------------------------
H = 2.5  # seconds
n = 150
gaps_ms = rng.integers(0, 4000, n)  # 0 ms gaps: equal timestamps are allowed
gaps_ms[0] = 0
# Times count from an epoch near the data: pandas converts datetime64[ns] to float64 *before*
# differencing (_calculate_deltas), so at a 2023 epoch (1.7e18 ns) its deltas are quantised to 256 ns
# (~1e-9 relative error in the average); below 2^53 ns (104 days) the conversion is exact. streamstats
# subtracts the integer ticks first, so it has no such loss at any epoch.
t_ns = np.cumsum(gaps_ms).astype(np.int64) * 1_000_000
x = 20.0 + rng.standard_normal(n) * 2.0
x[[60, 61, 100]] = np.nan
x[120] = -np.inf  # a missing value for pandas, like NaN
times = pd.to_datetime(t_ns, unit="ns")
mean_adj_t = pd.Series(x).ewm(halflife=pd.Timedelta(seconds=H), times=times).mean().to_numpy()
mean_adj_f = []
w = math.nan
last = None
for ti, xi in zip(t_ns, x):
    if math.isnan(w):
        if math.isfinite(xi):
            w = xi
    elif math.isfinite(xi):
        a = 1.0 - 0.5 ** ((ti - last) / (H * 1e9))
        w = w + a * (xi - w)
    last = ti
    mean_adj_f.append(w)
write("times_ewm.csv", {"t_ns": t_ns, "x": x, "mean_adjT": mean_adj_t, "mean_adjF": np.array(mean_adj_f)})

DT, HR = 0.75, 2.0
xr = 3.0 + rng.standard_normal(100)
alpha = 1.0 - 0.5 ** (DT / HR)
write("times_regular.csv", {"x": xr, "mean": pd.Series(xr).ewm(alpha=alpha, adjust=False).mean().to_numpy()})

# ---- P² below five samples: NumPy's default (linear, Hyndman & Fan type 7) ------------------------
rows = {"n": [], "p": [], "x0": [], "x1": [], "x2": [], "x3": [], "x4": [], "q": []}
for p in (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99):
    for k in range(1, 6):
        xs = rng.standard_normal(5) * 10.0
        rows["n"].append(k)
        rows["p"].append(p)
        for j in range(5):
            rows[f"x{j}"].append(xs[j])
        rows["q"].append(np.quantile(xs[:k], p))
write("quantile_small.csv", rows)
print("wrote", sorted(os.listdir(OUT)))
