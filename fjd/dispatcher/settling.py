"""Hand-written job files on a shared mount: complete or still being written, decided from
one look at each (DESIGN.md rule 4): its mtime, set by the file server, against the
server's own time read just before (ready.ServerSettle). A file renamed in, or queued
before the dispatcher started, is taken after the read of its head that the listing makes
anyway; one written in place a moment ago is looked at again, once, when the server's
clock says it should have settled. Each look is a request to the file server (rule 12)."""
import errno
import os
import stat
import time

from .. import arrays, defaults, folders
from ..dependencies import may_declare
from ..fsops import read_spliced
from ..ready import CLOCK_FILE, GONE, NOT_REGULAR, READY, WRITING, ServerClock, ServerSettle
from ..statx import cached_sighting

OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY
CLOCK_WITHIN = 1.0  # a listing's heads are read after a reading of the server's clock this fresh


def read_head_seen(path, splice=False):
    """(first PRIORITY_HEAD bytes, statx.Sighting) of a queued file from one open: the
    open's lookup brings the attributes. (None, errno) when it cannot be opened."""
    try:
        fd = folders.open_at(path, OPEN_FLAGS)
    except OSError as error:
        return None, error.errno
    try:
        seen = cached_sighting(fd)
        if not stat.S_ISREG(seen.st_mode):
            return None, seen
        # no more than its size: a read past the end is one more request
        limit = min(defaults.PRIORITY_HEAD, seen.st_size)
        head = (read_spliced(fd, limit) if limit else b"") if splice else None
        if head is None:
            head = os.read(fd, defaults.PRIORITY_HEAD)
        return head, seen
    except OSError as error:
        return None, error.errno
    finally:
        os.close(fd)


def look(path):
    """The file's statx.Sighting from one lookup (an O_PATH open); None when it is gone."""
    try:
        fd = folders.open_at(path, folders.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ESTALE):
            return None
        raise
    try:
        return cached_sighting(fd)
    finally:
        os.close(fd)


class SharedReadiness:
    """The hand-out's readiness of hand-written names on a shared mount (handout.py asks
    check(); the listing reads the heads of its priority window through read_window)."""

    def __init__(self, listing, settle, fallback, splice=False):
        self.listing = listing  # its kinds, priorities and dependent names are kept here
        self.settle = settle  # ready.ServerSettle
        self.fallback = fallback  # ready.ReadinessChecker: what is not a regular file
        self.splice = splice
        self.clock_failed_at = None  # when reading the server's clock last failed

    def before_reading(self):
        """A head is about to be read: a recent reading of the server's clock first (one
        at most every CLOCK_WITHIN seconds), so that what was written long ago is taken
        at once."""
        now = time.monotonic()
        if self.clock_failed_at is not None and now - self.clock_failed_at < CLOCK_WITHIN:
            return
        try:
            self.settle.clock.fresh(CLOCK_WITHIN)
            self.clock_failed_at = None
        except OSError:
            self.clock_failed_at = now  # each file is looked at once more, later

    def read_window(self, path, name):
        """The head of a name in the listing's window, its sighting noted; b"" when it
        cannot be read (the hand-out finds out why)."""
        self.before_reading()
        head, seen = read_head_seen(path, self.splice)
        if head is None:
            return b""
        self.settle.note(name, seen.st_mtime_ns, seen.st_size)
        return head

    def check(self, name, path):
        """(state, array kind or None, head or None) of a hand-written queued file."""
        settle, kinds = self.settle, self.listing.kinds
        if name not in settle.seen or name not in kinds:
            return self.first_look(name, path)
        if not settle.settled(name):
            if not settle.watched_long_enough(name) and not self.server_clock_passed(name):
                return WRITING, None, None
            seen = look(path)
            if seen is None:
                settle.forget(name)
                return GONE, None, None
            before = settle.seen[name]
            if (seen.st_mtime_ns, seen.st_size) != (before.mtime, before.size) or \
                    not stat.S_ISREG(seen.st_mode):
                settle.forget(name)  # written meanwhile: its head is read again
                return WRITING, None, None
            settle.note(name, seen.st_mtime_ns, seen.st_size)
            if not settle.settled(name):
                return WRITING, None, None
        settle.forget(name)
        return READY, kinds[name], None

    def server_clock_passed(self, name):
        """Whether the server's clock has passed the time the file waits for, reading it
        again if it should have by our clock. Not for a file whose mtime is ahead of the
        server's clock, nor within a second of a failed reading (a full disk, a folder we
        may not write): those are left to our own clock."""
        settle = self.settle
        now = time.monotonic()
        if settle.ahead(name) or (self.clock_failed_at is not None and
                                  now - self.clock_failed_at < CLOCK_WITHIN):
            return False
        try:
            return settle.clock.reach(settle.waiting_for(name)) is not None
        except OSError:
            self.clock_failed_at = now
            return False

    def first_look(self, name, path):
        """A name whose head was not read with the listing's window (or changed since)."""
        if self.settle.clock.reference is None:
            self.before_reading()
        head, seen = read_head_seen(path, self.splice)
        if head is None:
            if seen in (errno.ENOENT, errno.ESTALE):
                return GONE, None, None
            state, detail = self.fallback.check(path, name)  # a link, a FIFO, a folder ...
            return state, None, (detail if state == NOT_REGULAR else None)
        self.settle.note(name, seen.st_mtime_ns, seen.st_size)
        kind = arrays.declared_kind(head[:arrays.MAX_HEADER])
        if self.settle.settled(name):
            self.settle.forget(name)
            return READY, kind, head
        self.listing.kinds[name] = kind  # kept for the second look, with what it declares
        if may_declare(head):
            self.listing.dependent.add(name)
        return WRITING, None, None


def install(layout, listing, handout, settle_seconds):
    """On a shared mount, hand-written names are judged here (the hand-out asks, the
    listing reads its window's heads through it); returns the clock to close at the end."""
    if not layout.shared:
        return None
    clock = ServerClock(os.path.join(layout.jobqueue, CLOCK_FILE))
    readiness = SharedReadiness(listing, ServerSettle(clock, settle_seconds),
                                handout.readiness, splice=layout.fuse)
    handout.shared_readiness = listing.readiness = readiness
    return clock
