"""Type stubs of the Rust extension ``hel._native`` (python/src/). Use the ``hel`` package;
its functions wrap these."""

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union, final

import numpy as np
import numpy.typing as npt

__version__: str
__all__ = [
    "__version__",
    "Program",
    "SecretKey",
    "EvalKeys",
    "EncryptedInputs",
    "EncryptedOutputs",
    "Model",
    "compile",
    "load_program",
    "train",
    "mnist_3v8",
]

_Path = Union[str, "os.PathLike[str]"]

@final
class Program:
    """A compiled program: the schedule client and server share, and its report."""

    @property
    def name(self) -> str: ...
    @property
    def program_hash(self) -> str: ...
    @property
    def depth(self) -> int: ...
    @property
    def bootstraps(self) -> int: ...
    @property
    def log_n(self) -> int: ...
    @property
    def log_q(self) -> int: ...
    @property
    def log_scale(self) -> int: ...
    @property
    def rotation_keys(self) -> int: ...
    @property
    def input_ciphertexts(self) -> int: ...
    @property
    def eval_key_bytes(self) -> int: ...
    @property
    def upload_bytes(self) -> int: ...
    @property
    def report(self) -> Dict[str, Any]: ...
    @property
    def inputs(self) -> List[Dict[str, Any]]: ...
    @property
    def outputs(self) -> List[Dict[str, Any]]: ...
    def save(self, path: _Path, *, format: str = "binary", force: bool = False) -> None: ...
    def keygen(self, *, memory_limit: Optional[int] = None) -> Tuple[SecretKey, EvalKeys]: ...
    def encrypt(self, secret_key: SecretKey, inputs: Dict[str, Any]) -> EncryptedInputs: ...
    def run(
        self,
        eval_keys: EvalKeys,
        inputs: EncryptedInputs,
        *,
        threads: int = 0,
        memory_limit: Optional[int] = None,
    ) -> EncryptedOutputs: ...
    def decrypt(
        self,
        secret_key: SecretKey,
        outputs: EncryptedOutputs,
        *,
        flood_bits: Optional[int] = None,
    ) -> Dict[str, npt.NDArray[np.float64]]: ...

@final
class SecretKey:
    """The client's secret key (never sent to the server)."""

    @staticmethod
    def load(program: Program, path: _Path) -> SecretKey: ...
    def save(self, path: _Path, *, force: bool = False) -> None: ...
    @property
    def key_set(self) -> str: ...

@final
class EvalKeys:
    """The public evaluation keys the server needs."""

    @staticmethod
    def load(
        program: Program, path: _Path, *, bootstrap_keys: Optional[_Path] = None
    ) -> EvalKeys: ...
    def save(
        self, path: _Path, *, force: bool = False, bootstrap_keys: Optional[_Path] = None
    ) -> None: ...
    @property
    def key_set(self) -> str: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def bootstrap_nbytes(self) -> Optional[int]: ...

@final
class EncryptedInputs:
    """The client's encrypted upload."""

    @staticmethod
    def load(program: Program, path: _Path) -> EncryptedInputs: ...
    def save(self, path: _Path, *, force: bool = False) -> None: ...
    @property
    def key_set(self) -> str: ...
    @property
    def nbytes(self) -> int: ...

@final
class EncryptedOutputs:
    """The server's encrypted result."""

    @staticmethod
    def load(program: Program, path: _Path) -> EncryptedOutputs: ...
    def save(self, path: _Path, *, force: bool = False) -> None: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def stats(self) -> Optional[Dict[str, Any]]: ...

@final
class Model:
    """A trained logistic-regression model with the client's feature scaling."""

    def decision_function(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    @property
    def weights(self) -> npt.NDArray[np.float64]: ...
    @property
    def plaintext_weights(self) -> npt.NDArray[np.float64]: ...
    @property
    def method(self) -> str: ...
    def to_json(self) -> str: ...
    @staticmethod
    def from_json(text: str) -> Model: ...

def compile(
    source: Optional[str] = None,
    path: Optional[_Path] = None,
    *,
    opt: int = 2,
    precision: int = 20,
    max_log_n: int = 16,
    consts: Sequence[Tuple[str, float]] = ...,
    refresh: str = "none",
    round_size: Optional[int] = None,
) -> Program: ...
def load_program(path: _Path) -> Program: ...
def train(
    data: Optional[str] = None,
    x: Optional[npt.NDArray[np.float64]] = None,
    y: Optional[npt.NDArray[np.float64]] = None,
    *,
    x_test: Optional[npt.NDArray[np.float64]] = None,
    y_test: Optional[npt.NDArray[np.float64]] = None,
    program: Optional[_Path] = None,
    method: Optional[str] = None,
    minibatches: Optional[int] = None,
    batch_size: Optional[int] = None,
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
    plan_only: bool = False,
) -> Tuple[Optional[Model], str, List[str]]: ...
def mnist_3v8() -> Tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]: ...
