"""Executor.map: one items file and a few arrays for any number of items, results yielded
in order as they arrive (DESIGN.md, "Python calls").

A feeder thread consumes the iterables, pickles each task's items (chunksize of them) into
the items file, and queues them as product arrays of FIRST_BLOCK tasks first (so work
starts at once), then of BLOCK tasks (sooner when the workers would idle: feed_blocks). The collector hands each result frame to the map; the
generator waits for the next one in order. Memory holds only the results that arrived ahead
of the one awaited (and small bodies only: big ones are read again by offset)."""
import concurrent.futures
import itertools
import pickle
import threading
import time

from . import frames
from .payload import PROTOCOL, pack_outcome, unpack_outcome
from .queueing import Items

FIRST_BLOCK = 1000  # tasks of the first array of a map
BLOCK = 250000  # tasks of each later array (a million calls: 5 or 6 arrays, files counted)
BLOCK_AFTER = 0.2  # seconds a block waits for more items before it is queued, if starving
STARVING = 64  # queued tasks without a result, below which the workers are about to idle


def chunks(iterables, chunksize):
    """Lists of argument tuples, chunksize each (the last may be shorter)."""
    arguments = zip(*iterables)
    while True:
        chunk = list(itertools.islice(arguments, chunksize))
        if not chunk:
            return
        yield chunk


class MapRun:
    """One call of Executor.map: its feeder, its arrays, and the results arrived ahead."""

    def __init__(self, executor, number, header, iterables, chunksize, label):
        self.executor = executor
        self.number = number
        self.label = label
        self.cond = threading.Condition()
        self.arrived = {}  # task index -> (results path, offset, length, body or None)
        self.next = 1  # the task whose results come next
        self.queued = 0  # tasks queued so far
        self.total = None  # known once the iterables are exhausted
        self.error = None  # what stopped the feeder (an item that cannot be pickled, ...)
        self.closed = False
        self.refused = None  # the error of a results file refused
        self.arrays = []  # queue names of its arrays
        self.blocks = []  # (queue name, first task, last task) of each array
        self.items = Items(executor.folder, number, header)
        self.feeder = threading.Thread(target=self.feed, args=(iterables, chunksize),
                                       name="fjd-executor-map-%d" % number, daemon=True)

    def start(self):
        """Start feeding: only once the executor knows the map (deliver finds it), since
        the first result may come back before the constructor's caller goes on."""
        self.feeder.start()

    # -- the feeder ---------------------------------------------------------------------------

    def feed(self, iterables, chunksize):
        try:
            self.feed_blocks(chunks(iterables, chunksize))
        except BaseException as error:
            with self.cond:
                self.error = error
                self.cond.notify_all()
        finally:
            self.items.close()
        with self.cond:
            if self.total is None:
                self.total = self.queued
            self.cond.notify_all()

    def feed_blocks(self, tasks):
        """Queue an array when BLOCK tasks are written, when the iterable ends, or when
        the workers are about to run out of queued tasks (the first array: at once) and
        BLOCK_AFTER has passed: a fast iterable makes a few big arrays, a slow one is
        not kept from the workers."""
        index = 0
        first, size, started = 1, FIRST_BLOCK, time.monotonic()
        for chunk in tasks:
            if self.closed:
                return
            self.items.add(pickle.dumps(chunk, PROTOCOL))
            index += 1
            if index - first + 1 >= size or (time.monotonic() - started >= BLOCK_AFTER and
                                             self.starving()):
                self.queue_block(first, index)
                first, size, started = index + 1, BLOCK, time.monotonic()
        if index >= first:
            self.queue_block(first, index)

    def starving(self):
        """Whether fewer than STARVING queued tasks are still without a result."""
        with self.cond:
            return self.queued - (self.next - 1 + len(self.arrived)) < STARVING

    def queue_block(self, first, last):
        self.items.flush()
        name = self.executor.folder.queue_array(self.label, self.number, first, last)
        with self.cond:
            self.arrays.append(name)
            self.blocks.append((name, first, last))
            self.queued = last
            self.cond.notify_all()

    # -- results ------------------------------------------------------------------------------

    def deliver(self, index, path, offset, length, body):
        with self.cond:
            if index < self.next or index in self.arrived or self.closed:
                return  # (a second result of a task run again: the first one won)
            self.arrived[index] = (path, offset, length, body)
            if index == self.next:
                self.cond.notify_all()

    def block_of(self, index):
        """(array name, first, last) of the array that holds task index, or None."""
        with self.cond:
            for block in self.blocks:
                if block[1] <= index <= block[2]:
                    return block
        return None

    def missing(self, first, last):
        """The tasks of first..last still awaited whose results have not arrived."""
        with self.cond:
            return [i for i in range(max(first, self.next), last + 1)
                    if i not in self.arrived]

    def fail(self, index, error):
        """A task that ended without a result (lost.py) fails with error."""
        self.deliver(index, None, 0, 0, pack_outcome(False, None, error, ""))

    def outstanding(self):
        """Whether results are still to come."""
        with self.cond:
            return self.outstanding_locked()

    def wait_arrived(self, timeout=None):
        """Until every result has arrived (shutdown(wait=True)); False on a timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.cond:
            while self.outstanding_locked():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self.cond.wait(left if left is not None else 1.0)
        return True

    def outstanding_locked(self):
        if self.closed or self.refused is not None or (self.error is not None and self.next > self.queued):
            return False
        return self.total is None or len(self.arrived) < self.total - self.next + 1

    def results(self, end_time):
        """The generator Executor.map returns."""
        try:
            while True:
                entry = self.take_next(end_time)
                if entry is None:
                    return
                path, offset, length, body = entry
                ok, value, error = unpack_outcome(
                    body if body is not None else frames.read_body(path, offset, length))
                for result in value or ():
                    yield result
                if not ok:
                    raise error
        finally:
            self.close()

    def take_next(self, end_time):
        with self.cond:
            while self.next not in self.arrived:
                if self.refused is not None:
                    raise self.refused
                if self.total is not None and self.next > self.total:
                    return None
                if self.error is not None and self.next > self.queued:
                    raise self.error
                left = None if end_time is None else end_time - time.monotonic()
                if left is not None and left <= 0:
                    raise concurrent.futures.TimeoutError()
                self.cond.wait(left if left is not None else 1.0)
            entry = self.arrived.pop(self.next)
            self.next += 1
            if self.next % 64 == 0:
                self.cond.notify_all()  # (shutdown's wait_arrived counts on it)
            return entry

    def close(self):
        """The generator was closed or exhausted: stop feeding, cancel queued tasks."""
        with self.cond:
            if self.closed:
                return
            rest = self.total is None or self.next <= self.total
            self.closed = True
            self.arrived.clear()
            self.cond.notify_all()
        if rest:
            self.executor.cancel_queued(self.arrays)
        self.executor.forget_map(self)

    def refuse(self, error):
        """A results file was refused (UnsafeFile): the generator raises error."""
        with self.cond:
            self.refused = error
            self.cond.notify_all()

    def cancel_rest(self):
        """shutdown(cancel_futures=True): the tasks still queued are cancelled."""
        self.executor.cancel_queued(self.arrays)
