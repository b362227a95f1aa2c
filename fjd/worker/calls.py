"""Python calls for the worker (DESIGN.md, "Python calls"): a job or array whose [control]
says ``python: calls`` is run by a long-lived call runner (fjd/executor/serve.py) instead of
a new process per task. The runner is started on the first call, with the worker's
environment and its output journals as stdout and stderr, and kept; a timeout, a stop, a
cancel or the runner's death kill it (its process group), and the next call starts a new
one. The task is recorded as for a command: done, or failed with the exception's line."""
import collections
import json
import os
import signal
import subprocess
import sys
import time

from .. import names
from ..execute import Interrupted, JobSignalled, signal_name
from ..executor import frames
from ..executor.payload import CallFailed, pack_outcome
from ..executor.serve import OK_LINE, OK_REPLY, RESULTS_PREFIX, key_of

AHEAD = 32  # requests of a range's next tasks kept with the runner
CALL_ENV = ("FJD_JOB_NAME", "FJD_ATTEMPT", "FJD_ARRAY", "FJD_TASK", "FJD_TASKS")  # sent along
OK_BYTES = OK_LINE.rstrip("\n").encode()  # (the reply of almost every call: not parsed)
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Replies:
    """The runner's reply pipe, as a Waker watcher: readable ends the worker's sleep."""

    def __init__(self, fd):
        self.fd = fd
        self.buffer = b""
        self.ended = False

    def fileno(self):
        return None if self.ended else self.fd

    def drain(self):
        try:
            data = os.read(self.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return False
        if not data:
            self.ended = True
            return True
        self.buffer += data
        return b"\n" in self.buffer

    def take(self):
        """The next reply, or None."""
        if b"\n" not in self.buffer:
            return None
        line, self.buffer = self.buffer.split(b"\n", 1)
        return OK_REPLY if line == OK_BYTES else json.loads(line)


class CallHost:
    """The worker's end of its call runner."""

    def __init__(self, launcher):
        self.launcher = launcher
        self.proc = None
        self.replies = None
        self.journal_fds = None
        self.sent = collections.deque()  # requests whose replies are still to come
        self.unsent = []  # request lines not written yet (flush)
        self.range_name = self.range_end = None

    def run(self, argv, env, timeout, final, ahead=False):
        """Run one call; its outcome dict. ahead: a map's next tasks of the range may be
        sent before they are asked for (no retries), so that the runner never waits for
        the worker's recording of a task (a task given back or shared after it was sent
        may then run twice; its first outcome wins at the caller)."""
        words = tuple(argv[3:])
        self.ensure_runner()
        if self.sent and self.sent[0] != words:
            self.stop()  # (sent ahead for tasks given away since)
            self.ensure_runner()
        if not self.sent:
            self.send(words, env, final)
        if ahead:
            self.send_ahead(words, env, final)
        self.flush()
        outcome = self.wait(timeout)
        if outcome.get("exit_status") != 0 and outcome.get("written") is False and final:
            self.write_failure(words, outcome["reason"])
        return outcome

    def reply_ready(self):
        """Whether a reply was read and not taken yet (the next task's wait is none)."""
        return self.replies is not None and b"\n" in self.replies.buffer

    def send(self, words, env, final):
        request = {"words": words, "final": final,
                   "env": {k: env[k] for k in CALL_ENV if k in env}}
        self.unsent.append(json.dumps(request) + "\n")
        self.sent.append(words)

    def flush(self):
        """Write the requests made since the last flush, in one write."""
        data, self.unsent = "".join(self.unsent).encode(), []
        try:
            while data:
                data = data[os.write(self.proc.stdin.fileno(), data):]
        except OSError:
            pass  # (dead: the wait finds out)

    def send_ahead(self, words, env, final):
        """Keep up to AHEAD requests of the range's next tasks with the runner."""
        if words[1] != "map" or "FJD_TASK" not in env or len(self.sent) > AHEAD // 2:
            return  # (refilled by halves: one write, one wake-up of the runner, for many)
        last = self.current_range_end()
        task, index = int(env["FJD_TASK"]), int(words[3])
        following = task + len(self.sent)
        while len(self.sent) < AHEAD and last is not None and following <= last:
            name = "%s#%d" % (env.get("FJD_ARRAY"), following)
            self.send(words[:3] + (str(index + following - task),),
                      dict(env, FJD_TASK=str(following), FJD_JOB_NAME=name, FJD_ATTEMPT="1"),
                      final)
            following += 1

    def current_range_end(self):
        """The last task of the range being run (it shrinks when shared)."""
        job = self.launcher.presence.job
        if job != self.range_name:
            self.range_name, self.range_end = job, names.parse(job).last if job else None
        return self.range_end

    def ensure_runner(self):
        launcher = self.launcher
        fds = (launcher.journals.out.fileno(), launcher.journals.err.fileno())
        if self.proc is not None and fds == self.journal_fds and (
                self.sent or self.proc.poll() is None):
            return  # (with requests sent, a death shows as the end of its replies)
        self.stop()
        read, write = os.pipe()
        os.set_blocking(read, False)
        env = dict(launcher.base_env)
        path = env.get("PYTHONPATH", "")
        if PACKAGE_PARENT not in path.split(os.pathsep):
            env["PYTHONPATH"] = PACKAGE_PARENT + (os.pathsep + path if path else "")
        uids = ",".join(str(u) for u in sorted(launcher.allowed_uids))
        argv = [sys.executable or "python3", "-m", "fjd.executor.serve", "--runner",
                launcher.layout.root, launcher.presence.worker_id, uids, str(write)]
        try:
            with launcher.presence.waker.unblocked():
                self.proc = subprocess.Popen(
                    argv, stdin=subprocess.PIPE, stdout=fds[0], stderr=fds[1],
                    cwd=launcher.cwd, env=env, start_new_session=True, pass_fds=(write,))
        finally:
            os.close(write)
        self.replies = Replies(read)
        self.journal_fds = fds

    def wait(self, timeout):
        """The runner's reply as an outcome dict; kills the runner on a timeout, a stop,
        a signal from the job, a withdrawal (tick), or when it died."""
        runner = self.launcher.runner
        waker = self.launcher.presence.waker
        deadline = time.monotonic() + timeout if timeout else None
        next_tick = time.monotonic() + runner.tick_every
        replies = self.replies  # (stop() forgets it)
        waker.watchers.append(replies)
        try:
            while True:
                reply = replies.take()
                if reply is not None:
                    self.sent.popleft()
                    return {"exit_status": 0 if reply["ok"] else 1, "signal": None,
                            "reason": reply["reason"], "written": None}
                if replies.ended:
                    return self.died()
                if waker.stopping:
                    self.stop()
                    raise Interrupted()
                if waker.job_signals:
                    signum, pid, who = waker.job_signals.pop(0)
                    del waker.job_signals[:]
                    self.stop()
                    raise JobSignalled("it sent %s to its own worker (from %s); its call "
                                       "runner was killed" % (signal_name(signum), who))
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    self.stop()
                    return {"exit_status": None, "signal": None, "timed_out": True,
                            "written": False,
                            "reason": "timed out after %g s ([control] timeout); its call "
                                      "runner was killed" % timeout}
                if now >= next_tick:
                    next_tick = now + runner.tick_every
                    why = runner.tick()
                    if why is not None:
                        self.stop()
                        raise why
                wait = next_tick - now
                if deadline is not None:
                    wait = min(wait, deadline - now)
                if b"\n" not in replies.buffer and not replies.ended:
                    waker.sleep(max(wait, 0.001))
        finally:
            waker.watchers.remove(replies)

    def died(self):
        code = self.proc.wait()
        self.stop()
        how = "killed by %s" % signal_name(-code) if code and code < 0 else \
            "exited with status %s" % code
        return {"exit_status": None, "signal": signal_name(-code) if code and code < 0
                else None, "reason": "its call runner died (%s)" % how, "written": False}

    def write_failure(self, words, reason):
        """The outcome of a call whose runner could not write one (killed, died): a
        CallFailed with the reason, written by the worker while no runner runs."""
        key = key_of(words)
        if key is None:
            return
        path = os.path.join(self.launcher.layout.root, words[0],
                            RESULTS_PREFIX + self.launcher.presence.worker_id)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW |
                         os.O_CLOEXEC, 0o644)
        except OSError:
            return
        try:
            frames.append_frame(fd, key, pack_outcome(False, None, CallFailed(reason), ""))
        finally:
            os.close(fd)

    def stop(self):
        """Kill the runner's process group (its calls' children too) and forget it."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self.proc.wait()
            self.proc = None
        self.sent.clear()
        self.unsent = []
        if self.replies is not None:
            os.close(self.replies.fd)
            self.replies = None

