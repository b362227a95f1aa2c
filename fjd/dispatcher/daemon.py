"""The dispatcher daemon: its parts, and the loop that runs them.

Each part owns one piece of state: the job listing (listing.py), batch sizes
(batching.py), arrays' ranges (ranges.py), rejected files and orphan claims (rejects.py),
idle and live workers with their burials (workers.py, burial.py), the hand-out
(handout.py). The Dispatcher holds the queue root: its lock, its faults, its journal, and
the timers of the periodic work.
"""
import logging
import os
import time

from .. import defaults, faults, folders, names, record_kinds
from ..completion import Completion
from ..exit_with import ExitWith
from ..hints import HintListener, HintSender
from ..layout import Layout, display, hostname, safe_hostname
from ..lock import DispatcherLock, LockRefused
from ..notify import IN_CLOSE_WRITE, IN_CREATE, IN_MOVED_TO, DirWatcher
from ..progress import DispatcherProgressLine
from ..ready import ReadinessChecker
from ..waker import Waker
from .batching import Batches
from .handout import Handout
from .keyed_journal import DispatcherJournal
from .listing import JobListing
from .ranges import ArrayRanges
from .rejects import Claims, Rejects
from .settling import install as install_shared_readiness
from .sharing import RangeSharing
from .timers import due
from .waiting import Waiting
from .workers import IdleWorkers, LiveWorkers

log = logging.getLogger("fjd.dispatcher")


class Dispatcher:
    """Hands each queued job to an idle worker with one atomic rename (see the package's
    docstring); run() returns the exit status."""

    def __init__(self, root=None, interval=defaults.DISPATCHER_INTERVAL, settle=defaults.SETTLE,
                 exit_when_done=False, worker_timeout=None,
                 max_attempts=defaults.MAX_ATTEMPTS, max_job_bytes=defaults.MAX_JOB_BYTES,
                 exit_with=None):
        layout = self.layout = Layout(root)
        self.timings = defaults.timings(layout.shared, worker_timeout)
        self.poll = defaults.Backoff(interval, self.timings.queue_poll, time.monotonic)
        self.exit_when_done = exit_when_done
        self.exit_with = ExitWith(exit_with) if exit_with else None
        self.lock = DispatcherLock(layout.root, dead_after=self.timings.worker_timeout)
        writer_id = "dispatcher-%s-%d-%s" % (safe_hostname(), os.getpid(), names.nonce(3))
        self.journal = DispatcherJournal(layout, writer_id, record_kinds.writer_info(
            "dispatcher", hostname(), os.getpid(), time.time(), layout.root))
        self.completion = Completion(layout, max_job_bytes, self.journal)
        self.listing = JobListing(layout.jobqueue, shared=layout.shared)
        self.rejects = Rejects(layout, self.journal, self.listing.forget, max_attempts)
        self.claims = Claims(layout, self.journal)
        self.batches = Batches(layout.shared, self.listing.next_is_range)
        self.idle = IdleWorkers(layout)
        self.live = LiveWorkers(layout, self.timings, self.idle, self.batches, self.rejects,
                                self.journal)
        self.sharing = RangeSharing(layout, self.idle, self.live)
        self.handout = Handout(
            layout, self.listing, self.batches,
            ArrayRanges(layout, self.listing, self.rejects, max_job_bytes), self.rejects,
            self.idle, self.live,
            ReadinessChecker(settle_seconds=settle, use_leases=not layout.shared),
            self.sharing)
        self.server_clock = install_shared_readiness(layout, self.listing, self.handout, settle)
        self.waiting = self.handout.waiting = Waiting(layout, self.journal, self.listing)
        self.completion.on_filed = self.waiting.array_filed
        self.faults = faults.Faults(log)
        self.root_id = None
        self.waker = None
        self.progress = None
        self.last_renewal = self.last_check = self.last_completion = None

    # -- start and stop ---------------------------------------------------------------------

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
            return self.serve()
        finally:
            self.lock.release()
            self.journal.close()
            folders.stop()
            for closable in (self.idle.hints, self.live.sender, self.server_clock):
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
                if self.layout.shared and self.idle.hints is None:
                    self.idle.hints = HintListener(self.root_id)
                    self.live.sender = HintSender(self.root_id)
                    self.lock.hints = self.idle.hints.addresses
                    folders.use(self.layout)
                self.claims.note()
                self.faults.cleared("make the queue folders")
                return True
            except OSError as error:
                self.waker.sleep(self.faults.failed("make the queue folders", error))
        return False

    def serve(self):
        """With the lock held: say so, watch the folders, loop until stopped."""
        log.info("dispatcher on %s serving %s (pid %d)%s", hostname(),
                 display(self.layout.root), os.getpid(),
                 " on a shared filesystem: fresh listings, wake-up hints on UDP port %s"
                 % (self.idle.hints.port if self.idle.hints else None) if self.layout.shared
                 else "")
        self.warn_about_timings()
        self.progress = DispatcherProgressLine(self.layout)
        if self.idle.hints is not None:
            self.waker.watchers.append(self.idle.hints)
            self.waiting.hints = self.idle.hints
        watchers = self.watch_folders()
        try:
            return self.loop()
        finally:
            for watcher in watchers:
                watcher.close()
            self.show_progress(force=True)
            self.progress.close()

    def watch_folders(self):
        """inotify on workerqueue/ and jobqueue/ wakes the loop; the arrivals in jobqueue/
        tell the listing when a long queue is worth listing again. Not on a shared mount:
        there inotify sees only this host's changes, among them our own refresh of a
        listing: it would wake us for nothing, all the time."""
        watcher = DirWatcher()
        if not self.layout.shared:
            watcher.watch(self.layout.workerqueue, IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE)
            watcher.watch(self.layout.jobqueue, IN_MOVED_TO | IN_CLOSE_WRITE)
            watcher.watch(self.layout.waiting, IN_MOVED_TO | IN_CLOSE_WRITE)
            watcher.watch(self.layout.cancelled, IN_MOVED_TO)  # `fjd cancel`: dependencies
            self.waker.watchers.append(watcher)
        arrivals = DirWatcher()
        if not self.layout.shared and arrivals.watch(self.layout.jobqueue,
                                                     IN_MOVED_TO | IN_CLOSE_WRITE):
            self.listing.arrivals = arrivals
        waiting = DirWatcher()
        if not self.layout.shared and waiting.watch(self.layout.waiting,
                                                    IN_MOVED_TO | IN_CLOSE_WRITE):
            self.waiting.folder.arrivals = waiting
        cancels = DirWatcher()
        if not self.layout.shared and cancels.watch(self.layout.cancelled, IN_MOVED_TO):
            self.waiting.cancels = cancels
        return watcher, arrivals, waiting, cancels

    def warn_about_timings(self):
        """Workers read --worker-timeout from the lock and beat BEATS_PER_TIMEOUT times
        within it, but no faster than every MIN_BEAT seconds."""
        shortest = defaults.BEATS_PER_TIMEOUT * defaults.MIN_BEAT
        if self.timings.worker_timeout < shortest:
            log.warning("workers beat at most every %g s: a --worker-timeout of %g s can take "
                        "live workers for dead ones (use %g or more)", defaults.MIN_BEAT,
                        self.timings.worker_timeout, shortest)

    def wait_on_error(self, error):
        self.waker.sleep(self.faults.failed("create %s" % display(self.lock.path), error))

    # -- the loop ---------------------------------------------------------------------------

    def loop(self):
        root_state = {}
        while not self.waker.stopping:
            try:
                if not self.maintain():
                    log.error("another dispatcher took over %s: stopping",
                              display(self.lock.path))
                    return 1
                busy = self.guarded("dispatch jobs", self.handout.cycle)
                self.guarded("ask for a range to be shared", self.sharing.check,
                             time.monotonic(), bool(self.listing.pending))
                self.finish_arrays()
                busy = self.guarded("release waiting jobs", self.waiting.cycle) or busy
                self.show_progress()
                done = self.exit_when_done and self.guarded("see whether all is done",
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
            self.rest(busy)
        log.info("dispatcher stopped after assigning %d jobs", self.handout.assigned)
        return 0

    def rest(self, busy):
        """Go on at once after a busy cycle; else sleep, and after a wake-up (inotify, a
        hint, a signal) make the next listings fresh."""
        if busy:
            self.poll.busy()
        elif self.waker.sleep(self.pause()):
            self.poll.busy()  # woken by inotify or a hint: something is going on
            news = self.idle.wake()  # (False: only a worker's "idle" hint)
            self.listing.woken = news or self.listing.woken
            self.waiting.folder.woken = self.layout.shared and (news or
                                                                self.waiting.folder.woken)

    def pause(self):
        """How long to sleep after a cycle with nothing to do: the polling interval, but
        while jobs wait for a worker and workers' hints get through, an idle worker will
        say so, and workerqueue/ is listed at most every DISPATCHER_HINTED_WAIT seconds."""
        pause = self.poll.next()
        if self.handout.waiting_for_workers and self.idle.hints_trusted(time.monotonic()):
            pause = max(pause, defaults.DISPATCHER_HINTED_WAIT)
        return pause

    def maintain(self):
        """Now and then (Timings): renew our lock, look for workers that stopped beating,
        retry filings that failed. On a shared mount, where each of these costs
        the file server requests, less often. False when the lock was lost."""
        now = time.monotonic()
        if self.exit_with is not None and self.exit_with.gone(now):
            log.info("process %d (--exit-with) is gone: stopping", self.exit_with.pid)
            self.waker.request_stop()
        if due(self.last_renewal, now, self.timings.lock_renew):
            if not self.guarded("renew %s" % display(self.lock.path), self.lock.renew,
                                lambda: self.layout.present(self.root_id)):
                return False
            self.last_renewal = now
        if due(self.last_check, now, self.timings.liveness):
            self.guarded("check the workers' heartbeats", self.live.check)
            self.last_check = now
        if self.live.proofs.awaited:
            self.guarded("check the workers' heartbeats", self.live.check_unproven, now)
        for filing in list(self.rejects.waiting):
            self.guarded("file what was rejected", filing.advance)
            self.rejects.waiting.remove(filing)
        if self.claims.seen:
            self.guarded("file what others left half filed", self.claims.adopt)
        return True

    def finish_arrays(self):
        """Now and then, after the hand-out (a worker waiting for its next range goes
        first): merge the finished ranges in arrays/ and file the arrays they complete."""
        now = time.monotonic()
        if self.waiting.holders.array_due and not self.listing.next_is_range():
            # a range of an array others wait for ended, and none is left to hand out:
            # the array may be complete, and its waiters should not wait for the timer
            self.waiting.holders.array_due = False
            self.guarded("file finished arrays", self.completion.run)
            self.last_completion = now
            return
        given_at = self.handout.range_given_at
        lately = given_at is not None and now - given_at < defaults.RANGES_WATCHED_FOR
        if lately or self.completion.active or \
                due(self.last_completion, now, defaults.COMPLETION_BACKSTOP):
            if due(self.last_completion, now, defaults.MAINTENANCE_EVERY):
                self.guarded("file finished arrays", self.completion.run)
                self.last_completion = now

    def guarded(self, what, function, *args):
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

    # -- progress and the end ---------------------------------------------------------------

    def show_progress(self, force=False):
        if self.progress.enabled:
            self.progress.update(self.handout.assigned, self.live.requeued,
                                 len(self.listing.pending), self.count_in_inboxes(), force)

    def count_in_inboxes(self):
        return sum(len(self.layout.list_names(self.layout.inbox(w)))
                   for w in self.layout.list_names(self.layout.jobpod))

    def all_done(self):
        """Nothing queued and nothing in any inbox. Costs nothing while the last listing
        still has jobs to hand out: a long queue is never listed just to ask this. Arrays
        whose last tasks finished are filed before it says yes."""
        if self.listing.pending or self.waiting.entries or self.waiting.each.by_target:
            return False
        if self.layout.list_names(self.layout.jobqueue):
            return False
        for worker_id in self.layout.list_names(self.layout.jobpod):
            if self.layout.inbox_jobs(worker_id):
                return False
        self.completion.run(force=True)
        return True
