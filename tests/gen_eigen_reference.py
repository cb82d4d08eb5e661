#!/usr/bin/python3
"""Reference for the Eigen layer's ema<Eigen::Vector3d> (tests/test_eigen.cpp).

Run with Debian's python3 (pandas 1.5): /usr/bin/python3 tests/gen_eigen_reference.py
Writes tests/data/eigen_ewm_reference.csv: three columns x0..x2 (NumPy seed 20261122, with NaNs
in x1 and a leading NaN in x2), then pandas DataFrame.ewm(span=9).mean() column by column with
adjust=False (a0..a2) and adjust=True (t0..t2), ignore_na=False (the pandas default).
"""
import os

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261122)
n = 200
x = np.column_stack([
    rng.normal(10.0, 2.0, n),
    rng.normal(-3.0, 0.5, n),
    np.cumsum(rng.normal(0.0, 1.0, n)),
])
x[[17, 18, 60, 121], 1] = np.nan
x[[0, 1], 2] = np.nan
df = pd.DataFrame(x, columns=["x0", "x1", "x2"])
adj_false = df.ewm(span=9, adjust=False).mean()
adj_true = df.ewm(span=9, adjust=True).mean()
out = pd.concat([df,
                 adj_false.rename(columns=lambda c: "a" + c[1:]),
                 adj_true.rename(columns=lambda c: "t" + c[1:])], axis=1)
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "eigen_ewm_reference.csv")
out.to_csv(path, index=False, float_format="%.17g", na_rep="nan")
print("wrote", path, "pandas", pd.__version__)
