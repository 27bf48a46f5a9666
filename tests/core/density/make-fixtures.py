#!/usr/bin/python3
"""Writes the scikit-learn reference values the density tests compare with.

Run with Debian's /usr/bin/python3 (python3-sklearn, numpy):
    /usr/bin/python3 tests/core/density/make-fixtures.py tests/core/density/fixtures

Each fixture file is a list of named arrays:
    magic b"CPFX0001", uint32 count, then per array:
    char name[32] (NUL padded), uint32 dtype (0 f64, 1 f32, 2 u8),
    uint32 ndim, uint32 shape[ndim], raw little-endian data.
Inputs are stored as float32 exactly as the C code receives them; the
references are computed in float64 from those same float32 values.
"""
import os
import struct
import sys

import numpy as np
import sklearn
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score, roc_curve

DTYPES = {np.dtype("<f8"): 0, np.dtype("<f4"): 1, np.dtype("u1"): 2}


def write_fixture(path, arrays):
    with open(path, "wb") as f:
        f.write(b"CPFX0001")
        f.write(struct.pack("<I", len(arrays)))
        for name, arr in arrays.items():
            arr = np.ascontiguousarray(arr)
            if arr.dtype == np.float64:
                arr = arr.astype("<f8")
            elif arr.dtype == np.float32:
                arr = arr.astype("<f4")
            elif arr.dtype in (np.uint8, np.bool_):
                arr = arr.astype("u1")
            else:
                raise TypeError(f"{name}: dtype {arr.dtype}")
            raw = name.encode()
            assert len(raw) < 32
            f.write(raw.ljust(32, b"\0"))
            f.write(struct.pack("<II", DTYPES[arr.dtype], arr.ndim))
            f.write(struct.pack(f"<{arr.ndim}I", *arr.shape))
            f.write(arr.tobytes())


def l2_normalize(x32):
    x = x32.astype(np.float64)
    norms = np.sqrt((x * x).sum(axis=1, keepdims=True))
    norms[norms == 0] = 1.0
    return x / norms


def gde_case(rng, n, p, n_test, rows_kept=None):
    # Correlated, off-centre embeddings like a network's (all positive-ish
    # after ReLU + pooling), then a test set with a few shifted rows.
    mix = rng.normal(size=(p, p)) / np.sqrt(p)
    base = np.abs(rng.normal(size=p)) + 0.5
    x = (rng.normal(size=(n, p)) @ mix * 0.3 + base).astype(np.float32)
    t = (rng.normal(size=(n_test, p)) @ mix * 0.3 + base)
    t[n_test // 2:] += rng.normal(size=(n_test - n_test // 2, p)) * 0.4
    t = t.astype(np.float32)

    xn = l2_normalize(x)
    tn = l2_normalize(t)
    lw = LedoitWolf(assume_centered=False).fit(xn)
    d = tn - lw.location_
    scores = np.sqrt(np.einsum("ij,jk,ik->i", d, lw.precision_, d))
    cov = lw.covariance_
    prec = lw.precision_
    if rows_kept is not None:
        # Wide case: keep the diagonal and a few full rows, not 2 x 2 MB.
        cov_rows = cov[:rows_kept]
        prec_rows = prec[:rows_kept]
    else:
        cov_rows, prec_rows = cov, prec
    return {
        "x": x,
        "test": t,
        "mean": lw.location_,
        "shrinkage": np.array([lw.shrinkage_]),
        "cov_rows": cov_rows,
        "cov_diag": np.diag(cov).copy(),
        "prec_rows": prec_rows,
        "prec_diag": np.diag(prec).copy(),
        "scores": scores,
    }


def auroc_cases(rng):
    arrays = {}
    cases = []
    # 1: heavy ties (scores rounded to 1 decimal), unbalanced classes.
    s = np.round(rng.normal(size=300) + 0.0, 1)
    y = (rng.random(300) < 0.2).astype(np.uint8)
    s[y == 1] += 0.5
    cases.append((s, y))
    # 2: all scores equal: AUROC 0.5.
    cases.append((np.full(20, 3.0), np.array([0, 1] * 10, dtype=np.uint8)))
    # 3: perfect separation with ties inside each class.
    cases.append((np.array([0.1, 0.1, 0.2, 0.9, 0.9, 1.0]), np.array([0, 0, 0, 1, 1, 1], dtype=np.uint8)))
    # 4: inverted classifier with a tie across classes.
    cases.append((np.array([5.0, 4.0, 3.0, 3.0, 2.0, 1.0]), np.array([0, 0, 1, 0, 1, 1], dtype=np.uint8)))
    # 5: continuous scores, no ties.
    s = rng.normal(size=500)
    y = (rng.random(500) < 0.5).astype(np.uint8)
    s[y == 1] += 1.0
    cases.append((s, y))
    # 6: integer scores, many ties, negative values.
    s = rng.integers(-5, 5, size=200).astype(np.float64)
    y = (rng.random(200) < 0.3 + 0.05 * (s + 5) / 2).astype(np.uint8)
    cases.append((s, y))
    arrays["count"] = np.array([len(cases)], dtype=np.float64)
    for i, (s, y) in enumerate(cases):
        fpr, tpr, thr = roc_curve(y, s)     # drop_intermediate=True
        arrays[f"s{i}"] = s.astype(np.float64)
        arrays[f"y{i}"] = y.astype(np.uint8)
        arrays[f"auc{i}"] = np.array([roc_auc_score(y, s)])
        arrays[f"fpr{i}"] = fpr
        arrays[f"tpr{i}"] = tpr
        # scikit-learn < 1.3 puts max + 1 first, >= 1.3 puts inf; the C code
        # uses inf, so only thresholds from index 1 on are compared.
        arrays[f"thr{i}"] = thr
        fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
        arrays[f"fullfpr{i}"] = fpr
        arrays[f"fulltpr{i}"] = tpr
    return arrays


def pixel_case(rng):
    # 32 maps of 48 x 48 with blob masks; scores quantised to float32 steps
    # of 1/64 so ties are everywhere, plus exact zeros of both signs.
    h = w = 48
    maps, masks = [], []
    yy, xx = np.mgrid[0:h, 0:w]
    for k in range(32):
        m = np.zeros((h, w), dtype=np.uint8)
        if k % 4 != 0:
            cy, cx, r = rng.integers(8, 40), rng.integers(8, 40), rng.integers(3, 10)
            m[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 255
        score = rng.normal(size=(h, w)) * 0.6 + (m > 0) * 1.0
        score = np.round(score * 64) / 64
        score[rng.random((h, w)) < 0.02] = 0.0
        score[rng.random((h, w)) < 0.02] = -0.0
        maps.append(score.astype(np.float32))
        masks.append(m)
    maps = np.stack(maps)
    masks = np.stack(masks)
    auc = roc_auc_score((masks.ravel() > 0).astype(np.uint8), maps.ravel().astype(np.float64))
    return {"maps": maps, "masks": masks, "auc": np.array([auc])}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "fixtures")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20210604)
    write_fixture(os.path.join(out, "gde-small.bin"), gde_case(rng, 40, 16, 25))
    write_fixture(os.path.join(out, "gde-wide.bin"), gde_case(rng, 60, 512, 30, rows_kept=8))
    write_fixture(os.path.join(out, "gde-tiny.bin"), gde_case(rng, 3, 8, 5))
    write_fixture(os.path.join(out, "auroc.bin"), auroc_cases(rng))
    write_fixture(os.path.join(out, "auroc-pixels.bin"), pixel_case(rng))
    with open(os.path.join(out, "VERSIONS"), "w") as f:
        f.write(f"scikit-learn {sklearn.__version__}\nnumpy {np.__version__}\n")


if __name__ == "__main__":
    main()
