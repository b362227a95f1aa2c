"""The worker's main loop: start up, register, then serve until asked to stop (look in the
inbox, run what is there, go idle), then leave. Each step is a part of its own: Presence
(heartbeat, announcement, stop requests), Following (the dispatcher's lock and hints),
ResultHolder (a result retried until filed), Inbox, Launcher, SingleJobs, Ranges (see
__init__.py; DESIGN.md, "The worker")."""
import logging
import time

from .. import defaults, faults, folders, names, spawn
from ..execute import Runner
from ..exit_with import ExitWith
from ..layout import Layout, display
from ..notify import IN_MOVED_TO, DirWatcher
from ..resources import Resources
from ..waker import Waker
from .holding import ResultHolder
from .inbox import Inbox
from .job import SingleJobs
from .journals import Journals
from .following import Following
from .launch import Launcher
from .outcomes import Stuck
from .presence import Presence
from .tasks import Ranges

log = logging.getLogger("fjd.worker")


class Worker:
    """A worker daemon: run() starts up, serves until asked to stop, and leaves. The parts
    it is made of each own their state; the worker keeps only the batch's."""

    def __init__(self, root=None, interval=defaults.WORKER_INTERVAL, heartbeat=None,
                 grace=defaults.GRACE, max_job_bytes=defaults.MAX_JOB_BYTES, allow_users=(),
                 worker_id=None, lifetime=None, resources=None, idle_exit=None,
                 exit_with=None):
        self.layout = Layout(root)
        self.timings = defaults.timings(self.layout.shared)
        self.grace = grace
        self.poll = defaults.Backoff(interval, self.timings.idle_poll, time.monotonic)
        self.faults = faults.Faults(log)
        self.following = Following(self.layout, self.timings, heartbeat)
        self.presence = Presence(self.layout, self.timings, self.faults, self.following,
                                 lifetime, worker_id, idle_exit)
        self.presence.exit_with = ExitWith(exit_with) if exit_with else None
        self.journals = Journals(self.layout)
        self.holder = ResultHolder(self.presence, self.journals)
        self.launcher = Launcher(self.layout, self.presence, self.journals, allow_users)
        self.resources = resources or Resources()  # cores, GPUs, memory (resources.py)
        self.presence.shape = self.resources.shape
        self.launcher.resources = self.resources
        self.inbox = Inbox(self.layout, self.presence, self.holder, self.journals,
                           self.timings)
        self.ranges = Ranges(self.layout, self.presence, self.holder, self.journals,
                             self.launcher, self.inbox, max_job_bytes, self.ask_near_the_end)
        self.jobs = SingleJobs(self.layout, self.presence, self.holder, self.journals,
                               self.launcher, self.inbox, self.ranges, max_job_bytes)
        self.waker = self.watcher = None
        # the batch: how the inbox was last looked at, and how the batch goes
        self.last_listing = None
        self.woken = False
        self.parked_seen = False  # our parked announcement was there before we listed
        self.asked_early = False  # this batch announced us before its end (ask_for_more)
        self.after_this = 0  # items of the batch after the one running
        self.ask_lead = defaults.SHARED_ASK_LEAD if self.layout.shared else 0.0

    # -- life cycle -------------------------------------------------------------------------

    def run(self):
        spawn.close_inherited_descriptors()
        self.resources.pin()  # (its jobs inherit the affinity)
        self.waker = Waker(watch_children=True, classify=self.launcher.sender_is_our_job)
        runner = Runner(self.waker, self.grace, self.presence.tick,
                        min(self.timings.job_check, self.following.interval))
        self.presence.attach(self.waker)
        self.following.runner = self.launcher.runner = runner
        try:
            if not self.start_up():
                return 0
            log.info("worker %s on %s serving %s (pid %d)", self.presence.worker_id,
                     self.presence.host, display(self.layout.root), self.presence.pid)
            if self.resources.given:
                log.info("it owns %s", self.resources.describe())
            self.watch_and_serve()
        finally:
            self.shut_down()
        log.info("worker %s stopped after %d jobs", self.presence.worker_id,
                 self.holder.finished)
        return 0

    def start_up(self):
        """Make the queue's folders and register, waiting out a full disk or a missing
        mount; False when asked to stop meanwhile."""
        while not self.waker.stopping:
            try:
                self.presence.join()
                self.journals.move_own_streams()  # (FUSE: the output journals take 1 and 2)
                self.register()
                self.faults.cleared("register in the queue")
                return True
            except OSError as error:
                self.waker.sleep(self.faults.failed("register in the queue", error))
        return False

    def register(self):
        """A new inbox and heartbeat, fresh journals, and an announcement: ready for work."""
        presence = self.presence
        presence.register()
        self.journals.close()
        presence.close_heartbeat()
        self.journals.open(presence.worker_id, presence.host, presence.pid)
        self.following.read(time.monotonic())
        presence.announce()

    def watch_and_serve(self):
        """Serve, woken by inotify on our inbox (locally) and by hints (shared mounts)."""
        self.watcher = DirWatcher(ignore_dot_names=True)
        if not self.layout.shared:  # (there, it sees only this host's changes)
            self.watcher.watch(self.presence.inbox, IN_MOVED_TO)
            self.waker.watchers.append(self.watcher)
        if self.following.listener is not None:
            self.waker.watchers.append(self.following.listener)
        try:
            self.serve()
        except Stuck:
            log.error("stopping with a result that could not be filed (%s); it stays in "
                      "%s for the dispatcher to file", self.presence.blocked,
                      display(self.presence.inbox))
        finally:
            self.watcher.close()

    def shut_down(self):
        """Leave (unless a result is held: the inbox stays for the dispatcher), close all."""
        if self.presence.inbox and self.holder.unfiled is None:
            self.inbox.leave()
            self.ranges.discard_view()
        self.journals.close()
        self.presence.close_heartbeat()
        folders.stop()
        self.following.close()
        self.waker.close()

    # -- serving ----------------------------------------------------------------------------

    def serve(self):
        while not self.waker.stopping:
            try:
                self.serve_once()
                if self.faults and self.faults.cleared("serve the queue"):
                    self.journals.reopen()
            except OSError as error:
                if self.presence.waiting_for_root(error):
                    continue
                self.waker.sleep(self.faults.failed("serve the queue", error))

    def serve_once(self):
        """One pass: beat; look in the inbox when there may be jobs; run them; else idle."""
        self.presence.beat()
        if self.presence.buried:
            return self.register_again()
        now = time.monotonic()
        jobs = self.look(now)
        if jobs:
            if self.run_batch(jobs):
                return None
            now = time.monotonic()  # a whole batch is done: idle without listing again
        self.idle(now)
        return None

    def look(self, now):
        """The inbox's jobs, when it is worth listing (should_look); else []."""
        jobs = []
        if self.should_look(now):
            jobs = self.inbox.jobs()
            self.last_listing = now
        self.woken = False
        return jobs

    def idle(self, now):
        """Announce (or renew the announcement), then sleep until woken or the next poll."""
        first = self.presence.become_idle(now)
        # (after asking early, the dispatcher's hint may have come while the batch ran)
        pause = 0.0 if first and self.asked_early else self.idle_sleep(now)
        self.woken = self.waker.sleep(pause)

    def register_again(self):
        """Our inbox was taken away: by the dispatcher (we were presumed dead), unless the
        whole root is gone (an unmounted share), when nothing may be made there."""
        self.presence.raise_if_root_gone()
        log.warning("inbox %s was taken away (this worker was presumed dead and its jobs "
                    "handed back); registering again", display(self.presence.inbox))
        self.presence.forget_id()
        self.register()
        if not self.layout.shared:
            self.watcher.watch(self.presence.inbox, IN_MOVED_TO)

    def should_look(self, now):
        """Whether to list the inbox now. Busy: always. Idle: when woken (inotify, a
        hint), when the dispatcher has parked our announcement in the inbox (it does so
        when it hands us jobs: one cheap check instead of a listing), and every backstop
        seconds in case the announcement was lost. On a shared mount a hint too is
        followed by that check: a listing made after the parked announcement was seen
        holds the whole batch (run_batch)."""
        self.parked_seen = False
        if self.presence.idle_since is None or self.last_listing is None:
            return True
        if now - self.last_listing >= self.timings.backstop:
            return True
        if self.woken and not self.layout.shared:
            return True
        self.parked_seen = self.presence.parked_announcement_seen()
        return self.parked_seen or self.woken

    def idle_sleep(self, now):
        """The polling interval (at least HINTED_WAIT while the dispatcher's hints get
        through), but never past the next beat: observers must see the heartbeat change
        every beat, idle or not."""
        pause = self.poll.next()
        if self.following.hinted_lately(now):
            pause = max(pause, defaults.HINTED_WAIT)  # the dispatcher hints when it has jobs
        last_beat = self.presence.last_beat
        if last_beat is not None:
            pause = min(pause, max(0.0, last_beat + self.following.interval - now))
        return pause

    # -- a batch ----------------------------------------------------------------------------

    def run_batch(self, jobs):
        """Run what the inbox listing found. True when the inbox must be listed again
        before going idle; on a shared mount that listing (a dozen requests) is saved when
        the listing is known to hold the dispatcher's whole batch: it was made after our
        parked announcement was seen, and the dispatcher parks it after the batch's last
        job and gives us nothing more until we announce again."""
        whole = self.parked_seen and self.layout.shared  # (parked_seen: of this listing)
        # asking for more before the end needs the whole batch in hand: a range is a batch
        # of its own (TaskRange asks), and jobs are when whole (a listing woken by the first
        # of them may hold only a few)
        self.asked_early = False
        self.presence.become_busy()
        self.poll.busy()
        self.following.reread(time.monotonic())
        self.presence.start_batch(jobs[0])
        started = time.monotonic()
        for ran, name in enumerate(jobs, 1):
            if self.waker.stopping or self.presence.buried:
                break
            self.after_this = len(jobs) - ran
            self.run_item(name)
            self.presence.beat()
            if whole and self.near_the_end(started, ran, self.after_this):
                self.ask_for_more()
        self.presence.end_batch()
        return not (whole or self.asked_early) or self.waker.stopping or self.presence.buried

    def run_item(self, name):
        """One name of the inbox: a job, a range of tasks, or a range already finished."""
        queue_name = names.parse(name)
        if self.inbox.cancel_requested(name):
            self.inbox.file_cancelled(name)
        elif queue_name.is_tasks and queue_name.finished:
            self.inbox.move_to_arrays(name, name)
        elif queue_name.is_tasks:
            self.ranges.run_tasks(name, queue_name)
        else:
            self.jobs.run_job(name, queue_name)

    def near_the_end(self, started, ran, left):
        """Whether a batch (or range) that started then (monotonic clock), with ran done
        and left to go, is near enough its end to ask for more: once the next job or task
        begins, at most SHARED_ASK_LEAD would be left at its pace so far (so the last one
        always overlaps the hand-out). Once, not when stopping."""
        if not self.ask_lead or self.asked_early or self.waker.stopping or \
                self.presence.buried or not 0 < left <= ran:
            return False
        return (time.monotonic() - started) / ran * (left - 1) <= self.ask_lead

    def ask_near_the_end(self, started, ran, left):
        """For a range of tasks: ask for more near its end, when it is the batch's last."""
        if not self.after_this and self.near_the_end(started, ran, left):
            self.ask_for_more()

    def ask_for_more(self):
        """Announce ourselves idle while the last jobs of a batch still run: the dispatcher
        hands out the next batch meanwhile, parks our announcement after it and hints us.
        After the batch we look for the parked announcement at once instead of listing
        the inbox: once it is there, a listing holds the whole new batch (run_batch); till
        then we wait as after any announcement. If we stop first, Inbox.leave hands the new
        batch back unstarted."""
        try:
            self.presence.announce()
        except OSError:
            return  # the batch goes on; the idle steps after it announce (and say why not)
        self.following.hint_idle(self.presence.worker_id)
        self.asked_early = True
