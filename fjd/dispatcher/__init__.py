"""The dispatcher: hands each queued job to an idle worker with one atomic rename.

Each cycle it lists ``workerqueue/`` (one file per idle worker), takes the next complete job
file from ``jobqueue/`` in name order and renames it into that worker's inbox
``jobpod/<worker>/``, then parks the worker's announcement there. An array job is handed
out in ranges of tasks: a range is split off the array file (a hard link named for the
range, see tickets.py) and renamed into the inbox the same way. It never deletes or
overwrites a job: anything in ``jobqueue/`` that is not a job file goes to ``failed/`` with
its reason. Once a second it renews its lock, buries workers that stopped beating
(burial.py) and merges the finished ranges of arrays (completion.py). When workers idle
with nothing queued, a worker that holds a range of tasks it has not started is asked to
give them back (sharing.py).

The modules, one per owner of state: daemon.py (the Dispatcher and its loop), listing.py,
batching.py, ranges.py, handout.py, rejects.py, workers.py, burial.py, sharing.py,
keyed_journal.py.
"""
from .daemon import Dispatcher

__all__ = ["Dispatcher"]
