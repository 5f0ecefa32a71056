"""mathlens: train, evaluate and look inside small transformers that do mathematics."""

from .run import Run, load_run

__version__ = "0.1.0"
__all__ = ["Run", "load_run", "__version__"]
