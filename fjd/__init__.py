"""fjd: file-based job distribution over a folder that every node can see."""
__version__ = "0.3.0"
__all__ = ["submit", "params", "Executor", "SubmitError", "QueueError", "__version__"]

# fjd.submit(...) queues jobs from Python (see fjd/submit.py); the module itself stays
# importable as ``from fjd.submit import ...``.
from .context import params  # noqa: E402,F401
from .errors import QueueError  # noqa: E402,F401
from .submit import SubmitError, submit  # noqa: E402,F401


def __getattr__(name):
    """fjd.Executor, loaded when first used (import fjd stays cheap)."""
    if name == "Executor":
        from .executor.executor import Executor  # (lazily: see the docstring)
        return Executor
    raise AttributeError("module 'fjd' has no attribute %r" % name)
