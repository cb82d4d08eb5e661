#!/usr/bin/python3
"""Reference values for tests/test_weighted.cpp (weighted_mean, weighted_variance), from NumPy.

Run with the Debian interpreter (python3-numpy):
    /usr/bin/python3 tests/gen_weighted_reference.py
Writes (committed, so the C++ test needs no Python; %.17g round-trips a float64, NaN is "nan"):
  tests/data/pandas/weighted_samples.csv    set, x, w: the inputs, data sets 0..4 one after another
  tests/data/pandas/weighted_reference.csv  set, n, mean, pvar, fvar, rvar: after the first n samples
                                            of the set (n in PREFIXES and the set's length)
      mean = numpy.average(x, weights=w)
      pvar = numpy.cov(x, aweights=w, bias=True)   (= numpy.cov(x, fweights=w, bias=True))
      fvar = numpy.cov(x, fweights=w)              (ddof=1; integer weights only, else nan)
      rvar = numpy.cov(x, aweights=w)              (ddof=1)
The values written are exact: the same formulas in rational arithmetic (fractions.Fraction over the
float64 inputs: mean = Σwx/W, S = Σw(x − mean)², pvar = S/W, fvar = S/(W − 1), rvar = S/(W − W₂/W)),
rounded once. The script asserts that NumPy agrees with them (to 1e-9 relative on the 1e9-offset set,
where NumPy's own mean is rounded to ulp(1e9), 1e-12 on the others), so the conventions are NumPy's.
Sets:
  0  x ~ N(100, 10), w ~ U(0, 2) with every 7th weight exactly 0
  1  x ~ N(5, 3), w ∈ {0, 1, ..., 5} (frequency weights)
  2  x = 1e9 + N(0, 1), w ∈ {1, 2, 3, 4} (the shifted-data test)
  3  x ~ N(0, 1), w = lognormal(0, 2) (weights over ~8 orders of magnitude)
  4  x = −5e6 + Exp(1), w ~ U(0.1, 1) (negative offset, skewed data)
"""
import math
import os
from fractions import Fraction

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pandas")
N = 2000
PREFIXES = [1, 2, 3, 10, 100, 1000]


def fmt(v):
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    return "nan" if math.isnan(v) else "%.17g" % v


def sets():
    rng = np.random.default_rng(20261202)
    w0 = rng.uniform(0.0, 2.0, N)
    w0[::7] = 0.0
    yield 0, 100.0 + 10.0 * rng.standard_normal(N), w0, False
    yield 1, 5.0 + 3.0 * rng.standard_normal(N), rng.integers(0, 6, N).astype(float), True
    yield 2, 1e9 + rng.standard_normal(N), rng.integers(1, 5, N).astype(float), True
    yield 3, rng.standard_normal(N), rng.lognormal(0.0, 2.0, N), False
    yield 4, -5e6 + rng.exponential(1.0, N), rng.uniform(0.1, 1.0, N), False


def exact(x, w):
    fx = [Fraction(float(v)) for v in x]
    fw = [Fraction(float(v)) for v in w]
    W = sum(fw)
    W2 = sum(v * v for v in fw)
    m = sum(a * b for a, b in zip(fw, fx)) / W
    S = sum(b * (a - m) ** 2 for a, b in zip(fx, fw))
    pvar = S / W
    fvar = S / (W - 1) if W > 1 else None
    denom = W - W2 / W
    rvar = S / denom if denom > 0 else None
    return float(m), float(pvar), (math.nan if fvar is None else float(fvar)), (math.nan if rvar is None else float(rvar))


def rel(a, b):
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) == math.isnan(b) else math.inf
    return abs(a - b) / max(abs(b), 1e-300) if a != b else 0.0


def main():
    samples = []
    refs = []
    for sid, x, w, integral in sets():
        tol = 1e-9 if sid == 2 else 1e-12
        for i in range(N):
            samples.append((sid, x[i], w[i]))
        for n in PREFIXES + [N]:
            xs, ws = x[:n], w[:n]
            if ws.sum() == 0:
                continue
            m, pvar, fvar, rvar = exact(xs, ws)
            if not integral:
                fvar = math.nan
            # NumPy's own answers for the same conventions
            nm = np.average(xs, weights=ws)
            assert rel(nm, m) < tol, (sid, n, nm, m)
            if (ws > 0).sum() >= 2:
                npv = float(np.cov(xs, aweights=ws, bias=True))
                nrv = float(np.cov(xs, aweights=ws))
                assert rel(npv, pvar) < tol, (sid, n, npv, pvar)
                assert rel(nrv, rvar) < tol, (sid, n, nrv, rvar)
                if integral:
                    nfv = float(np.cov(xs, fweights=ws.astype(int)))
                    nfp = float(np.cov(xs, fweights=ws.astype(int), bias=True))
                    assert rel(nfv, fvar) < tol, (sid, n, nfv, fvar)
                    assert rel(nfp, pvar) < tol, (sid, n, nfp, pvar)
            refs.append((sid, n, m, pvar, fvar, rvar))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "weighted_samples.csv"), "w") as f:
        f.write("set,x,w\n")
        for s, x, w in samples:
            f.write(f"{s},{fmt(x)},{fmt(w)}\n")
    with open(os.path.join(OUT, "weighted_reference.csv"), "w") as f:
        f.write("set,n,mean,pvar,fvar,rvar\n")
        for r in refs:
            f.write(",".join([str(r[0]), str(r[1])] + [fmt(v) for v in r[2:]]) + "\n")
    print(f"{len(samples)} samples, {len(refs)} reference rows")


if __name__ == "__main__":
    main()
