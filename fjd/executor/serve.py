"""The call runner: a long-lived Python process on a worker's host that runs the worker's
Python calls (DESIGN.md, "Python calls").

The worker (fjd/worker/calls.py) starts it once, lazily, with its own environment, its
output journals as stdout and stderr, requests on stdin and replies on a pipe whose descriptor it is told, one
JSON line each way per call. A request is the call's command-line words after the module
name (``FOLDER call OFFSET LENGTH`` or ``FOLDER map MAP INDEX``) and whether it is the
task's last attempt; the runner loads the payload (each payload file and each function's
module once), runs it, appends the outcome to its results file and replies ``ok`` and the
one-line reason. A failed attempt that will be retried writes no outcome.

Run as a command (``python3 -m fjd.executor.serve FOLDER call ...``, the job's own
executable, by hand with FJD_ROOT set) it runs that one call.
"""
import json
import os
from os import environ
import pickle
import sys
import threading
import time
import traceback

from . import frames
from .payload import CallFailed, Context, check_owner, one_line, pack_outcome

RESULTS_PREFIX = "results-"
ANSWERS_AT_ONCE = 16  # replies to quick calls sent in one write
ANSWERS_HELD = 0.002  # seconds a reply may wait for others
ANSWERS_LATE = 0.02  # seconds, while a call runs, before the replies held are sent anyway
WINDOW = 1 << 16  # bytes read ahead in a map's index and items files
OK_REPLY = {"ok": True, "reason": None}  # the reply of a call that went well
OK_LINE = json.dumps(OK_REPLY) + "\n"


class Payloads:
    """The executor folders' files this runner has open, checked once each."""

    def __init__(self, root, uids):
        self.root = root
        self.uids = uids
        self.fds = {}
        self.windows = {}  # path -> (offset, bytes read there)
        self.folders_checked = set()

    def folder(self, relative):
        path = os.path.join(self.root, relative)
        if path not in self.folders_checked:
            check_owner(os.lstat(path), path, self.uids)
            self.folders_checked.add(path)
        return path

    def open(self, path, flags=os.O_RDONLY):
        fd = self.fds.get(path)
        if fd is None:
            fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                check_owner(os.fstat(fd), path, self.uids)
            except Exception:
                os.close(fd)
                raise
            self.fds[path] = fd
        return fd

    def entry(self, folder, block, index):
        """The bytes of entry index of a map's items file (0: its header)."""
        offset, length = frames.INDEX_ENTRY.unpack(self.read(
            os.path.join(folder, "map-%d.idx" % block), index * frames.INDEX_ENTRY.size,
            frames.INDEX_ENTRY.size))
        return self.read(os.path.join(folder, "map-%d.items" % block), offset, length)

    def read(self, path, offset, length, ahead=True):
        """length bytes at offset of an append-only file, through a window read WINDOW
        bytes at a time: a map's tasks come in order, so one read (one request to the
        file server on a shared mount) serves many of them. ahead=False: no window (a
        submitted call's payload: the next one is rarely written yet)."""
        start, data = self.windows.get(path, (0, b""))
        if start <= offset and offset + length <= start + len(data):
            return data[offset - start:offset - start + length]
        try:
            data = frames.read_at(self.open(path), offset, length)
        except OSError:
            # a descriptor kept open may see the size the file had (a shared mount's
            # attribute cache): an open asks the server again
            os.close(self.fds.pop(path))
            data = frames.read_at(self.open(path), offset, length)
        if not ahead:
            return data
        more = os.pread(self.open(path), WINDOW, offset + length)
        self.windows[path] = (offset, data + more)
        if len(self.windows) > 8:
            self.windows = {path: self.windows[path]}
        return data


class CallRunner:
    """Runs calls one at a time and writes their outcomes to one results file per folder."""

    def __init__(self, root, worker_id, uids):
        self.payloads = Payloads(root, uids)
        self.context = Context()
        self.worker_id = worker_id
        self.functions = {}  # (folder, map) -> (function, chunked)
        self.unwritten = {}  # results file descriptor -> frames not written yet
        self.lock = threading.Lock()  # (serve: the Answers' lock, whose thread writes them)


    def handle(self, words, final):
        """Run the call words name; (ok, one-line reason or None)."""
        try:
            folder = self.payloads.folder(words[0])
            key, run = self.prepare(folder, words[1:])
        except Exception as error:
            # (a payload that cannot be read or unpickled fails its call, with the reason)
            key = key_of(words)
            if key is None or not final:
                return False, one_line(error)
            self.write(os.path.join(self.payloads.root, words[0]), key, pack_outcome(
                False, None, error, traceback.format_exc()))
            return False, one_line(error)
        ok, body, reason = run()
        if ok or final:
            self.write(folder, key, body)
        return ok, reason

    def prepare(self, folder, words):
        """(the result's key, a function running the call: (ok, body, reason))."""
        kind, first, second = words[0], int(words[1]), int(words[2])
        if kind == "call":
            data = self.payloads.read(os.path.join(folder, "calls.pkl"), first, second,
                                      ahead=False)
            function, args, kwargs = self.context.unpack(data)
            return frames.call_key(first), lambda: run_call(function, args, kwargs)
        if kind == "map":
            known = self.functions.get((folder, first))
            if known is None:
                known = self.context.load(self.payloads.entry(folder, first, 0))
                self.functions = {(folder, first): known}  # (the newest map only)
            else:
                self.context.enter(known[0])
            function = known[1]
            items = pickle.loads(self.payloads.entry(folder, first, second))
            return frames.task_key(first, second), lambda: run_chunk(function, items)
        raise CallFailed("not a Python call: %s" % " ".join(words))

    def write(self, folder, key, body):
        """Keep an outcome to write (write_kept: before the call's reply is sent)."""
        fd = self.payloads.open(os.path.join(folder, RESULTS_PREFIX + self.worker_id),
                                os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        data = frames.frame(key, body)
        with self.lock:
            self.unwritten.setdefault(fd, []).append(data)

    def write_kept(self):
        """The outcomes kept, each results file's in one append (whole frames, so a
        reader sees each outcome whole or not yet)."""
        unwritten, self.unwritten = self.unwritten, {}
        for fd, kept in unwritten.items():
            frames.append_bytes(fd, b"".join(kept))


def key_of(words):
    try:
        if words[1] == "call":
            return frames.call_key(int(words[2]))
        if words[1] == "map":
            return frames.task_key(int(words[2]), int(words[3]))
    except (IndexError, ValueError):
        pass
    return None


def run_call(function, args, kwargs):
    try:
        value = function(*args, **kwargs)
    except BaseException as error:  # (SystemExit too: the call's, not the runner's)
        return False, pack_outcome(False, None, error, traceback.format_exc()), \
            one_line(error)
    return True, pack_outcome(True, value), None


def run_chunk(function, items):
    """A map task's items in order; on an exception, the results before it with it."""
    done = []
    for args in items:
        try:
            done.append(function(*args))
        except BaseException as error:
            return False, pack_outcome(False, done, error, traceback.format_exc()), \
                one_line(error)
    return True, pack_outcome(True, done), None


# -- the process ------------------------------------------------------------------------------

def serve(root, worker_id, uids, requests, replies):
    """Answer requests (JSON lines on the descriptor requests) until they end. Replies to
    quick calls are sent together (Replies), never held while the runner would wait."""
    runner = CallRunner(root, worker_id, uids)
    answers = Answers(replies, runner.write_kept)
    runner.lock = answers.lock
    pending = b""
    while True:
        if b"\n" not in pending:
            answers.send()  # (before waiting: the worker may be waiting for them)
            data = os.read(requests, 1 << 16)
            if not data:
                return 0
            pending += data
            continue
        line, pending = pending.split(b"\n", 1)
        request = json.loads(line)
        for name, value in (request.get("env") or {}).items():
            if environ.get(name) != value:  # (a putenv only for what changed)
                environ[name] = value
        ok, reason = runner.handle(request["words"], request.get("final", True))
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        answers.add({"ok": ok, "reason": reason})


class Answers:
    """Replies not sent yet: sent when the runner would wait for requests, when
    ANSWERS_AT_ONCE are together, or when the oldest is ANSWERS_HELD old; and, while a
    call runs, by a thread of their own once the oldest is ANSWERS_LATE old (a slow call
    must not hold back the outcomes and replies of the quick ones before it, nor make the
    worker time them out). The outcomes they answer for are written first
    (before_sending), all in one append."""

    def __init__(self, fd, before_sending):
        self.fd = fd
        self.before_sending = before_sending
        self.lines = []
        self.since = None
        self.sleeping = False  # the thread waits for add() (no answers were held)
        self.lock = threading.Condition()  # (the runner's kept outcomes are under it too)
        threading.Thread(target=self.send_late, name="fjd-answers", daemon=True).start()

    def add(self, reply):
        line = OK_LINE if reply == OK_REPLY else json.dumps(reply) + "\n"
        with self.lock:
            self.lines.append(line)
            now = time.monotonic()
            if self.since is None:
                self.since = now
                if self.sleeping:
                    self.lock.notify()
            if len(self.lines) >= ANSWERS_AT_ONCE or now - self.since >= ANSWERS_HELD:
                self.send_locked()

    def send(self):
        with self.lock:
            self.send_locked()

    def send_locked(self):
        self.before_sending()
        if self.lines:
            data = "".join(self.lines).encode()
            self.lines, self.since = [], None
            while data:
                data = data[os.write(self.fd, data):]

    def send_late(self):
        with self.lock:
            while True:
                if self.since is None:
                    self.sleeping = True
                    self.lock.wait()
                    self.sleeping = False
                    continue
                left = self.since + ANSWERS_LATE - time.monotonic()
                if left > 0:
                    self.lock.wait(left)
                    continue
                try:
                    self.send_locked()
                except OSError:
                    return  # (the main thread meets the same error and ends)


def main(argv):
    if argv[:1] == ["--runner"]:
        root, worker_id, uids = argv[1], argv[2], {int(u) for u in argv[3].split(",")}
        return serve(root, worker_id, uids, sys.stdin.fileno(), int(argv[4]))
    root = os.environ.get("FJD_ROOT") or os.getcwd()
    runner = CallRunner(root, os.environ.get("FJD_WORKER_ID") or "command", {os.geteuid()})
    ok, reason = runner.handle(argv, True)
    runner.write_kept()
    if not ok:
        sys.stderr.write("%s\n" % reason)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
