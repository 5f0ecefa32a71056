"""mathlens: train, evaluate and look inside small transformers that do mathematics."""

from .api import analyze, evaluate, train
from .run import Run, load_run

__version__ = "0.1.0"
__all__ = ["Run", "analyze", "evaluate", "load_run", "train", "__version__"]
