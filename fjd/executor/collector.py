"""The caller's reader of results: one thread that follows the results files in the
executor's folder (one per worker that ran its calls), frame by frame, and hands each frame
to the executor. Woken by inotify on a local disk; on a shared mount (where inotify sees
only this host) it polls, at the dispatcher's pace while calls are outstanding."""
import logging
import os
import select
import threading
import time

from ..defaults import DISPATCHER_INTERVAL
from ..notify import IN_CREATE, IN_MODIFY, IN_MOVED_TO, DirWatcher
from . import frames
from .payload import check_owner
from .serve import RESULTS_PREFIX

log = logging.getLogger("fjd.executor")

INLINE_BODY = 1 << 16  # bodies up to this size are handed over with their frame
READ_SIZE = 1 << 20
BACKSTOP = 1.0  # seconds between looks when inotify should have woken us


class ResultsFile:
    """One results file, read up to pos; buffer holds bytes read but not yet whole frames."""

    def __init__(self, fd):
        self.fd = fd
        self.pos = 0
        self.buffer = b""

    def read_new(self):
        """The whole frames that arrived: (key, offset, length, body or None)."""
        found = []
        while True:
            data = os.pread(self.fd, READ_SIZE, self.pos + len(self.buffer))
            if not data:
                return found
            self.buffer += data
            parsed, consumed = frames.parse_frames(self.buffer, self.pos)
            for key, offset, length in parsed:
                start = offset - self.pos
                body = self.buffer[start:start + length] if length <= INLINE_BODY else None
                found.append((key, offset, length, body))
            self.buffer = self.buffer[consumed:]
            self.pos += consumed
            if len(data) < READ_SIZE:
                return found


class Collector(threading.Thread):
    """deliver(key, path, offset, length, body) for every frame (body None: a big one,
    read from path when needed); on_problem(exception) when
    a results file must be refused; busy() says whether calls are outstanding."""

    def __init__(self, path, shared, uids, deliver, on_problem, busy):
        super().__init__(name="fjd-executor-results", daemon=True)
        self.path = path
        self.shared = shared
        self.uids = uids
        self.deliver = deliver
        self.on_problem = on_problem
        self.busy = busy
        self.files = {}
        self.refused = set()
        self.stopped = False
        self.wake_read, self.wake_write = os.pipe()
        self.lost = None  # a lost.LostCalls, looked at while calls are outstanding
        self.watcher = None
        if not shared:
            self.watcher = DirWatcher()
            if not self.watcher.watch(path, IN_MODIFY | IN_CREATE | IN_MOVED_TO):
                self.watcher.close()
                self.watcher = None

    def poke(self):
        try:
            os.write(self.wake_write, b"x")
        except OSError:
            pass

    def stop(self):
        self.stopped = True
        self.poke()
        self.join()
        for results in self.files.values():
            os.close(results.fd)
        for fd in (self.wake_read, self.wake_write):
            os.close(fd)
        if self.watcher is not None:
            self.watcher.close()

    def run(self):
        listed = checked = time.monotonic()
        while not self.stopped:
            now = time.monotonic()
            if now - listed >= BACKSTOP or not self.files:
                if self.shared:
                    self.reopen()
                self.open_new()
                listed = now
            try:
                if self.read_all():
                    continue
                if self.lost is not None and now - checked >= self.lost.every:
                    checked = now
                    if self.busy():
                        self.check_lost()
            except Exception:  # (a bug here must not leave the caller waiting silently)
                log.exception("reading the results of %s", self.path)
            self.sleep()

    def check_lost(self):
        """Calls whose jobs finished without an outcome fail (lost.py), once the results
        files were read after their jobs were seen finished."""
        calls, arrays = self.lost.look()
        if calls or arrays:
            if self.shared:
                self.reopen()
            self.open_new()
            self.read_all()
            self.lost.fail(calls, arrays)

    def sleep(self):
        fds = [self.wake_read]
        if self.watcher is not None:
            fds.append(self.watcher.fileno())
            timeout = BACKSTOP
        else:
            timeout = DISPATCHER_INTERVAL if self.busy() else BACKSTOP
        ready, _, _ = select.select(fds, [], [], timeout)
        if self.wake_read in ready:
            os.read(self.wake_read, 4096)
        if self.watcher is not None and self.watcher.fileno() in ready:
            names = self.watcher.take_names()
            if any(n.startswith(RESULTS_PREFIX) and n not in self.files for n in names):
                self.open_new()

    def open_new(self):
        try:
            listing = os.listdir(self.path)
        except OSError as error:
            log.warning("cannot list %s: %s", self.path, error.strerror)
            return
        for name in listing:
            if not name.startswith(RESULTS_PREFIX) or name in self.files or \
                    name in self.refused:
                continue
            path = os.path.join(self.path, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError as error:
                self.refused.add(name)
                self.on_problem(error)
                continue
            try:
                check_owner(os.fstat(fd), path, self.uids)
            except Exception as error:
                os.close(fd)
                self.refused.add(name)
                self.on_problem(error)
                continue
            self.files[name] = ResultsFile(fd)

    def reopen(self):
        """On a shared mount, open the results files again once a second: a descriptor
        kept open may go on seeing the size a file had (the attribute cache), an open asks
        the server."""
        for name, results in self.files.items():
            try:
                fd = os.open(os.path.join(self.path, name), os.O_RDONLY | os.O_NOFOLLOW |
                             os.O_CLOEXEC)
            except OSError:
                continue
            os.close(results.fd)
            results.fd = fd

    def read_all(self):
        """Read every file's new frames and deliver them; whether there were any."""
        any_new = False
        for name, results in list(self.files.items()):
            for key, offset, length, body in results.read_new():
                any_new = True
                self.deliver(key, os.path.join(self.path, name), offset, length, body)
        return any_new
