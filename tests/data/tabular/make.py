#!/usr/bin/env python3
"""Test data for tests/tabular.rs: seeded 80/20 splits of two small public tabular data sets
and scikit-learn's default LogisticRegression test accuracy on each split.

Run once (scikit-learn 1.9.1, numpy): `python3 tests/data/tabular/make.py [BREAST_CANCER_CSV]`;
its output is committed next to it (`*_train.csv`, `*_test.csv`, `sklearn.json`), so the Rust
test compares with a recorded figure instead of running scikit-learn.

Data (both shipped inside the scikit-learn package, BSD-3-Clause; originally UCI, CC BY 4.0):
- breast_cancer: sklearn/datasets/data/breast_cancer.csv (Wisconsin Diagnostic Breast Cancer),
  30 features, label 1 = benign;
- wine0: sklearn.datasets.load_wine (UCI Wine), 13 features, label 1 = class 0, else 0.

Split: numpy.random.RandomState(0).permutation(n); the first round(0.2 n) rows are the test
set, the rest the training set (in permuted order). The split files are the split itself, so
Rust and Python train and test on identical rows.
"""
import csv
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression

SEED = 0
OUT = Path(__file__).resolve().parent


def write(path, names, X, y):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(list(names) + ["label"])
        for row, label in zip(X, y):
            w.writerow([repr(float(v)) for v in row] + [int(label)])


def main():
    sets = {}
    if len(sys.argv) > 1:
        raw = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)
        d = load_breast_cancer()
        assert np.array_equal(raw[:, :-1], d.data) and np.array_equal(raw[:, -1], d.target)
    d = load_breast_cancer()
    sets["breast_cancer"] = (d.feature_names, d.data, d.target)
    d = load_wine()
    sets["wine0"] = (d.feature_names, d.data, (d.target == 0).astype(int))
    report = {"sklearn_version": sklearn.__version__, "seed": SEED, "test_fraction": 0.2, "sets": {}}
    for name, (names, X, y) in sets.items():
        n = len(y)
        perm = np.random.RandomState(SEED).permutation(n)
        n_test = round(0.2 * n)
        te, tr = perm[:n_test], perm[n_test:]
        write(OUT / f"{name}_train.csv", names, X[tr], y[tr])
        write(OUT / f"{name}_test.csv", names, X[te], y[te])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = LogisticRegression().fit(X[tr], y[tr])
        acc = model.score(X[te], y[te])
        report["sets"][name] = {
            "train_rows": len(tr),
            "test_rows": len(te),
            "features": X.shape[1],
            "sklearn_default_logistic_regression_test_accuracy": acc,
            "sklearn_warnings": sorted({str(w.category.__name__) for w in caught}),
        }
        print(f"{name}: {len(tr)} train, {len(te)} test, sklearn default LogisticRegression "
              f"test accuracy {acc:.4f}")
    with open(OUT / "sklearn.json", "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
