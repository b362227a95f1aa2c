"""One dispatcher per queue root, on any number of hosts.

The dispatcher creates ``dispatcher.lock`` in the queue root whole (written under a temporary
name, then hard-linked into place, which fails if the name exists: atomic on local
filesystems, NFS and sshfs) and rewrites it every beat (a second, 5 s on a shared mount)
with a growing counter. A second
dispatcher that finds the file watches it: if the content changes, the first one is alive and
the second refuses to start; if it stays the same for ``dead_after`` seconds on the second
one's own clock, the first is dead and the lock is taken over. On the same host a lock whose
process no longer exists is taken over at once. The holder reads the file back at every beat
and stops dispatching if somebody else took it over, so two dispatchers never overlap for more
than a beat.
"""
import errno
import logging
import os
import time

from . import folders
from .layout import display, hostname
from .liveness import HeartbeatWatch, decode_beat, read_beat, write_beat, write_beat_fd

log = logging.getLogger("fjd.dispatcher")

LOCK_NAME = "dispatcher.lock"


def holder_text(holder):
    """Who holds a lock, for people: 'the dispatcher on host X (pid N)'."""
    if holder.get("host") and holder.get("pid"):
        return "the dispatcher on host %s (pid %s)" % (display(str(holder["host"])),
                                                       holder["pid"])
    return "an unknown dispatcher (the lock file names no host and pid)"


def pid_namespace():
    """Which PID namespace this process is in ('' if unknown)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def holder_process_gone(holder):
    """On this host, in this PID namespace, a holder whose pid does not exist is gone.
    (Containers share host names and boot ids; pids mean nothing across namespaces.)"""
    if holder.get("host") != hostname() or holder.get("boot") != boot_id() or \
            holder.get("pidns") != pid_namespace():
        return False
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class LockRefused(Exception):
    """Another live dispatcher holds the queue root; the message says which."""


class DispatcherLock:
    def __init__(self, root, dead_after=8.0, poll=0.2):
        self.path = os.path.join(root, LOCK_NAME)
        self.dead_after = dead_after
        self.poll = poll
        self.token = os.urandom(8).hex()
        self.beats = 0
        self.size = 0
        self.fd = None  # the lock file kept open while held: a renewal is one write
        self.held = False
        self.hints = None  # where the holder takes wake-up hints (hints.py), if anywhere

    def _payload(self):
        payload = {"host": hostname(), "pid": os.getpid(), "boot": boot_id(),
                   "pidns": pid_namespace(), "token": self.token, "beat": self.beats}
        if self.hints:
            payload["hints"] = self.hints
        payload["worker_timeout"] = self.dead_after  # workers beat to it (defaults.worker_beat)
        return payload

    def acquire(self, should_stop=lambda: False, on_error=None):
        """Hold the lock (True), or give up when should_stop() says so (False). An OSError
        (a full disk, say) is passed to on_error, which waits, and the attempt is repeated:
        the lock file appears whole or not at all (written under a temporary name, then
        linked into place), so no empty lock is ever left behind."""
        while not should_stop():
            try:
                if self._create():
                    self.held = True
                    return True
            except OSError as error:
                if on_error is None:
                    raise
                on_error(error)
                continue
            self._wait_for_holder_or_take_over(should_stop)
        return False

    def _create(self):
        """Make the lock file with its content in one step; False if it exists."""
        tmp = "%s.%s.tmp" % (self.path, self.token)
        try:
            self.size = write_beat(tmp, self._payload())
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                return False
            except OSError as error:
                if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                os.close(fd)  # no hard links here: create, then fill it in
                self.size = write_beat(self.path, self._payload())
            return True
        except FileExistsError:
            return False
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def _wait_for_holder_or_take_over(self, should_stop):
        observer = HeartbeatWatch(self.dead_after)
        first = read_beat(self.path)
        if first is None:
            return  # it just went away: try again
        holder = decode_beat(first)
        if holder_process_gone(holder):
            log.warning("the previous dispatcher (pid %s on this host) is gone; taking over",
                        holder.get("pid"))
            self._steal(first)
            return
        observer.observe("lock", first)
        log.info("another dispatcher may hold %s; watching it for up to %g s",
                 display(self.path), self.dead_after)
        while not should_stop():
            time.sleep(self.poll)
            current = read_beat(self.path)
            if current is None:
                return
            if observer.is_dead("lock", current):
                log.warning("%s has not renewed %s for %g s: taking over", holder_text(holder),
                            display(self.path), self.dead_after)
                self._steal(current)
                return
            if current != first:
                holder = decode_beat(current) or holder
                raise LockRefused(
                    "another dispatcher is running on this queue root: %s (it renews %s "
                    "every beat). Stop it first; if it is dead, this dispatcher would take "
                    "over once the file stops changing for %g s."
                    % (holder_text(holder), display(self.path), self.dead_after))


    def _steal(self, stale_content):
        """Move the dead holder's lock aside, making sure it was the stale one we watched."""
        aside = "%s.stale-%s" % (self.path, self.token)
        try:
            os.rename(self.path, aside)
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ESTALE):
                return
            raise
        if read_beat(aside) != stale_content:
            # a new holder appeared in between: put its lock back, unless yet another exists
            try:
                os.link(aside, self.path)
            except OSError:
                pass
        try:
            os.unlink(aside)
        except OSError:
            pass

    def renew(self, root_present=lambda: True):
        """Beat; False when the lock is no longer ours (somebody took over). An OSError
        (the disk, the mount) is raised: the holder keeps the lock and tries again. A
        lock file gone from a root that is still there (a person removed it) is made
        again, unless another dispatcher made one first; if the root itself is gone
        (unmounted), FileNotFoundError is raised for the caller to wait for it."""
        if not self.held:
            return False
        try:
            current = self._read()
        except FileNotFoundError:
            if not root_present():
                raise
            if self._create():
                self._close_fd()  # it was the old file's
                log.warning("%s was gone; made it again", display(self.path))
                return True
            current = self._read()
        if current.get("token") != self.token:
            self.held = False
            self._close_fd()
            return False
        self.beats += 1
        try:
            if self.fd is None:
                self.fd = folders.open_at(self.path, os.O_WRONLY | os.O_CLOEXEC)
            self.size = write_beat_fd(self.fd, self._payload(), self.size)
        except FileNotFoundError:
            self.held = False
            return False
        except OSError:
            self._close_fd()  # (a stale handle, say) opened again next time
            raise
        return True

    def _read(self):
        """The lock's content through a fresh open (NFS: close-to-open consistency)."""
        fd = folders.open_at(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return decode_beat(os.read(fd, 65536))
        finally:
            os.close(fd)

    def _close_fd(self):
        if self.fd is not None:
            folders.close_quietly(self.fd)
            self.fd = None

    def release(self):
        self._close_fd()  # before the unlink: sshfs keeps unlinked open files as .fuse_hidden*
        if self.held and decode_beat(read_beat(self.path)).get("token") == self.token:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        self.held = False
