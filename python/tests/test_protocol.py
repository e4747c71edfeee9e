"""compile -> keygen -> encrypt -> run -> decrypt from Python, against plaintext NumPy
references within the compiler's predicted error bound, with real 128-bit parameters."""

import os
import stat

import numpy as np
import pytest

import hel
from conftest import EXAMPLES

SQUARE = "input x: enc vector[8] range [-1, 1]; let y = 3 * x * x - 1; output y;"


def roundtrip(prog, inputs):
    sk, ek = hel.keygen(prog)
    enc = hel.encrypt(prog, sk, inputs)
    out = hel.run(prog, ek, enc, threads=1)
    return hel.decrypt(prog, sk, out), (sk, ek, enc, out)


def bound(prog, name):
    return next(o["bound"] for o in prog.outputs if o["name"] == name)


def test_square_matches_numpy_within_the_predicted_bound():
    prog = hel.compile(SQUARE)
    x = np.linspace(-1, 1, 8)
    res, (_, ek, enc, out) = roundtrip(prog, {"x": x})
    y = res["y"]
    assert isinstance(y, np.ndarray) and y.dtype == np.float64 and y.shape == (8,)
    b = bound(prog, "y")
    assert 0 < b < 1e-3
    np.testing.assert_allclose(y, 3 * x * x - 1, rtol=0, atol=b)
    # The report's sizes are the objects' real sizes (up to the files' headers).
    assert prog.depth >= 1 and prog.log_n >= 13 and prog.log_q > 0
    assert prog.upload_bytes <= enc.nbytes <= 1.01 * prog.upload_bytes
    assert prog.eval_key_bytes <= ek.nbytes <= 1.01 * prog.eval_key_bytes
    assert out.stats["seconds"] >= 0 and out.stats["threads"] == 1
    assert prog.report["depth"] == prog.depth
    assert prog.report["params"]["log_n"] == prog.log_n


def test_plain_and_encrypted_inputs_with_consts():
    # Public features X, encrypted labels y: k steps of gradient descent (the example file).
    k, m, f, alpha = 2, 8, 3, 0.5
    prog = hel.compile(EXAMPLES / "public_features.hel", k=k, m=m, f=f)
    assert [(i["name"], i["encrypted"]) for i in prog.inputs] == [("X", False), ("y", True)]
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(m, f))
    y = rng.uniform(-2, 2, size=m)
    res, _ = roundtrip(prog, {"X": X, "y": y})
    beta = np.zeros(f)
    for _ in range(k):
        beta = beta - alpha / m * (X.T @ (X @ beta - y))
    np.testing.assert_allclose(res["beta"], beta, rtol=0, atol=bound(prog, "beta"))


def test_sequence_input_stacks_its_elements_on_the_first_axis():
    k, m, f = 2, 8, 3
    prog = hel.compile(EXAMPLES / "logreg_gd.hel", k=k, m=m, f=f)
    assert prog.inputs[0]["sequence"] == k and prog.inputs[0]["shape"] == [m, f]
    rng = np.random.default_rng(2)
    Z = rng.uniform(-1, 1, size=(k, m, f))
    res, _ = roundtrip(prog, {"Z": Z})
    beta = np.zeros(f)
    for i in range(k):
        t = Z[i] @ beta
        beta = beta + 1.0 / m * (Z[i].T @ (0.5 - 0.0843 * t + 0.0002 * t**3))
    np.testing.assert_allclose(res["beta"], beta, rtol=0, atol=bound(prog, "beta"))


def test_compile_error_carries_the_located_diagnostic():
    with pytest.raises(hel.CompileError) as e:
        hel.compile("input x: enc vector[4] range [-1, 1];\nlet y = z * x;\noutput y;")
    assert e.value.code == "hel::check::name"
    text = str(e.value)
    assert "`z` is not defined" in text and "2:9" in text
    assert isinstance(e.value, hel.HelError)


def test_a_missing_file_is_a_file_error_naming_it(tmp_path):
    missing = tmp_path / "nope.hel"
    with pytest.raises(hel.FileError, match="nope.hel"):
        hel.compile(missing)
    with pytest.raises(OSError, match="nope.helc"):  # FileError is an OSError
        hel.load_program(tmp_path / "nope.helc")


def test_bad_options_are_input_errors():
    with pytest.raises(hel.InputError, match="precision"):
        hel.compile(SQUARE, precision=5)
    with pytest.raises(hel.InputError, match="opt"):
        hel.compile(SQUARE, opt=3)
    with pytest.raises(hel.InputError, match="must be a number"):
        hel.compile(EXAMPLES / "poly.hel", n="16")
    with pytest.raises(TypeError):
        hel.compile(42)


def test_bad_inputs_name_the_input_and_its_shape():
    prog = hel.compile(SQUARE)
    sk, _ = hel.keygen(prog)
    with pytest.raises(hel.InputError, match=r"`x` \(enc vector\[8\]\).*shape \[8\].*\[3\]"):
        hel.encrypt(prog, sk, {"x": [1.0, 2.0, 3.0]})
    with pytest.raises(hel.InputError, match="missing input `x`"):
        hel.encrypt(prog, sk, {})
    with pytest.raises(hel.InputError, match="no input `w`"):
        hel.encrypt(prog, sk, {"x": np.zeros(8), "w": np.zeros(8)})
    with pytest.raises(hel.InputError, match="outside the declared range"):
        hel.encrypt(prog, sk, {"x": np.full(8, 2.0)})
    with pytest.raises(hel.InputError, match="finite"):
        hel.encrypt(prog, sk, {"x": np.full(8, np.nan)})
    with pytest.raises(hel.InputError, match="not an array of numbers"):
        hel.encrypt(prog, sk, {"x": ["a"] * 8})
    # Complex values would lose their imaginary parts in the conversion: refused.
    with pytest.raises(hel.InputError, match="complex"):
        hel.encrypt(prog, sk, {"x": np.zeros(8) + 0.5j})
    with pytest.raises(ValueError):  # InputError is a ValueError
        hel.encrypt(prog, sk, {"x": np.zeros((2, 4))})


def test_objects_of_another_key_set_or_program_are_refused():
    prog = hel.compile(SQUARE)
    sk1, ek1 = hel.keygen(prog)
    sk2, ek2 = hel.keygen(prog)
    assert sk1.key_set != sk2.key_set and ek1.key_set == sk1.key_set
    enc = hel.encrypt(prog, sk1, {"x": np.zeros(8)})
    with pytest.raises(hel.FormatError, match="key"):
        hel.run(prog, ek2, enc)
    out = hel.run(prog, ek1, enc)
    with pytest.raises(hel.FormatError, match="key"):
        hel.decrypt(prog, sk2, out)
    other = hel.compile(SQUARE.replace("3 *", "2 *"))
    with pytest.raises(hel.FormatError, match="another program"):
        hel.decrypt(other, sk1, out)


def test_save_and_load_every_object(tmp_path):
    prog = hel.compile(SQUARE)
    x = np.linspace(-1, 1, 8)
    _, (sk, ek, enc, out) = roundtrip(prog, {"x": x})
    prog.save(tmp_path / "p.helc")
    prog.save(tmp_path / "p.ron", format="ron")
    sk.save(tmp_path / "secret.key")
    ek.save(tmp_path / "eval.keys")
    enc.save(tmp_path / "in.hct")
    out.save(tmp_path / "out.hct")
    # The secret key is owner-only, like `hel keygen`'s.
    assert stat.S_IMODE(os.stat(tmp_path / "secret.key").st_mode) == 0o600
    for name in ("p.helc", "p.ron"):
        p2 = hel.load_program(tmp_path / name)
        assert p2.program_hash == prog.program_hash and p2.depth == prog.depth
    p2 = hel.load_program(tmp_path / "p.helc")
    sk2 = hel.SecretKey.load(p2, tmp_path / "secret.key")
    ek2 = hel.EvalKeys.load(p2, tmp_path / "eval.keys")
    enc2 = hel.EncryptedInputs.load(p2, tmp_path / "in.hct")
    assert sk2.key_set == sk.key_set == ek2.key_set == enc2.key_set
    y = hel.decrypt(p2, sk2, hel.run(p2, ek2, enc2))["y"]
    np.testing.assert_allclose(y, 3 * x * x - 1, rtol=0, atol=bound(prog, "y"))
    out2 = hel.EncryptedOutputs.load(p2, tmp_path / "out.hct")
    assert out2.stats is None
    np.testing.assert_allclose(hel.decrypt(p2, sk2, out2)["y"], 3 * x * x - 1, atol=bound(prog, "y"))


def test_nothing_is_overwritten_without_force(tmp_path):
    prog = hel.compile(SQUARE)
    path = tmp_path / "p.helc"
    path.write_bytes(b"mine")
    with pytest.raises(hel.FileError, match="exists"):
        prog.save(path)
    assert path.read_bytes() == b"mine"
    prog.save(path, force=True)
    assert hel.load_program(path).program_hash == prog.program_hash


def test_a_corrupt_file_is_a_format_error_naming_it(tmp_path):
    prog = hel.compile(SQUARE)
    sk, _ = hel.keygen(prog)
    sk.save(tmp_path / "secret.key")
    data = bytearray((tmp_path / "secret.key").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "bad.key").write_bytes(bytes(data))
    with pytest.raises(hel.FormatError, match="bad.key"):
        hel.SecretKey.load(prog, tmp_path / "bad.key")
    (tmp_path / "junk.helc").write_bytes(b"\x00" * 64)
    with pytest.raises(hel.FormatError, match="junk.helc"):
        hel.load_program(tmp_path / "junk.helc")


def test_bootstrapping_carries_matrices_and_state_started_anywhere():
    """``compile(refresh="bootstrap")`` on loops beyond NAG's shape: one-vs-rest weights (a
    matrix, refreshed over every slot) and a power iteration started from a public input."""
    ovr = hel.compile(EXAMPLES / "ovr_logreg.hel", refresh="bootstrap", round_size=1, k=3)
    assert ovr.report["round_sizes"] == [1, 1, 1] and ovr.bootstraps == 2
    assert ovr.report["chain"]["log_slots"] == ovr.log_n - 1
    pca = hel.compile(EXAMPLES / "pca_power.hel", refresh="bootstrap", round_size=2, k=4)
    assert pca.report["round_sizes"] == [2, 2] and pca.bootstraps == 1
    assert [o["name"] for o in pca.report["outputs"]] == ["v"]


def test_bootstrapping_programs_compile_and_guard_their_keys(tmp_path):
    """``compile(refresh="bootstrap")``: a training loop in rounds joined by bootstraps, one
    program (N = 2^16); its keys are gigabytes, so only their guards run here (the encrypted
    run of such a schedule is tested at a small ring in Rust: tests/refresh_bootstrap.rs)."""
    nag = EXAMPLES / "logreg_nag.hel"
    prog = hel.compile(nag, refresh="bootstrap", round_size=2, k=6, m=16, f=8)
    r = prog.report
    assert r["refresh"] == "bootstrap" and r["round_sizes"] == [2, 2, 2]
    # NAG's weights and momentum share one bootstrap per refresh.
    assert prog.bootstraps == r["bootstraps"] == 2
    assert prog.log_n == 16 and prog.depth <= r["chain"]["program_levels"]
    assert [o["name"] for o in r["outputs"]] == ["v"]
    # Saved and loaded like any program, the bootstraps with it.
    prog.save(tmp_path / "nag.helc")
    assert hel.load_program(tmp_path / "nag.helc").bootstraps == 2
    # auto: one circuit where the program fits one.
    assert hel.compile(nag, refresh="auto", k=3, m=16, f=8).bootstraps == 0
    with pytest.raises(hel.InputError, match="refresh"):
        hel.compile(nag, refresh="sometimes", k=3, m=16, f=8)
    with pytest.raises(hel.InputError, match="round_size"):
        hel.compile(nag, round_size=2, k=3, m=16, f=8)
    # Key generation counts the bootstrapping keys: refused before anything is generated.
    with pytest.raises(hel.ResourceError, match="key generation"):
        prog.keygen(memory_limit=1 << 30)
