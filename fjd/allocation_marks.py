"""That a worker of an elastic allocation came up (`fjd workers auto`, recruit/auto.py):
the allocation's batch script names a mark file in $FJD_REGISTERED_MARK, and each of its
workers makes it once it has registered. An allocation that ends without its mark never had
a worker: three in a row stop the controller from submitting more (a broken Python, a
queue root the nodes do not see)."""
import os

ENV = "FJD_REGISTERED_MARK"


def mark_registered():
    """Make the mark this worker's allocation asked for (at most once per process; its
    jobs do not inherit the variable)."""
    path = os.environ.pop(ENV, None)
    if not path:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    except OSError:
        pass  # (the controller then counts the allocation as one without a worker)
