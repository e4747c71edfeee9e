"""EncryptedLogisticRegression: scikit-learn's estimator conventions (the API checks listed in
docs/python.md) and encrypted training that equals its plaintext reference."""

import pickle

import numpy as np
import pytest

import hel
from hel import EncryptedLogisticRegression

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.utils import estimator_checks as checks  # noqa: E402

# Two iterations keep every encrypted fit well under a second (depth 2, N = 2^13).
FAST = dict(minibatches=2)


def blobs(n=80, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    y = (X @ w + 0.2 * rng.normal(size=n) > 0).astype(int)
    return X, y


def test_fit_predict_shapes_types_and_the_plaintext_comparison():
    X, y = blobs()
    labels = np.array(["benign", "malignant"])[y]
    clf = EncryptedLogisticRegression(**FAST)
    assert clf.fit(X, labels) is clf
    assert list(clf.classes_) == ["benign", "malignant"] and clf.n_features_in_ == 3
    pred = clf.predict(X)
    assert pred.shape == (80,) and set(pred) <= set(clf.classes_)
    proba = clf.predict_proba(X)
    assert proba.shape == (80, 2) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    s = clf.decision_function(X)
    assert s.shape == (80,)
    # predict, predict_proba and decision_function agree.
    np.testing.assert_array_equal(pred, clf.classes_[(proba[:, 1] > 0.5).astype(int)])
    np.testing.assert_array_equal(pred == "malignant", s > 0)
    # The report: the encrypted model is the plaintext one within the predicted error.
    r = clf.fit_report_
    assert r["method"] == "nag" and r["minibatches"] == 2 and r["train_rows"] == 80
    assert r["max_weight_error"] <= r["predicted_error_bound"]
    assert r["accuracy"] == r["plaintext_accuracy"]
    assert clf.score(X, labels) == pytest.approx(r["accuracy"])
    for key in ("depth", "log_n", "server_seconds", "eval_key_bytes", "upload_bytes"):
        assert key in r
    assert r["upload_bytes"] > 0 and r["eval_key_bytes"] > 0
    # The model is usable, and survives pickling (through its JSON file, which keeps the
    # weights to the last bit or two), without the estimator.
    m = pickle.loads(pickle.dumps(clf.model_))
    np.testing.assert_allclose(m.decision_function(np.ascontiguousarray(X)), s, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict(X), pred)


def test_encrypted_training_learns():
    # Separable data: a few NAG steps already beat chance by far, encrypted as in plaintext.
    X, y = blobs(n=120, d=4, seed=3)
    clf = EncryptedLogisticRegression(**FAST).fit(X, y)
    assert clf.score(X, y) >= 0.75
    assert clf.fit_report_["plaintext_accuracy"] == clf.fit_report_["accuracy"]


def test_clone_get_and_set_params():
    clf = EncryptedLogisticRegression(method="gd", minibatches=3, random_state=7)
    params = clf.get_params()
    assert params["method"] == "gd" and params["minibatches"] == 3
    assert params["random_state"] == 7
    c = clone(clf)
    assert c is not clf and c.get_params() == params
    assert clf.set_params(minibatches=4) is clf and clf.minibatches == 4
    with pytest.raises(ValueError, match="Invalid parameter"):
        clf.set_params(nope=1)


def test_not_fitted_errors():
    clf = EncryptedLogisticRegression()
    for method in (clf.predict, clf.predict_proba, clf.decision_function):
        with pytest.raises(sklearn.exceptions.NotFittedError):
            method(np.zeros((2, 3)))
    with pytest.raises(hel.NotFittedError):
        clf.predict(np.zeros((2, 3)))


@pytest.mark.parametrize(
    "X, y, message",
    [
        (np.zeros(5), np.array([0, 1, 0, 1, 0]), "Expected 2D array"),
        (np.zeros((0, 3)), np.zeros(0), "0 sample"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), np.array([0, 1]), "NaN"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), np.array([0, 1]), "infinity"),
        (np.zeros((4, 2)), np.array([0, 1, 0]), "inconsistent numbers of samples"),
        (np.zeros((4, 2)), np.array([1, 1, 1, 1]), "exactly 2 classes"),
        (np.zeros((4, 2)), np.array([0, 1, 2, 0]), "exactly 2 classes"),
        (np.array([["a", "b"], ["c", "d"]]), np.array([0, 1]), "must hold numbers"),
        (np.zeros((2, 2), dtype=complex), np.array([0, 1]), "Complex data"),
    ],
)
def test_input_validation_errors(X, y, message):
    with pytest.raises(ValueError, match=message):
        EncryptedLogisticRegression(**FAST).fit(X, y)


def test_bad_parameters_and_feature_count():
    X, y = blobs(n=40)
    with pytest.raises(ValueError, match="method"):
        EncryptedLogisticRegression(method="adam").fit(X, y)
    with pytest.raises(hel.InputError, match="precision"):
        EncryptedLogisticRegression(precision=3, **FAST).fit(X, y)
    clf = EncryptedLogisticRegression(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but EncryptedLogisticRegression is expecting 3"):
        clf.predict(X[:, :2])


def test_cross_val_score():
    X, y = blobs(n=90, seed=5)
    scores = cross_val_score(EncryptedLogisticRegression(**FAST), X, y, cv=3)
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
    assert scores.mean() >= 0.7


# scikit-learn's own checks that concern the API (docs/python.md lists them). Each takes
# (name, estimator); the others (fitting many times on random data, sample weights,
# multi-class) would each run dozens of encrypted trainings or do not apply to a binary
# classifier.
API_CHECKS = [
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_dont_overwrite_parameters",
    "check_estimators_unfitted",
    "check_fit2d_1sample",
    "check_fit1d",
    "check_estimators_empty_data_messages",
    "check_estimators_nan_inf",
    "check_n_features_in",
    "check_fit_check_is_fitted",
    "check_estimators_overwrite_params",
    "check_estimator_repr",
    "check_estimator_cloneable",
]


@pytest.mark.parametrize("check", API_CHECKS)
def test_sklearn_api_check(check):
    fn = getattr(checks, check, None)
    if fn is None:
        pytest.skip(f"this scikit-learn ({sklearn.__version__}) has no {check}")
    fn("EncryptedLogisticRegression", EncryptedLogisticRegression(**FAST))


def test_works_without_scikit_learn():
    # scikit-learn is optional: blocked, `hel` still imports and the estimator has the same API.
    import subprocess
    import sys

    code = """
import sys
sys.modules["sklearn"] = None
import numpy as np, hel
assert "sklearn" not in type(hel.EncryptedLogisticRegression).__module__
rng = np.random.default_rng(0)
X = rng.normal(size=(60, 3)); y = (X[:, 0] > 0).astype(int)
clf = hel.EncryptedLogisticRegression(minibatches=2)
try:
    clf.predict(X)
    raise SystemExit("predict before fit did not raise")
except hel.NotFittedError as e:
    assert isinstance(e, AttributeError)
assert clf.get_params()["minibatches"] == 2
clf.set_params(random_state=3).fit(X, y)
assert clf.score(X, y) == clf.fit_report_["accuracy"], (clf.score(X, y), clf.fit_report_)
print("ok", repr(clf))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok EncryptedLogisticRegression(")
