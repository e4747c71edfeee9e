"""The exceptions hel raises. Every message is the text the ``hel`` command line prints for the
same problem (a compile error with its source line and help, a file named with its path).

``HelError`` is the base of them all. Some are also built-in exceptions, so that ordinary
``except`` clauses and scikit-learn's checks catch them: ``InputError`` is a ``ValueError``,
``FileError`` an ``OSError``, ``ResourceError`` a ``MemoryError``.
"""

from typing import Optional

__all__ = [
    "HelError",
    "CompileError",
    "InputError",
    "FileError",
    "FormatError",
    "TrainError",
    "ResourceError",
    "NotFittedError",
]


class HelError(Exception):
    """Base class of hel's errors. ``code`` is the diagnostic's stable code
    (``hel::params::too_deep``, ...) when there is one."""

    code: Optional[str] = None


class CompileError(HelError):
    """The program does not compile: the message shows the located diagnostic."""


class InputError(HelError, ValueError):
    """A bad value from the caller: an array of the wrong shape, a bad option, bad labels."""


class FileError(HelError, OSError):
    """A file that cannot be read or written (missing, or existing without ``force=True``)."""


class FormatError(HelError, ValueError):
    """A file or object that is not what it should be: corrupt, or made for another program,
    other parameters or another key set."""


class TrainError(HelError):
    """Training failed after its data and options were accepted."""


class ResourceError(HelError, MemoryError):
    """The keys or the server's working set would need more memory than allowed; refused
    before anything was allocated."""


try:  # scikit-learn's own class when it is installed, so its checks recognise the error
    from sklearn.exceptions import NotFittedError as _SkNotFitted
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    _SkNotFitted = AttributeError  # type: ignore[misc,assignment]


class NotFittedError(HelError, _SkNotFitted):  # type: ignore[misc,valid-type]
    """An estimator used before ``fit`` (also scikit-learn's ``NotFittedError`` when
    scikit-learn is installed, else an ``AttributeError``, as scikit-learn's is)."""
