"""Data sets bundled with hel (compiled into the extension, no download)."""

from typing import Tuple

import numpy as np

from . import _native

__all__ = ["mnist_3v8"]


def mnist_3v8() -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The MNIST 3-vs-8 set ``hel train`` uses by default, in file order:
    ``(X_train, y_train, X_test, y_test)`` with raw pixels (0..255, 196 features) and labels
    1 (digit 3) and 0 (digit 8)."""
    x_train, y_train, x_test, y_test = _native.mnist_3v8()
    return (
        x_train,
        (y_train > 0).astype(np.int64),
        x_test,
        (y_test > 0).astype(np.int64),
    )
