"""Where everything lives in a queue root: the folders, the files fjd keeps in them, and
the checks that the folders are fjd's own.

The folders are fjd's public contract (docs/records.md); every state change of a job is one
rename between them, so a crash at any instant leaves each job in exactly one place. The
file operations themselves are in fsops.py.
"""
import errno
import hashlib
import json
import logging
import os
import pwd
import re
import socket
import stat
import time

from . import folders
from .errors import QueueError
from .fsops import filesystem_type, is_shared_filesystem, list_names, refresh_listing

JOBQUEUE = "jobqueue"
WORKERQUEUE = "workerqueue"
JOBPOD = "jobpod"
DONE = "done"
FAILED = "failed"
RECORDS = "records"
CANCELLED = "cancelled"
ARRAYS = "arrays"
WAITING = "waiting"  # jobs whose dependencies ([control] after ...) are not met yet
FOLDERS = (JOBQUEUE, WORKERQUEUE, JOBPOD, DONE, FAILED, RECORDS, CANCELLED, ARRAYS, WAITING)
# files in a worker's inbox jobpod/<id>/ besides its jobs
HEARTBEAT_FILE = ".heartbeat"  # the worker's beat: counter, host, pid, running job
STOP_FILE = ".stop"  # left by `fjd workers stop`: the worker stops as on SIGTERM
SHARE_FILE = ".share"  # left by the dispatcher: give back the unstarted tasks of this range
CANCEL_PREFIX = ".cancel-"  # left by `fjd cancel` for a job in the inbox (cancel_request)
# The worker's announcement, parked: the dispatcher takes it out of workerqueue/ by moving it
# here, and the worker announces again by moving it back. Renames, not unlink and create: on
# ext4 without a journal, the kernel skips recently deleted inodes one by one on every file
# creation nearby for minutes (docs/speed.md), so the daemons delete no files in the normal
# course of work.
PARKED_ANNOUNCEMENT = ".announcement"
# In the root: the queue's id, made with the queue. A daemon whose root no longer holds it
# (an unmounted share shows an empty folder) waits instead of making a new queue there.
IDENTITY_FILE = ".fjd-queue"


log = logging.getLogger("fjd")


def resolve_root(root=None):
    """The queue root: --root, else $FJD_ROOT, else the current directory (the 2012 behaviour)."""
    if not root:
        root = os.environ.get("FJD_ROOT") or os.getcwd()
    return os.path.abspath(os.path.expanduser(root))


def display(name):
    """A name as one printable line, whatever bytes or newlines it holds."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return repr(text)[1:-1]


def hostname():
    return socket.gethostname() or "localhost"


def safe_hostname():
    """The host name as it may appear in file names (worker ids, log files)."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", hostname())[:60] or "host"


class Layout:
    """The paths of one queue root."""

    folder_names = FOLDERS

    def __init__(self, root=None):
        self.root = resolve_root(root)
        self.jobqueue = os.path.join(self.root, JOBQUEUE)
        self.workerqueue = os.path.join(self.root, WORKERQUEUE)
        self.jobpod = os.path.join(self.root, JOBPOD)
        self.done = os.path.join(self.root, DONE)
        self.failed = os.path.join(self.root, FAILED)
        self.records = os.path.join(self.root, RECORDS)
        self.cancelled = os.path.join(self.root, CANCELLED)
        self.arrays = os.path.join(self.root, ARRAYS)
        self.waiting = os.path.join(self.root, WAITING)
        self._shared = None
        self._fuse = None

    @property
    def shared(self):
        """Is the queue on a shared (network or FUSE) filesystem? Decided once."""
        if self._shared is None:
            self._shared = is_shared_filesystem(self.root)
        return self._shared

    @property
    def fuse(self):
        """Is the queue on a FUSE filesystem (sshfs)? Decided once. There every read()
        first asks the server for the file's attributes (fsops.read_spliced) and every
        close of a descriptor is a request to the FUSE daemon."""
        if self._fuse is None:
            self._fuse = self.shared and filesystem_type(self.root).startswith("fuse")
        return self._fuse

    def list_names(self, path):
        """list_names(), made fresh first where the filesystem caches listings."""
        if self.shared:
            refresh_listing(path)
        return list_names(path)

    def folder(self, name):
        return os.path.join(self.root, name)

    def inbox(self, worker_id):
        return os.path.join(self.jobpod, worker_id)

    def inbox_jobs(self, worker_id, fresh=False):
        """Job names in a worker's inbox, in the order the worker runs them (name order);
        None when the inbox is gone. fresh: see inbox_listing."""
        listing = self.inbox_listing(worker_id, fresh)
        return None if listing is None else inbox_jobs_of(listing)

    def inbox_listing(self, worker_id, fresh=False):
        """Every name in a worker's inbox, dot-names too; None when the inbox is gone.
        fresh: refresh a shared mount's cached listing first (costs two requests to the
        file server)."""
        path = self.inbox(worker_id)
        if fresh and self.shared:
            refresh_listing(path)
        try:
            return folders.listdir(path)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def ensure(self):
        """Create the folders (not writable by others) and the root's identity file, refuse
        folders that are links or belong to somebody else, warn about an unsafe root."""
        new = not os.path.lexists(self.jobqueue)
        for name in FOLDERS:
            make_dir(self.folder(name))
        check_folders(self.root)
        warn_if_unsafe(self.root)
        self.identity(create=True, new=new)

    # -- knowing the root again ------------------------------------------------------------

    @property
    def identity_path(self):
        return os.path.join(self.root, IDENTITY_FILE)

    def identity(self, create=False, new=False):
        """The root's id, from its identity file (made with the queue). create: make it when
        missing (a root made by fjd 0.2 has none). None when there is no identity file."""
        try:
            with open(self.identity_path, "rb") as handle:
                value = json.loads(handle.read().decode("utf-8", "replace")).get("id")
                if value:
                    return value
        except (OSError, ValueError, AttributeError):
            pass
        if not create:
            return None
        data = json.dumps({"id": os.urandom(8).hex(), "created": time.time(),
                           "host": hostname(), "new": new}).encode() + b"\n"
        tmp = os.path.join(self.root, ".fjd-queue.%d.%s.tmp" % (os.getpid(),
                                                                os.urandom(3).hex()))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            try:
                os.link(tmp, self.identity_path)  # never replaces one made meanwhile
            except FileExistsError:
                pass
            except OSError as error:
                if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                if not os.path.lexists(self.identity_path):
                    os.rename(tmp, self.identity_path)
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return self.identity()

    def present(self, expected):
        """Whether the root is still the queue whose id is expected (an unmounted share, or
        an empty folder in its place, is not)."""
        try:
            return self.identity() == expected
        except OSError:
            return False


def cancel_request(job_name):
    """The name of the file in an inbox that asks its worker to cancel job_name there."""
    return CANCEL_PREFIX + hashlib.sha1(os.fsencode(job_name)).hexdigest()[:16]


def make_dir(path):
    """Create a folder of the queue; QueueError when something else has its name."""
    try:
        os.makedirs(path, mode=0o755, exist_ok=True)
    except FileExistsError:
        raise QueueError("%s exists and is not a folder: move it away, or use another "
                         "--root" % display(path))


def check_folders(root):
    """QueueError for an fjd folder that is a symbolic link or belongs to another user:
    either lets somebody else decide where jobs and results go."""
    me = os.geteuid()
    for name in FOLDERS:
        path = os.path.join(root, name)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            raise QueueError("%s is a symbolic link, which fjd does not follow for its own "
                             "folders (anyone who can write the root could point it "
                             "elsewhere): remove it (rm %s) and fjd makes the folder"
                             % (display(path), display(path)))
        if info.st_uid != me:
            raise QueueError("%s belongs to %s, not to you: fjd uses only folders of its "
                             "own user; move it away (or ask its owner to) and fjd makes "
                             "a new one" % (display(path), user_name(info.st_uid)))


def user_name(uid):
    """The login name of uid, or "uid N" for one the password database does not know."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid


_warned = set()


def warn_if_unsafe(root):
    """Whoever can write the queue can run commands as the worker's user (docs/reliability.md: trust
    model): say so (once per process) for a root or folder that other users may write to."""
    for path in [root] + [os.path.join(root, f) for f in FOLDERS]:
        if path in _warned:
            continue
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if mode & stat.S_IWOTH:
            who = "every user"
        elif mode & stat.S_IWGRP:
            who = "its group"
        else:
            continue
        sticky = " (sticky, like /tmp: they cannot move your files, but can add theirs)" \
            if mode & stat.S_ISVTX else ""
        _warned.add(path)
        log.warning("%s is writable by %s%s: they can queue commands that run as you "
                    "(chmod go-w %s)", display(path), who, sticky, display(path))


def inbox_jobs_of(listing):
    """The jobs among an inbox's names, in the order the worker runs them (name order).
    Dot-names are the worker's own files (heartbeat, parked announcement, outputs) and
    requests to it (cancel, stop), never jobs."""
    return sorted(name for name in listing if not name.startswith("."))


