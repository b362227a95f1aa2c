"""Is a job file complete? Never dispatch a file that is still being written (DESIGN.md rule 4).

Careful writers use a temporary name and rename; the 2012 example wrote in place. On a local
filesystem the kernel knows whether anybody still has the file open for writing: a read
lease (fcntl F_SETLEASE) is granted only when nobody does. Where leases are not available
(another user's file) a file is taken once its size and mtime have stayed the same for a
settle time measured on our own monotonic clock; on shared mounts (NFS, FUSE), where a look
at a file is a request to the file server, once its mtime is older than the settle time on
the file server's own clock (ServerSettle).
"""
import collections
import errno
import fcntl
import os
import stat
import time

from . import folders

F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)
F_RDLCK = getattr(fcntl, "F_RDLCK", 0)
F_UNLCK = getattr(fcntl, "F_UNLCK", 2)

READY, WRITING, NOT_REGULAR, GONE = "ready", "writing", "not-regular", "gone"


class ReadinessChecker:
    def __init__(self, settle_seconds=1.0, use_leases=True, clock=time.monotonic):
        self.settle_seconds = settle_seconds
        self.use_leases = use_leases  # off on shared mounts: a lease ignores other hosts
        self.clock = clock
        self._seen = {}  # name -> ((size, mtime_ns), first seen unchanged)

    def check(self, path, name, head=0):
        """READY (with the file's first head bytes when head), WRITING, NOT_REGULAR (with
        its mode) or GONE."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY)
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ESTALE):
                return GONE, None
            if error.errno == errno.ELOOP:
                return NOT_REGULAR, stat.S_IFLNK
            if error.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # sockets
                return NOT_REGULAR, stat.S_IFSOCK
            return self._settled(path, name)
        try:
            state, detail, size = self._check_open(fd, name)
            if state == READY and head:
                try:
                    # (no bigger a buffer than the file: a 1 MiB one costs an mmap a job)
                    detail = os.pread(fd, min(head, size + 1), 0)
                except OSError:
                    detail = b""
            return state, detail
        finally:
            os.close(fd)

    def _check_open(self, fd, name):
        """(state, detail, size) of an open file."""
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return NOT_REGULAR, info.st_mode, 0
        if not self.use_leases:
            return self._settled_info(name, info) + (info.st_size,)
        try:
            fcntl.fcntl(fd, F_SETLEASE, F_RDLCK)
        except OSError as error:
            if error.errno == errno.EAGAIN:
                return WRITING, None, 0
            return self._settled_info(name, info) + (info.st_size,)
        fcntl.fcntl(fd, F_SETLEASE, F_UNLCK)
        self._seen.pop(name, None)
        return READY, None, info.st_size

    def _settled(self, path, name):
        try:
            info = os.lstat(path)
        except OSError:
            return GONE, None
        return self._settled_info(name, info)

    def _settled_info(self, name, info):
        signature = (info.st_size, info.st_mtime_ns)
        now = self.clock()
        previous = self._seen.get(name)
        if previous is None or previous[0] != signature:
            self._seen[name] = (signature, now)
            return (READY, None) if self.settle_seconds <= 0 else (WRITING, None)
        if now - previous[1] >= self.settle_seconds:
            del self._seen[name]
            return READY, None
        return WRITING, None

    def forget(self, name):
        self._seen.pop(name, None)


# -- settling by the file server's clock (shared mounts) ------------------------------------

CLOCK_FILE = ".fjd-clock"  # in jobqueue/: the dispatcher writes it to read the server's time
SECOND = 1000000000


class ServerClock:
    """The file server's clock, read where the files' mtimes come from: a byte written to a
    file of our own, and its mtime read back (a write and a stat: two requests). What it
    gives is a time on the server's clock no later than the moment it was read, so a job
    file looked at afterwards whose mtime is older by more than the settle time had not
    been written for that long when it was looked at. No two hosts' clocks are compared
    (DESIGN.md rules 4 and 5): our own clock only says when to read the server's again."""

    def __init__(self, path, clock=time.monotonic, min_interval=0.25):
        self.path = path
        self.clock = clock
        self.min_interval = min_interval  # reads of the server's clock at most this often
        self.fd = None
        self.reference = None  # the server's time (ns) at our last read
        self.read_at = None  # our monotonic time of that read

    def read(self):
        """Write our file and take its mtime as the server's time now."""
        try:
            if self.fd is None:
                self.fd = folders.open_at(self.path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW
                                          | os.O_CLOEXEC, 0o644)
            os.pwrite(self.fd, b"\n", 0)
            mtime = os.fstat(self.fd).st_mtime_ns
        except OSError:
            self.close()  # (a stale handle, a lost mount) opened again next time
            raise
        self.read_at = self.clock()
        if self.reference is None or mtime > self.reference:
            self.reference = mtime
        return self.reference

    def age(self):
        return None if self.read_at is None else self.clock() - self.read_at

    def fresh(self, within):
        """The reference, read again first when it is older than within seconds."""
        age = self.age()
        if age is None or age > within:
            self.read()
        return self.reference

    def reach(self, wanted):
        """A reference at least wanted (ns), reading the server's clock again when, by our
        own clock, its time should have come (and not more often than min_interval); None
        while it has not."""
        if self.reference is not None and self.reference >= wanted:
            return self.reference
        age = self.age()
        if age is not None and (age < self.min_interval or
                                self.reference + age * SECOND < wanted):
            return None
        self.read()
        return self.reference if self.reference >= wanted else None

    def close(self):
        if self.fd is not None:
            folders.close_quietly(self.fd)
            self.fd = None


# a look at a file: its mtime and size, the server's time read before the look, and on our
# own clock when these mtime and size were first seen, by how many looks
Sighting = collections.namedtuple("Sighting", "mtime size reference first_at looks")


class ServerSettle:
    """Is a job file complete, on a shared mount, judged from one look at it: its mtime
    (set by the file server) against the server's own time read before that look
    (ServerClock). A file older than the settle time is ready at once: one written
    elsewhere and renamed in (a rename keeps the mtime), or queued before the dispatcher
    started. A newer one is looked at again (one lookup) once the server's clock has
    passed its mtime by the settle time, or once it has been watched that long on our
    own clock (the stat-after-stat rule, which takes a file written just before its
    rename a second sooner where mtimes are whole seconds); if it changed meanwhile, it
    waits again."""

    def __init__(self, clock, settle_seconds=1.0, own_clock=time.monotonic):
        self.clock = clock
        self.settle_seconds = settle_seconds
        self.settle_ns = int(settle_seconds * SECOND)
        self.own_clock = own_clock
        self.seen = {}  # name -> Sighting

    def due(self, sighting):
        """The server's time from which the file counts as settled. SFTP (and some NFS
        servers) give mtimes in whole seconds: then one more second."""
        whole = sighting.mtime % SECOND == 0 or (sighting.reference is not None and
                                                  sighting.reference % SECOND == 0)
        return sighting.mtime + self.settle_ns + (SECOND if whole else 0)

    def note(self, name, mtime, size):
        """What a look at the file (an open, or a lookup) has just seen."""
        before = self.seen.get(name)
        if before is not None and (before.mtime, before.size) == (mtime, size):
            first_at, looks = before.first_at, before.looks + 1
        else:
            first_at, looks = self.own_clock(), 1
        sighting = self.seen[name] = Sighting(mtime, size, self.clock.reference, first_at,
                                              looks)
        return sighting

    def settled(self, name):
        sighting = self.seen.get(name)
        if sighting is None:
            return False
        if self.settle_ns <= 0:
            return True  # --settle 0: whatever is there is complete
        if sighting.reference is not None and sighting.reference >= self.due(sighting):
            return True
        return sighting.looks >= 2 and self.watched_long_enough(name)

    def watched_long_enough(self, name):
        """Seen unchanged since settle seconds ago on our own clock (a look now decides)."""
        sighting = self.seen.get(name)
        return sighting is not None and \
            self.own_clock() - sighting.first_at >= self.settle_seconds

    def ahead(self, name):
        """Whether the file's mtime is later than the server's time when it was looked at
        (set by a writer, `cp -p` or `touch -d` from a host whose clock is ahead): the
        server's clock cannot tell when such a file settles."""
        sighting = self.seen.get(name)
        return sighting is not None and sighting.reference is not None and \
            sighting.mtime > sighting.reference + SECOND

    def waiting_for(self, name):
        """The server's time this file waits for (ns), None if never seen."""
        sighting = self.seen.get(name)
        return None if sighting is None else self.due(sighting)

    def keep(self, wanted):
        """Forget the files not among wanted (a new listing)."""
        self.seen = {n: s for n, s in self.seen.items() if n in wanted}

    def forget(self, name):
        self.seen.pop(name, None)
