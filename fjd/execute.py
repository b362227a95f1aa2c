"""Running one command for a worker: start it, wait for it, time it out or stop it, and know
where its output went.

A command runs without a shell, stdin from /dev/null, in a session and process group of its
own (so that a timeout or a stop kills everything it started), with stdout and stderr going
straight into files: by default the worker's output journals ``records/<worker>.out`` and
``.err``, which every job of the worker appends to. The record of a job keeps the file, the
offset and the length of its output. No pipe is ever involved, so a job that prints
gigabytes, or leaves a background process behind that keeps printing, never stalls its
worker; when such a process outlives its job, the worker starts new output journals so that
the stray output stays out of the next job's.
"""
import errno
import fcntl
import os
import signal
import time

from . import memory_watch, spawn
from .folders import close_quietly
from .layout import display
from .ready import F_SETLEASE
from .statx import cached_size


class Interrupted(Exception):
    """The worker was told to stop while a job ran; the job's process group is gone."""


class JobSignalled(Exception):
    """The job sent a stop signal to its own worker; its process group is gone and it is
    handed back like a crashed run. The message says what it did."""


class Withdrawn(Exception):
    """The job must not finish here (cancelled, or taken away); its process group is gone.
    The message says why."""


class Cancelled(Withdrawn):
    """`fjd cancel` asked for the job while it ran; its process group is gone."""

    def __init__(self):
        super().__init__("cancelled")


def signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return "signal %d" % number


def start_failure(program, error, cwd=None):
    """The one-line reason a program could not start (cwd: where it was started)."""
    shown = display(program)
    if isinstance(error, FileNotFoundError):
        if os.sep not in program and os.path.isfile(os.path.join(cwd or os.getcwd(), program)):
            return "program not found: %s (not on PATH; did you mean ./%s?)" % (shown, shown)
        return "program not found: %s (no such file, and not on PATH)" % shown
    if isinstance(error, PermissionError):
        return "program is not executable: %s (permission denied)" % shown
    if getattr(error, "errno", None) == errno.ENOEXEC:
        return "cannot execute %s: exec format error (a script without a #! line?)" % shown
    return "cannot start %s: %s" % (shown, error.strerror or error)


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def nobody_else_has_open(fd_path):
    """True when no other open descriptor of the file exists on this host: the kernel
    grants a write lease only then (Linux fcntl F_SETLEASE; local filesystems only)."""
    try:
        fd = os.open(fd_path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.fcntl(fd, F_SETLEASE, fcntl.F_WRLCK)
        fcntl.fcntl(fd, F_SETLEASE, fcntl.F_UNLCK)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


# -- output journals --------------------------------------------------------------------------

class OutputJournal:
    """A worker's journal of stdout (or stderr): records/<worker>.out, appended to by its
    jobs directly. A new generation (<worker>.2.out, ...) starts when a process of a
    finished job may still write to the current one."""

    def __init__(self, directory, writer_id, kind, home=None):
        """home: the descriptor the journal is kept at (1 or 2: the worker's own stdout
        and stderr were moved away, spawn.free_standard_descriptors), so that jobs
        inherit it as it is; None: wherever the open puts it."""
        self.directory = directory
        self.writer_id = writer_id
        self.kind = kind  # "out" or "err"
        self.home = home
        self.generation = 1
        self.fd = None
        self.size = 0

    @property
    def name(self):
        middle = "" if self.generation == 1 else ".%d" % self.generation
        return "%s%s.%s" % (self.writer_id, middle, self.kind)

    def fileno(self):
        if self.fd is None:
            fd = os.open(os.path.join(self.directory, self.name),
                         os.O_WRONLY | os.O_APPEND | os.O_CREAT |
                         getattr(os, "O_CLOEXEC", 0), 0o644)
            if self.home is not None:
                try:
                    os.dup2(fd, self.home)  # (inheritable there, as a job's stdout must be)
                finally:
                    os.close(fd)
                fd = self.home
            self.fd = fd
            self.size = cached_size(self.fd)
        return self.fd

    def span(self, start):
        """[file name, offset, length] of what was written since start, or None."""
        if self.fd is None:
            return None
        self.size = cached_size(self.fd)
        if self.size <= start:
            return None
        return [self.name, start, self.size - start]

    def reopen(self):
        """Open the same file again at the next job (after a failure of the mount)."""
        self.close()

    def rotate(self):
        """Leave the current file to whoever still writes to it."""
        self.close()
        self.generation += 1

    def close(self):
        if self.fd is not None:
            fd, self.fd = self.fd, None
            if fd == self.home:
                _point_at_null(fd)  # the home descriptor stays taken, by /dev/null
            else:
                close_quietly(fd)


def _point_at_null(fd):
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(null, fd)
    except OSError:
        pass
    finally:
        os.close(null)


# -- running ----------------------------------------------------------------------------------

class Runner:
    """Runs one command at a time and waits for it, woken early by the child's exit.

    tick() is called about every heartbeat while the command runs; a Withdrawn it returns
    stops the command (its process group is killed) and is raised. The waker's stop request raises Interrupted the same way.
    """

    def __init__(self, waker, grace, tick, tick_every):
        self.waker = waker
        self.grace = grace
        self.tick = tick
        self.tick_every = tick_every
        self.current_pid = None  # the running command's pid (its process group's id)

    def run(self, argv, cwd, env, same_cwd, timeout, stdout_fd, stderr_fd, memory=None):
        """Run once; a dict with exit_status, signal and reason (and cannot_start,
        timed_out or over_memory). memory: bytes the job asked for, or None."""
        try:
            proc = spawn.start(argv, cwd, env, stdout_fd, stderr_fd, same_cwd,
                               self.waker.unblocked())
        except OSError as error:
            return {"exit_status": None, "signal": None, "cannot_start": True,
                    "reason": start_failure(argv[0], error, cwd)}
        self.current_pid = proc.pid
        try:
            return self._wait(proc, timeout, memory)
        finally:
            self.current_pid = None

    def _wait(self, proc, timeout, memory=None):
        deadline = time.monotonic() + timeout if timeout else None
        next_tick = time.monotonic() + self.tick_every
        next_look = time.monotonic() + memory_watch.CHECK_EVERY if memory else None
        while True:
            code = proc.poll()
            if code is not None:
                break
            if self.waker.stopping:
                self.kill_group(proc)
                raise Interrupted()
            if self.waker.job_signals:
                signum, pid, who = self.waker.job_signals.pop(0)
                del self.waker.job_signals[:]
                self.kill_group(proc)
                raise JobSignalled("it sent %s to its own worker (from %s); its process "
                                   "group was killed" % (signal_name(signum), who))
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                self.kill_group(proc)
                return {"exit_status": None, "signal": None, "timed_out": True,
                        "reason": "timed out after %g s ([control] timeout); its process "
                                  "group was killed" % timeout}
            if next_look is not None and now >= next_look:
                next_look, over = now + memory_watch.CHECK_EVERY, self.over_memory(proc, memory)
                if over:
                    return over
            if now >= next_tick:
                next_tick = now + self.tick_every
                why = self.tick()
                if why is not None:
                    self.kill_group(proc)
                    raise why
            wait = next_tick - now
            if deadline is not None:
                wait = min(wait, deadline - now)
            wait = min(wait, next_look - now) if next_look is not None else wait
            self.waker.sleep(max(wait, 0.001))
        outcome = {"pid": proc.pid, "lingering": group_alive(proc.pid)}
        if code == 0:
            outcome.update(exit_status=0, signal=None, reason=None)
        elif code < 0:
            outcome.update(exit_status=None, signal=signal_name(-code),
                           reason="killed by %s" % signal_name(-code))
        else:
            outcome.update(exit_status=code, signal=None,
                           reason="exited with status %d" % code)
        return outcome

    def over_memory(self, proc, memory):
        """The outcome of a job whose process group uses more memory than it asked for
        (its group killed), else None (memory_watch.py)."""
        used = memory_watch.group_rss(proc.pid)
        if used <= memory:
            return None
        self.kill_group(proc)
        return {"exit_status": None, "signal": None, "over_memory": used,
                "reason": memory_watch.over_limit_reason(used, memory)}

    def kill_group(self, proc):
        """SIGTERM to the command's process group, SIGKILL after the grace time."""
        for sig, patience in ((signal.SIGTERM, self.grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            limit = time.monotonic() + patience
            while time.monotonic() < limit:
                if proc.poll() is not None and not group_alive(proc.pid):
                    return
                if sig == signal.SIGTERM and self.waker.stop_count > 1:
                    break  # asked twice: no more patience
                time.sleep(0.02)
        proc.wait()
