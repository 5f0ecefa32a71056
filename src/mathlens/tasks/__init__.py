"""Tasks by name: ``mathlens.tasks.get("transpose", rows=5)``.

A new task is one file with a :class:`Task` subclass plus one line in ``REGISTRY``.
"""

from __future__ import annotations

from ..errors import UserError, did_you_mean
from ..options import build_dataclass
from .arithmetic import Arithmetic
from .base import TOLERANCES, MatrixTask, Problems, Task
from .cotrain import Cotrain
from .inverse import InvertMatrix, SymInverse
from .linalg import MatrixProduct, MatrixSum, MatrixVector, Transpose
from .modular import ModularArithmetic
from .spectral import Eigenvalues, Eigenvectors, SingularValues, SingularVectors

REGISTRY: dict[str, type[Task]] = {
    "transpose": Transpose,
    "matrix_sum": MatrixSum,
    "matrix_vector": MatrixVector,
    "matrix_product": MatrixProduct,
    "eigenvalues": Eigenvalues,
    "eigenvectors": Eigenvectors,
    "invert_matrix": InvertMatrix,
    "syminverse": SymInverse,
    "singularvalues": SingularValues,
    "singularvectors": SingularVectors,
    "cotrain": Cotrain,
    "modular": ModularArithmetic,
    "arithmetic": Arithmetic,
}


def task_class(name: str) -> type[Task]:
    if name not in REGISTRY:
        raise UserError(f"task.name: unknown task {name!r}{did_you_mean(name, REGISTRY)}; "
                        f"choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]


def get(name: str, **options) -> Task:
    """Build the task ``name`` with options (see its ``Options`` dataclass).

    >>> import numpy as np
    >>> t = get("transpose", rows=3, cols=4)
    >>> t.sample(2, np.random.default_rng(0))["input"].shape
    (2, 3, 4)
    """
    cls = task_class(name)
    return cls(build_dataclass(cls.Options, options, prefix="task"))


__all__ = ["REGISTRY", "TOLERANCES", "MatrixTask", "Problems", "Task", "get", "task_class"]
