"""Python and the `hel` command line read each other's files: a program compiled in Python is
keyed, encrypted, run and decrypted by the CLI, and the CLI's files load in Python; `hel.train`
gives `hel train`'s numbers."""

import json
import subprocess

import numpy as np
import pytest

import hel
from conftest import EXAMPLES

SQUARE = "input x: enc vector[8] range [-1, 1]; let y = 3 * x * x - 1; output y;"


def cli(binary, *args):
    r = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, f"hel {' '.join(map(str, args))}: {r.stderr}"
    return r.stdout


def test_python_files_run_through_the_cli(hel_cli, tmp_path):
    prog = hel.compile(SQUARE)
    prog.save(tmp_path / "p.helc")
    sk, ek = hel.keygen(prog)
    sk.save(tmp_path / "secret.key")
    ek.save(tmp_path / "eval.keys")
    x = np.linspace(-1, 1, 8)
    hel.encrypt(prog, sk, {"x": x}).save(tmp_path / "in.hct")
    cli(hel_cli, "run", tmp_path / "p.helc", "--eval-keys", tmp_path / "eval.keys",
        "--inputs", tmp_path / "in.hct", "-o", tmp_path / "out.hct")
    text = cli(hel_cli, "decrypt", tmp_path / "p.helc", "--secret-key",
               tmp_path / "secret.key", tmp_path / "out.hct", "--format", "json")
    y = np.array(json.loads(text)["outputs"]["y"])
    np.testing.assert_allclose(y, 3 * x * x - 1, rtol=0, atol=prog.outputs[0]["bound"])


def test_cli_files_run_through_python(hel_cli, tmp_path):
    src = tmp_path / "sq.hel"
    src.write_text(SQUARE)
    cli(hel_cli, "compile", src, "-o", tmp_path / "p.helc")
    cli(hel_cli, "keygen", tmp_path / "p.helc", "--out", tmp_path / "keys")
    x = np.linspace(-1, 1, 8)
    (tmp_path / "x.csv").write_text("\n".join(repr(float(v)) for v in x) + "\n")
    cli(hel_cli, "encrypt", tmp_path / "p.helc", "--keys", tmp_path / "keys",
        "--input", f"x={tmp_path / 'x.csv'}", "-o", tmp_path / "in.hct")
    prog = hel.load_program(tmp_path / "p.helc")
    # The same program compiled in Python has the same hash: compilation is deterministic.
    assert hel.compile(src).program_hash == prog.program_hash
    ek = hel.EvalKeys.load(prog, tmp_path / "keys" / "eval.keys")
    enc = hel.EncryptedInputs.load(prog, tmp_path / "in.hct")
    out = hel.run(prog, ek, enc)
    sk = hel.SecretKey.load(prog, tmp_path / "keys" / "secret.key")
    y = hel.decrypt(prog, sk, out)["y"]
    np.testing.assert_allclose(y, 3 * x * x - 1, rtol=0, atol=prog.outputs[0]["bound"])


def test_train_gives_the_cli_numbers_on_mnist(hel_cli):
    # A small run of `hel train` on the bundled MNIST 3-vs-8 and the same from Python: the
    # same data, program and defaults, so the same plaintext model and test accuracy (the
    # encrypted model equals it within the noise, which the accuracy does not see).
    args = dict(minibatches=2, batch_size=64)
    out = cli(hel_cli, "train", "--minibatches", 2, "--batch-size", 64, "--json")
    cli_report = json.loads(out)
    result = hel.train("mnist-3v8", **args)
    r = result.report
    for key in ("plaintext_accuracy", "plaintext_auc", "depth", "log_n", "features",
                "test_rows", "train_rows", "method"):
        assert r[key] == cli_report[key], key
    assert r["accuracy"] == pytest.approx(cli_report["accuracy"], abs=1e-3)
    assert result.accuracy == r["accuracy"] and r["data"] == "MNIST 3-vs-8"
    assert r["max_weight_error"] <= r["predicted_error_bound"]
