"""hel: machine learning on CKKS-encrypted data, from Python.

The same compiler, runtime and file formats as the ``hel`` command line (``docs/python.md``)::

    prog = hel.compile("input x: enc vector[4] range [-1, 1]; let y = x * x; output y;")
    secret_key, eval_keys = hel.keygen(prog)             # client
    inputs = hel.encrypt(prog, secret_key, {"x": [0.5, -0.25, 1.0, 0.0]})
    outputs = hel.run(prog, eval_keys, inputs)           # server: no secret key
    print(hel.decrypt(prog, secret_key, outputs)["y"])   # client

and a scikit-learn-style estimator trained through the same client/server split:
:class:`EncryptedLogisticRegression`.
"""

import json
import os
import warnings as _warnings
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np

from . import _native, datasets
from ._native import (
    EncryptedInputs,
    EncryptedOutputs,
    EvalKeys,
    Model,
    Program,
    SecretKey,
)
from .errors import (
    CompileError,
    FileError,
    FormatError,
    HelError,
    InputError,
    NotFittedError,
    ResourceError,
    TrainError,
)
from .estimator import EncryptedLogisticRegression, HelWarning

__version__: str = _native.__version__

__all__ = [
    "compile",
    "load_program",
    "keygen",
    "encrypt",
    "run",
    "decrypt",
    "train",
    "plan",
    "TrainResult",
    "Program",
    "SecretKey",
    "EvalKeys",
    "EncryptedInputs",
    "EncryptedOutputs",
    "Model",
    "EncryptedLogisticRegression",
    "HelError",
    "CompileError",
    "InputError",
    "FileError",
    "FormatError",
    "TrainError",
    "ResourceError",
    "NotFittedError",
    "HelWarning",
    "datasets",
]

PathLike = Union[str, "os.PathLike[str]"]


def _looks_like_source(text: str) -> bool:
    # A path has no newline and no `;`; every .hel statement ends with one.
    return "\n" in text or ";" in text


def compile(
    source_or_path: PathLike,
    *,
    opt: int = 2,
    precision: int = 20,
    max_log_n: int = 16,
    refresh: str = "none",
    round_size: Optional[int] = None,
    **consts: float,
) -> Program:
    """Compiles a ``.hel`` program, like ``hel compile``.

    ``source_or_path`` is the source text (anything with a ``;`` or a newline) or a path to a
    ``.hel`` file. ``opt`` is the optimisation level (0, 1, 2), ``precision`` the target bits of
    precision of the outputs (10..40), ``max_log_n`` the largest ring (13..16), and keyword
    arguments override ``const`` definitions (``hel compile --set n=16`` is ``n=16``).
    ``refresh="bootstrap"`` compiles a training loop too deep for one circuit in rounds joined
    by bootstraps of its state, in one program (``hel compile --refresh bootstrap``; N = 2^16,
    :attr:`Program.bootstraps`; its :meth:`Program.keygen` also makes the bootstrapping
    keys); ``refresh="auto"`` does so only where one circuit is too deep; ``round_size`` fixes
    the minibatches per round. Raises :class:`CompileError` with the located diagnostic.
    """
    sets = []
    for name, value in consts.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise InputError(f"const {name} must be a number, not {value!r}")
        sets.append((name, float(value)))
    if isinstance(source_or_path, os.PathLike):
        return _native.compile(
            path=os.fspath(source_or_path),
            opt=opt,
            precision=precision,
            max_log_n=max_log_n,
            consts=sets,
            refresh=refresh,
            round_size=round_size,
        )
    if not isinstance(source_or_path, str):
        raise TypeError(
            f"compile() takes source text or a path, not {type(source_or_path).__name__}"
        )
    if _looks_like_source(source_or_path):
        return _native.compile(
            source=source_or_path,
            opt=opt,
            precision=precision,
            max_log_n=max_log_n,
            consts=sets,
            refresh=refresh,
            round_size=round_size,
        )
    return _native.compile(
        path=source_or_path,
        opt=opt,
        precision=precision,
        max_log_n=max_log_n,
        consts=sets,
        refresh=refresh,
        round_size=round_size,
    )


def load_program(path: PathLike) -> Program:
    """Loads a compiled program written by ``hel compile`` or :meth:`Program.save`."""
    return _native.load_program(os.fspath(path))


def keygen(
    program: Program, *, memory_limit: Optional[int] = None
) -> Tuple[SecretKey, EvalKeys]:
    """Client: a fresh secret key and the evaluation keys for ``program`` (``hel keygen``)."""
    return program.keygen(memory_limit=memory_limit)


def encrypt(
    program: Program, secret_key: SecretKey, inputs: Mapping[str, Any]
) -> EncryptedInputs:
    """Client: encrypts ``inputs`` (input name -> array-like of the declared shape; a sequence
    input ``T[k]`` stacks its k elements on a first axis) under ``secret_key``
    (``hel encrypt``)."""
    if not isinstance(inputs, Mapping):
        raise InputError(
            f"inputs must be a dict from input name to array, not {type(inputs).__name__}"
        )
    return program.encrypt(secret_key, dict(inputs))


def run(
    program: Program,
    eval_keys: EvalKeys,
    inputs: EncryptedInputs,
    *,
    threads: int = 0,
    memory_limit: Optional[int] = None,
) -> EncryptedOutputs:
    """Server: evaluates ``program`` on encrypted inputs with the evaluation keys only
    (``hel run``). ``threads=0`` uses every core."""
    return program.run(eval_keys, inputs, threads=threads, memory_limit=memory_limit)


def decrypt(
    program: Program,
    secret_key: SecretKey,
    outputs: EncryptedOutputs,
    *,
    flood_bits: Optional[int] = None,
) -> Dict[str, np.ndarray]:
    """Client: the outputs as NumPy arrays by name (``hel decrypt``). Pass ``flood_bits``
    (e.g. 30..40) before sharing results with whoever ran the computation
    (``docs/security.md``)."""
    return program.decrypt(secret_key, outputs, flood_bits=flood_bits)


class TrainResult:
    """What :func:`train` returns: the client's ``model`` and the ``report`` dict
    (``hel train --json``'s object: depth, parameters, key and upload sizes, server time,
    accuracy and AUC encrypted and in plaintext)."""

    def __init__(self, model: Model, report: Dict[str, Any]) -> None:
        self.model = model
        self.report = report

    @property
    def accuracy(self) -> float:
        """Test accuracy of the encrypted-trained model."""
        return float(self.report["accuracy"])

    @property
    def plaintext_accuracy(self) -> float:
        """Test accuracy of the same training in plaintext."""
        return float(self.report["plaintext_accuracy"])

    def __repr__(self) -> str:
        r = self.report
        return (
            f"<hel.TrainResult {r['method']} k={r['minibatches']} on {r['data']}: "
            f"accuracy {r['accuracy']:.4f} (plaintext {r['plaintext_accuracy']:.4f}), "
            f"depth {r['depth']}, server {r['server_seconds']:.2f} s>"
        )


def train(
    data: Union[str, "os.PathLike[str]", Tuple[Any, Any]] = "mnist-3v8",
    *,
    program: Optional[PathLike] = None,
    method: Optional[str] = None,
    minibatches: Optional[int] = None,
    batch_size: Optional[int] = None,
    test: Optional[Tuple[Any, Any]] = None,
    opt: int = 2,
    precision: int = 20,
    threads: int = 0,
    max_log_n: int = 16,
    round_size: Optional[int] = None,
    memory_limit: Optional[int] = None,
    fit_domain: bool = True,
    seed: int = 0,
    label_column: Optional[str] = None,
    test_fraction: Optional[float] = None,
    refresh: str = "client",
    verbose: bool = False,
) -> TrainResult:
    """``hel train`` from Python: encrypted logistic-regression training with the real
    client/server split, compared with the same training in plaintext.

    ``data`` is ``"mnist-3v8"`` (bundled), a CSV path, or ``(X, y)`` arrays with labels -1/+1
    or 0/1 (then ``test=(X_test, y_test)`` scores another set; without it the report scores
    the training rows). ``program`` is a ``.hel`` training program (default: ``hel train``'s,
    ``examples/logreg_gd.hel``) or ``method="gd"``/``"nag"`` picks a bundled one. The other
    options are ``hel train``'s flags (``refresh="bootstrap"``: the server bootstraps the
    weights between rounds, ``hel train --refresh bootstrap``; ``refresh="auto"``: whichever
    the cost model estimates faster).
    """
    model, report = _train(
        data,
        test,
        plan_only=False,
        program=program,
        method=method,
        minibatches=minibatches,
        batch_size=batch_size,
        opt=opt,
        precision=precision,
        threads=threads,
        max_log_n=max_log_n,
        round_size=round_size,
        memory_limit=memory_limit,
        fit_domain=fit_domain,
        seed=seed,
        label_column=label_column,
        test_fraction=test_fraction,
        refresh=refresh,
        verbose=verbose,
    )
    if model is None:
        raise TrainError("the training returned no model")
    return TrainResult(model, report)


def plan(
    data: Union[str, "os.PathLike[str]", Tuple[Any, Any]] = "mnist-3v8",
    **options: Any,
) -> Dict[str, Any]:
    """``hel train --plan-only`` from Python: what :func:`train` with the same arguments
    would run, without running it. The plaintext model is trained and every circuit of the
    plan compiled; no key is made, nothing is encrypted, the server does not run. Returns the
    plan's dict (``hel train --plan-only --json``'s object): the rounds and why, ``refresh``
    (the chosen way's estimate of server time, upload, download and client exchanges, and with
    ``refresh="bootstrap"`` or ``"auto"`` the other way's), each circuit's depth and ring,
    the bootstrapping chain when the plan bootstraps, and the plaintext model's accuracy.
    Takes :func:`train`'s keyword options."""
    test = options.pop("test", None)
    return _train(data, test, plan_only=True, **options)[1]


def _train(
    data: Union[str, "os.PathLike[str]", Tuple[Any, Any]],
    test: Optional[Tuple[Any, Any]],
    *,
    plan_only: bool,
    **options: Any,
) -> Tuple[Optional[Model], Dict[str, Any]]:
    """:func:`train` and :func:`plan`: the native call on a data name, a path or arrays,
    with the warnings raised as :class:`HelWarning`."""
    kwargs: Dict[str, Any] = dict(options, plan_only=plan_only)
    if kwargs.get("program") is not None:
        kwargs["program"] = os.fspath(kwargs["program"])
    if isinstance(data, tuple):
        if len(data) != 2:
            raise InputError("data must be (X, y)")
        x, y = _xy(*data)
        if test is not None:
            kwargs["x_test"], kwargs["y_test"] = _xy(*test)
        model, report, notes = _native.train(None, x, y, **kwargs)
    else:
        if test is not None:
            raise InputError("test=(X, y) applies to array data")
        model, report, notes = _native.train(os.fspath(data), **kwargs)
    for note in notes:
        _warnings.warn(note, HelWarning, stacklevel=3)
    return model, json.loads(report)


def _xy(x: Any, y: Any) -> Tuple[np.ndarray, np.ndarray]:
    """Arrays for :func:`train`: float64 features, labels mapped to -1/+1."""
    if np.iscomplexobj(x) or np.iscomplexobj(y):
        raise InputError("X and y must be real numbers, not complex")
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.ndim != 2:
        raise InputError(f"X must be 2-dimensional, got shape {x.shape}")
    if np.isin(y, (0.0, 1.0)).all():
        y = np.where(y > 0, 1.0, -1.0)
    return x, np.ascontiguousarray(y)
