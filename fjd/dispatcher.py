"""The dispatcher: hands each queued job to an idle worker with one atomic rename.

Each cycle it lists ``workerqueue/`` (one file per idle worker), takes the next complete job
file from ``jobqueue/`` in name order and renames it into that worker's inbox
``jobpod/<worker>/``, then removes the worker's announcement. It never deletes or overwrites
a job: anything in ``jobqueue/`` that is not a job file goes to ``failed/`` with its reason.
"""
import collections
import logging
import os
import stat
import time

from . import defaults, names, records
from .jobfile import kind_of, priority_of
from .layout import (HEARTBEAT_FILE, PARKED_ANNOUNCEMENT, Layout, display, hostname,
                     is_ignored, refresh_listing, try_rename)
from .liveness import HeartbeatWatch, decode_beat, read_beat
from .lock import DispatcherLock, LockRefused
from .notify import IN_CLOSE_WRITE, IN_CREATE, IN_MOVED_TO, DirWatcher
from .progress import DispatcherProgressLine
from .ready import GONE, NOT_REGULAR, READY, ReadinessChecker
from .waker import Waker

log = logging.getLogger("fjd.dispatcher")

MAINTENANCE_EVERY = 1.0  # seconds between lock renewals and heartbeat checks
# Short jobs travel in batches: a worker gets as many jobs as it ran in about
# BATCH_SECONDS last time (at most MAX_BATCH, and never more than its fair share of the
# queue: guided self-scheduling, so the last batches shrink and the workers end together),
# so no-op jobs cost one round trip per batch while long jobs still go one at a time.
BATCH_SECONDS = 0.25
MAX_BATCH = 100


SAFETY_RELIST = 60.0  # seconds between listings of a long queue when inotify saw nothing new
PRIORITY_WINDOW = 10000  # [control] priority reorders the next this many queued jobs
PRIORITY_HEAD = 65536  # bytes of a job file read for its priority


def read_priority(path):
    """[control] priority of a queued job file (0 when absent or unreadable), read from its
    first PRIORITY_HEAD bytes the way the worker reads the whole file (jobfile.priority_of)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY)
    except OSError:
        return 0
    try:
        data = os.read(fd, PRIORITY_HEAD)
    except OSError:
        return 0
    finally:
        os.close(fd)
    return priority_of(data)


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

    def _folder_mtime(self):
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None

    def by_priority(self, names):
        """The window at the front reordered by priority; the rest stays in name order."""
        window = names[:PRIORITY_WINDOW]
        known = self.priorities
        self.priorities = {name: known[name] if name in known else
                           read_priority(os.path.join(self.path, name)) for name in window}
        if not any(self.priorities.values()):
            return names
        window.sort(key=lambda name: -self.priorities[name])  # stable: name order within
        return window + names[PRIORITY_WINDOW:]

    def refresh_if_due(self, now):
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
                if age < 1.0:
                    return
            elif self._folder_mtime() == self.last_mtime:
                return
        self.relist(now)

    def relist(self, now):
        started = time.monotonic()
        self.pending = collections.deque()  # let the old names go first: half the peak memory
        if self.arrivals is not None:
            self.arrivals.drain()
        if self.shared:
            refresh_listing(self.path)
        self.last_mtime = self._folder_mtime()
        regular, odd = [], []
        try:
            with os.scandir(self.path) as entries:
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
        regular.sort()
        self.pending = collections.deque(self.by_priority(regular))
        self.odd = odd
        self.last_list_at = now
        self.last_list_cost = time.monotonic() - started


class Dispatcher:
    def __init__(self, root=None, interval=defaults.DISPATCHER_INTERVAL, settle=defaults.SETTLE,
                 exit_when_done=False, worker_timeout=defaults.WORKER_TIMEOUT,
                 max_attempts=defaults.MAX_ATTEMPTS):
        self.layout = Layout(root)
        self.interval = interval
        self.exit_when_done = exit_when_done
        self.worker_timeout = worker_timeout
        self.max_attempts = max_attempts
        self.readiness = ReadinessChecker(settle_seconds=settle, use_leases=not self.layout.shared)
        self.listing = JobListing(self.layout.jobqueue, shared=self.layout.shared)
        self.observer = HeartbeatWatch(worker_timeout)
        self.lock = DispatcherLock(self.layout.root, dead_after=worker_timeout)
        self.waker = None
        self.progress = None
        self.assigned = 0
        self.requeued = 0
        self.last_maintenance = None
        self.tag_counter = 0
        self.batch = {}  # worker id -> jobs to hand over next time
        self.sent = {}  # worker id -> (monotonic time, jobs) of its last batch
        self.live_workers = 0  # workers with a beating heart at the last check, idle or busy

    # -- the loop -------------------------------------------------------------------------

    def run(self):
        self.layout.ensure()
        self.waker = Waker()
        try:
            try:
                if not self.lock.acquire(lambda: self.waker.stopping):
                    return 0
            except LockRefused as refusal:
                log.error("%s", refusal)
                return 1
            log.info("dispatcher on %s serving %s (pid %d)%s", hostname(),
                     display(self.layout.root), os.getpid(),
                     " on a shared filesystem: polling with fresh listings" if
                     self.layout.shared else "")
            self.progress = DispatcherProgressLine(self.layout)
            watcher = DirWatcher()
            watcher.watch(self.layout.workerqueue, IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE)
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
            self.waker.close()

    def loop(self):
        while not self.waker.stopping:
            if not self.maintain():
                log.error("another dispatcher took over %s: stopping", display(self.lock.path))
                return 1
            busy = self.cycle()
            self.show_progress()
            if self.exit_when_done and self.all_done():
                log.info("queue drained and no job running: exiting")
                break
            if not busy:
                self.waker.sleep(self.interval)
        log.info("dispatcher stopped after assigning %d jobs", self.assigned)
        return 0

    # -- liveness ---------------------------------------------------------------------------

    def maintain(self):
        """Once a second: renew our lock and look for workers that stopped beating."""
        now = time.monotonic()
        if self.last_maintenance is not None and now - self.last_maintenance < MAINTENANCE_EVERY:
            return True
        self.last_maintenance = now
        if not self.lock.renew():
            return False
        self.check_workers()
        return True

    def check_workers(self):
        present = set()
        for worker_id in self.layout.list_names(self.layout.jobpod):
            inbox = self.layout.inbox(worker_id)
            raw = read_beat(os.path.join(inbox, HEARTBEAT_FILE))
            if raw is None and not os.path.isdir(inbox):
                continue
            present.add(worker_id)
            if self.observer.is_dead(worker_id, raw):
                self.bury(worker_id, raw)
        for worker_id in self.observer.keys():
            if worker_id not in present:
                self.observer.forget(worker_id)
        self.live_workers = sum(1 for worker_id in present if self.looks_alive(worker_id))

    def looks_alive(self, worker_id):
        """False for a worker whose heartbeat has stalled for a few beats: give it nothing."""
        return self.observer.unchanged_for(worker_id) < min(3.0, self.worker_timeout / 2)

    def bury(self, worker_id, raw):
        """A dead worker's jobs go back to the queue; the one it was running counts a crash."""
        beat = decode_beat(raw)
        running = beat.get("job")
        log.warning("worker %s (host %s, pid %s) has not renewed its heartbeat for %g s: "
                    "presumed dead", display(worker_id), display(str(beat.get("host", "?"))),
                    beat.get("pid", "?"), self.worker_timeout)
        self.drop_announcement(worker_id)
        inbox = self.layout.inbox(worker_id)
        if self.layout.shared:
            refresh_listing(inbox)
        try:
            entries = sorted(os.listdir(inbox))
        except FileNotFoundError:
            entries = []
        for name in entries:
            if name.startswith("."):
                continue
            self.requeue(inbox, name, crashed=(name == running), worker_id=worker_id,
                         host=beat.get("host"))
        for name in entries:
            if name.startswith("."):
                try:
                    os.unlink(os.path.join(inbox, name))
                except OSError:
                    pass
        try:
            os.rmdir(inbox)
        except OSError:
            pass  # not empty yet (a late assignment): the next check handles it
        self.observer.forget(worker_id)
        self.batch.pop(worker_id, None)
        self.sent.pop(worker_id, None)

    def requeue(self, inbox, name, crashed, worker_id, host):
        original, attempts = names.parse(name)
        source = os.path.join(inbox, name)
        if crashed:
            attempts += 1
            if attempts >= self.max_attempts:
                reason = ("its worker died while running it %d times (the last was %s on "
                          "host %s); see --max-attempts" % (attempts, worker_id, host))
                now = time.time()
                record = {"reason": reason, "attempt": attempts, "worker": worker_id,
                          "host": host, "rejected_by": "dispatcher", "start": None,
                          "end": records.iso(now), "end_ts": now, "exit_status": None,
                          "signal": None}
                final = records.finish(self.layout, source, original, "failed", record)
                if final:
                    log.warning("%s -> failed/%s: %s", display(name), display(final), reason)
                return
        self.tag_counter += 1
        tag = "d%x%d" % (int(time.time()), self.tag_counter)
        target = os.path.join(self.layout.jobqueue, names.requeue_name(original, attempts, tag))
        if try_rename(source, target):
            self.requeued += 1
            log.warning("%s back to jobqueue/ as %s (%s)", display(name),
                        display(os.path.basename(target)),
                        "crashed attempt %d" % attempts if crashed else "never started")

    def cycle(self):
        """One pass; True when there may be more to do right away."""
        now = time.monotonic()
        idle = [w for w in sorted(self.layout.list_names(self.layout.workerqueue))
                if self.looks_alive(w)]
        if not idle and not self.listing.odd:
            return False
        self.listing.refresh_if_due(now)
        self.reject_odd_entries()
        if not idle:
            return False
        # never more than a fair share of what is left, counting the busy workers too (they
        # come back soon): the last batches shrink, and all workers finish at about one time
        share = max(1, -(-len(self.listing.pending) // max(len(idle), self.live_workers)))
        deferred = []
        handed = 0
        for worker_id in idle:
            want = min(self.next_batch_size(worker_id, now), share)
            given = []
            while len(given) < want:
                if given and not self.same_priority(given[0]):
                    break  # a worker runs its inbox in name order: one priority per batch
                name = self.next_ready_job(deferred)
                if name is None:
                    break
                outcome = self.assign(name, worker_id)
                if outcome == "assigned":
                    given.append(name)
                elif outcome == "stale-worker":
                    deferred.append(name)
                    break
                elif outcome == "busy-name":
                    deferred.append(name)
            if given:
                self.take_announcement(worker_id)
                self.sent[worker_id] = (now, len(given))
                self.assigned += len(given)
                handed += len(given)
                if len(given) == 1:
                    log.info("%s -> %s", display(given[0]), display(worker_id))
                else:
                    log.info("%d jobs (%s ... %s) -> %s", len(given), display(given[0]),
                             display(given[-1]), display(worker_id))
            if not self.listing.pending:
                break
        self.listing.pending.extendleft(reversed(deferred))
        return handed > 0

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
            size = max(1, min(MAX_BATCH, int(BATCH_SECONDS / per_job), size * 2))
            self.batch[worker_id] = size
        return size

    def next_ready_job(self, deferred):
        pending = self.listing.pending
        while pending:
            name = pending.popleft()
            path = os.path.join(self.layout.jobqueue, name)
            state, mode = self.readiness.check(path, name)
            if state == READY:
                return name
            if state == NOT_REGULAR:
                self.reject(name, mode)
            elif state != GONE:
                deferred.append(name)
        return None

    # -- actions --------------------------------------------------------------------------

    def assign(self, name, worker_id):
        inbox = self.layout.inbox(worker_id)
        target = os.path.join(inbox, name)
        if os.path.lexists(target):
            return "busy-name"
        source = os.path.join(self.layout.jobqueue, name)
        if not try_rename(source, target):
            if not os.path.isdir(inbox):
                self.drop_announcement(worker_id, "its inbox is gone")
                return "stale-worker"
            return "gone"
        return "assigned"

    def take_announcement(self, worker_id):
        """The worker has jobs now: park its announcement in its inbox, where the worker
        moves it back from when idle (renames: deleted files slow later creations, see
        layout.PARKED_ANNOUNCEMENT)."""
        try:
            os.rename(os.path.join(self.layout.workerqueue, worker_id),
                      os.path.join(self.layout.inbox(worker_id), PARKED_ANNOUNCEMENT))
        except OSError:
            self.drop_announcement(worker_id)  # gone already, or its inbox is

    def drop_announcement(self, worker_id, why=None):
        try:
            os.unlink(os.path.join(self.layout.workerqueue, worker_id))
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
        if stat.S_ISLNK(mode):
            reason = ("it is a symbolic link; fjd does not follow links in jobqueue/ "
                      "(queue a copy of the file instead)")
        else:
            reason = "it is %s, not a job file" % kind_of(mode)
        original, attempts = names.parse(name)
        now = time.time()
        record = {"reason": reason, "rejected_by": "dispatcher", "host": hostname(),
                  "attempt": attempts, "start": None, "end": records.iso(now), "end_ts": now}
        try:
            final = records.finish(self.layout, os.path.join(self.layout.jobqueue, name),
                                   original, "failed", record)
        except OSError as error:
            log.warning("could not move %s to failed/: %s", display(name), error.strerror)
            return
        if final:
            log.warning("%s -> failed/%s: %s", display(name), display(final), reason)

    def show_progress(self, force=False):
        if self.progress.enabled:
            self.progress.update(self.assigned, self.requeued, len(self.listing.pending),
                                 self.count_in_inboxes(), force)

    def count_in_inboxes(self):
        return sum(len(self.layout.list_names(self.layout.inbox(w)))
                   for w in self.layout.list_names(self.layout.jobpod))

    def all_done(self):
        """Nothing queued and nothing in any inbox. Costs nothing while the last listing
        still has jobs to hand out: a long queue is never listed just to ask this."""
        if self.listing.pending:
            return False
        if self.layout.list_names(self.layout.jobqueue):
            return False
        for worker_id in self.layout.list_names(self.layout.jobpod):
            if self.layout.list_names(self.layout.inbox(worker_id)):
                return False
        return True
