"""The caller's writes (DESIGN.md, "Python calls"): the executor's folder
``calls/<executor id>/`` with its payload files, and the job files that queue the calls.

A submitted call is one frame appended to ``calls.pkl`` and one single job (marked plain,
so the dispatcher hands it out unread); a map is one items file with its index and a few
product arrays of ``[params] i: FIRST..LAST``, each task running the entry i of the items.
Every job's command is ``python3 -m fjd.executor.serve FOLDER ...``; a worker runs it in
its call runner (``[control] python: calls``), a person can run it by hand.
"""
import os
import re

from .. import names
from ..errors import QueueError
from ..fsops import write_all
from ..hints import hint_dispatcher
from ..layout import Layout, display, safe_hostname
from ..submit import batch_prefix, is_plain
from . import frames
from .payload import check_owner

CALLS = "calls"
SERVE = "python3 -m fjd.executor.serve"
BATCH = 1 << 20  # bytes of a map's items written at once
_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")


def label_of(function):
    """A job name's label for a function: call-<name>, map-<name>."""
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", "call")
    return _LABEL.sub("_", str(name))[:40].strip(".") or "call"


def control_lines(control):
    """The [control] lines of the executor's jobs: python: calls, jobfile: none, and the
    caller's per-call options."""
    lines = ["python: calls", "jobfile: none"]
    for key, value in sorted(control.items()):
        lines.append("%s: %s" % (key, value))
    return "\n".join(lines) + "\n"


class Folder:
    """The executor's folder and the job files it queues; one per Executor."""

    def __init__(self, root, control):
        self.layout = Layout(root)
        try:
            os.makedirs(self.layout.root, exist_ok=True)  # (a new queue, as `fjd run` makes)
        except OSError as error:
            raise QueueError("cannot make the queue root %s: %s"
                             % (display(self.layout.root), error.strerror))
        self.layout.ensure()
        self.uids = {os.geteuid()}
        calls = os.path.join(self.layout.root, CALLS)
        try:
            os.mkdir(calls, 0o755)
        except FileExistsError:
            pass
        check_owner(os.lstat(calls), calls, self.uids)
        self.id = "%s-%d-%s" % (safe_hostname(), os.getpid(), names.nonce())
        self.relative = "%s/%s" % (CALLS, self.id)
        self.path = os.path.join(self.layout.root, CALLS, self.id)
        os.mkdir(self.path, 0o755)
        self.control = control_lines(control)
        self.queue_fd = os.open(self.layout.jobqueue, os.O_RDONLY | os.O_DIRECTORY)
        self.calls_fd = None
        self.calls_size = 0
        self.sequence = 0
        self.identity = self.layout.identity()

    def close(self):
        for fd in (self.queue_fd, self.calls_fd):
            if fd is not None:
                os.close(fd)
        self.queue_fd = self.calls_fd = None

    def sync(self, fd):
        """On a shared mount, what a worker on another host reads must have left this one
        (NFS keeps writes until a close or fsync)."""
        if self.layout.shared:
            os.fdatasync(fd)

    def add_call(self, data):
        """Append a call's payload to calls.pkl; (offset, length)."""
        if self.calls_fd is None:
            self.calls_fd = os.open(os.path.join(self.path, "calls.pkl"), os.O_WRONLY |
                                    os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        offset = self.calls_size
        write_all(self.calls_fd, data)
        self.calls_size += len(data)
        self.sync(self.calls_fd)
        return offset, len(data)

    def queue_call(self, label, offset, length):
        """The job file of one submitted call; its queue name."""
        text = "[control]\nexecutable: %s %s call %d %d\n%s" % (
            SERVE, self.relative, offset, length, self.control)
        return self.queue("call-" + label, text.encode())

    def queue_array(self, label, block, first, last):
        """An array of the map's entries first..last; its queue name."""
        text = "[control]\nexecutable: %s %s map %d {i}\ntasks: product\n%s\n[params]\n" \
               "i: %s\n" % (SERVE, self.relative, block, self.control,
                            "%d..%d" % (first, last) if last > first else str(first))
        return self.queue("map-" + label, text.encode())

    def queue(self, label, data):
        """Write a job into jobqueue/ under a dot-name and rename it (DESIGN.md rule 9)."""
        self.sequence += 1
        prefix = batch_prefix()
        name = "%s-%06d%s-%s" % (prefix, self.sequence,
                                 names.PLAIN_MARK if is_plain(data) else "", label)
        tmp = ".%s-%06d.tmp" % (prefix.rsplit("-", 1)[1], self.sequence)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644,
                     dir_fd=self.queue_fd)
        try:
            write_all(fd, data)  # (no sync: the close sends it, before the rename)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=self.queue_fd, dst_dir_fd=self.queue_fd)
        hint_dispatcher(self.layout, self.identity)
        return name


class Items:
    """A map's items file and its index, written as the iterable is consumed."""

    def __init__(self, folder, block, header):
        self.folder = folder
        base = os.path.join(folder.path, "map-%d" % block)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        self.items_fd = os.open(base + ".items", flags, 0o644)
        self.index_fd = os.open(base + ".idx", flags, 0o644)
        self.size = 0
        self.pending = []  # index entries not written yet
        self.waiting, self.waiting_size = [], 0  # entries not written yet
        self.add(header)  # (entry 0)

    def add(self, data):
        """Append one entry (written in batches; its index entry at flush)."""
        self.waiting.append(data)
        self.waiting_size += len(data)
        self.pending.append(frames.INDEX_ENTRY.pack(self.size, len(data)))
        self.size += len(data)
        if self.waiting_size >= BATCH:
            self.write_waiting()

    def write_waiting(self):
        if self.waiting:
            write_all(self.items_fd, b"".join(self.waiting))
            self.waiting, self.waiting_size = [], 0

    def flush(self):
        """Write what was added, then its index entries, before its tasks are queued."""
        self.write_waiting()
        if self.pending:
            write_all(self.index_fd, b"".join(self.pending))
            self.pending = []
        self.folder.sync(self.items_fd)
        self.folder.sync(self.index_fd)

    def close(self):
        for fd in (self.items_fd, self.index_fd):
            os.close(fd)
