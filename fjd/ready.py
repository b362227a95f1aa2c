"""Is a job file complete? Never dispatch a file that is still being written (DESIGN.md rule 4).

Careful writers use a temporary name and rename; the 2012 example wrote in place. On a local
filesystem the kernel knows whether anybody still has the file open for writing: a read
lease (fcntl F_SETLEASE) is granted only when nobody does. Where leases are not available
(NFS, FUSE, another user's file) a file is taken once its size and mtime have stayed the same
for a settle time measured on our own monotonic clock.
"""
import errno
import fcntl
import os
import stat
import time

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
