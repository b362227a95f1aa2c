"""Starting a job's process: os.posix_spawn where it fits, subprocess.Popen otherwise.

posix_spawn (vfork + exec inside the C library) costs a Python worker about half the CPU of
subprocess.Popen per job, which matters when jobs last milliseconds. It cannot change the
working directory before Python 3.13, so jobs with their own workdir use Popen. Either way:
argument list, no shell, stdin from /dev/null, a session and process group of its own,
default signal dispositions, and no file descriptors but 0, 1 and 2 inherited.
"""
import contextlib
import os
import signal
import subprocess

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


def start(argv, cwd, env, stdout_fd, stderr_fd, same_cwd, around_popen=None):
    """Start argv; returns a Child or Popen. Raises OSError if it cannot be started.

    around_popen: a context manager to hold while subprocess starts the child (the worker
    unblocks its stop signals there: posix_spawn resets the child's signal mask itself,
    subprocess cannot)."""
    if HAVE_POSIX_SPAWN and same_cwd:
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, stdout_fd, 1),
                   (os.POSIX_SPAWN_DUP2, stderr_fd, 2)]
        program = argv[0]
        launcher = os.posix_spawn if os.sep in program else os.posix_spawnp
        try:
            pid = launcher(program, argv, env, file_actions=actions, setsid=True,
                           setsigdef=_RESET_SIGNALS, setsigmask=())
        except (NotImplementedError, TypeError):
            pass  # an old C library or Python: fall back to Popen
        else:
            return Child(pid)
    with around_popen or contextlib.nullcontext():
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout_fd,
                                stderr=stderr_fd, cwd=cwd, env=env, start_new_session=True)
