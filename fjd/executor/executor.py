"""fjd.Executor: a concurrent.futures.Executor whose calls are fjd jobs (docs/python.md,
DESIGN.md "Python calls").

    with fjd.Executor(root="q", workers=2) as ex:
        assert ex.submit(pow, 2, 10).result() == 1024
        squares = list(ex.map(square, range(100000)))

Each submitted call is one job, each map one items file and a few arrays; the workers run
them in a long-lived call runner and append the outcomes to one results file each in the
executor's folder, which the collector thread reads back by offset.
"""
import atexit
import concurrent.futures
import logging
import threading
import time

from ..control import Cancel, queued_matches
from ..jobfile import CONTROL_KEYS
from . import frames
from .collector import Collector
from .daemons import Daemons
from .lost import LostCalls
from .mapping import MapRun
from .payload import CallFailed, RemoteTraceback, UnsafeFile, pack, unpack_outcome
from .queueing import Folder, label_of

__all__ = ["Executor", "CallFailed", "RemoteTraceback", "UnsafeFile"]

log = logging.getLogger("fjd.executor")

# [control] keys that are the executor's own business (the rest go on every call's job)
NOT_PER_CALL = ("executable", "tasks", "repeat", "jobfile", "python", "output", "logfile",
                "workdir", "after", "after_finished", "after_each")


class CallFuture(concurrent.futures.Future):
    """A standard Future whose cancel() takes its job out of the queue when it still
    waits there (False once a worker has it, as for a running call)."""

    def __init__(self, executor):
        super().__init__()
        self.executor = executor
        self.queue_name = None
        self.queue_offset = None  # (its payload's offset: its key among the pending)

    def cancel(self):
        if self.done():
            return super().cancel()
        if self.queue_name is None or not self.executor.cancel_call(self):
            return False
        cancelled = super().cancel()
        if cancelled:
            self.set_running_or_notify_cancel()  # (wait() and as_completed count it done)
        return cancelled


def checked_control(control):
    """The per-call [control] keys as text; TypeError for a key that is not one."""
    checked = {}
    for key, value in control.items():
        if key not in CONTROL_KEYS or key in NOT_PER_CALL:
            raise TypeError("fjd.Executor() got an unexpected keyword argument %r (per-call "
                            "job options: timeout, retries, priority)" % key)
        if value is not None:
            checked[key] = str(value)
    return checked


class Executor(concurrent.futures.Executor):
    """Runs Python calls on the workers of a queue root (see the module's docstring)."""

    def __init__(self, root=None, workers=None, **control):
        self.folder = Folder(root, checked_control(control))
        self.layout = self.folder.layout
        self.lock = threading.Lock()
        self.pending = {}  # payload offset -> CallFuture
        self.maps = {}  # map number -> MapRun
        self.map_count = 0
        self.closed = False
        self.canceller = None
        self.daemons = None
        self.collector = Collector(self.folder.path, self.layout.shared, self.folder.uids,
                                   self.deliver, self.on_problem, self.busy)
        self.collector.lost = LostCalls(self)
        self.collector.start()
        if workers:
            try:
                self.daemons = Daemons(self.layout, int(workers))
            except BaseException:
                self.collector.stop()
                raise
        atexit.register(self.shutdown)  # (daemons never outlive a program that forgot it)

    # -- submitting -----------------------------------------------------------------------

    def submit(self, fn, *args, **kwargs):
        data = pack((fn, args, kwargs), "the call of %s" % label_of(fn))  # (raises here)
        with self.lock:
            if self.closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            offset, length = self.folder.add_call(data)
            future = CallFuture(self)
            future.queue_offset = offset
            self.pending[offset] = future
            future.queue_name = self.folder.queue_call(label_of(fn), offset, length)
        if self.layout.shared:
            self.collector.poke()  # (polls at the busy pace now)
        return future

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """Like Executor.map: results in order; one items file and a few arrays."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        end_time = None if timeout is None else timeout + time.monotonic()
        header = pack(fn, "the function %s" % label_of(fn), main=True)
        with self.lock:
            if self.closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self.map_count += 1
            run = MapRun(self, self.map_count, header, iterables, chunksize, label_of(fn))
            self.maps[run.number] = run
        run.start()
        self.collector.poke()
        return run.results(end_time)

    # -- results --------------------------------------------------------------------------

    def deliver(self, key, path, offset, length, body):
        """A result frame from the collector (the first one of a call wins)."""
        parsed = frames.parse_key(key)
        if parsed is None:
            return
        kind, where = parsed
        if kind == "m":
            run = self.maps.get(where[0])
            if run is not None:
                run.deliver(where[1], path, offset, length, body)
            return
        with self.lock:
            future = self.pending.pop(where, None)
        if future is None or future.done():
            return
        try:
            ok, value, error = unpack_outcome(
                body if body is not None else frames.read_body(path, offset, length))
        except Exception as problem:
            ok, error = False, problem
        if ok:
            future.set_result(value)
        else:
            future.set_exception(error)

    def on_problem(self, error):
        """A results file refused (UnsafeFile) or unreadable: every call waiting fails."""
        log.error("fjd.Executor: %s", error)
        with self.lock:
            waiting, self.pending = list(self.pending.values()), {}
        for future in waiting:
            if not future.done():
                future.set_exception(error)
        for run in list(self.maps.values()):
            run.refuse(error)

    def busy(self):
        return bool(self.pending) or any(run.outstanding() for run in list(self.maps.values()))

    def forget_map(self, run):
        with self.lock:
            self.maps.pop(run.number, None)

    # -- cancelling -----------------------------------------------------------------------

    def cancel_call(self, future):
        """Take a submitted call's job out of jobqueue/; whether it was still there."""
        with self.lock:
            if self.canceller is None:
                self.canceller = Cancel(self.layout)
            filed = self.canceller.queued(future.queue_name)
            if filed:
                self.pending = {k: f for k, f in self.pending.items() if f is not future}
        return bool(filed)

    def cancel_queued(self, array_names):
        """Cancel the tasks of these arrays still in jobqueue/ (ranges in inboxes run)."""
        if not array_names:
            return
        with self.lock:
            if self.canceller is None:
                self.canceller = Cancel(self.layout)
            wanted = set(array_names)
            for name in queued_matches(self.layout, wanted):
                self.canceller.queued(name)

    # -- shutting down --------------------------------------------------------------------

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self.lock:
            if self.closed and self.daemons is None and self.collector is None:
                return
            self.closed = True
            futures = list(self.pending.values())
            runs = list(self.maps.values())
        if cancel_futures:
            for future in futures:
                future.cancel()
            for run in runs:
                run.cancel_rest()
        if wait:
            self.finish(futures, runs)
        else:
            threading.Thread(target=self.finish, args=(futures, runs),
                             name="fjd-executor-shutdown").start()

    def finish(self, futures, runs):
        """Wait for the outstanding calls, then stop the collector and the daemons."""
        concurrent.futures.wait(futures)
        for run in runs:
            run.wait_arrived()
        with self.lock:
            collector, self.collector = self.collector, None
            daemons, self.daemons = self.daemons, None
        if collector is not None:
            collector.stop()
        if daemons is not None:
            daemons.stop()
        with self.lock:
            if self.canceller is not None:
                self.canceller.close()
                self.canceller = None
        self.folder.close()
        atexit.unregister(self.shutdown)
