"""Who is alive, decided without comparing two hosts' clocks (DESIGN.md rule 5).

A live process rewrites a small file (its heartbeat) every beat with a growing counter.
An observer reads the file and remembers, on its own monotonic clock, when the content last
changed; a process whose heartbeat has not changed for ``dead_after`` seconds is dead.
Content, not mtime, is compared, and the file is opened afresh each time, which makes NFS
revalidate it (close-to-open consistency), so neither clock skew nor attribute caches
can fake a death or hide one.
"""
import collections
import json
import os
import stat
import time

from . import folders
from .fsops import read_spliced
from .layout import HEARTBEAT_FILE
from .statx import cached_stat

# What a worker's heartbeat says: its beat counter, host, pid and the job it is running
# (None between jobs). info holds the whole decoded heartbeat for fields added later.
Beat = collections.namedtuple("Beat", "count host pid job info")


def write_beat(path, payload, previous_size=0, create=True, size=256):
    """Rewrite a heartbeat file in place, padded with blanks; returns the size written.

    It never truncates: on ext4 truncating a file that holds data forces a flush to disk
    (auto_da_alloc), which costs hundreds of microseconds per beat. The file only grows,
    padded with JSON-neutral blanks, so readers always see one whole JSON object. Padding
    it to size once, when it is made, means later beats need no new disk space, even on a
    full disk. create=False: FileNotFoundError when the file is gone (a worker whose inbox
    was taken away must not make it again).
    """
    fd = os.open(path, os.O_WRONLY | (os.O_CREAT if create else 0), 0o644)
    try:
        return write_beat_fd(fd, payload, previous_size, size)
    finally:
        os.close(fd)


def write_beat_fd(fd, payload, previous_size=0, size=256):
    """write_beat() into a heartbeat file kept open."""
    data = (json.dumps(payload) + "\n").encode()
    size = max(previous_size, -(-len(data) // size) * size)
    os.pwrite(fd, data.ljust(size, b" "), 0)
    return size


def read_beat(path, splice=False):
    """The raw heartbeat bytes, or None when missing or unreadable.

    Never follows a link and never blocks (a FIFO planted as .heartbeat reads as empty).
    splice (FUSE mounts): read with sendfile, which spares the attribute request a read()
    makes first; the open itself brought the attributes, and dropped what this host had
    cached of the file (fsops.read_spliced)."""
    try:
        fd = folders.open_at(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY)
    except OSError:
        return None
    try:
        if splice and stat.S_ISREG(cached_stat(fd).st_mode):
            data = read_spliced(fd, 65536)
            if data is not None:
                return data
        return os.read(fd, 65536)
    except OSError:
        return None
    finally:
        os.close(fd)


def decode_beat(raw):
    """The heartbeat as a dict ({} when unreadable)."""
    if not raw:
        return {}
    try:
        value = json.loads(raw.decode("utf-8", "replace"))
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


def read_heartbeat(inbox):
    """The Beat in a worker's inbox, or None when missing or not a worker's heartbeat."""
    return parse_beat(decode_beat(read_beat(os.path.join(inbox, HEARTBEAT_FILE))))


def parse_beat(info):
    try:
        return Beat(int(info["beat"]), str(info.get("host") or "?"), int(info["pid"]),
                    info.get("job"), info)
    except (KeyError, TypeError, ValueError):
        return None


class HeartbeatWatch:
    """Tracks heartbeat contents, on the watcher's own clock, and reports the ones that
    stopped changing."""

    def __init__(self, dead_after, clock=time.monotonic):
        self.dead_after = dead_after
        self.clock = clock
        self._last = {}  # key -> (content, monotonic time it was first seen with that content)

    def observe(self, key, content):
        """Record what key's heartbeat holds now; returns seconds since it last changed."""
        now = self.clock()
        previous = self._last.get(key)
        if previous is None or previous[0] != content:
            self._last[key] = (content, now)
            return 0.0
        return now - previous[1]

    def is_dead(self, key, content):
        return self.observe(key, content) >= self.dead_after

    def unchanged_for(self, key):
        previous = self._last.get(key)
        return 0.0 if previous is None else self.clock() - previous[1]

    def forget(self, key):
        self._last.pop(key, None)

    def keys(self):
        return list(self._last)
