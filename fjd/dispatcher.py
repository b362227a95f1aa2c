"""The dispatcher: hands each queued job to an idle worker with one atomic rename.

Each cycle it lists ``workerqueue/`` (one file per idle worker), takes the next complete job
file from ``jobqueue/`` in name order and renames it into that worker's inbox
``jobpod/<worker>/``, then parks the worker's announcement there. An array job is handed
out in ranges of tasks: a range is split off the array file (a hard link named for the
range, see tickets.py) and renamed into the inbox the same way. It never deletes or
overwrites a job: anything in ``jobqueue/`` that is not a job file goes to ``failed/`` with
its reason. Once a second it renews its lock, buries workers that stopped beating
(recovery.py) and merges the finished ranges of arrays (completion.py).
"""
import collections
import logging
import os
import stat
import time

from . import arrays, defaults, faults, folders, names, records, tickets
from .changes import BACKSTOP_DUE, CONFIRM, SKIP, ChangeGate, folder_signature
from .completion import Completion
from .jobfile import JobError, kind_of, priority_of
from .layout import (HEARTBEAT_FILE, PARKED_ANNOUNCEMENT, Layout, display, hostname,
                     is_ignored, list_names, refresh_listing, safe_hostname,
                     try_rename)
from .hints import HintListener, HintSender
from .liveness import HeartbeatWatch, decode_beat, read_beat
from .recovery import Burial, DispatcherJournal
from .lock import DispatcherLock, LockRefused
from .notify import IN_CLOSE_WRITE, IN_CREATE, IN_MOVED_TO, DirWatcher
from .progress import DispatcherProgressLine
from .ready import GONE, NOT_REGULAR, READY, ReadinessChecker
from .waker import Waker

log = logging.getLogger("fjd.dispatcher")

MAINTENANCE_EVERY = 1.0  # seconds between looks at arrays/ while arrays are finishing
COMPLETION_BACKSTOP = 30.0  # seconds between looks at arrays/ when nothing suggests one
# ... and for this long after a range was handed out, arrays/ is looked at as if finishing:
# a range of short tasks lands there within seconds (a look that came first, while it ran,
# must not end the watch)
RANGES_WATCHED_FOR = 10.0
UNMOVABLE_RETRY = 5.0  # seconds before a file that could not be moved is tried again
CLAIM_PATIENCE = 30.0  # seconds a claim in failed/ or cancelled/ waits before it is adopted


# on a shared mount, a listing is made fresh (layout.refresh_listing: two file creations'
# worth of requests) when a hint woke us, and otherwise at most this often: where the
# mount caches listings (sshfs's defaults, NFS), other hosts' new files show this late at
# worst when no hint gets through
FRESH_LISTING_EVERY = 1.0
# on a shared mount, an empty jobqueue/ is looked at again (a stat, changes.py) at most
# this often unless a hint (fjd submit sends one) woke the dispatcher; where that stat is
# not trusted (a mount that caches it), each look is a fresh listing, and less frequent
EMPTY_RELIST_EVERY = 0.5
# on a shared mount, a queue whose listed names are not all handed out yet is listed again
# this often, unless a hint said new jobs were queued
SHARED_RELIST_WHILE_PENDING = 5.0
DISTRUSTED_RELIST_EVERY = 1.25
# on a shared mount, workers that said by name that they are idle are looked up one by one
# (a request each) up to this many at a time; more cost less as one fresh listing
NAMED_LOOKUPS = 8


def due(last, now, every):
    return last is None or now - last >= every


# Short jobs travel in batches: a worker gets as many jobs as it ran in about
# BATCH_SECONDS last time (at most MAX_BATCH, and never more than its fair share of the
# queue: guided self-scheduling, so the last batches shrink and the workers end together),
# so no-op jobs cost one round trip per batch while long jobs still go one at a time.
# On a shared mount a round trip (a listing on each side, the announcement's renames)
# costs the file server about 25 requests, so batches there are sized for a longer time.
BATCH_SECONDS = 0.25
SHARED_BATCH_SECONDS = 1.0
# A worker's batch grows at most this many times from one batch to the next (its first is
# a single job, which measures how long jobs take): on a shared mount, where every batch
# costs requests on both sides, faster, so that short jobs reach full batches in fewer
# round trips. Long jobs stay one at a time either way (BATCH_SECONDS / their duration).
BATCH_GROWTH = 2
SHARED_BATCH_GROWTH = 8
# On a shared mount the fair share does not cut a batch below this much work (as the
# worker's last batch measured it): the queue's last jobs would otherwise go out in
# batches of a few short jobs, each costing a round trip of requests and more time than its
# jobs; the workers finish at most this much apart.
SHARED_MIN_BATCH_SECONDS = 0.25
MAX_BATCH = 100
# Array tasks travel in ranges: a range costs a few renames whatever its size, so they are
# sized for a longer time and may be much larger.
RANGE_SECONDS = 1.0
MAX_RANGE = 100000


SAFETY_RELIST = 60.0  # seconds between listings of a long queue when inotify saw nothing new
PRIORITY_WINDOW = 10000  # [control] priority reorders the next this many queued jobs
PRIORITY_HEAD = 65536  # bytes of a job file read for its priority


def read_head(path):
    """The first PRIORITY_HEAD bytes of a queued job file (b"" when unreadable)."""
    try:
        fd = folders.open_at(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY)
    except OSError:
        return b""
    try:
        return os.read(fd, PRIORITY_HEAD)
    except OSError:
        return b""
    finally:
        os.close(fd)


def read_priority(path):
    """[control] priority of a queued job file (0 when absent or unreadable), read from its
    first PRIORITY_HEAD bytes the way the worker reads the whole file (jobfile.priority_of)."""
    return priority_of(read_head(path))


def head_info(head):
    """(priority, array kind or None) of a job file's first bytes."""
    return priority_of(head), arrays.declared_kind(head[:arrays.MAX_HEADER])


def complete_on_arrival(name):
    """Names only fjd gives, always by renaming a complete file into jobqueue/: `fjd submit`
    names, and names with fjd's checksummed suffix. On a shared mount, where only waiting
    can tell whether a file is still being written, these need not wait."""
    return names.submitted(name) or ("@" in name and names.parse(name).original != name)


class JobListing:
    """The queued names in dispatch order, kept between cycles; re-listed only when worth it.

    Jobs go in name order (fjd submit names sort in submission order), except that the next
    PRIORITY_WINDOW jobs are reordered by their [control] priority, higher first. Listing a
    folder of 10^6 names costs about a second (DESIGN.md rule 7), so a new listing is made
    when the cached names run out, or when the folder changed and the last listing is old
    compared with what it cost to make.
    """

    RELIST_COST_FACTOR = 10.0

    def __init__(self, path, shared=False):
        self.path = path
        self.arrivals = None  # a DirWatcher on path, where inotify sees every writer
        self.shared = shared  # a shared mount: folder mtimes and listings may be stale
        self.pending = collections.deque()
        self.odd = []  # (name, mode) of entries that are not regular files
        self.last_list_at = None
        self.last_list_cost = 0.0
        self.last_mtime = None
        self.priorities = {}  # name -> priority, for names in the priority window
        self.woken = False  # a hint woke the dispatcher: make the next listing fresh
        self.last_fresh = None
        self.kinds = {}  # name -> array kind (None: a single job), read with the priority
        # on a shared mount an idle poll asks one stat before it lists (changes.py)
        self.gate = ChangeGate(lambda: folder_signature(path, folders.stat_folder)) \
            if shared else None

    def _folder_mtime(self):
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None

    def by_priority(self, queued):
        """The window at the front reordered by priority; the rest stays in name order.
        The first bytes of each job in the window are read once: its priority, and whether
        it is an array."""
        window = queued[:PRIORITY_WINDOW]
        known, kinds = self.priorities, self.kinds
        self.priorities, self.kinds = {}, {}
        for name in window:
            if name in known and name in kinds:
                self.priorities[name], self.kinds[name] = known[name], kinds[name]
            elif names.plain_submitted(name):
                self.priorities[name], self.kinds[name] = 0, None  # no need to read it
            else:
                self.priorities[name], self.kinds[name] = head_info(
                    read_head(os.path.join(self.path, name)))
        if not any(self.priorities.values()):
            return queued
        window.sort(key=lambda name: -self.priorities[name])  # stable: name order within
        return window + queued[PRIORITY_WINDOW:]

    def refresh_if_due(self, now):
        if self.shared and not self.pending and not self.woken:
            # nothing queued when we last looked: new jobs come with a hint, and a poll
            # without one costs a stat while the folder's stat says nothing arrived
            every = EMPTY_RELIST_EVERY if self.gate.trusted(now) else DISTRUSTED_RELIST_EVERY
            if not due(self.last_list_at, now, every):
                return
            decision = self.gate.decide(now)
            if decision == SKIP:
                self.last_list_at = now
                return
            self.relist(now, fresh=decision != CONFIRM)
            if decision == BACKSTOP_DUE and self.pending:
                self.gate.missed(now)
                log.info("%s: jobs arrived that the folder's stat did not show (this mount "
                         "caches attributes): idle polls list afresh for the next %d min",
                         display(self.path), self.gate.distrust // 60)
            return
        if self.pending and self.last_list_at is not None:
            age = now - self.last_list_at
            if age < self.last_list_cost * self.RELIST_COST_FACTOR:
                return
            if self.arrivals is not None:
                # inotify sees files arriving here (our own renames out do not count), so
                # a long listing is made again only for news, or once a minute to be sure
                if not self.arrivals.drain() and age < max(SAFETY_RELIST, self.last_list_cost):
                    return
            elif self.shared:
                # while names are left, a listing (a request per hundred names, and the
                # dot-file) is made again for jobs a hint announced, else now and then:
                # what it finds meanwhile sorts after the kept names, as a rule
                if age < (1.0 if self.woken else SHARED_RELIST_WHILE_PENDING):
                    return
            elif self._folder_mtime() == self.last_mtime:
                return
        self.relist(now)

    def repair_ranges(self, found):
        """Ranges of one array that overlap here come from a split cut short by a crash
        (tickets.py): finish it before anything is handed out."""
        ranges = {}
        for name in found:
            if "@" in name:
                queue_name = names.parse(name)
                if queue_name.is_tasks:
                    ranges.setdefault(queue_name.uid, []).append(name)
        suspects = [n for group in ranges.values() if len(group) > 1 for n in group]
        if not suspects:
            return found
        repaired = tickets.repair(self.path, suspects)
        return [n for n in found if n not in suspects] + repaired

    def relist(self, now, fresh=None):
        """List the folder again; on a shared mount fresh (the dot-file trick first) when
        a hint woke us or the last fresh listing is FRESH_LISTING_EVERY old, unless told."""
        started = time.monotonic()
        self.pending = collections.deque()  # let the old names go first: half the peak memory
        if self.arrivals is not None:
            self.arrivals.drain()
        if self.shared:
            if fresh is None:
                fresh = self.woken or due(self.last_fresh, now, FRESH_LISTING_EVERY)
            if fresh:
                refresh_listing(self.path)
                self.last_fresh = now
            self.gate.before_listing(now, fresh)
        self.woken = False
        self.last_mtime = None if self.shared else self._folder_mtime()
        regular, odd = [], []
        try:
            with folders.scandir(self.path) as entries:
                for entry in entries:
                    name = entry.name
                    if is_ignored(name):
                        continue
                    try:
                        if entry.is_file(follow_symlinks=False):
                            regular.append(name)
                        else:
                            odd.append((name, entry.stat(follow_symlinks=False).st_mode))
                    except OSError:
                        continue
        except FileNotFoundError:
            pass
        regular = self.repair_ranges(regular)
        regular.sort()
        self.pending = collections.deque(self.by_priority(regular))
        self.odd = odd
        self.last_list_at = now
        self.last_list_cost = time.monotonic() - started


class Dispatcher:
    def __init__(self, root=None, interval=defaults.DISPATCHER_INTERVAL, settle=defaults.SETTLE,
                 exit_when_done=False, worker_timeout=None,
                 max_attempts=defaults.MAX_ATTEMPTS, max_job_bytes=defaults.MAX_JOB_BYTES):
        self.layout = Layout(root)
        self.timings = defaults.timings(self.layout.shared, worker_timeout)
        worker_timeout = self.timings.worker_timeout
        self.interval = interval
        self.poll = defaults.Backoff(interval, self.timings.queue_poll, time.monotonic)
        self.batch_seconds = SHARED_BATCH_SECONDS if self.layout.shared else BATCH_SECONDS
        self.batch_growth = SHARED_BATCH_GROWTH if self.layout.shared else BATCH_GROWTH
        self.exit_when_done = exit_when_done
        self.worker_timeout = worker_timeout
        self.max_attempts = max_attempts
        self.max_job_bytes = max_job_bytes
        self.readiness = ReadinessChecker(settle_seconds=settle, use_leases=not self.layout.shared)
        self.listing = JobListing(self.layout.jobqueue, shared=self.layout.shared)
        self.observer = HeartbeatWatch(worker_timeout)
        self.lock = DispatcherLock(self.layout.root, dead_after=worker_timeout)
        self.writer_id = "dispatcher-%s-%d-%s" % (safe_hostname(), os.getpid(),
                                                  os.urandom(3).hex())
        self.records = DispatcherJournal(self.layout, self.writer_id, {
            "role": "dispatcher", "host": hostname(), "pid": os.getpid(),
            "started": time.time(), "root": self.layout.root})
        self.completion = Completion(self.layout, max_job_bytes, self.records)
        self.waker = None
        self.progress = None
        self.assigned = 0
        self.requeued = 0
        self.tag_counter = 0
        self.batch = {}  # worker id -> jobs (or tasks) to hand over next time
        self.sent = {}  # worker id -> (monotonic time, jobs or tasks) of its last batch
        self.floor = {}  # worker id -> the smallest batch the fair share may cut it to
        self.live_workers = 0  # workers with a beating heart at the last check, idle or busy
        self.specs = {}  # array id -> ArraySpec, for ranges of table arrays
        self.unmovable = {}  # names in jobqueue/ that could not be moved -> when (monotonic)
        self.warned = set()  # ... and whose warning was given (once)
        self.faults = faults.Faults(log)
        self.root_id = None
        self.pending_claims = []  # Filings of rejected files that could not be filed yet
        self.claims = (None, set())  # (when, claims seen in failed/, cancelled/ at start)
        self.hints = None  # a HintListener on shared mounts; workers' addresses by worker
        self.waiting_for_workers = False  # the last cycle had jobs but no idle worker
        self.hint_sender = None
        self.worker_hints = {}
        self.woken = False  # a hint woke us: make the next listing of workerqueue/ fresh
        self.workerqueue_fresh = None
        self.spare_idle = (None, set())  # (when, idle workers last seen and given nothing)
        self.last_renewal = self.last_check = self.last_completion = None
        self.range_given_at = None  # when a range of tasks was last handed out

    def new_tag(self):
        self.tag_counter += 1
        return "%x%d" % (int(time.time()), self.tag_counter)

    # -- the loop -------------------------------------------------------------------------

    def run(self):
        self.waker = Waker()
        try:
            if not self.start_up():
                return 0
            try:
                if not self.lock.acquire(lambda: self.waker.stopping, self.wait_on_error):
                    return 0
            except LockRefused as refusal:
                log.error("%s", refusal)
                return 1
            log.info("dispatcher on %s serving %s (pid %d)%s", hostname(),
                     display(self.layout.root), os.getpid(),
                     " on a shared filesystem: fresh listings, wake-up hints on UDP port %s"
                     % (self.hints.port if self.hints else None) if self.layout.shared
                     else "")
            self.warn_about_timings()
            self.progress = DispatcherProgressLine(self.layout)
            if self.hints is not None:
                self.waker.watchers.append(self.hints)
            watcher = DirWatcher()
            if not self.layout.shared:
                # on a shared mount inotify sees only this host's changes, among them our
                # own refresh of a listing: it would wake us for nothing, all the time
                watcher.watch(self.layout.workerqueue,
                              IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE)
                watcher.watch(self.layout.jobqueue, IN_MOVED_TO | IN_CLOSE_WRITE)
                self.waker.watchers.append(watcher)
            arrivals = DirWatcher()
            if not self.layout.shared and arrivals.watch(self.layout.jobqueue,
                                                         IN_MOVED_TO | IN_CLOSE_WRITE):
                self.listing.arrivals = arrivals
            try:
                return self.loop()
            finally:
                watcher.close()
                arrivals.close()
                self.show_progress(force=True)
                self.progress.close()
        finally:
            self.lock.release()
            self.records.writer.close()
            folders.stop()
            for closable in (self.hints, self.hint_sender):
                if closable is not None:
                    closable.close()
            self.waker.close()

    def start_up(self):
        """Make the queue's folders, waiting out a full disk or a missing mount; False when
        asked to stop meanwhile. A folder fjd must not use (a link, somebody else's) is a
        QueueError for the command to report."""
        while not self.waker.stopping:
            try:
                self.layout.ensure()
                self.root_id = self.layout.identity()
                if self.layout.shared and self.hints is None:
                    self.hints = HintListener(self.root_id)
                    self.hint_sender = HintSender(self.root_id)
                    self.lock.hints = self.hints.addresses
                    folders.use(self.layout)
                self.claims = (time.monotonic(), set(self.orphan_claims()))
                self.faults.cleared("make the queue folders")
                return True
            except OSError as error:
                self.waker.sleep(self.faults.failed("make the queue folders", error))
        return False

    def orphan_claims(self):
        """(state, claim name) of the files claimed into failed/ or cancelled/ (renamed to
        a private .NAME.nonce.part there) and not filed yet."""
        for state in ("failed", "cancelled"):
            for name in folders.listdir(self.layout.folder(state)):
                if name.startswith(".") and name.endswith(".part"):
                    yield state, name

    def adopt_claims(self):
        """Files that a dispatcher (failed/) or `fjd cancel` (cancelled/) claimed, and then
        died before filing: filed, with a record that says so, by the lock holder, and only
        those that were there CLAIM_PATIENCE seconds ago (a live claimer files within
        milliseconds)."""
        since, seen = self.claims
        if not seen or time.monotonic() - since < CLAIM_PATIENCE:
            return
        self.claims = (time.monotonic(), set())
        for state, name in self.orphan_claims():
            if (state, name) not in seen:
                continue
            folder = self.layout.folder(state)
            original = names.parse(name[1:].rsplit(".", 2)[0]).original
            record = {"original": original, "state": state, "end": time.time(),
                      "reason": "%s by a process that died before it could file it"
                      % ("rejected" if state == "failed" else "cancelled"),
                      "key": "claim:%s:%s" % (state, name)}
            filing = records.Filing(self.layout, self.records, os.path.join(folder, name),
                                    original, state, record)
            if filing.advance():
                log.warning("filed %s, left by a process that died, in %s/%s",
                            display(name), state, display(filing.final))

    def warn_about_timings(self):
        """Workers read --worker-timeout from the lock and beat BEATS_PER_TIMEOUT times
        within it, but no faster than every MIN_BEAT seconds."""
        shortest = defaults.BEATS_PER_TIMEOUT * defaults.MIN_BEAT
        if self.worker_timeout < shortest:
            log.warning("workers beat at most every %g s: a --worker-timeout of %g s can take "
                        "live workers for dead ones (use %g or more)", defaults.MIN_BEAT,
                        self.worker_timeout, shortest)

    def wait_on_error(self, error):
        self.waker.sleep(self.faults.failed("create %s" % display(self.lock.path), error))

    def loop(self):
        root_state = {}
        while not self.waker.stopping:
            try:
                if not self.maintain():
                    log.error("another dispatcher took over %s: stopping",
                              display(self.lock.path))
                    return 1
                busy = self.attempt("dispatch jobs", self.cycle)
                self.finish_arrays()
                self.show_progress()
                done = self.exit_when_done and self.attempt("see whether all is done",
                                                            self.all_done)
            except OSError as error:
                if faults.root_gone(error) and faults.waiting_for_root(
                        self.layout, self.root_id, log, self.waker, root_state):
                    continue
                self.waker.sleep(self.faults.delay)
                continue
            if root_state.get("gone"):
                faults.waiting_for_root(self.layout, self.root_id, log, self.waker,
                                        root_state)
            if done:
                log.info("queue drained and no job running: exiting")
                break
            if busy:
                self.poll.busy()
            elif self.waker.sleep(self.pause()):
                self.poll.busy()  # woken by inotify or a hint: something is going on
                news = self.hints.take_news() if self.hints is not None else None
                # a worker's "idle" is news of workerqueue/ only; jobs, or anything else
                # (a signal, a hint of an older fjd), makes both listings fresh
                self.woken = True
                self.listing.woken = self.listing.woken or news is None or news != {b"idle"}
        log.info("dispatcher stopped after assigning %d jobs", self.assigned)
        return 0

    def pause(self):
        """How long to sleep after a cycle with nothing to do: the polling interval, but
        while jobs wait for a worker and workers' hints get through, an idle worker will
        say so, and workerqueue/ is listed at most every DISPATCHER_HINTED_WAIT seconds."""
        pause = self.poll.next()
        if self.waiting_for_workers and self.hints is not None and \
                self.hints.heard_within(defaults.HINTS_TRUSTED_FOR, time.monotonic()):
            pause = max(pause, defaults.DISPATCHER_HINTED_WAIT)
        return pause

    # -- liveness ---------------------------------------------------------------------------

    def maintain(self):
        """Now and then (Timings): renew our lock, look for workers that stopped beating,
        retry filings that failed. On a shared mount, where each of these costs
        the file server requests, less often."""
        now = time.monotonic()
        if due(self.last_renewal, now, self.timings.lock_renew):
            if not self.attempt("renew %s" % display(self.lock.path), self.lock.renew,
                                lambda: self.layout.present(self.root_id)):
                return False
            self.last_renewal = now
        if due(self.last_check, now, self.timings.liveness):
            self.attempt("check the workers' heartbeats", self.check_workers)
            self.last_check = now
        for filing in list(self.pending_claims):
            self.attempt("file what was rejected", filing.advance)
            self.pending_claims.remove(filing)
        if self.claims[1]:
            self.attempt("file what others left half filed", self.adopt_claims)
        return True

    def finish_arrays(self):
        """Now and then, after the hand-out (a worker waiting for its next range goes
        first): merge the finished ranges in arrays/ and file the arrays they complete."""
        now = time.monotonic()
        lately = self.range_given_at is not None and \
            now - self.range_given_at < RANGES_WATCHED_FOR
        if lately or self.completion.active or \
                due(self.last_completion, now, COMPLETION_BACKSTOP):
            if due(self.last_completion, now, MAINTENANCE_EVERY):
                self.attempt("file finished arrays", self.completion.run)
                self.last_completion = now

    def attempt(self, what, function, *args):
        """function(*args), with its OSError noted (logged once per condition) before it is
        raised; a success clears the condition (and says so)."""
        try:
            result = function(*args)
        except OSError as error:
            if not (faults.root_gone(error) and not self.layout.present(self.root_id)):
                self.faults.failed(what, error)
            raise
        if self.faults:
            self.faults.cleared(what)
        return result

    def check_workers(self):
        present = set()
        for worker_id in self.layout.list_names(self.layout.jobpod):
            inbox = self.layout.inbox(worker_id)
            raw = self.worker_beat(worker_id)
            if raw is None and not os.path.isdir(inbox):
                continue
            present.add(worker_id)
            if self.hints is not None:
                self.worker_hints[worker_id] = decode_beat(raw).get("hints")
            if self.observer.is_dead(worker_id, raw):
                Burial(self, worker_id, raw).bury()
                self.observer.forget(worker_id)
                self.batch.pop(worker_id, None)
                self.sent.pop(worker_id, None)
                self.floor.pop(worker_id, None)
        for worker_id in self.observer.keys():
            if worker_id not in present:
                self.observer.forget(worker_id)
                self.worker_hints.pop(worker_id, None)
        self.live_workers = sum(1 for worker_id in present if self.looks_alive(worker_id))

    def hint_addresses(self, worker_id):
        """Where the worker takes hints. Heartbeats are read every 10 s on a shared mount:
        a worker that started since is asked once, through its heartbeat, rather than
        left to find its first batches by polling for up to that long."""
        if worker_id not in self.worker_hints:
            self.worker_hints[worker_id] = decode_beat(self.worker_beat(worker_id)).get("hints")
        return self.worker_hints[worker_id]

    def worker_beat(self, worker_id):
        """A worker's raw heartbeat (None when missing or unreadable)."""
        return read_beat(os.path.join(self.layout.inbox(worker_id), HEARTBEAT_FILE),
                         splice=self.layout.fuse)

    def looks_alive(self, worker_id):
        """False for a worker whose heartbeat has stalled for a few beats: give it nothing."""
        stalled = min(3 * self.timings.heartbeat + self.timings.liveness,
                      self.worker_timeout / 2)
        return self.observer.unchanged_for(worker_id) < stalled

    # -- handing out ------------------------------------------------------------------------

    def cycle(self):
        """One pass; True when there may be more to do right away. The queue is looked at
        first when it was empty (or on a shared mount, where each listing costs the file
        server requests), and the idle workers only when there is something to hand out:
        200 idle workers renewing their announcements must not cost 200 names each time."""
        now = time.monotonic()
        if self.layout.shared or not self.listing.pending:
            self.listing.refresh_if_due(now)
            self.reject_odd_entries()
            if not self.listing.pending:
                return False
        idle = [w for w in sorted(self.idle_workers(now)) if self.looks_alive(w)]
        self.waiting_for_workers = not idle and bool(self.listing.pending)
        if not idle and not self.listing.odd:
            return False
        if not self.layout.shared:
            self.listing.refresh_if_due(now)
            self.reject_odd_entries()
        if not idle:
            return False
        # never more than a fair share of what is left, counting the busy workers too (they
        # come back soon): the last batches shrink, and all workers finish at about one time
        workers = max(len(idle), self.live_workers, 1)
        share = max(1, -(-len(self.listing.pending) // workers))
        deferred = []
        handed = 0
        self.spare_idle = (now, set(idle))
        for worker_id in idle:
            self.spare_idle[1].discard(worker_id)
            given, count = self.fill_batch(worker_id, now, share, workers, deferred)
            if given:
                self.take_announcement(worker_id)
                if self.hint_sender is not None:
                    self.hint_sender.send(self.hint_addresses(worker_id), b"jobs")
                if "@" in given[0]:
                    self.range_given_at = now
                self.sent[worker_id] = (now, count)
                self.assigned += count
                handed += count
                if len(given) == 1:
                    log.info("%s -> %s", display(given[0]), display(worker_id))
                else:
                    log.info("%d jobs (%s ... %s) -> %s", len(given), display(given[0]),
                             display(given[-1]), display(worker_id))
            if not self.listing.pending:
                break
        self.listing.pending.extendleft(reversed(deferred))
        return handed > 0

    def fill_batch(self, worker_id, now, share, workers, deferred):
        """Hand one worker its batch: up to its batch size of single jobs, or one range of
        an array's tasks. Returns (names given, jobs or tasks given)."""
        want = self.next_batch_size(worker_id, now)
        share = max(share, min(want, self.floor.get(worker_id, 1)))
        given, count = [], 0
        while count < min(want, share):
            if given and not self.same_priority(given[0]):
                break  # a worker runs its inbox in name order: one priority per batch
            name = self.next_ready_job(deferred)
            if name is None:
                break
            queue_name = names.parse(name)
            if queue_name.is_tasks:
                if given:
                    deferred.append(name)  # a range goes in a batch of its own
                    break
                piece = self.range_piece(name, queue_name, want, workers,
                                         self.floor.get(worker_id, 1))
                if piece is None:
                    continue
                name, queue_name = piece, names.parse(piece)
            outcome = self.assign(name, worker_id, unique=not queue_name.is_tasks and
                                  names.submitted(name))
            if outcome == "assigned":
                given.append(name)
                count += queue_name.size
                if queue_name.is_tasks:
                    break
            elif outcome == "stale-worker":
                deferred.append(name)
                break
            elif outcome == "busy-name":
                deferred.append(name)
        return given, count

    def range_piece(self, name, queue_name, want, workers, floor=1):
        """The part of a range of tasks to hand out now: at most the batch size, and at
        most a fair share of the range (but floor tasks, if the batch size allows). The rest
        goes back to the front of the queue (split off within jobqueue/, see tickets.py).
        None if the range is gone."""
        size = min(want, max(1, -(-queue_name.size // workers), floor))
        if queue_name.attempts:
            size = 1  # a task that was cut short goes alone, so its count is its own
        if size >= queue_name.size:
            return name
        cut = queue_name.first + size
        offset = None
        if queue_name.offset is not None:
            offset = self.row_offset(name, queue_name, cut)
        parts = [dict(first=queue_name.first, last=cut - 1),
                 dict(first=cut, last=queue_name.last, attempts=0, offset=offset, tag=None)]
        try:
            piece, rest = tickets.split(self.layout.jobqueue, name, parts)
        except FileNotFoundError:
            return None  # cancelled meanwhile
        except OSError as error:
            log.warning("cannot split %s: %s; handing it out whole", display(name),
                        error.strerror)
            return name
        self.listing.pending.appendleft(rest)
        self.listing.priorities[rest] = self.listing.priorities.get(name, 0)
        self.listing.priorities[piece] = self.listing.priorities.get(name, 0)
        return piece

    def row_offset(self, name, queue_name, task):
        """Where the row of task starts in a table array (to name the rest of a range)."""
        try:
            fd = folders.open_at(os.path.join(self.layout.jobqueue, name),
                                 os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            spec = self.specs.get(queue_name.uid)
            if spec is None:
                spec = self.specs[queue_name.uid] = arrays.read_spec(fd, self.max_job_bytes)
            return spec.row_offset(fd, task, queue_name.first, queue_name.offset)
        except (OSError, JobError):
            return None
        finally:
            os.close(fd)

    def same_priority(self, first):
        """Is the next queued job of the same priority as first?"""
        priorities = self.listing.priorities
        if not priorities or not self.listing.pending:
            return True
        return priorities.get(self.listing.pending[0], 0) == priorities.get(first, 0)

    def next_batch_size(self, worker_id, now):
        """Learn from how fast the worker came back for more (on our clock)."""
        size = self.batch.get(worker_id, 1)
        sent = self.sent.pop(worker_id, None)
        if sent is not None:
            per_job = max(now - sent[0], 1e-4) / sent[1]
            seconds, cap = (RANGE_SECONDS, MAX_RANGE) if sent[1] > MAX_BATCH or \
                self.next_is_range() else (self.batch_seconds, MAX_BATCH)
            size = max(1, min(cap, int(seconds / per_job), size * self.batch_growth))
            self.batch[worker_id] = size
            if self.layout.shared:
                self.floor[worker_id] = max(1, int(SHARED_MIN_BATCH_SECONDS / per_job))
        return size

    def next_is_range(self):
        pending = self.listing.pending
        return bool(pending) and "@" in pending[0] and names.parse(pending[0]).is_tasks

    def next_ready_job(self, deferred):
        """The next queued name that may go to a worker now: a complete single job, or a
        range of an array's tasks (a new array file is given its id first)."""
        pending = self.listing.pending
        while pending:
            name = pending.popleft()
            queue_name = names.parse(name) if "@" in name else None
            if queue_name is not None and queue_name.is_tasks:
                if queue_name.finished:
                    self.move_finished_range(name)
                    continue
                if queue_name.attempts >= self.max_attempts:
                    self.fail_exhausted(name, queue_name)
                    continue
                return name
            path = os.path.join(self.layout.jobqueue, name)
            kinds = self.listing.kinds
            if names.plain_submitted(name):
                # fjd submit renamed it in complete, and said it is a plain single job
                state, kind = READY, None
            elif self.layout.shared and complete_on_arrival(name):
                # a file only fjd renames into the queue is complete: no settle wait
                state = READY
                kind = kinds[name] if name in kinds else head_info(read_head(path))[1]
            else:
                state, detail = self.readiness.check(path, name, head=arrays.MAX_HEADER)
                kind = arrays.declared_kind(detail) if state == READY else None
            if state == READY:
                if kind:
                    name = self.start_array(name)
                    if name is not None:
                        return name
                    continue
                queue_name = queue_name or names.parse(name)
                if queue_name.attempts >= self.max_attempts:
                    self.fail_exhausted(name, queue_name)
                    continue
                return name
            if state == NOT_REGULAR:
                self.reject(name, detail)
            elif state != GONE:
                deferred.append(name)
        return None

    def start_array(self, name):
        """Give a new array file its id and the range of all its tasks (one rename); the
        new name, or None when the file is not a valid array (it goes to failed/)."""
        path = os.path.join(self.layout.jobqueue, name)
        try:
            fd = folders.open_at(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            spec = arrays.read_spec(fd, self.max_job_bytes)
        except JobError as error:
            self.fail_file(name, str(error))
            return None
        except OSError as error:
            log.warning("cannot read the array %s: %s", display(name), error.strerror)
            return None
        finally:
            os.close(fd)
        queue_name = names.parse(name)
        uid = os.urandom(4).hex()
        self.specs[uid] = spec
        ranged = names.compose(queue_name.original, first=1, last=spec.count, uid=uid,
                               offset=spec.data_offset)
        try:
            folders.rename(path, os.path.join(self.layout.jobqueue, ranged))
        except OSError as error:
            log.warning("cannot start the array %s: %s", display(name), error.strerror)
            return None
        self.listing.priorities[ranged] = self.listing.priorities.get(name, 0)
        log.info("array %s: %d tasks, id %s", display(queue_name.original), spec.count, uid)
        return ranged

    def move_finished_range(self, name):
        try:
            folders.rename(os.path.join(self.layout.jobqueue, name),
                           os.path.join(self.layout.arrays, name))
        except OSError:
            pass

    @staticmethod
    def exhausted_reason(queue_name):
        tag = queue_name.tag or ""
        if tag.startswith("d"):
            return ("its worker died while running it %d times; see --max-attempts"
                    % queue_name.attempts)
        if tag.endswith("-sig"):
            return ("it was cut short %d times, the last time because it sent a stop "
                    "signal to its own worker; see --max-attempts" % queue_name.attempts)
        return ("it was cut short %d times (its worker stopped or died while running it); "
                "see --max-attempts" % queue_name.attempts)

    def fail_exhausted(self, name, queue_name):
        """A job (or a task) cut short --max-attempts times fails instead of running again."""
        reason = self.exhausted_reason(queue_name)
        now = time.time()
        if queue_name.is_tasks:
            record = {"k": "task", "array": queue_name.original, "u": queue_name.uid,
                      "i": queue_name.first, "state": "failed", "reason": reason,
                      "attempt": queue_name.attempts, "exit_status": None, "signal": None,
                      "end": now, "key": "exhausted:" + name}
            try:
                self.records.append(record)
                target = names.with_fields(queue_name, flags="F", attempts=0, offset=None,
                                           tag=None)
                folders.rename(os.path.join(self.layout.jobqueue, name),
                               os.path.join(self.layout.arrays, target))
            except OSError as error:
                log.warning("cannot fail %s: %s", display(name), error.strerror)
                return
            log.warning("%s failed: %s", display(names.task_name(queue_name.original,
                                                               queue_name.first)), reason)
            return
        self.fail_file(name, reason, attempt=queue_name.attempts, key="exhausted:" + name)

    def cannot_move(self, name, what, error):
        """Something in jobqueue/ that we may not move (another user's file in a sticky
        folder, or failed/ unwritable): left where it is, with one warning, and tried again
        only every UNMOVABLE_RETRY seconds (the folder may become writable)."""
        self.unmovable[name] = time.monotonic()
        self.listing.priorities.pop(name, None)
        if name not in self.warned:
            self.warned.add(name)
            log.warning("cannot %s %s: %s; it stays in jobqueue/ (its owner can remove it; "
                        "fjd tries again now and then)", what, display(name),
                        faults.describe(error))

    def is_unmovable(self, name):
        since = self.unmovable.get(name)
        if since is None:
            return False
        if time.monotonic() - since < UNMOVABLE_RETRY:
            return True
        del self.unmovable[name]
        return False

    def fail_file(self, name, reason, attempt=None, mode=None, key=None):
        """Move something from jobqueue/ to failed/ with a record of why. It is claimed
        first (renamed to a private name in failed/), so that something that cannot be
        moved gets a warning, not a record every cycle."""
        if self.is_unmovable(name):
            return
        queue_name = names.parse(name)
        claim = os.path.join(self.layout.failed, ".%s.%s.part" % (names.fit(name, 200),
                                                                 os.urandom(3).hex()))
        try:
            if not try_rename(os.path.join(self.layout.jobqueue, name), claim):
                return  # gone meanwhile
        except OSError as error:
            if faults.root_gone(error):
                raise
            return self.cannot_move(name, "move to failed/ (%s)" % reason, error)
        now = time.time()
        record = {"queue": name, "original": queue_name.original, "reason": reason,
                  "rejected_by": "dispatcher", "host": hostname(),
                  "attempt": queue_name.attempts if attempt is None else attempt,
                  "start": None, "end": now, "exit_status": None, "signal": None,
                  "key": key or "claim:failed:%s" % os.path.basename(claim)}
        filing = records.Filing(self.layout, self.records, claim, queue_name.original,
                                "failed", record)
        try:
            final = filing.advance()
        except OSError as error:
            log.warning("cannot file %s in failed/ (%s): %s; it waits there as %s",
                        display(name), reason, faults.describe(error), display(claim))
            self.pending_claims.append(filing)
            return
        if final:
            log.warning("%s -> failed/%s: %s", display(name), display(final), reason)

    # -- actions --------------------------------------------------------------------------

    def assign(self, name, worker_id, unique=False):
        """Rename a queued name into the worker's inbox. Only the dispatcher puts names
        there, but a hand-made name can come twice (job0.conf dropped again while the first
        still waits in the inbox), and a rename would replace the first: such names are
        looked for first. unique: a single job under a `fjd submit` name, which no two
        files ever have (DESIGN.md rule 2), so the look (a request on a shared mount) is
        saved."""
        inbox = self.layout.inbox(worker_id)
        target = os.path.join(inbox, name)
        if not unique and folders.lexists(target):
            return "busy-name"
        source = os.path.join(self.layout.jobqueue, name)
        try:
            moved = try_rename(source, target)
        except PermissionError as error:
            self.cannot_move(name, "hand it to a worker", error)
            return "gone"
        if not moved:
            if not os.path.isdir(inbox):
                self.drop_announcement(worker_id, "its inbox is gone")
                return "stale-worker"
            return "gone"
        return "assigned"

    def idle_workers(self, now):
        """The names in workerqueue/. On a shared mount a listing (a dozen requests to the
        file server when it is made fresh) is made only where it is needed:

        * while hints get through, a worker that goes idle says so by name ("idle <id>"):
          its announcement is looked up (one request) instead of listing the folder, and
          between such hints nothing is asked at all, but for a fresh listing once in
          FRESH_LISTING_EVERY that finds those whose hint was lost;
        * otherwise (no hints heard lately, or a hint without a name) the folder is listed,
          fresh when a hint woke us or once in FRESH_LISTING_EVERY."""
        path = self.layout.workerqueue
        if not self.layout.shared:
            return list_names(path)
        woken, self.woken = self.woken, False
        named = self.hints.take_named() if self.hints is not None else set()
        hinted = self.hints is not None and self.hints.heard_within(
            defaults.HINTS_TRUSTED_FOR, now)
        spare_at, spare = self.spare_idle
        spare = spare if spare_at is not None and now - spare_at < FRESH_LISTING_EVERY \
            else set()
        if due(self.workerqueue_fresh, now, FRESH_LISTING_EVERY) or (woken and not named) \
                or len(named - spare) > NAMED_LOOKUPS:
            refresh_listing(path)
            self.workerqueue_fresh = now
            return list_names(path)
        if named:
            return [w for w in named - spare if folders.lexists(os.path.join(path, w))] + \
                list(spare)
        if hinted:
            return list(spare)  # idle workers listed lately but given nothing; others hint
        return list_names(path)

    def take_announcement(self, worker_id):
        """The worker has jobs now: park its announcement in its inbox, where the worker
        moves it back from when idle (renames: deleted files slow later creations, see
        layout.PARKED_ANNOUNCEMENT)."""
        try:
            folders.rename(os.path.join(self.layout.workerqueue, worker_id),
                           os.path.join(self.layout.inbox(worker_id), PARKED_ANNOUNCEMENT))
        except OSError:
            self.drop_announcement(worker_id)  # gone already, or its inbox is

    def drop_announcement(self, worker_id, why=None):
        try:
            folders.unlink(os.path.join(self.layout.workerqueue, worker_id))
        except FileNotFoundError:
            pass
        if why:
            log.info("forgot worker %s: %s", display(worker_id), why)

    def reject_odd_entries(self):
        odd, self.listing.odd = self.listing.odd, []
        for name, mode in odd:
            self.reject(name, mode)

    def reject(self, name, mode):
        """Move something that is not a job file to failed/, with the reason."""
        if self.is_unmovable(name):
            return
        if stat.S_ISLNK(mode):
            reason = ("it is a symbolic link; fjd does not follow links in jobqueue/ "
                      "(queue a copy of the file instead)")
        else:
            reason = "it is %s, not a job file" % kind_of(mode)
        self.fail_file(name, reason)

    def show_progress(self, force=False):
        if self.progress.enabled:
            self.progress.update(self.assigned, self.requeued, len(self.listing.pending),
                                 self.count_in_inboxes(), force)

    def count_in_inboxes(self):
        return sum(len(self.layout.list_names(self.layout.inbox(w)))
                   for w in self.layout.list_names(self.layout.jobpod))

    def all_done(self):
        """Nothing queued and nothing in any inbox. Costs nothing while the last listing
        still has jobs to hand out: a long queue is never listed just to ask this. Arrays
        whose last tasks finished are filed before it says yes."""
        if self.listing.pending:
            return False
        if self.layout.list_names(self.layout.jobqueue):
            return False
        for worker_id in self.layout.list_names(self.layout.jobpod):
            if self.layout.inbox_jobs(worker_id):
                return False
        self.completion.run(force=True)
        return True
