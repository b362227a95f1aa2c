"""fjd: file-based job distribution over a folder that every node can see."""
__version__ = "0.3.0"
__all__ = ["submit", "params", "SubmitError", "QueueError", "__version__"]

# fjd.submit(...) queues jobs from Python (see fjd/submit.py); the module itself stays
# importable as ``from fjd.submit import ...``.
from .context import params  # noqa: E402,F401
from .errors import QueueError  # noqa: E402,F401
from .submit import SubmitError, submit  # noqa: E402,F401
