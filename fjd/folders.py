"""Open folders, so that an operation on one of their entries costs one lookup.

On a shared mount every component of a path may be a request to the file server: sshfs
mounted with entry_timeout=0 (docs/clusters.md, "Mount advice", so that other hosts' changes show at
once) checks each folder of root/jobpod/<worker>/<job> with the server before every open,
stat, rename, link or unlink, and NFS does the same whenever its lookup cache has expired.
An operation relative to an open folder (openat, renameat, linkat, unlinkat, fstatat: the
``dir_fd`` arguments of Python's os functions) checks only the last component.

The daemons on a shared mount switch this on (``use``) for the folders they work in all
the time: the root, jobqueue/, workerqueue/, done/, failed/, records/, arrays/, cancelled/,
jobpod/ and the inboxes in it. A listing opens its folder afresh (relative to the parent's
fd), since a kept directory fd could serve an old listing. Everything else, and every
daemon on a local disk (where a lookup costs no request), goes by path as before.

An open folder outlives its name: if the folder is removed or the root replaced, an fd
keeps pointing at the old one (or fails with ESTALE on NFS; sshfs goes by path itself).
So fds are reopened by path every OPEN_FOLDER_MAX_AGE seconds, and dropped at once when a daemon meets
a filesystem fault (``drop``, called from faults.Faults.failed); the daemon's checks of the
root by path stay the truth.
"""
import os
import time

from . import defaults

_OPEN_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class OpenFolders:
    """The folders of one queue root that are kept open, opened lazily by path."""

    def __init__(self, root, names, per_worker_parent=None, clock=time.monotonic):
        self.root = root
        self.top = {os.path.join(root, name) for name in names}
        self.per_worker_parent = per_worker_parent
        self.clock = clock
        self._open = {}  # folder path -> (fd, monotonic time opened); insertion = LRU order

    def eligible(self, folder):
        if folder in self.top or folder == self.root:
            return True
        return self.per_worker_parent is not None and \
            os.path.dirname(folder) == self.per_worker_parent

    def fd(self, folder):
        """An fd of folder, or None (not one of ours, or it cannot be opened now: the
        caller then goes by path and meets the real error there)."""
        entry = self._open.pop(folder, None)
        now = self.clock()
        if entry is not None:
            if now - entry[1] < defaults.OPEN_FOLDER_MAX_AGE:
                self._open[folder] = entry  # most recently used last
                return entry[0]
            close_quietly(entry[0])
        if not self.eligible(folder):
            return None
        try:
            fd = os.open(folder, _OPEN_FLAGS)
        except OSError:
            return None
        self._open[folder] = (fd, now)
        while len(self._open) > defaults.OPEN_FOLDERS_KEPT:
            oldest = next(iter(self._open))
            close_quietly(self._open.pop(oldest)[0])
        return fd

    def forget(self, folder):
        entry = self._open.pop(folder, None)
        if entry is not None:
            close_quietly(entry[0])

    def drop(self):
        while self._open:
            close_quietly(self._open.popitem()[1][0])


def close_quietly(fd):
    """Close fd, whatever the filesystem says: a dead mount's descriptor is gone anyway."""
    try:
        os.close(fd)
    except OSError:
        pass


_current = None  # the OpenFolders of this process, when switched on
_changed = set()  # folders this process changed since it last listed them


def _mark(path):
    if len(_changed) > 4096:
        _changed.clear()  # (only costs a refresh each)
    _changed.add(os.path.dirname(path))


def changed_since_listed(folder):
    """Whether this process created, removed or renamed something in folder since it last
    listed it (or asked this): NFS and sshfs then drop their cached listing of it by
    themselves, so the next listing is fresh without refresh_listing's dot-file
    (layout.refresh_listing). A listing made after the change fills the cache again, so it
    ends that too."""
    if folder in _changed:
        _changed.discard(folder)
        return True
    return False


def forget_changes(folder):
    _changed.discard(folder)


def use(layout):
    """Keep the queue's folders open from now on (daemons on a shared mount); layout is a
    layout.Layout (its folder names and the parent of the inboxes)."""
    global _current
    stop()
    _current = OpenFolders(layout.root, layout.folder_names, per_worker_parent=layout.jobpod)


def stop():
    global _current
    if _current is not None:
        _current.drop()
    _current = None


def drop():
    """Close every open folder; each is opened again by path when next used."""
    if _current is not None:
        _current.drop()


def forget(folder):
    if _current is not None:
        _current.forget(folder)


def at(path):
    """(dir_fd, name) for an operation on path: relative to its open folder when there is
    one, else (None, path). Use as ``os.stat(name, dir_fd=dir_fd)``."""
    if _current is None:
        return None, path
    folder, name = os.path.split(path)
    fd = _current.fd(folder)
    if fd is None:
        return None, path
    return fd, name


# -- the operations, by path, through the folder's fd where it is open -------------------

def lstat(path):
    dir_fd, name = at(path)
    return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)


def stat_folder(folder):
    """lstat() of a folder itself, through its fd where it is kept open: on a shared mount
    that is one request (the attributes), where a stat by name is two (lookup and
    attributes). Whether a kept fd still stands for the name is what OPEN_FOLDER_MAX_AGE and drop()
    see to."""
    fd = _current.fd(folder) if _current is not None else None
    if fd is None:
        return os.stat(folder, follow_symlinks=False)
    return os.fstat(fd)


O_PATH = getattr(os, "O_PATH", 0o10000000)  # Linux; Python has it from 3.x on Linux


def lexists(path):
    """Whether path names anything (a link counts; it is not followed). On a shared mount
    an O_PATH open asks the file server one question (the lookup), where a stat asks two
    (the lookup, then the attributes)."""
    if _current is not None:
        dir_fd, name = at(path)
        try:
            os.close(os.open(name, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd))
            return True
        except FileNotFoundError:
            return False
        except OSError:
            return os.path.lexists(path)
    try:
        lstat(path)
        return True
    except FileNotFoundError:
        return False
    except OSError:
        return os.path.lexists(path)


def must_exist(path):
    """FileNotFoundError unless path names something (one lookup on a shared mount)."""
    if _current is not None:
        dir_fd, name = at(path)
        os.close(os.open(name, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd))
    else:
        lstat(path)


def read_head(path, size):
    """The first size bytes of a queued file, as the daemons read one (b"" when unreadable;
    never follows a link, never blocks on a FIFO)."""
    try:
        fd = open_at(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY)
    except OSError:
        return b""
    try:
        return os.read(fd, size)
    except OSError:
        return b""
    finally:
        os.close(fd)


def open_at(path, flags, mode=0o777):
    dir_fd, name = at(path)
    fd = os.open(name, flags, mode, dir_fd=dir_fd)
    if flags & os.O_CREAT:
        _mark(path)
    return fd


def rename(source, target):
    src_fd, src = at(source)
    dst_fd, dst = at(target)
    os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
    _mark(source)
    _mark(target)


def note_renamed(source, target):
    """A rename made outside this module (renameat2)."""
    _mark(source)
    _mark(target)


def note_linked(target):
    """A link made outside this module (by descriptor)."""
    _mark(target)


def link(source, target):
    src_fd, src = at(source)
    dst_fd, dst = at(target)
    os.link(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
    _mark(target)


def unlink(path):
    dir_fd, name = at(path)
    os.unlink(name, dir_fd=dir_fd)
    _mark(path)


class _Listing:
    """os.scandir of a folder opened afresh for this one listing (through its parent's open
    fd where there is one: a kept fd could serve an old listing on a FUSE mount)."""

    def __init__(self, folder):
        # (a listing made after our own change fills the mount's cache again: from now on
        # only refresh_listing's dot-file makes the next listing fresh)
        _changed.discard(folder)
        self.fd = open_at(folder, _OPEN_FLAGS) if _current is not None else None
        self.entries = os.scandir(folder if self.fd is None else self.fd)

    def __enter__(self):
        return self.entries

    def __exit__(self, *exc):
        self.entries.close()
        if self.fd is not None:
            os.close(self.fd)


def scandir(folder):
    """A context manager like os.scandir(folder); use the entries' .name, never .path."""
    return _Listing(folder)


def listdir(folder):
    with scandir(folder) as entries:
        return [entry.name for entry in entries]
