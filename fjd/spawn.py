"""Starting a job's process: os.posix_spawn where it fits, subprocess.Popen otherwise.

posix_spawn (vfork + exec inside the C library) costs a Python worker about half the CPU of
subprocess.Popen per job, which matters when jobs last milliseconds. It cannot change the
working directory before Python 3.13, so jobs with their own workdir use Popen. Either way:
argument list, no shell, stdin from /dev/null, a session and process group of its own,
default signal dispositions, and no file descriptors but 0, 1 and 2 inherited.
"""
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time

from .defaults import PROGRAM_PATH_SECONDS

_RESET_SIGNALS = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ")
                       if hasattr(signal, name))
HAVE_POSIX_SPAWN = hasattr(os, "posix_spawn") and hasattr(os, "POSIX_SPAWN_DUP2")


class Child:
    """The few things of a Popen object the worker uses: pid, poll(), wait()."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def _reap(self, flags):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, flags)
            except ChildProcessError:
                self.returncode = 255
                return self.returncode
            if pid:
                self.returncode = exit_code(status)
        return self.returncode

    def poll(self):
        return self._reap(os.WNOHANG)

    def wait(self):
        return self._reap(0)


class ProgramPaths:
    """Where PATH finds a program, remembered for a second as a shell's command hash does.
    A search in the child tries each PATH folder before the program's (an execve each: a
    tenth of what starting `true` costs with a PATH of ten folders), and the jobs of a sweep
    start the same program hundreds of times a second. A remembered path that fails to
    start is forgotten and the program searched for again as before, so a program moved or
    removed meanwhile fails or runs exactly as it would have; one installed in an earlier
    PATH folder is found within the second."""

    def __init__(self, seconds=PROGRAM_PATH_SECONDS, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.known = {}  # (program, PATH) -> (path, until)

    def find(self, program):
        """The program's path, or None: search as the C library does (PATH unset, or
        relative folders in it, which depend on the working directory)."""
        search_path = os.environ.get("PATH")
        if not search_path:
            return None
        key = (program, search_path)
        now = self.clock()
        known = self.known.get(key)
        if known is not None and now < known[1]:
            return known[0]
        found = search(program, search_path)
        if len(self.known) >= 256:
            self.known.clear()
        self.known[key] = (found, now + self.seconds)
        return found

    def forget(self):
        self.known.clear()


def search(program, search_path):
    """The first executable file named program in search_path's folders, as execvp finds
    it; None when a folder is relative or nothing is found."""
    for folder in search_path.split(os.pathsep):
        if not os.path.isabs(folder):
            return None
        candidate = os.path.join(folder, program)
        if os.access(candidate, os.X_OK) and os.path.isfile(candidate):
            return candidate
    return None


PROGRAMS = ProgramPaths()


def spawn_program(argv, env, actions):
    """posix_spawn argv (a program without a folder: found in PATH, see ProgramPaths)."""
    program = argv[0]
    options = dict(file_actions=actions, setsid=True, setsigdef=_RESET_SIGNALS, setsigmask=())
    if os.sep in program:
        return os.posix_spawn(program, argv, env, **options)
    found = PROGRAMS.find(program)
    if found is not None:
        try:
            return os.posix_spawn(found, argv, env, **options)
        except OSError:
            PROGRAMS.forget()  # (moved or gone: search again, and fail as execvp would)
    return os.posix_spawnp(program, argv, env, **options)


def exit_code(status):
    """Like subprocess: the exit status, or minus the signal number (Python 3.8 has no
    os.waitstatus_to_exitcode)."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 255


def close_inherited_descriptors():
    """Mark every descriptor above 2 close-on-exec, so posix_spawn passes on none of them."""
    try:
        fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def free_standard_descriptors():
    """Move this process's own stdout and stderr (its log) to other descriptors, leaving
    1 and 2 on /dev/null for the output journals to take (OutputJournal's home).

    Why: a job's stdout and stderr must be descriptors 1 and 2 of the child; given as
    other descriptors, they are copied there and the child closes the originals when it
    starts, and on FUSE (sshfs) every close of a descriptor is a request to the FUSE daemon.
    Where they are 1 and 2 already, the child inherits them as they are: two requests less
    per job or task. The logging handlers and sys.stdout/sys.stderr follow the move."""
    moved = {}
    for fd, name in ((1, "stdout"), (2, "stderr")):
        stream = getattr(sys, name)
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
        try:
            copy = os.dup(fd)  # (not inheritable: jobs never see the worker's log)
        except OSError:  # started with it closed: the log goes nowhere, as it did
            copy = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        replacement = os.fdopen(copy, "w", buffering=1,
                                encoding=getattr(stream, "encoding", None) or "utf-8",
                                errors=getattr(stream, "errors", None) or "backslashreplace")
        moved[id(stream)] = replacement
        setattr(sys, name, replacement)
    loggers = [logging.getLogger()] + [item for item in logging.Logger.manager.loggerDict
                                       .values() if isinstance(item, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and id(handler.stream) in moved:
                handler.setStream(moved[id(handler.stream)])
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
    finally:
        os.close(null)


def start(argv, cwd, env, stdout_fd, stderr_fd, same_cwd, around_popen=None):
    """Start argv; returns a Child or Popen. Raises OSError if it cannot be started.

    around_popen: a context manager to hold while subprocess starts the child (the worker
    unblocks its stop signals there: posix_spawn resets the child's signal mask itself,
    subprocess cannot)."""
    if HAVE_POSIX_SPAWN and same_cwd:
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
        for fd, target in ((stdout_fd, 1), (stderr_fd, 2)):
            if fd != target:  # (already there: free_standard_descriptors)
                actions.append((os.POSIX_SPAWN_DUP2, fd, target))
        try:
            pid = spawn_program(argv, env, actions)
        except (NotImplementedError, TypeError):
            pass  # an old C library or Python: fall back to Popen
        else:
            return Child(pid)
    with around_popen or contextlib.nullcontext():
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout_fd,
                                stderr=stderr_fd, cwd=cwd, env=env, start_new_session=True)
