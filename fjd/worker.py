"""The worker: announces itself, runs what lands in its inbox, files the result, repeats.

A worker owns ``jobpod/<worker id>/`` (its inbox) and ``workerqueue/<worker id>`` (its
"I am idle" announcement). For each job in its inbox it runs
``shlex.split(executable) + [absolute job path]`` without a shell, stdout and stderr into
files, then moves the job to ``done/`` or ``failed/`` with a record in ``records/``.

Stopping (SIGINT, SIGTERM, SIGHUP): a running job's whole process group gets SIGTERM, then
SIGKILL after the grace time; the interrupted job and any not yet started go back to
``jobqueue/`` unchanged, to be run again from the start by another worker.
"""
import fcntl
import logging
import os
import pwd
import signal
import time

from . import defaults, names, records, spawn
from .jobfile import JobError, load
from .layout import (HEARTBEAT_FILE, PARKED_ANNOUNCEMENT, STOP_FILE, Layout, QueueError,
                     display, hostname, make_dir, safe_hostname, try_rename,
                     warn_if_world_writable, write_file_atomic)
from .liveness import write_beat
from .notify import IN_MOVED_TO, DirWatcher
from .ready import F_SETLEASE
from .waker import Waker

log = logging.getLogger("fjd.worker")

REANNOUNCE_EVERY = 2.0  # seconds; renews a lost announcement (e.g. a dispatcher crash)
STDOUT_FILE = ".stdout"
STDERR_FILE = ".stderr"


def new_worker_id():
    """host-pid-random: unique even when two hosts share a hostname."""
    return "%s-%d-%s" % (safe_hostname(), os.getpid(), os.urandom(3).hex())


def signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return "signal %d" % number


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid


class Interrupted(Exception):
    """The worker was told to stop while a job ran."""


class Cancelled(Exception):
    """The job file left the inbox while it ran (`fjd cancel` moved it to cancelled/)."""


class Worker:
    def __init__(self, root=None, interval=defaults.WORKER_INTERVAL,
                 heartbeat=defaults.HEARTBEAT_INTERVAL, grace=defaults.GRACE,
                 max_job_bytes=defaults.MAX_JOB_BYTES, allow_users=(), worker_id=None,
                 lifetime=None):
        self.layout = Layout(root)
        self.interval = interval
        self.heartbeat_interval = heartbeat
        self.grace = grace
        self.max_job_bytes = max_job_bytes
        self.allowed_uids = {os.geteuid()} | {self._uid(u) for u in allow_users}
        self.worker_id = worker_id
        self.lifetime = lifetime
        self.started = time.monotonic()
        self.inbox = None
        self.host = hostname()
        self.waker = None
        self.beats = 0
        self.last_beat = None
        self.current_job = None
        self.watcher = None
        self.beat_size = 0
        self.announced_at = None
        self.reusable_outputs = set()
        self.handbacks = 0
        self.finished = 0
        self.cwd = os.getcwd()
        self.base_env = dict(os.environ)

    @staticmethod
    def _uid(user):
        if str(user).isdigit():
            return int(user)
        try:
            return pwd.getpwnam(user).pw_uid
        except KeyError:
            raise ValueError("--allow-user %s: no such user" % user)

    # -- life cycle -----------------------------------------------------------------------

    def register(self):
        for folder in (self.layout.jobqueue, self.layout.workerqueue, self.layout.jobpod,
                       self.layout.done, self.layout.failed, self.layout.records):
            make_dir(folder)
        warn_if_world_writable(self.layout.root)
        requested = self.worker_id
        while True:
            self.worker_id = requested or new_worker_id()
            self.inbox = self.layout.inbox(self.worker_id)
            self.beat_size = 0
            try:
                os.mkdir(self.inbox, 0o755)
                break
            except FileExistsError:
                if requested:
                    raise QueueError("a worker called %s already exists (its inbox is %s)"
                                     % (display(requested), display(self.inbox)))
        self.beat(force=True)
        if self.watcher is not None:
            self.watcher.watch(self.inbox, IN_MOVED_TO)
        self.announce()

    def run(self):
        spawn.close_inherited_descriptors()
        self.waker = Waker(watch_children=True)
        try:
            self.register()
            log.info("worker %s on %s serving %s (pid %d)", self.worker_id, self.host,
                     display(self.layout.root), os.getpid())
            watcher = self.watcher = DirWatcher()
            watcher.watch(self.inbox, IN_MOVED_TO)
            self.waker.watchers.append(watcher)
            try:
                self.serve()
            finally:
                watcher.close()
        finally:
            if self.inbox:
                self.leave()
            self.waker.close()
        log.info("worker %s stopped after %d jobs", self.worker_id, self.finished)
        return 0

    def serve(self):
        while not self.waker.stopping:
            self.beat()
            jobs = self.inbox_jobs()
            if jobs:
                self.announced_at = None  # the dispatcher took (or will take) our announcement
                for name in jobs:
                    if self.waker.stopping:
                        break
                    self.run_job(name)
                    self.beat()
                continue
            # Idle: announce, and renew the announcement now and then. Asking the shared
            # folder whether it is still there would be answered from stale caches.
            now = time.monotonic()
            if self.announced_at is None or now - self.announced_at >= REANNOUNCE_EVERY:
                self.announce()
            self.waker.sleep(self.interval)

    def inbox_jobs(self):
        jobs = self.list_inbox()
        if jobs is None:
            # somebody removed our inbox (the dispatcher thought we were dead): start afresh
            log.warning("inbox %s disappeared; registering again", display(self.inbox))
            self.worker_id = None
            self.register()
            return []
        return jobs

    def list_inbox(self):
        """Job names in our inbox in the order we run them; None if the inbox is gone."""
        return self.layout.inbox_jobs(self.worker_id, fresh=True)

    def announcement_path(self):
        return os.path.join(self.layout.workerqueue, self.worker_id)

    def announce(self):
        """Tell the dispatcher we are idle, by renames only: move back the announcement the
        dispatcher parked in our inbox when it gave us jobs. Renewing it (in case it was lost)
        moves it in and out again, because the file server answers a rename truthfully where
        a cached listing might not. Only a lost announcement is written anew (temp name and
        rename), so idle workers delete no files (see PARKED_ANNOUNCEMENT)."""
        parked = os.path.join(self.inbox, PARKED_ANNOUNCEMENT)
        token = self.announcement_path()
        if self.announced_at is not None:
            try:
                os.rename(token, parked)
            except OSError:
                pass  # lost (or taken just now with jobs: we will see them next)
        try:
            os.rename(parked, token)
        except OSError:
            write_file_atomic(token, ("%s %d\n" % (self.host, os.getpid())).encode())
        self.announced_at = time.monotonic()

    def beat(self, force=False):
        """Show we are alive: a counter that changes (observers never read our clock).

        The beat also names the job being run, so that if we die, the dispatcher knows which
        job crashed with us (its attempt count goes up) and which were merely waiting.
        """
        now = time.monotonic()
        if not force and self.last_beat is not None and \
                now - self.last_beat < self.heartbeat_interval:
            return False
        self.last_beat = now
        self.beats += 1
        self.check_stop_requests(now)
        path = os.path.join(self.inbox, HEARTBEAT_FILE)
        try:
            self.beat_size = write_beat(path, {
                "beat": self.beats, "worker": self.worker_id, "host": self.host,
                "pid": os.getpid(), "job": self.current_job}, self.beat_size)
        except FileNotFoundError:
            self.beat_size = 0  # our inbox is gone: serve() registers again
        except OSError as error:
            log.warning("could not write heartbeat: %s", error.strerror)
        return True

    def check_stop_requests(self, now):
        """A stop file in our inbox, or the end of --lifetime, stops us as SIGTERM would."""
        if self.waker is None or self.waker.stopping:
            return
        if self.lifetime is not None and now - self.started >= self.lifetime:
            log.info("lifetime of %g s is over: stopping", self.lifetime)
            self.waker.request_stop()
        elif os.path.lexists(os.path.join(self.inbox, STOP_FILE)):
            log.info("found a stop request: stopping")
            self.waker.request_stop()

    def leave(self):
        """Withdraw the announcement, hand back unstarted jobs, remove the inbox."""
        try:
            os.unlink(self.announcement_path())
        except FileNotFoundError:
            pass
        for _ in range(100):
            for name in self.list_inbox() or []:
                self.hand_back(name, "not started")
            for leftover in (HEARTBEAT_FILE, STDOUT_FILE, STDERR_FILE, STOP_FILE,
                             PARKED_ANNOUNCEMENT):
                try:
                    os.unlink(os.path.join(self.inbox, leftover))
                except FileNotFoundError:
                    pass
            try:
                os.rmdir(self.inbox)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)  # the dispatcher slipped a job in: hand it back too
        log.warning("could not empty inbox %s", display(self.inbox))

    def hand_back(self, name, why):
        original, attempts = names.parse(name)
        self.handbacks += 1
        tag = "w%s-%d" % (self.worker_id.rsplit("-", 1)[-1], self.handbacks)
        target = os.path.join(self.layout.jobqueue, names.requeue_name(original, attempts, tag))
        if try_rename(os.path.join(self.inbox, name), target):
            log.info("%s back to jobqueue/ (%s)", display(original), why)

    # -- one job --------------------------------------------------------------------------

    def run_job(self, name):
        path = os.path.join(self.inbox, name)
        original, attempts = names.parse(name)
        started = time.time()
        record = {"original": original, "worker": self.worker_id, "host": self.host,
                  "worker_pid": os.getpid(), "attempt": attempts + 1,
                  "start": records.iso(started), "start_ts": started}
        if not os.path.lexists(path):
            log.info("%s was taken out of the inbox (cancelled?)", display(original))
            return None
        try:
            spec = load(path, self.max_job_bytes)
            if spec.owner_uid not in self.allowed_uids:
                raise JobError("the job file belongs to %s; this worker runs only files of %s "
                               "(see --allow-user)" % (user_name(spec.owner_uid),
                                                      ", ".join(sorted(user_name(u) for u in
                                                                       self.allowed_uids))))
            workdir = os.path.join(self.cwd, spec.workdir) if spec.workdir else self.cwd
            if not os.path.isdir(workdir):
                raise JobError("[control] workdir %s is not a directory" % spec.workdir)
            if spec.logfile:
                touch_logfile(os.path.join(workdir, spec.logfile), spec.logfile)
        except JobError as error:
            try:
                record["identity"] = [os.lstat(path).st_ino, original]
            except OSError:
                pass
            return self.file_result(path, original, "failed", record, str(error), started)
        record["identity"] = [spec.inode, original]
        argv = spec.argv + [path]
        record.update(command=argv, cwd=workdir, timeout=spec.timeout, retries=spec.retries)
        self.current_job = name
        self.beat(force=True)
        runs = []
        outcome = None
        try:
            for run_number in range(1, spec.retries + 2):
                outcome = self.execute(argv, workdir, spec.timeout, original, attempts + 1,
                                       path)
                runs.append(outcome)
                if outcome["exit_status"] == 0 or outcome.get("cannot_start"):
                    break
                if run_number <= spec.retries:
                    log.info("%s: %s; retry %d of %d", display(original), outcome["reason"],
                             run_number, spec.retries)
        except Interrupted:
            self.current_job = None
            self.discard_outputs()
            self.hand_back(name, "worker stopping; its run was interrupted")
            return None
        except Cancelled:
            self.current_job = None
            self.discard_outputs()
            log.warning("%s left the inbox while running (cancelled, or requeued because this "
                        "worker was presumed dead); its process group was killed",
                        display(original))
            return None
        self.current_job = None
        record.update({k: v for k, v in outcome.items() if k != "cannot_start"})
        if len(runs) > 1:
            record["runs"] = [{"exit_status": r["exit_status"], "signal": r["signal"],
                               "reason": r["reason"]} for r in runs]
        state = "done" if outcome["exit_status"] == 0 else "failed"
        outputs = self.outputs_to_keep()
        return self.file_result(path, original, state, record, outcome["reason"], started,
                                outputs)

    def file_result(self, path, original, state, record, reason, started, outputs=None):
        ended = time.time()
        record.update(reason=reason, end=records.iso(ended), end_ts=ended,
                      duration=round(ended - started, 6))
        final = records.finish(self.layout, path, original, state, record, outputs)
        self.finished += 1
        if final is None:
            return None
        if state == "done":
            log.info("%s done (%.3f s)", display(final), ended - started)
        else:
            log.warning("%s failed: %s", display(final), reason)
        return final

    def execute(self, argv, workdir, timeout, original, attempt, job_path=None):
        """Run once; a dict with exit_status, signal and reason. Raises Interrupted on stop."""
        out = self.open_output(STDOUT_FILE)
        err = self.open_output(STDERR_FILE)
        env = dict(self.base_env)
        env.update(FJD_JOB_NAME=original, FJD_WORKER_ID=self.worker_id,
                   FJD_ATTEMPT=str(attempt), FJD_ROOT=self.layout.root)
        try:
            proc = spawn.start(argv, workdir, env, out, err, same_cwd=(workdir == self.cwd))
        except OSError as error:
            return {"exit_status": None, "signal": None, "cannot_start": True,
                    "reason": start_failure(argv[0], error)}
        finally:
            os.close(out)
            os.close(err)
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            code = proc.poll()
            if code is not None:
                break
            if self.waker.stopping:
                self.kill_group(proc, "the worker is stopping")
                raise Interrupted()
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                self.kill_group(proc, "timeout")
                return {"exit_status": None, "signal": None, "timed_out": True,
                        "reason": "timed out after %g s ([control] timeout); its process "
                                  "group was killed" % timeout}
            if self.beat() and job_path and not os.path.lexists(job_path):
                self.kill_group(proc, "cancelled")
                raise Cancelled()
            wait = self.heartbeat_interval
            if deadline is not None:
                wait = min(wait, deadline - now)
            self.waker.sleep(max(wait, 0.001))
        if code == 0:
            return {"exit_status": 0, "signal": None, "reason": None}
        if code < 0:
            return {"exit_status": None, "signal": signal_name(-code),
                    "reason": "killed by %s" % signal_name(-code)}
        return {"exit_status": code, "signal": None, "reason": "exited with status %d" % code}

    def kill_group(self, proc, why):
        """SIGTERM to the job's process group, SIGKILL after the grace time."""
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
                self.waker.sleep(0.02)
        proc.wait()

    def open_output(self, name):
        """The file for a job's stdout or stderr: a fresh one, or the empty one of the last
        job when nobody else holds it (creating files is the costly part of a short job)."""
        path = os.path.join(self.inbox, name)
        if name in self.reusable_outputs:
            self.reusable_outputs.discard(name)
            try:
                return os.open(path, os.O_WRONLY | os.O_APPEND)
            except OSError:
                pass
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def outputs_to_keep(self):
        """Outputs to file beside the record. An empty one stays here for the next job when
        no process of the job (a background child, say) still has it open; then the record
        says null: the job printed nothing."""
        keep = {}
        for kind, name in (("stdout", STDOUT_FILE), ("stderr", STDERR_FILE)):
            path = os.path.join(self.inbox, name)
            try:
                empty = os.stat(path).st_size == 0
            except OSError:
                continue
            if empty and not self.layout.shared and nobody_else_has_open(path):
                self.reusable_outputs.add(name)
            else:
                keep[kind] = path
        return keep

    def discard_outputs(self):
        self.reusable_outputs.clear()
        for leftover in (STDOUT_FILE, STDERR_FILE):
            try:
                os.unlink(os.path.join(self.inbox, leftover))
            except FileNotFoundError:
                pass


def nobody_else_has_open(path):
    """True when no other open descriptor of the file exists anywhere on this host: the
    kernel grants a write lease only then (Linux fcntl F_SETLEASE)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
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


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def touch_logfile(path, shown):
    """Create the job's logfile (and its folder) before the run, as the 2012 worker did."""
    try:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY, 0o644)
        os.close(fd)
    except OSError as error:
        raise JobError("cannot create logfile %s: %s" % (shown, error.strerror))


def start_failure(program, error):
    shown = display(program)
    if isinstance(error, FileNotFoundError):
        return "program not found: %s (no such file, and not on PATH)" % shown
    if isinstance(error, PermissionError):
        return "program is not executable: %s (permission denied)" % shown
    if getattr(error, "errno", None) == 8:  # ENOEXEC
        return "cannot execute %s: exec format error (a script without a #! line?)" % shown
    return "cannot start %s: %s" % (shown, error.strerror or error)
