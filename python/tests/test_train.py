"""hel.train: `hel train`'s pipeline from Python on arrays and files, its model and its
errors."""

import numpy as np
import pytest

import hel


def data(n, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X @ np.array([1.0, -1.0, 0.5]) > 0).astype(int)
    return X, y


def test_arrays_with_a_test_set_score_the_model_it_returns():
    X, y = data(100)
    Xt, yt = data(40, seed=1)
    r = hel.train((X, y), test=(Xt, yt), method="gd", minibatches=2)
    assert r.report["test_rows"] == 40 and r.report["train_rows"] == 100
    assert r.report["method"] == "gd" and r.report["data"] == "arrays"
    # The report's accuracy is the returned model's on the test rows (labels 1 = positive).
    pred = (r.model.decision_function(Xt) > 0).astype(int)
    assert r.accuracy == pytest.approx(np.mean(pred == yt))
    assert r.report["max_weight_error"] <= r.report["predicted_error_bound"]
    assert len(r.model.weights) == 4 and r.model.method == "gd"
    np.testing.assert_allclose(
        r.model.weights, r.model.plaintext_weights, atol=r.report["predicted_error_bound"]
    )
    m = hel.Model.from_json(r.model.to_json())
    np.testing.assert_allclose(m.decision_function(Xt), r.model.decision_function(Xt), rtol=1e-12)


def test_plan_reports_the_run_train_then_runs():
    X, y = data(100)
    Xt, yt = data(40, seed=1)
    p = hel.plan((X, y), test=(Xt, yt), method="gd", minibatches=2)
    assert p["round_sizes"] == [2] and p["method"] == "gd"
    assert p["refresh"]["chosen"]["refresh"] == "client"
    assert p["refresh"]["chosen"]["server_seconds"] > 0
    (circuit,) = p["circuits"]
    r = hel.train((X, y), test=(Xt, yt), method="gd", minibatches=2)
    assert (circuit["depth"], circuit["log_n"]) == (r.report["depth"], r.report["log_n"])
    assert p["plaintext_accuracy"] == r.plaintext_accuracy
    with pytest.raises(TypeError):
        hel.plan((X, y), method="gd", no_such_option=1)


def test_a_csv_file_trains_like_hel_train(tmp_path):
    X, y = data(120)
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt="%.17g")
    r = hel.train(path, minibatches=2, seed=3)
    assert r.report["train_rows"] + r.report["test_rows"] == 120
    assert r.report["features"] == 4


def test_errors():
    X, y = data(20)
    with pytest.raises(hel.InputError, match="labels must be -1 or \\+1"):
        hel.train((X, np.arange(20)), minibatches=1)
    with pytest.raises(hel.InputError, match="method"):
        hel.train((X, y), method="sgd")
    with pytest.raises(hel.InputError, match="complex"):
        hel.train((X + 1j, y), minibatches=1)
    with pytest.raises(hel.FileError, match="nope.csv"):
        hel.train("nope.csv", minibatches=1)
    with pytest.raises(hel.InputError, match="test data has 2 features, the training data 3"):
        hel.train((X, y), test=(X[:, :2], y), minibatches=1)
    with pytest.raises(hel.InputError, match="refresh must be"):
        hel.train((X, y), minibatches=1, refresh="sometimes")
    with pytest.raises(hel.FormatError, match="not a hel model"):
        hel.Model.from_json('{"format": "other"}')


def test_a_program_that_does_not_compile_is_a_compile_error(tmp_path):
    bad = tmp_path / "bad.hel"
    bad.write_text(
        "const k = 1;\nconst m = 8;\nconst f = 2;\n"
        "input Z: enc matrix[m, f][k] range [-1, 1];\nlet beta = zeros(f);\noutput gamma;\n"
    )
    X, y = data(8)
    with pytest.raises(hel.CompileError) as e:
        hel.train((X[:, :1], y), program=bad, minibatches=1)
    assert e.value.code == "hel::check::name"
    assert "bad.hel:6" in str(e.value) and "`gamma` is not defined" in str(e.value)
