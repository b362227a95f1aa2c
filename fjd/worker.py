"""The worker: announces itself, runs what lands in its inbox, files the result, repeats.

A worker owns ``jobpod/<worker id>/`` (its inbox), ``workerqueue/<worker id>`` (its "I am
idle" announcement) and its journals ``records/<worker id>.journal``, ``.out`` and
``.err``. What lands in its inbox is a job file, run once, or a range of an array's
tasks (a hard link of the array file named for the range), run task by task. Each result
is a line in its journal; a job file then moves to done/ or failed/, a finished range to
arrays/ (DESIGN.md, "The worker").

Stopping (SIGINT, SIGTERM, SIGHUP, a stop file, --lifetime): a running job's whole process
group gets SIGTERM, then SIGKILL after the grace time; the interrupted job goes back to
``jobqueue/`` with one more attempt counted, jobs not yet started go back as they were.
A stop signal sent by the worker's own job does not stop the worker: it cuts the job short.

When a result cannot be filed (a full disk, an unwritable folder), the worker keeps it,
says so once in its log and its heartbeat, takes no new work, and tries again until it can:
a finished job is never run again because its result could not be filed.
"""
import errno
import json
import logging
import os
import pwd
import shlex
import tempfile
import time

from . import arrays, defaults, faults, folders, names, records, spawn, tickets
from .execute import Interrupted, JobSignalled, OutputJournal, Runner, Withdrawn
from .jobfile import JobError, Settings, command_line, load
from .journal import JournalWriter
from .layout import (CANCEL_PREFIX, HEARTBEAT_FILE, PARKED_ANNOUNCEMENT, STOP_FILE, Layout,
                     cancel_request, display, hostname, inbox_jobs_of, safe_hostname)
from .errors import QueueError
from .fsops import try_rename, write_file_atomic
from .hints import HintListener, HintSender
from .liveness import decode_beat, read_beat, write_beat, write_beat_fd
from .lock import LOCK_NAME
from .notify import IN_MOVED_TO, DirWatcher
from .statx import cached_stat
from .waker import Waker

log = logging.getLogger("fjd.worker")

VERIFY_BEATS = 6  # on a shared mount, beats between checks that our heartbeat is there
HEARTBEAT_SIZE = 4096  # the heartbeat file's size from the start: room for a held record
RETRY_FIRST, RETRY_MAX = 0.5, 4.0  # seconds between attempts to file a held result
STDOUT_FILE, STDERR_FILE = ".stdout", ".stderr"  # outputs of jobs with [control] output: files
APPENDED_HINT = (" (fjd added the job file's path as the last argument; for a command that "
                 "takes none, set [control] jobfile: none (fjd submit --no-jobfile), or place "
                 "it with {jobfile})")


def new_worker_id():
    """host-pid-random: unique even when two hosts share a hostname."""
    return "%s-%d-%s" % (safe_hostname(), os.getpid(), os.urandom(3).hex())


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid


def uid_of(user):
    if str(user).isdigit():
        return int(user)
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise QueueError("--allow-user %s: no such user" % user, 2)


class Stuck(Exception):
    """Asked to stop while a result could not be filed: the inbox stays as it is, with the
    result in the heartbeat, for the dispatcher to file once this worker is gone."""


def local_scratch():
    """A folder on this host for the one-task job files of array tasks (tmpfs if any)."""
    for folder in ("/dev/shm", tempfile.gettempdir()):
        if os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK):
            return folder
    return tempfile.gettempdir()


class Worker:
    def __init__(self, root=None, interval=defaults.WORKER_INTERVAL, heartbeat=None,
                 grace=defaults.GRACE, max_job_bytes=defaults.MAX_JOB_BYTES, allow_users=(),
                 worker_id=None, lifetime=None):
        self.layout = Layout(root)
        self.timings = defaults.timings(self.layout.shared)
        self.interval = interval
        self.heartbeat_asked = heartbeat  # given: kept, whatever the dispatcher's timeout
        self.heartbeat_interval = heartbeat or self.timings.heartbeat
        self.poll = defaults.Backoff(interval, self.timings.idle_poll, time.monotonic)
        self.hints = None  # a HintListener on shared mounts (hints.py)
        self.hint_sender = None
        self.dispatcher_hints = (None, None)  # (monotonic time read, addresses)
        self.dispatcher_read_at = None  # monotonic time of the last reading of its lock
        self.dispatcher_seen = False  # that reading found a lock
        self.beat_fd = None  # on shared mounts the heartbeat stays open: one write a beat
        self.beat_by_name = False  # ... but not while a range of tasks runs on FUSE
        self.own_streams_moved = False  # our log left descriptors 1 and 2 (FUSE roots)
        self.beat_checked = None
        self.idle_since = None
        self.last_listing = None
        self.woken = False
        self.parked_seen = False  # our parked announcement was there before we listed
        self.asked_early = False  # this batch announced us before its end (ask_for_more)
        self.after_this = 0  # items of the batch after the one running
        self.ask_lead = defaults.SHARED_ASK_LEAD if self.layout.shared else 0.0
        self.requests_listed = (None, frozenset())  # (when, cancel requests) of the last listing
        self.grace = grace
        self.max_job_bytes = max_job_bytes
        self.allowed_uids = {os.geteuid()} | {uid_of(u) for u in allow_users}
        self.requested_id = worker_id
        self.worker_id = None
        self.lifetime = lifetime
        self.started = time.monotonic()
        self.inbox = None
        self.host = hostname()
        self.pid = os.getpid()  # (a worker never forks: its jobs start with posix_spawn)
        self.cwd = os.getcwd()
        self.base_env = dict(os.environ)
        self.waker = None
        self.runner = None
        self.watcher = None
        self.journal = None
        self.out = self.err = None
        self.beats = 0
        self.last_beat = None
        self.beat_size = 0
        self.announced_at = None
        self.runs = 0  # run ids: which journal records belong to which run
        self.current = None  # the inbox name being run, and its run id, for the heartbeat
        self.current_run = None
        self.held = None  # a finished result that could not be filed yet
        self.blocked = None  # why, for the heartbeat and `fjd status`
        self.unfiled = None  # inbox name whose result is held when we must stop
        self.buried = False  # the dispatcher took our inbox: we were presumed dead
        self.handbacks = 0
        self.finished = 0
        self.specs = {}  # array id -> ArraySpec
        self.view_path = None
        self.view_size = 0
        self.faults = faults.Faults(log)
        self.root_id = None
        self.root_state = {}

    # -- life cycle -----------------------------------------------------------------------

    def run(self):
        spawn.close_inherited_descriptors()
        self.waker = Waker(watch_children=True, classify=self.sender_is_our_job)
        self.runner = Runner(self.waker, self.grace, self.tick,
                             min(self.timings.job_check, self.heartbeat_interval))
        try:
            if not self.start_up():
                return 0
            log.info("worker %s on %s serving %s (pid %d)", self.worker_id, self.host,
                     display(self.layout.root), self.pid)
            self.watcher = DirWatcher(ignore_dot_names=True)
            if not self.layout.shared:  # (there, it sees only this host's changes)
                self.watcher.watch(self.inbox, IN_MOVED_TO)
                self.waker.watchers.append(self.watcher)
            if self.hints is not None:
                self.waker.watchers.append(self.hints)
            try:
                self.serve()
            except Stuck:
                log.error("stopping with a result that could not be filed (%s); it stays in "
                          "%s for the dispatcher to file", self.blocked,
                          display(self.inbox))
            finally:
                self.watcher.close()
        finally:
            if self.inbox and self.unfiled is None:
                self.leave()
            self.close_files()
            folders.stop()
            for closable in (self.hints, self.hint_sender):
                if closable is not None:
                    closable.close()
            self.waker.close()
        log.info("worker %s stopped after %d jobs", self.worker_id, self.finished)
        return 0

    def start_up(self):
        """Make the queue's folders and register, waiting out a full disk or a missing
        mount; False when asked to stop meanwhile."""
        while not self.waker.stopping:
            try:
                self.layout.ensure()
                self.root_id = self.layout.identity()
                if self.layout.shared and self.hints is None:
                    self.hints = HintListener(self.root_id)
                    self.hint_sender = HintSender(self.root_id)
                    folders.use(self.layout)
                if self.layout.fuse and not self.own_streams_moved:
                    spawn.free_standard_descriptors()  # the output journals take 1 and 2
                    self.own_streams_moved = True
                self.register()
                self.faults.cleared("register in the queue")
                return True
            except OSError as error:
                self.waker.sleep(self.faults.failed("register in the queue", error))
        return False

    def register(self):
        while True:
            self.worker_id = self.requested_id or new_worker_id()
            self.inbox = self.layout.inbox(self.worker_id)
            try:
                os.mkdir(self.inbox, 0o755)
                break
            except FileExistsError:
                if self.requested_id:
                    raise QueueError("a worker called %s already exists (its inbox is %s)"
                                     % (display(self.requested_id), display(self.inbox)))
        self.buried = False
        self.beat_size = 0
        self.close_heartbeat()
        self.beat(force=True, create=True)
        self.close_files()
        self.journal = JournalWriter(self.layout.records, self.worker_id, {
            "role": "worker", "host": self.host, "pid": self.pid,
            "started": time.time(), "root": self.layout.root}, direct=self.layout.fuse)
        home = self.layout.fuse and self.own_streams_moved
        self.out = OutputJournal(self.layout.records, self.worker_id, "out", 1 if home else None)
        self.err = OutputJournal(self.layout.records, self.worker_id, "err", 2 if home else None)
        self.announced_at = None
        self.read_dispatcher_lock(time.monotonic())
        self.announce()

    def close_files(self):
        for journal in (self.journal, self.out, self.err):
            if journal is not None:
                journal.close()
        self.close_heartbeat()

    def serve(self):
        while not self.waker.stopping:
            try:
                self.serve_once()
                if self.faults and self.faults.cleared("serve the queue"):
                    self.reopen_journals()
            except OSError as error:
                if faults.root_gone(error) and faults.waiting_for_root(
                        self.layout, self.root_id, log, self.waker, self.root_state):
                    continue
                self.waker.sleep(self.faults.failed("serve the queue", error))

    def serve_once(self):
        self.beat()
        if self.buried:
            return self.register_again()
        now = time.monotonic()
        jobs = []
        if self.should_look(now):
            jobs = self.inbox_jobs()
            self.last_listing = now
        self.woken = False
        if jobs:
            if self.run_batch(jobs):
                return None
            now = time.monotonic()  # a whole batch is done: idle without listing again
        # Idle: announce, and renew the announcement now and then. Asking the shared
        # folder whether it is still there would be answered from stale caches.
        first = self.idle_since is None
        if first:
            self.idle_since = now
        if self.announced_at is None or now - self.announced_at >= self.timings.reannounce:
            self.announce()
            if first:
                self.hint_dispatcher()
        if not self.dispatcher_seen:
            self.read_dispatcher_lock(now)  # (a dispatcher may have started since)
        # (after asking early, the dispatcher's hint may have come while the batch ran)
        pause = 0.0 if first and self.asked_early else self.idle_sleep(now)
        self.woken = self.waker.sleep(pause)
        return None

    def run_batch(self, jobs):
        """Run what the inbox listing found. True when the inbox must be listed again
        before going idle; on a shared mount that listing (a dozen requests) is saved when
        the listing is known to hold the dispatcher's whole batch: it was made after our
        parked announcement was seen, and the dispatcher parks it after the batch's last
        job and gives us nothing more until we announce again."""
        whole = self.parked_seen and self.layout.shared  # (parked_seen: of this listing)
        # asking for more before the end needs the whole batch in hand: a range is a batch
        # of its own (run_range asks), and jobs are when whole (a listing woken by the first
        # of them may hold only a few)
        self.asked_early = False
        self.idle_since = None
        self.poll.busy()
        self.announced_at = None  # the dispatcher took (or will take) our announcement
        # One run id for the batch, in the heartbeat once: the records of the batch carry
        # it, and the dispatcher can tell from them, should we die, which jobs finished,
        # which one was running (the first without a record) and which never started,
        # without a heartbeat per job.
        now = time.monotonic()  # (a dispatcher handed this out: its lock says how to beat)
        if not self.dispatcher_seen or now - self.dispatcher_read_at >= \
                defaults.DISPATCHER_REREAD:
            self.read_dispatcher_lock(now)
        self.runs += 1
        self.current, self.current_run = jobs[0], self.runs
        self.beat(force=True)
        started = time.monotonic()
        for ran, name in enumerate(jobs, 1):
            if self.waker.stopping or self.buried:
                break
            self.after_this = len(jobs) - ran
            self.run_item(name)
            self.beat()
            if whole and self.near_the_end(started, ran, self.after_this):
                self.ask_for_more()
        self.current = self.current_run = None
        return not (whole or self.asked_early) or self.waker.stopping or self.buried

    def idle_sleep(self, now):
        """The polling interval (at least HINTED_WAIT while the dispatcher's hints get
        through), but never past the next beat: observers must see the heartbeat change
        every beat, idle or not."""
        pause = self.poll.next()
        if self.hints is not None and self.hints.heard_within(defaults.HINTS_TRUSTED_FOR, now):
            pause = max(pause, defaults.HINTED_WAIT)  # the dispatcher hints when it has jobs
        if self.last_beat is not None:
            pause = min(pause, max(0.0, self.last_beat + self.heartbeat_interval - now))
        return pause

    def should_look(self, now):
        """Whether to list the inbox now. Busy: always. Idle: when woken (inotify, a
        hint), when the dispatcher has parked our announcement in the inbox (it does so
        when it hands us jobs: one cheap check instead of a listing), and every backstop
        seconds in case the announcement was lost. On a shared mount a hint too is
        followed by that check: a listing made after the parked announcement was seen
        holds the whole batch (run_batch)."""
        self.parked_seen = False
        if self.idle_since is None or self.last_listing is None:
            return True
        if now - self.last_listing >= self.timings.backstop:
            return True
        if self.woken and not self.layout.shared:
            return True
        self.parked_seen = folders.lexists(os.path.join(self.inbox, PARKED_ANNOUNCEMENT))
        return self.parked_seen or self.woken

    def hint_dispatcher(self):
        """On a shared mount, tell the dispatcher we are idle (it may be waiting for us)."""
        if self.hint_sender is None:
            return
        read_at, addresses = self.dispatcher_hints
        now = time.monotonic()
        if read_at is None or now - read_at > 60.0 or not addresses:
            addresses = self.read_dispatcher_lock(now).get("hints") or []
            self.dispatcher_hints = (now, addresses)
        self.hint_sender.send(addresses, b"idle " + self.worker_id.encode("ascii", "replace"))

    def read_dispatcher_lock(self, now):
        """The dispatcher lock's content ({} without a dispatcher): where the dispatcher
        takes hints, and how soon it buries a quiet worker, which sets our beat."""
        holder = decode_beat(read_beat(os.path.join(self.layout.root, LOCK_NAME),
                                       splice=self.layout.fuse))
        self.dispatcher_read_at = now
        self.dispatcher_seen = bool(holder)
        if holder:
            self.follow_timeout(holder.get("worker_timeout"))
        return holder

    def follow_timeout(self, timeout):
        """Beat often enough for the dispatcher's --worker-timeout (defaults.worker_beat):
        a dispatcher started with a short one does not take us for dead between two beats."""
        if self.heartbeat_asked:
            return
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
                not 0 <= timeout < float("inf"):
            timeout = None  # none said (an older dispatcher), or nonsense: the default
        interval = defaults.worker_beat(self.layout.shared, timeout)
        if interval == self.heartbeat_interval:
            return
        if timeout is None:
            log.info("beating every %g s (the dispatcher's lock gives no timeout)", interval)
        else:
            log.info("beating every %g s (the dispatcher takes a worker quiet for %g s for "
                     "dead)", interval, timeout)
        self.heartbeat_interval = interval
        if self.runner is not None:
            self.runner.tick_every = min(self.timings.job_check, interval)

    def near_the_end(self, started, ran, left):
        """Whether a batch (or range) that started then, with ran done and left to go, is
        near enough its end to ask for more (SHARED_ASK_LEAD): once, not when stopping."""
        if not self.ask_lead or self.asked_early or self.waker.stopping or self.buried or \
                not 0 < left <= ran:
            return False
        return (time.monotonic() - started) / ran * left <= self.ask_lead

    def ask_for_more(self):
        """Announce ourselves idle while the last jobs of a batch still run: the dispatcher
        hands out the next batch meanwhile, parks our announcement after it and hints us.
        After the batch we look for the parked announcement at once instead of listing
        the inbox: once it is there, a listing holds the whole new batch (run_batch); till
        then we wait as after any announcement. If we stop first, leave() hands the new
        batch back unstarted."""
        try:
            self.announce()
        except OSError:
            return  # the batch goes on; the idle steps after it announce (and say why not)
        self.hint_dispatcher()
        self.asked_early = True

    def register_again(self):
        """Our inbox was taken away: by the dispatcher (we were presumed dead), unless the
        whole root is gone (an unmounted share), when nothing may be made there."""
        if not self.layout.present(self.root_id):
            raise FileNotFoundError(errno.ENOENT, "the queue root is gone", self.layout.root)
        log.warning("inbox %s was taken away (this worker was presumed dead and its jobs "
                    "handed back); registering again", display(self.inbox))
        self.requested_id = None
        self.register()
        if not self.layout.shared:
            self.watcher.watch(self.inbox, IN_MOVED_TO)

    def inbox_jobs(self):
        listing = self.layout.inbox_listing(self.worker_id, fresh=True)
        if listing is None:
            self.buried = True
            return []
        self.requests_listed = (time.monotonic(), frozenset(
            name for name in listing if name.startswith(CANCEL_PREFIX)))
        return inbox_jobs_of(listing)

    def cancel_requested(self, name):
        """Whether `fjd cancel` asked for name before it starts. The inbox listing says so
        while it is younger than job_check (a running job is checked no more often); an
        older one costs a look (one request on a shared mount)."""
        request = cancel_request(name)
        listed_at, requests = self.requests_listed
        if listed_at is not None and time.monotonic() - listed_at < self.timings.job_check:
            return request in requests
        return folders.lexists(os.path.join(self.inbox, request))

    def announcement_path(self):
        return os.path.join(self.layout.workerqueue, self.worker_id)

    def announce(self):
        """Tell the dispatcher we are idle, by renames only: move back the announcement the
        dispatcher parked in our inbox when it gave us jobs. Renewing it (in case it was lost)
        moves it in and out again on a shared mount, because the file server answers a
        rename truthfully where a cached listing might not; on a local disk a look is the
        truth, and renames would wake the dispatcher (inotify) for nothing, 200 workers'
        worth of wake-ups. Only a lost announcement is written anew (temp name and rename),
        so idle workers delete no files (see PARKED_ANNOUNCEMENT)."""
        parked = os.path.join(self.inbox, PARKED_ANNOUNCEMENT)
        token = self.announcement_path()
        if self.announced_at is not None:
            if not self.layout.shared and os.path.lexists(token):
                self.announced_at = time.monotonic()
                return
            try:
                folders.rename(token, parked)
            except OSError:
                pass  # lost (or taken just now with jobs: we will see them next)
        try:
            folders.rename(parked, token)
        except OSError:
            write_file_atomic(token, ("%s %d\n" % (self.host, self.pid)).encode())
        self.announced_at = time.monotonic()

    def beat(self, force=False, create=False):
        """Show we are alive: a counter that changes (observers never read our clock).

        The beat also names the job being run and its run id, so that if we die the
        dispatcher knows which job crashed with us, and which of its results are in our
        journal; and a result we could not file yet, so that it is not lost with us."""
        now = time.monotonic()
        if not force and self.last_beat is not None and \
                now - self.last_beat < self.heartbeat_interval:
            return False
        self.last_beat = now
        self.beats += 1
        self.check_stop_requests(now, force)
        payload = {"beat": self.beats, "worker": self.worker_id, "host": self.host,
                   "pid": self.pid, "job": self.current, "run": self.current_run}
        if self.blocked:
            payload["blocked"] = self.blocked
        if self.held is not None:
            payload["held"] = self.held
        if self.hints is not None and self.hints.addresses:
            payload["hints"] = self.hints.addresses
        try:
            self.write_heartbeat(payload, create)
            if self.faults:
                self.faults.cleared("write the heartbeat")
        except FileNotFoundError:
            self.close_heartbeat()
            if self.layout.present(self.root_id):
                self.buried = True  # the dispatcher took our inbox (we were presumed dead)
        except OSError as error:
            if create:
                raise
            self.close_heartbeat()
            self.faults.failed("write the heartbeat", error)
        return True

    def write_heartbeat(self, payload, create):
        """Locally the heartbeat is opened by name at each beat (which notices at once when
        our inbox was taken away). On a shared mount that costs the file server four
        requests: there it stays open (one write a beat), and its name is checked every
        VERIFY_BEATS beats, and at once after a pause (we may have been stopped)."""
        path = os.path.join(self.inbox, HEARTBEAT_FILE)
        if not self.layout.shared or create:
            self.beat_size = write_beat(path, payload, self.beat_size, create=create,
                                        size=HEARTBEAT_SIZE)
            return
        now = time.monotonic()
        if self.beat_by_name:
            self.close_heartbeat()
            fd = folders.open_at(path, os.O_WRONLY | os.O_CLOEXEC)  # gone: we were buried
            try:
                self.beat_size = write_beat_fd(fd, payload, self.beat_size,
                                               size=HEARTBEAT_SIZE)
            finally:
                os.close(fd)
            self.beat_checked = now
            return
        stalled = self.beat_checked is not None and \
            now - self.beat_checked > 2 * self.heartbeat_interval
        if self.beat_fd is None or stalled or self.beats % VERIFY_BEATS == 0:
            folders.must_exist(path)  # FileNotFoundError: our inbox is gone, or the beat taken
            if self.beat_fd is None:
                self.beat_fd = folders.open_at(path, os.O_WRONLY | os.O_CLOEXEC)
        self.beat_checked = now
        self.beat_size = write_beat_fd(self.beat_fd, payload, self.beat_size,
                                       size=HEARTBEAT_SIZE)

    def close_heartbeat(self):
        if self.beat_fd is not None:
            folders.close_quietly(self.beat_fd)
            self.beat_fd = None

    def check_stop_requests(self, now, forced=False):
        """A stop file in our inbox, or the end of --lifetime, stops us as SIGTERM would.
        The stop file is looked for at every beat; on a shared mount (a request to the file
        server each) at every other one while idle, and not at the extra beats of a new
        batch (forced): the timed beats come every few seconds anyway."""
        if self.waker is None or self.waker.stopping:
            return
        if self.lifetime is not None and now - self.started >= self.lifetime:
            log.info("lifetime of %g s is over: stopping", self.lifetime)
            self.waker.request_stop()
        elif self.layout.shared and (forced or self.idle_since is not None and self.beats % 2):
            return
        elif folders.lexists(os.path.join(self.inbox, STOP_FILE)):
            log.info("found a stop request: stopping")
            self.waker.request_stop()

    def tick(self):
        """Called every job_check seconds while a job runs (a second locally): beat when
        due, and say whether the job must stop here (cancelled, or our inbox was taken away)."""
        self.beat()
        if self.buried:
            return "this worker was presumed dead and its jobs were handed back"
        if self.current and folders.lexists(
                os.path.join(self.inbox, cancel_request(self.current))):
            return "cancelled"
        return None

    def sender_is_our_job(self, pid):
        """What a stop signal's sender is, when it is a process of the running job."""
        job = self.runner.current_pid if self.runner else None
        if not job:
            return None
        try:
            if pid == job or os.getpgid(pid) == job or os.getsid(pid) == job:
                return "a process of its own job (pid %d)" % pid
        except OSError:
            pass
        return None

    def leave(self):
        """Withdraw the announcement, hand back unstarted jobs, remove the inbox. (Files
        still open would be kept as .fuse_hidden* names by sshfs, and the inbox would stay:
        the heartbeat is closed first.)"""
        self.close_heartbeat()
        try:
            folders.unlink(self.announcement_path())
        except OSError:
            pass
        for _ in range(100):
            for name in self.layout.inbox_jobs(self.worker_id, fresh=True) or []:
                if folders.lexists(os.path.join(self.inbox, cancel_request(name))):
                    self.file_cancelled(name)
                else:
                    self.hand_back(name, "not started")
            try:
                leftovers = [n for n in folders.listdir(self.inbox) if n.startswith(".")]
            except OSError:
                leftovers = []
            for leftover in leftovers:
                try:
                    folders.unlink(os.path.join(self.inbox, leftover))
                except OSError:
                    pass
            try:
                os.rmdir(self.inbox)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)  # the dispatcher slipped a job in: hand it back too
        else:
            log.warning("could not empty inbox %s", display(self.inbox))
        if self.view_path:
            try:
                os.unlink(self.view_path)
            except OSError:
                pass

    def hand_back(self, name, why, attempts=None, signalled=False):
        """Put a job (or a range) back in the queue; attempts: the new count of cut-short
        runs (default: as it was, for a job that did not start). signalled: the job sent
        its worker a stop signal (the tag says so, for the reason it fails with)."""
        queue_name = names.parse(name)
        self.handbacks += 1
        tag = "w%s-%d%s" % (self.worker_id.rsplit("-", 1)[-1], self.handbacks,
                            "-sig" if signalled else "")
        if attempts is None:
            attempts = queue_name.attempts
        if queue_name.is_tasks:
            target = names.with_fields(queue_name, attempts=attempts,
                                       tag=tag if signalled else queue_name.tag)
        else:
            target = names.requeue_name(queue_name.original, attempts, tag)
        if try_rename(os.path.join(self.inbox, name),
                      os.path.join(self.layout.jobqueue, target)):
            log.info("%s back to jobqueue/ (%s)", display(name), why)

    # -- holding results that cannot be filed yet ----------------------------------------

    def persist(self, action, what, held=None):
        """Do action (a step of filing a result) until it works. While it fails with an
        OSError (a full disk, an unwritable folder, a vanished mount), say so once, keep
        the result in the heartbeat, and try again every few seconds; FileNotFoundError of
        the job itself is for the caller. Raises Stuck if asked to stop meanwhile."""
        delay = RETRY_FIRST
        condition = None
        while True:
            try:
                result = action()
            except OSError as error:
                if isinstance(error, FileNotFoundError) and condition is None and \
                        self.layout.present(self.root_id):
                    raise
                if faults.root_gone(error) and faults.waiting_for_root(
                        self.layout, self.root_id, log, self.waker, self.root_state):
                    self.held = held  # says so once, waits; the result stays with us
                    self.blocked = "the queue root is gone"
                    self.beat()
                    if self.waker.stopping:
                        self.unfiled = self.current
                        raise Stuck()
                    continue
                key = (error.errno, what)
                if key != condition:
                    condition = key
                    self.blocked = "cannot %s: %s" % (what, error.strerror or error)
                    self.held = held
                    log.error("%s; holding the result and trying again until it works",
                              self.blocked)
                    self.beat(force=True)
                if self.waker.stopping:
                    self.unfiled = self.current
                    raise Stuck()
                self.wait_beating(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            if self.root_state.get("gone"):
                faults.waiting_for_root(self.layout, self.root_id, log, self.waker,
                                        self.root_state)  # says it is back
                condition = condition or ("root", what)
            if condition is not None:
                log.info("%s worked again; carrying on", what)
                self.blocked = None
                self.held = None
                self.reopen_journals()
                self.beat(force=True)
            return result

    def wait_beating(self, seconds):
        """Sleep, beating on time: a worker that waits is not a dead one."""
        deadline = time.monotonic() + seconds
        while not self.waker.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.waker.sleep(min(left, self.heartbeat_interval / 2.0))
            self.beat()

    def reopen_journals(self):
        """After a failure, open the journals afresh: a descriptor of a mount that went away
        and came back (sshfs reconnected) keeps failing."""
        for journal in (self.journal, self.out, self.err):
            if journal is not None:
                journal.reopen()

    def file(self, filing, seconds):
        """Run a Filing to its end (see persist); returns the final name or None."""
        held = dict(filing.record, state=filing.state, queue=filing.record.get("queue"))
        final = self.persist(filing.advance, "file %s in %s/" % (display(filing.original),
                                                                  filing.state), held)
        self.finished += 1
        if final is not None:
            records.log_filed(final, filing.state, filing.record.get("reason"), seconds)
        return final

    # -- what lands in the inbox ----------------------------------------------------------

    def run_item(self, name):
        queue_name = names.parse(name)
        if self.cancel_requested(name):
            self.file_cancelled(name)
        elif queue_name.is_tasks and queue_name.finished:
            self.persist(lambda: try_rename(os.path.join(self.inbox, name),
                                            os.path.join(self.layout.arrays, name)),
                         "move %s to arrays/" % display(name))
        elif queue_name.is_tasks:
            self.run_tasks(name, queue_name)
        else:
            self.run_job(name, queue_name)

    def job_env(self, name, attempt, path, params, extra=None):
        env = dict(self.base_env)
        env.update(FJD_JOB_NAME=name, FJD_WORKER_ID=self.worker_id, FJD_ATTEMPT=str(attempt),
                   FJD_ROOT=self.layout.root, FJD_JOB_FILE=path or "",
                   FJD_PARAMS=json_text(params))
        for key, value in params.items():
            if key.isidentifier():
                env["FJD_PARAM_" + key] = value
        if extra:
            env.update(extra)
        return env

    def base_record(self, name, original, attempt, started, run):
        return {"queue": name, "original": original, "run": run, "worker": self.worker_id,
                "host": self.host, "worker_pid": self.pid, "attempt": attempt,
                "start": started}

    def workdir_of(self, settings, values=None, names_=()):
        workdir = settings.workdir
        if workdir and values is not None:
            workdir = arrays.fill_text(workdir, names_, values)
        path = os.path.join(self.cwd, workdir) if workdir else self.cwd
        # (our own directory is not looked at for every job: on a shared mount that is a
        # request to the file server, and a command started there needs no chdir)
        if workdir and not os.path.isdir(path):
            raise JobError("[control] workdir %s is not a directory" % workdir)
        if settings.logfile:
            logfile = settings.logfile
            if values is not None:
                logfile = arrays.fill_text(logfile, names_, values)
            touch_logfile(os.path.join(path, logfile), logfile)
        return path

    def check_owner(self, uid):
        if uid not in self.allowed_uids:
            raise JobError("the job file belongs to %s; this worker runs only files of %s "
                           "(see --allow-user)" % (user_name(uid), ", ".join(
                               sorted(user_name(u) for u in self.allowed_uids))))

    # -- a single job -----------------------------------------------------------------------

    def run_job(self, name, queue_name):
        """Run a single job file and file it. On a shared mount the job file stays open
        between its read and its filing, which links it by its descriptor
        (records.OpenSource: one lookup less on the file server)."""
        opened = records.OpenSource(None)
        try:
            return self.run_opened_job(name, queue_name, opened)
        finally:
            opened.close()

    def run_opened_job(self, name, queue_name, opened):
        path = os.path.join(self.inbox, name)
        original = queue_name.original
        attempt = queue_name.attempts + 1
        started = time.time()
        record = self.base_record(name, original, attempt, started, self.batch_run())
        spec = None
        try:
            spec = load(path, self.max_job_bytes, keep_open=self.layout.shared,
                        splice=self.layout.fuse)
            opened.fd = spec.fd
            self.check_owner(spec.owner_uid)
            if arrays.declared_kind(spec.data[:arrays.MAX_HEADER]):
                opened.close()
                return self.adopt_array(name, queue_name)
            workdir = self.workdir_of(spec.settings)
        except JobError as error:
            if not folders.lexists(path):
                return None  # taken away before it started: nothing ran
            record.update(reason=str(error), exit_status=None, signal=None)
            return self.finish_job(path, name, original, "failed", record, started, spec,
                                   opened=opened)
        except FileNotFoundError:
            return None
        settings = spec.settings
        argv = command_line(spec.argv, path, settings.jobfile)
        env = self.job_env(original, attempt, path, spec.params)
        record.update(command=argv, cwd=workdir, timeout=settings.timeout,
                      retries=settings.retries)
        files = settings.output == "files"
        self.current = name
        self.beat(force=not self.layout.shared)  # locally a beat per job costs nothing
        if self.waker.stopping:  # asked to stop before it started: it did not run
            self.hand_back(name, "not started")
            return None
        runs = []
        try:
            outcome, spans = None, {}
            for number in range(1, settings.retries + 2):
                outcome, spans = self.execute(argv, workdir, env, settings.timeout, files)
                runs.append(outcome)
                if outcome["exit_status"] == 0 or outcome.get("cannot_start"):
                    break
                if number <= settings.retries:
                    log.info("%s: %s; retry %d of %d", display(original), outcome["reason"],
                             number, settings.retries)
        except (Interrupted, JobSignalled) as stop:
            self.discard_output_files()
            self.hand_back(name, str(stop) or "worker stopping; its run was interrupted",
                           attempts=queue_name.attempts + 1,
                           signalled=isinstance(stop, JobSignalled))
            return None
        except Withdrawn as why:
            self.discard_output_files()
            if str(why) == "cancelled":
                return self.file_cancelled(name)
            log.warning("%s: %s; its process group was killed", display(original), why)
            return None
        reason = outcome["reason"]
        if reason and self.appended_path_hint(settings, "{jobfile}" in spec.executable, path,
                                              spans.get("stderr")):
            reason += APPENDED_HINT
        record.update({k: v for k, v in outcome.items()
                       if k not in ("cannot_start", "lingering", "pid")})
        record.update(reason=reason, **{k: v for k, v in spans.items() if not files})
        if len(runs) > 1:
            record["runs"] = [{"exit_status": r["exit_status"], "signal": r["signal"],
                               "reason": r["reason"]} for r in runs]
        state = "done" if outcome["exit_status"] == 0 else "failed"
        outputs = self.output_files() if files else None
        return self.finish_job(path, name, original, state, record, started, spec, outputs,
                               opened)

    def finish_job(self, path, name, original, state, record, started, spec, outputs=None,
                   opened=None):
        ended = time.time()
        record.update(end=ended, duration=round(ended - started, 6))
        filing = records.Filing(self.layout, self.journal, path, original, state, record,
                                outputs, opened=opened)
        final = self.file(filing, ended - started)
        if filing.vanished and spec is not None:
            return self.file_vanished(name, original, state, record, started, spec)
        return final

    def file_vanished(self, name, original, state, record, started, spec):
        """The job file left the inbox while the job ran, and nobody in fjd moved it (a
        cancel goes through the worker; the dispatcher takes whole inboxes only): the job
        itself deleted or renamed it. It is filed anyway, never run again for it."""
        self.beat(force=True)
        if self.buried:
            log.warning("%s: this worker was presumed dead and the job handed back; its "
                        "result is dropped", display(original))
            return None
        renamed = self.find_renamed(spec.inode, spec.data)
        if renamed is not None:
            note = "the job renamed its own job file to %s while running" % display(renamed)
            path = os.path.join(self.inbox, renamed)
        else:
            note = ("the job deleted (or moved away) its own job file while running; fjd "
                    "filed the copy it had read")
            path = os.path.join(self.inbox, ".restored-%d" % self.runs)
            self.persist(lambda: write_file_atomic(path, spec.data),
                         "restore the job file of %s" % display(original))
        record = dict(record, note=note, reason="%s (%s)" % (record.get("reason"), note)
                      if record.get("reason") else note)
        log.warning("%s: %s", display(original), note)
        filing = records.Filing(self.layout, self.journal, path, original, state, record)
        return self.file(filing, time.time() - started)

    def find_renamed(self, inode, data):
        """A name in our inbox that is the job file we ran (its inode, and its content)."""
        for other in self.layout.inbox_jobs(self.worker_id, fresh=True) or []:
            path = os.path.join(self.inbox, other)
            try:
                info = os.lstat(path)
                if info.st_ino == inode and info.st_size == len(data):
                    with open(path, "rb") as handle:
                        if handle.read() == data:
                            return other
            except OSError:
                continue
        return None

    def appended_path_hint(self, settings, placed, path, stderr_span):
        """Whether a failed command complained about the job file path fjd appended (a
        command that takes no job file, such as `sleep 0.5`, rejects the extra argument)."""
        return settings.jobfile == "last" and not placed and path and \
            self.mentions(stderr_span, path)

    def mentions(self, span, text):
        """Whether the last part of a job's stderr mentions text (a path, say)."""
        if not span:
            return False
        try:
            tail = records.read_output(self.layout, [span[0], max(span[1], span[1] + (
                span[2] or 0) - 8192), min(span[2] or 8192, 8192)])
        except OSError:
            return False
        return os.fsencode(text) in tail

    def file_cancelled(self, name):
        """File a job (or the rest of a range) cancelled with `fjd cancel`, as asked."""
        queue_name = names.parse(name)
        request = os.path.join(self.inbox, cancel_request(name))
        try:
            with open(request, "rb") as handle:
                by = handle.read(400).decode("utf-8", "replace").strip().splitlines()
        except OSError:
            by = []
        now = time.time()
        reason = "cancelled by %s" % (by[-1] if by else "fjd cancel")
        if queue_name.is_tasks:
            self.persist(lambda: self.journal.append(dict(
                k="tasks", array=queue_name.original, u=queue_name.uid,
                first=queue_name.first, last=queue_name.last, state="cancelled",
                reason=reason, worker=self.worker_id, host=self.host, end=now),
                size=queue_name.size), "record the cancelled tasks of %s" % display(name))
            finished = names.with_fields(queue_name, flags="C", attempts=0, offset=None)
            self.persist(lambda: try_rename(os.path.join(self.inbox, name),
                                            os.path.join(self.layout.arrays, finished)),
                         "move %s to arrays/" % display(name))
        else:
            record = self.base_record(name, queue_name.original, queue_name.attempts, None,
                                      None)
            record.update(reason=reason, exit_status=None, signal=None, end=now,
                          cancelled_from="jobpod/%s" % self.worker_id)
            filing = records.Filing(self.layout, self.journal, os.path.join(self.inbox, name),
                                    queue_name.original, "cancelled", record)
            self.file(filing, 0)
        try:
            folders.unlink(request)
        except OSError:
            pass
        log.info("%s cancelled (%s)", display(name), reason)
        return None

    # -- running a command --------------------------------------------------------------------

    def execute(self, argv, workdir, env, timeout, files):
        """Run argv once; (outcome, {"stdout": span, "stderr": span}) for the record."""
        if files:
            out = folders.open_at(os.path.join(self.inbox, STDOUT_FILE),
                                  os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            err = folders.open_at(os.path.join(self.inbox, STDERR_FILE),
                                  os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                outcome = self.runner.run(argv, workdir, env, workdir == self.cwd, timeout,
                                          out, err)
            finally:
                os.close(out)
                os.close(err)
            return outcome, {}
        out_fd, err_fd = self.out.fileno(), self.err.fileno()
        out_start, err_start = self.out.size, self.err.size
        outcome = self.runner.run(argv, workdir, env, workdir == self.cwd, timeout, out_fd,
                                  err_fd)
        spans = {"stdout": self.out.span(out_start), "stderr": self.err.span(err_start)}
        if outcome.get("lingering"):
            # a process of the job lives on and may still write: its output is everything
            # from where it began to the end of these files, and later jobs get new ones
            spans = {"stdout": [self.out.name, out_start, None],
                     "stderr": [self.err.name, err_start, None]}
            self.out.rotate()
            self.err.rotate()
        return outcome, spans

    def output_files(self):
        return {"stdout": os.path.join(self.inbox, STDOUT_FILE),
                "stderr": os.path.join(self.inbox, STDERR_FILE)}

    def discard_output_files(self):
        for leftover in (STDOUT_FILE, STDERR_FILE):
            try:
                folders.unlink(os.path.join(self.inbox, leftover))
            except OSError:
                pass

    # -- a range of an array's tasks ---------------------------------------------------------

    def adopt_array(self, name, queue_name):
        """A whole array file in our inbox (a dispatcher that could not split it): give it
        an id and run it as one range of all its tasks."""
        path = os.path.join(self.inbox, name)
        fd = folders.open_at(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            spec = arrays.read_spec(fd, self.max_job_bytes)
        finally:
            os.close(fd)
        uid = os.urandom(4).hex()
        self.specs[uid] = spec
        ranged = names.compose(queue_name.original, first=1, last=spec.count, uid=uid,
                               offset=spec.data_offset)
        folders.rename(path, os.path.join(self.inbox, ranged))
        return self.run_tasks(ranged, names.parse(ranged))

    def array_spec(self, fd, uid):
        spec = self.specs.get(uid)
        if spec is None:
            spec = arrays.read_spec(fd, self.max_job_bytes)
            self.specs = {uid: spec}  # one array at a time, as a rule: keep the newest
        return spec

    def batch_run(self):
        """The run id of the batch being run (a new one outside a batch)."""
        if self.current_run is None:
            self.runs += 1
            self.current_run = self.runs
        return self.current_run

    def run_tasks(self, name, queue_name):
        path = os.path.join(self.inbox, name)
        run = self.batch_run()
        try:
            fd = folders.open_at(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as error:
            return self.fail_range(name, queue_name, run, "cannot open the array file: %s"
                                   % error.strerror)
        try:
            info = cached_stat(fd)  # (the open's lookup brought them: no request for them)
            try:
                self.check_owner(info.st_uid)
                spec = self.array_spec(fd, queue_name.uid)
                settings = Settings(spec.control)
            except JobError as error:
                return self.fail_range(name, queue_name, run, str(error))
            self.current = name
            self.beat(force=not self.layout.shared)
            if self.layout.fuse:
                # On FUSE every task's start closes the child's copy of each file descriptor
                # we hold, and each close is a request to the FUSE daemon (which waits for
                # the descriptor's writes in flight): a product's tasks need nothing more
                # from the array file, and the heartbeat is written by name while tasks run
                # (one beat in several seconds, where tasks come hundreds a second).
                self.beat_by_name = True
                self.close_heartbeat()
                if spec.kind == "product":
                    folders.close_quietly(fd)
                    fd = None
            return self.run_range(fd, name, queue_name, spec, settings, run)
        finally:
            self.beat_by_name = False
            if fd is not None:
                os.close(fd)

    def run_range(self, fd, name, queue_name, spec, settings, run):
        array = queue_name.original
        failures = False
        view = settings.jobfile == "last" or spec.command.uses_jobfile
        last_check = started = time.monotonic()
        ran = 0
        for task, values, error, row_offset in spec.iter_tasks(fd, queue_name.first,
                                                               queue_name.last,
                                                               queue_name.offset):
            now = time.monotonic()
            if now - last_check >= self.runner.tick_every:
                last_check = now
                why = self.tick()
                if why == "cancelled":
                    return self.cancel_rest(name, queue_name, task, failures)
                if why:
                    log.warning("%s: %s", display(name), why)
                    return None
            if self.waker.stopping:
                return self.give_back_rest(name, queue_name, task, failures, row_offset,
                                           interrupted=False)
            attempt = queue_name.attempts + 1 if task == queue_name.first else 1
            started = time.time()
            record = {"k": "task", "array": array, "u": queue_name.uid, "i": task,
                      "run": run, "attempt": attempt, "start": started}
            if error is not None:
                record.update(state="failed", reason=str(error), exit_status=None,
                              signal=None, end=started)
            else:
                try:
                    outcome, spans = self.run_task(spec, settings, array, task, values,
                                                   attempt, view)
                except (Interrupted, JobSignalled) as stop:
                    log.info("%s: %s", display(names.task_name(array, task)),
                             stop or "interrupted")
                    return self.give_back_rest(name, queue_name, task, failures, row_offset,
                                               interrupted=True,
                                               signalled=isinstance(stop, JobSignalled))
                except Withdrawn as why:
                    if str(why) == "cancelled":
                        return self.cancel_rest(name, queue_name, task, failures)
                    log.warning("%s: %s", display(name), why)
                    return None
                ended = time.time()
                reason = outcome["reason"]
                if reason and self.appended_path_hint(settings, spec.command.uses_jobfile,
                                                      self.view_path, spans.get("stderr")):
                    reason += APPENDED_HINT
                record.update(state="done" if outcome["exit_status"] == 0 else "failed",
                              exit_status=outcome["exit_status"], signal=outcome["signal"],
                              reason=reason, end=ended,
                              stdout=spans["stdout"], stderr=spans["stderr"])
                if outcome.get("runs"):
                    record["runs"] = outcome["runs"]
                if outcome.get("timed_out"):
                    record["timed_out"] = True
            if record["state"] == "failed":
                failures = True
                log.warning("%s failed: %s", display(names.task_name(array, task)),
                            record["reason"])
            self.persist(lambda: self.journal.append(record),
                         "record %s in %s" % (display(names.task_name(array, task)),
                                              display(self.journal.path)), held=record)
            self.finished += 1
            ran += 1
            if not self.after_this and self.near_the_end(started, ran, queue_name.last - task):
                self.ask_for_more()
        self.finish_range(name, queue_name, failures)
        return None

    def run_task(self, spec, settings, array, task, values, attempt, view):
        workdir = self.workdir_of(settings, values, spec.names) if (
            settings.workdir or settings.logfile) else self.cwd
        view_path = self.scratch_path() if view else None
        argv = spec.command.argv(values, view_path)
        if settings.jobfile == "last" and not spec.command.uses_jobfile:
            argv.append(view_path)
        if view:
            self.write_view(spec, task, values, array, argv)
        params = dict(zip(spec.names, values))
        env = self.job_env(names.task_name(array, task), attempt, view_path, params,
                           {"FJD_ARRAY": array, "FJD_TASK": str(task),
                            "FJD_TASKS": str(spec.count)})
        outcome = None
        runs = []
        for number in range(1, settings.retries + 2):
            outcome, spans = self.execute(argv, workdir, env, settings.timeout, False)
            runs.append(outcome)
            if outcome["exit_status"] == 0 or outcome.get("cannot_start"):
                break
        if len(runs) > 1:
            outcome["runs"] = [{"exit_status": r["exit_status"], "signal": r["signal"],
                                "reason": r["reason"]} for r in runs]
        return outcome, spans

    def scratch_path(self):
        if self.view_path is None:
            self.view_path = os.path.join(local_scratch(), "fjd-%s.task.conf"
                                          % self.worker_id)
        return self.view_path

    def write_view(self, spec, task, values, array, argv):
        """A one-task job file ([control] and [params] of this task) on this host's
        scratch disk, for programs that read [params] from their last argument. One file,
        rewritten in place for every task (no file is made or deleted per task)."""
        text = arrays.task_view(spec, task, values, " ".join(shlex.quote(w) for w in argv),
                                array).encode("utf-8", "surrogateescape")
        padded = text + b"\n" * max(0, self.view_size - len(text))
        fd = os.open(self.view_path, os.O_WRONLY | os.O_CREAT, 0o644)  # local scratch
        try:
            os.pwrite(fd, padded, 0)
        finally:
            os.close(fd)
        self.view_size = max(self.view_size, len(text))
        return self.view_path

    def finish_range(self, name, queue_name, failures):
        finished = names.with_fields(queue_name, flags="F" if failures else "", attempts=0,
                                     offset=None, tag=None)

        def move():
            if not try_rename(os.path.join(self.inbox, name),
                              os.path.join(self.layout.arrays, finished)):
                log.warning("%s left the inbox before it could be filed in arrays/",
                            display(name))
        self.persist(move, "move %s to arrays/" % display(name))

    def give_back_rest(self, name, queue_name, task, failures, row_offset, interrupted,
                       signalled=False):
        """Stopping in the middle of a range: the finished tasks go to arrays/, the one cut
        short (interrupted: it counts an attempt) and the rest back to jobqueue/."""
        parts, where = [], []
        if task > queue_name.first:
            parts.append(dict(first=queue_name.first, last=task - 1, attempts=0,
                              flags="F" if failures else "", offset=None))
            where.append(self.layout.arrays)
        attempts = queue_name.attempts if task == queue_name.first else 0
        if interrupted:
            parts.append(dict(first=task, last=task, attempts=attempts + 1,
                              offset=row_offset, tag="w%s-%d%s" % (
                                  self.worker_id.rsplit("-", 1)[-1], self.handbacks,
                                  "-sig" if signalled else "")))
            where.append(self.layout.jobqueue)
            if task < queue_name.last:
                parts.append(dict(first=task + 1, last=queue_name.last, attempts=0,
                                  offset=None))
                where.append(self.layout.jobqueue)
        else:
            parts.append(dict(first=task, last=queue_name.last, attempts=attempts,
                              offset=row_offset))
            where.append(self.layout.jobqueue)
        made = tickets.split(self.inbox, name, parts)
        for new, folder in zip(made, where):
            try_rename(os.path.join(self.inbox, new), os.path.join(folder, new))
        log.info("%s: tasks %d to %d back to jobqueue/", display(queue_name.original), task,
                 queue_name.last)
        return None

    def cancel_rest(self, name, queue_name, task, failures):
        """`fjd cancel` of a range we are running: tasks not finished are cancelled."""
        if task > queue_name.first:
            made = tickets.split(self.inbox, name, [
                dict(first=queue_name.first, last=task - 1, attempts=0,
                     flags="F" if failures else "", offset=None),
                dict(first=task, last=queue_name.last, attempts=0, offset=None)])
            try_rename(os.path.join(self.inbox, made[0]),
                       os.path.join(self.layout.arrays, made[0]))
            folders.rename(os.path.join(self.inbox, cancel_request(name)),
                           os.path.join(self.inbox, cancel_request(made[1])))
            name = made[1]
        return self.file_cancelled(name)

    def fail_range(self, name, queue_name, run, reason):
        """A range that cannot run at all (an unreadable or invalid array file)."""
        now = time.time()
        self.persist(lambda: self.journal.append(dict(
            k="tasks", array=queue_name.original, u=queue_name.uid, first=queue_name.first,
            last=queue_name.last, state="failed", reason=reason, run=run,
            worker=self.worker_id, host=self.host, end=now), size=queue_name.size),
            "record the failed tasks of %s" % display(name))
        log.warning("%s failed: %s", display(name), reason)
        self.finish_range(name, queue_name, True)
        return None


def json_text(params):
    return json.dumps(params, ensure_ascii=False)


def touch_logfile(path, shown):
    """Create the job's logfile (and its folder) before the run, as the 2012 worker did."""
    try:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        fd = folders.open_at(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY, 0o644)
        os.close(fd)
    except OSError as error:
        raise JobError("cannot create logfile %s: %s" % (shown, error.strerror))
