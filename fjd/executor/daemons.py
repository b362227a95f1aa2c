"""Executor(workers=N): a dispatcher (unless one serves the root already) and N local
workers for the executor's lifetime, started as `fjd run` starts them and stopped the same
way (SIGTERM: a worker hands back what it has not finished). They are told to stop by
themselves once this process is gone (--exit-with: a caller SIGKILLed leaves no daemons)."""
import os
import time

from ..liveness import decode_beat, read_beat
from ..lock import LOCK_NAME, holder_process_gone
from ..layout import hostname
from ..names import nonce
from ..errors import RecruitError
from ..recruit.local import (child_env, find_registered, fjd_argv, stamp,
                             start_logged_process, stop_processes, tail, worker_argv)


def dispatcher_serves(layout):
    """Whether a live dispatcher on this host holds the root's lock. (One on another host
    cannot be told alive at a glance: a second dispatcher started then watches the lock
    and leaves if the holder lives.)"""
    holder = decode_beat(read_beat(os.path.join(layout.root, LOCK_NAME)))
    if not holder or holder.get("host") != hostname():
        return False
    pid = holder.get("pid")
    return isinstance(pid, int) and not holder_process_gone(holder) and _alive(pid)


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class Daemons:
    """The processes one executor started."""

    def __init__(self, layout, count, log_level="WARNING", timeout=15.0):
        self.layout = layout
        self.dispatcher = None
        self.workers = []
        self.log_dir = os.path.join(layout.root, "logs", "executor-%s-%s" % (stamp(),
                                                                             nonce(3)))
        os.makedirs(self.log_dir, exist_ok=True)
        env = child_env()
        cwd = os.getcwd()
        if not dispatcher_serves(layout):
            self.dispatcher = start_logged_process(
                fjd_argv() + ["dispatcher", "--root", layout.root, "--log-level", log_level,
                              "--exit-with", str(os.getpid())],
                os.path.join(self.log_dir, "dispatcher.log"), cwd, detached=True, env=env)
        argv = worker_argv(layout.root, log_level, ["--exit-with", str(os.getpid())])
        self.workers = [start_logged_process(argv, os.path.join(self.log_dir,
                                                                "worker-%d.log" % n),
                                             cwd, detached=True, env=env)
                        for n in range(1, count + 1)]
        self.wait_registered(self.workers, timeout)

    def wait_registered(self, workers, timeout):
        """Until every worker has its heartbeat (or has exited): the first call then finds
        them announced."""
        pids = {proc.pid for proc in workers}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = find_registered(self.layout, pids, hostname())
            if all(p.pid in found or p.poll() is not None for p in workers):
                break
            time.sleep(0.02)
        exited = [n for n, p in enumerate(workers, 1) if p.poll() is not None]
        if exited:
            self.stop()
            log = os.path.join(self.log_dir, "worker-%d.log" % exited[0])
            raise RecruitError("fjd.Executor: a worker it started exited at once:\n%s"
                               % tail(log))

    def stop(self, timeout=30.0):
        """SIGTERM to the workers, then to the dispatcher; SIGKILL after timeout."""
        stop_processes(self.workers + [self.dispatcher], timeout)
        self.workers, self.dispatcher = [], None
