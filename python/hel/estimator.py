"""``EncryptedLogisticRegression``: a scikit-learn-style classifier whose ``fit`` trains on
encrypted data through the real client/server split (``hel train``'s pipeline, the library's
``hel::train::train``), and whose predictions use the decrypted model on the client.

scikit-learn is optional: with it the estimator is a ``BaseEstimator`` and ``ClassifierMixin``
(``clone``, ``cross_val_score``, pipelines, ``score``); without it the same methods are
provided here.
"""

import inspect
import json
import warnings
from typing import Any, Dict, List, Optional

import numpy as np

from . import _native
from .errors import InputError, NotFittedError, TrainError

__all__ = ["EncryptedLogisticRegression", "HelWarning"]


class HelWarning(UserWarning):
    """Something hel's trainer noticed and worked around (e.g. data outside the sigmoid
    polynomial's domain)."""


try:
    from sklearn.base import BaseEstimator as _Base
    from sklearn.base import ClassifierMixin as _Mixin
except ImportError:  # scikit-learn is optional

    class _Base:  # type: ignore[no-redef]
        """``get_params``/``set_params`` as scikit-learn defines them."""

        @classmethod
        def _get_param_names(cls) -> List[str]:
            sig = inspect.signature(cls.__init__)
            return sorted(p for p in sig.parameters if p != "self")

        def get_params(self, deep: bool = True) -> Dict[str, Any]:
            return {k: getattr(self, k) for k in self._get_param_names()}

        def set_params(self, **params: Any) -> "_Base":
            valid = self._get_param_names()
            for k, v in params.items():
                if k not in valid:
                    raise ValueError(
                        f"Invalid parameter {k!r} for estimator {type(self).__name__}. "
                        f"Valid parameters are: {valid!r}."
                    )
                setattr(self, k, v)
            return self

        def __repr__(self) -> str:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"

    class _Mixin:  # type: ignore[no-redef]
        """``score`` as scikit-learn's ``ClassifierMixin`` defines it (mean accuracy)."""

        _estimator_type = "classifier"

        def score(self, X: Any, y: Any, sample_weight: Optional[Any] = None) -> float:
            pred = self.predict(X)  # type: ignore[attr-defined]
            right = (pred == np.asarray(y)).astype(np.float64)
            return float(np.average(right, weights=sample_weight))


def _check_x(X: Any, what: str = "X") -> np.ndarray:
    """X as a C-contiguous float64 matrix, with scikit-learn's messages for what it refuses."""
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(
            "Sparse data was passed, but EncryptedLogisticRegression needs dense data: "
            "use X.toarray()."
        )
    if np.iscomplexobj(X):
        raise ValueError("Complex data not supported")
    try:
        x = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must hold numbers: {e}") from e
    if x.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {x.ndim}D array instead (shape {x.shape}). Reshape your "
            "data either using array.reshape(-1, 1) if your data has a single feature or "
            "array.reshape(1, -1) if it contains a single sample."
        )
    if x.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={x.shape}) while a minimum of 1 is required."
        )
    if x.shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={x.shape}) while a minimum of 1 is required."
        )
    if not np.isfinite(x).all():
        kind = "NaN" if np.isnan(x).any() else "infinity"
        raise ValueError(f"Input {what} contains {kind}.")
    return np.ascontiguousarray(x)


class EncryptedLogisticRegression(_Mixin, _Base):  # type: ignore[misc,valid-type]
    """Binary logistic regression trained on encrypted data.

    ``fit`` runs ``hel train``'s pipeline on the arrays: the client scales the features (the
    scaling is kept with the model), compiles the training program, generates keys, encrypts
    the minibatches; the server runs the circuit with the evaluation keys only; the client
    decrypts the weights. A plaintext model trained identically is the yardstick, and
    ``fit_report_`` holds the comparison with depth, parameters, server time and bytes.

    Parameters are ``hel train``'s: ``method`` ("nag" or "gd", the bundled programs),
    ``minibatches`` (K iterations; None: ``hel train``'s default), ``batch_size`` (m rows per
    minibatch; None: every training row up to 1024), ``opt`` (0..2), ``precision`` (bits),
    ``threads`` (0: all cores), ``max_log_n`` (largest ring; deeper K trains in rounds),
    ``fit_domain`` (keep the plaintext run inside the sigmoid polynomial's domain),
    ``random_state`` (the shuffle before batching) and ``verbose`` (progress on stderr).

    Attributes after ``fit``: ``classes_``, ``n_features_in_``, ``model_`` (a
    :class:`hel.Model`), ``fit_report_`` (dict; its accuracies are on the training rows).
    """

    def __init__(
        self,
        method: str = "nag",
        minibatches: Optional[int] = None,
        batch_size: Optional[int] = None,
        opt: int = 2,
        precision: int = 20,
        threads: int = 0,
        max_log_n: int = 16,
        fit_domain: bool = True,
        random_state: int = 0,
        verbose: bool = False,
    ) -> None:
        self.method = method
        self.minibatches = minibatches
        self.batch_size = batch_size
        self.opt = opt
        self.precision = precision
        self.threads = threads
        self.max_log_n = max_log_n
        self.fit_domain = fit_domain
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X: Any, y: Any) -> "EncryptedLogisticRegression":
        """Trains on encrypted ``X`` (n_samples x n_features) and ``y`` (two classes)."""
        x = _check_x(X)
        if y is None:
            raise ValueError(
                "EncryptedLogisticRegression requires y to be passed, but the target y is None."
            )
        yv = np.asarray(y)
        if yv.ndim == 2 and yv.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; it is raveled.",
                HelWarning,
                stacklevel=2,
            )
            yv = yv.ravel()
        if yv.ndim != 1:
            raise ValueError(f"y must be 1-dimensional, got shape {yv.shape}")
        if yv.shape[0] != x.shape[0]:
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: "
                f"[{x.shape[0]}, {yv.shape[0]}]"
            )
        if yv.dtype.kind == "f" and not np.isfinite(yv).all():
            raise ValueError("Input y contains NaN or infinity.")
        classes = np.unique(yv)
        if len(classes) != 2:
            raise ValueError(
                "EncryptedLogisticRegression is a binary classifier: y needs exactly 2 "
                f"classes, it has {len(classes)} class{'' if len(classes) == 1 else 'es'}: "
                f"{classes[:5].tolist()}"
            )
        if self.method not in ("nag", "gd"):
            raise InputError(f'method must be "nag" or "gd", not {self.method!r}')
        y_pm = np.where(yv == classes[1], 1.0, -1.0)
        model, report, notes = _native.train(
            None,
            x,
            y_pm,
            method=self.method,
            minibatches=self.minibatches,
            batch_size=self.batch_size,
            opt=self.opt,
            precision=self.precision,
            threads=self.threads,
            max_log_n=self.max_log_n,
            fit_domain=self.fit_domain,
            seed=int(self.random_state or 0),
            verbose=self.verbose,
        )
        if model is None:
            raise TrainError("the training returned no model")
        for note in notes:
            warnings.warn(note, HelWarning, stacklevel=2)
        self.classes_ = classes
        self.n_features_in_ = x.shape[1]
        self.model_ = model
        self.fit_report_: Dict[str, Any] = json.loads(report)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def decision_function(self, X: Any) -> np.ndarray:
        """The model's score per row: positive means ``classes_[1]``."""
        self._check_fitted()
        x = _check_x(X)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {x.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return np.asarray(self.model_.decision_function(x))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities of ``classes_[0]`` and ``classes_[1]`` per row (n_samples x 2)."""
        s = self.decision_function(X)
        p = 1.0 / (1.0 + np.exp(-np.clip(s, -500.0, 500.0)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """The predicted class per row (values from ``classes_``)."""
        s = self.decision_function(X)
        return self.classes_[(s > 0).astype(np.intp)]

    def __sklearn_tags__(self) -> Any:  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.classifier_tags.multi_class = False
        tags.input_tags.sparse = False
        return tags

    def _more_tags(self) -> Dict[str, Any]:  # scikit-learn < 1.6
        return {"binary_only": True}
