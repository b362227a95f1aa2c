"""Wake-ups from Linux inotify, through ctypes (standard library only).

inotify only reports changes made through this host's kernel; other hosts' writes to a
shared mount are never seen. So it is only ever an early wake-up on top of polling, which
stays the ground truth (DESIGN.md rule 6). Where inotify is missing, ``DirWatcher.fileno()``
is None and the daemons simply poll.
"""
import ctypes
import ctypes.util
import errno
import logging
import os
import struct

log = logging.getLogger("fjd")

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

_libc = None


def _load_libc():
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            _libc.inotify_init1  # noqa: B018  (raises AttributeError where missing)
        except (OSError, AttributeError):
            _libc = False
    return _libc


_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then the name


def any_news(data):
    """Whether inotify events name anything but dot-names (or no name at all)."""
    offset = 0
    while offset + _EVENT.size <= len(data):
        _wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
        name = data[offset + _EVENT.size:offset + _EVENT.size + length].rstrip(b"\0")
        if not name.startswith(b"."):
            return True
        offset += _EVENT.size + length
    return False


def event_names(data):
    """The names inotify events carry (str, as os.listdir gives them)."""
    found, offset = [], 0
    while offset + _EVENT.size <= len(data):
        _wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
        name = data[offset + _EVENT.size:offset + _EVENT.size + length].rstrip(b"\0")
        if name:
            found.append(os.fsdecode(name))
        offset += _EVENT.size + length
    return found


class DirWatcher:
    """An inotify descriptor watching some folders; readable when something arrived.

    ignore_dot_names: events about dot-names (a worker's own heartbeat and announcement in
    its inbox, never jobs) do not count as news."""

    def __init__(self, ignore_dot_names=False):
        self.fd = None
        self.ignore_dot_names = ignore_dot_names
        libc = _load_libc()
        if not libc:
            return
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            log.debug("inotify unavailable (%s): polling only",
                      os.strerror(ctypes.get_errno()))
            return
        self.fd = fd

    def watch(self, path, mask=IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE):
        if self.fd is None:
            return False
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            log.debug("cannot watch %s: %s", path, os.strerror(ctypes.get_errno()))
            return False
        return True

    def fileno(self):
        return self.fd

    def drain(self):
        """Discard pending events (they only mean "look again"); True if there were any."""
        if self.fd is None:
            return False
        seen = False
        try:
            while True:
                data = os.read(self.fd, 65536)
                if not data:
                    break
                if not seen:
                    seen = not self.ignore_dot_names or any_news(data)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EINTR):
                raise
        return seen

    def take_names(self):
        """The names of the pending events (each read once), for a watcher that is not
        drained by the Waker."""
        found = []
        if self.fd is None:
            return found
        try:
            while True:
                data = os.read(self.fd, 65536)
                if not data:
                    break
                found += event_names(data)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EINTR):
                raise
        return found

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
