"""Workers as detached processes on this host, each with its own log file.

The same helpers start the daemons of `fjd run` and, through `fjd workers start`, the workers
that ssh and Slurm start on other hosts.
"""
import os
import signal
import subprocess
import sys
import time

from ..errors import RecruitError
from ..layout import display, hostname, safe_hostname
from ..fsops import list_names
from ..names import nonce
from ..liveness import read_heartbeat

LOGS = "logs"
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fjd_argv(python=None):
    """How to run fjd itself: the same Python, as a module."""
    return [python or sys.executable or "python3", "-m", "fjd"]


def worker_argv(root, log_level, options=(), python=None):
    """The `fjd worker` command line for a queue root, with forwarded worker options."""
    return fjd_argv(python) + ["worker", "--root", root, "--log-level", log_level] + \
        list(options)


def child_env(extra=None):
    """Our environment, with fjd importable even when it is not installed."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH", "")
    if PACKAGE_PARENT not in path.split(os.pathsep):
        env["PYTHONPATH"] = PACKAGE_PARENT + (os.pathsep + path if path else "")
    env.update(extra or {})
    return env


def stamp():
    return time.strftime("%Y%m%d-%H%M%S")


def log_dir_for(layout, chosen=None):
    path = os.path.abspath(chosen) if chosen else os.path.join(layout.root, LOGS)
    os.makedirs(path, exist_ok=True)
    return path


def start_logged_process(argv, log_path, cwd, detached, env=None):
    """Start argv with stdout and stderr appended to log_path; returns the Popen."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        return subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=fd,
                                stderr=fd, env=env or child_env(), close_fds=True,
                                start_new_session=detached)
    finally:
        os.close(fd)


def stop_processes(procs, timeout=30.0):
    """SIGTERM to each child that still runs, in the order given, then wait for them all;
    SIGKILL to those still there after timeout (None entries are skipped)."""
    procs = [proc for proc in procs if proc is not None]
    for proc in procs:
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tail(path, lines=5):
    """The last lines of a log file ("" if unreadable)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 4000))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def cpu_count():
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def find_registered(layout, pids, host):
    """{pid: worker id} for the workers among pids that have a heartbeat on this host."""
    found = {}
    for worker_id in list_names(layout.jobpod):
        beat = read_heartbeat(layout.inbox(worker_id))
        if beat and beat.pid in pids and beat.host == host:
            found[beat.pid] = worker_id
    return found


class Started:
    """What start_local did: (worker id, pid, log) of registered workers, and problems."""

    def __init__(self):
        self.workers = []
        self.problems = []


def start_local(layout, count, log_level, options=(), log_dir=None, cwd=None, timeout=15.0,
                each=None):
    """Start count detached workers here and wait until each has registered. each: the
    options of each worker of its own (its cores and GPUs, recruit/shapes.py), or None."""
    log_dir = log_dir_for(layout, log_dir)
    cwd = os.path.abspath(cwd) if cwd else os.getcwd()
    if not os.path.isdir(cwd):
        raise RecruitError("--cwd %s is not a directory" % display(cwd), 2)
    layout.ensure()
    host = hostname()
    base = "worker-%s-%s-%s" % (safe_hostname(), stamp(), nonce(3))
    argv = worker_argv(layout.root, log_level, options)
    started = []
    for number in range(1, count + 1):
        log_path = os.path.join(log_dir, "%s-%d.log" % (base, number))
        own = list(each[number - 1]) if each else []
        started.append((start_logged_process(argv + own, log_path, cwd, detached=True),
                        log_path))
    pids = {proc.pid for proc, _ in started}
    deadline = time.monotonic() + timeout
    while True:
        found = find_registered(layout, pids, host)
        exited = [p for p, _ in started if p.pid not in found and p.poll() is not None]
        if len(found) + len(exited) >= len(started) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    result = Started()
    for proc, log_path in started:
        if proc.pid in found:
            result.workers.append((found[proc.pid], proc.pid, log_path))
        elif proc.poll() is not None:
            result.problems.append("worker pid %d exited with status %s:\n%s"
                                   % (proc.pid, proc.returncode, tail(log_path)))
        else:
            result.problems.append("worker pid %d has not registered after %.0f s (still "
                                   "starting?); see %s" % (proc.pid, timeout,
                                                           display(log_path)))
    return result
