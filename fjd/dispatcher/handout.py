"""The hand-out: each cycle, the next ready jobs go to the idle workers, each by one rename
into the worker's inbox, then the worker's announcement is parked there. This is the hot
path (a thousand jobs a second and more): no file operation here that is not needed."""
import logging
import os
import time

from .. import arrays, folders, names
from ..layout import display
from ..fsops import try_rename
from ..ready import GONE, NOT_REGULAR, READY
from ..resources import DEFAULT, worker_shape
from .batching import fair_share, piece_size
from .fitting import Fitting
from .time_fit import TimeFit
from .listing import complete_on_arrival, head_info, read_head

log = logging.getLogger("fjd.dispatcher")

MAX_DEFERRED = 64  # names a worker passes over (too long for its time left) in one batch


class Handout:
    """Hands the listing's jobs to the idle workers in batches; counts what it gave."""

    def __init__(self, layout, listing, batches, ranges, rejects, idle, live, readiness,
                 sharing):
        self.layout = layout
        self.listing = listing
        self.batches = batches
        self.ranges = ranges
        self.rejects = rejects
        self.idle = idle
        self.live = live
        self.readiness = readiness  # ReadinessChecker: is a job file complete
        self.shared_readiness = None  # settling.SharedReadiness on a shared mount
        self.sharing = sharing  # RangeSharing: the ranges handed out
        self.assigned = 0  # jobs and tasks handed out
        self.range_given_at = None  # when a range of tasks was last handed out
        self.waiting_for_workers = False  # the last cycle had jobs but no idle worker
        self.waiting = None  # waiting.Waiting: jobs with dependencies go there
        self.fitting = Fitting(layout, listing)  # workers' resources, jobs' requests
        self.time_fit = TimeFit(listing)  # workers' ends, jobs' time requests
        sharing.fits = self.fitting.could_run

    def cycle(self):
        """One pass; True when there may be more to do right away. The queue is looked at
        first when it was empty (or on a shared mount, where each listing costs the file
        server requests), and the idle workers only when there is something to hand out:
        200 idle workers renewing their announcements must not cost 200 names each time."""
        now = time.monotonic()
        listing = self.listing
        if self.layout.shared or not listing.pending:
            self.refresh(now)
            if not listing.pending and not self.fitting.runnable(self.live.observer.keys()):
                return False  # (held jobs nobody live can run cost no look for workers)
        found = [w for w in sorted(self.idle.find(now)) if self.live.looks_alive(w)]
        idle = self.live.proofs.first_choice(found)  # proven workers first (proving.py)
        self.waiting_for_workers = not idle and bool(listing.pending)
        if not idle and not listing.odd:
            return False
        if not self.layout.shared:
            self.refresh(now)
        if not idle:
            return False
        return self.serve(self.fitting.order(idle), now, found) > 0

    def refresh(self, now):
        """List the queue again if due. Names held for bigger workers (fitting.py) are
        names of the last listing still to hand out, as those left in it are."""
        listing = self.listing
        if not (self.fitting.held_total and not listing.pending and
                not listing.relist_due(now)):
            listing.refresh_if_due(now)
            self.rejects.reject_odd(listing.take_odd())
        self.fitting.sync()

    def serve(self, idle, now, found=None):
        """Give each idle worker its batch; the number of jobs and tasks given. found: all
        the idle workers seen (those passed over stay known as idle, not given anything)."""
        # never more than a fair share of what is left, counting the busy workers too (they
        # come back soon): the last batches shrink, and all workers finish at about one time
        workers = max(len(idle), self.live.count, 1)
        share = fair_share(len(self.listing.pending) + self.fitting.held_total, workers)
        handed = 0
        spare = self.idle.remember_spare(now, found or idle)
        for worker_id in idle:
            spare.discard(worker_id)
            deferred = []  # passed over by this worker: back in front for the next one
            given, count = self.fill_batch(worker_id, now, share, workers, deferred)
            self.listing.pending.extendleft(reversed(deferred))
            if given:
                self.handed(worker_id, given, count, now)
                handed += count
            if not self.listing.pending and not self.fitting.held_total:
                break
        self.fitting.report(now, self.live.observer.keys())
        return handed

    def handed(self, worker_id, given, count, now):
        """The worker has its batch: its announcement parked, a hint sent, noted."""
        self.idle.take(worker_id)
        self.live.tell_jobs(worker_id)
        self.live.handed(worker_id, given, now)
        if self.waiting is not None:
            self.waiting.handed(worker_id, given)
        if "@" in given[0]:
            self.range_given_at = now
        self.batches.sent_to(worker_id, now, count)
        self.sharing.handed(worker_id, given[0], now)
        self.assigned += count
        if len(given) == 1:
            log.info("%s -> %s", display(given[0]), display(worker_id))
        else:
            log.info("%d jobs (%s ... %s) -> %s", len(given), display(given[0]),
                     display(given[-1]), display(worker_id))

    def fill_batch(self, worker_id, now, share, workers, deferred):
        """Hand one worker its batch: up to its batch size of single jobs, or one range of
        an array's tasks. Returns (names given, jobs or tasks given)."""
        want = self.batches.next_size(worker_id, now)
        if self.live.proofs.unproven(worker_id):
            want = 1  # never seen alive: one job, back soon if it is not taken up
        floor = self.batches.floor_of(worker_id)
        share = max(share, min(want, floor))
        shape = worker_shape(worker_id)
        given, count = [], 0
        while count < min(want, share):
            if given and not self.listing.same_priority(given[0]):
                break  # a worker runs its inbox in name order: one priority per batch
            name = self.next_ready_job(deferred, shape)
            if name is None:
                break
            if not self.time_fit.fits(worker_id, name):
                deferred.append(name)  # it would outlast the worker (time_request.py)
                if len(deferred) > MAX_DEFERRED:
                    break
                continue
            queue_name = names.parse(name)
            if queue_name.is_tasks:
                if given:
                    deferred.append(name)  # a range goes in a batch of its own
                    break
                name = self.ranges.split_off(name, queue_name,
                                             piece_size(queue_name, want, workers, floor))
                if name is None:
                    continue
                queue_name = names.parse(name)
            outcome = self.assign(name, worker_id, unique=not queue_name.is_tasks and (
                names.submitted(name) or self.live.proofs.inbox_clear_of(worker_id, name)))
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

    def next_ready_job(self, deferred, shape=DEFAULT):
        """The next queued name that may go to a worker of shape now: a complete single
        job, or a range of an array's tasks (a new array file is given its id first); the
        jobs held for a worker of its size first (fitting.py)."""
        pending, fitting = self.listing.pending, self.fitting
        while pending or fitting.held_total:
            name = fitting.take(shape) if fitting.held_total else None
            if name is None:
                if not pending:
                    return None
                name = pending.popleft()
            queue_name = names.parse(name) if "@" in name else None
            if queue_name is not None and queue_name.is_tasks:
                if queue_name.finished:
                    self.ranges.move_finished(name)
                elif not self.rejects.fail_if_exhausted(name, queue_name) and \
                        fitting.admits(shape, name, queue_name, None):
                    return name
                continue
            state, kind, detail = self.readiness_of(name)
            if state == READY:
                if self.waiting is not None and self.waiting.diverts(name, queue_name, detail):
                    continue  # it waits for other jobs (dependencies.py)
                if not fitting.admits(shape, name, queue_name, detail):
                    continue  # held for a bigger worker
                if kind:
                    name = self.ranges.start(name)
                    if name is not None:
                        fitting.started_array(name, detail)
                        return name
                elif not self.rejects.fail_if_exhausted(name, queue_name):
                    return name
            elif state == NOT_REGULAR:
                self.rejects.reject(name, detail)
            elif state != GONE:
                deferred.append(name)
        return None

    def readiness_of(self, name):
        """(state, array kind or None, detail) of a queued job file (ready.py)."""
        if names.plain_submitted(name):
            # fjd submit renamed it in complete, and said it is a plain single job
            return READY, None, None
        path = os.path.join(self.layout.jobqueue, name)
        if self.layout.shared and complete_on_arrival(name):
            # a file only fjd renames into the queue is complete: no settle wait
            kinds = self.listing.kinds
            if name in kinds:
                return READY, kinds[name], None
            head = read_head(path)
            return READY, head_info(head)[1], head
        if self.shared_readiness is not None:
            return self.shared_readiness.check(name, path)  # settling.py: one look
        state, detail = self.readiness.check(path, name, head=arrays.MAX_HEADER)
        return state, arrays.declared_kind(detail) if state == READY else None, detail

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
            self.rejects.cannot_move(name, "hand it to a worker", error)
            return "gone"
        if not moved:
            if not os.path.isdir(inbox):
                self.idle.drop(worker_id, "its inbox is gone")
                return "stale-worker"
            return "gone"
        return "assigned"
