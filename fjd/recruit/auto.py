"""`fjd workers auto --slurm`: an elastic fleet of Slurm allocations that follows the queue.

A controller on a login node (or in a small allocation of its own) runs a checklist each
cycle (never more often than every --poll seconds, 10 by default):

  1. renew its lock (one controller per root) and look for a stop request;
  2. one squeue: our allocations, found by their job name (allocations.py), so that a
     restarted controller sees what runs and never doubles it;
  3. note allocations that ended, and whether any of their workers came up
     (allocation_marks.py);
  4. count the queued jobs an allocation could run (demand.py);
  5. submit allocations while that demand exceeds what the pending and starting
     allocations and the idle workers can start, at most --max-allocations queued or
     running and --backlog queued;
  6. write its state (auto_state.py) for `fjd status`.

The allocations' workers are `fjd worker` processes (the batch script of slurm.py) that stop
after --idle-timeout with nothing to do and a margin before the time limit; jobs that ask for
more time than a worker has left are never handed to it (time_request.py).

Safety: after FAILED_SBATCH_LIMIT failed sbatch calls in a row, or NO_WORKER_LIMIT allocations
in a row that ended before any worker came up, it stops submitting, and says so in its log
and in `fjd status`.
"""
import logging
import math
import os
import signal
import time

from ..durations import slurm_time
from ..errors import RecruitError
from ..fsops import list_names
from ..layout import hostname
from ..liveness import decode_beat, read_beat
from ..lock import DispatcherLock, LockRefused, holder_text
from ..resources import Shape
from . import auto_state
from .allocations import Allocation, SlurmError, allocation_name, cancel, list_allocations
from .demand import DemandCounter
from .slurm import start_slurm

log = logging.getLogger("fjd.auto")

FAILED_SBATCH_LIMIT = 10
NO_WORKER_LIMIT = 3
MIN_POLL = 1.0  # seconds (the default, 10, is what Slurm sites ask of a client)
DEFAULT_POLL = 10.0


class ControllerLock(DispatcherLock):
    """auto/controller.lock: the dispatcher's lock (lock.py) under another name."""

    def __init__(self, path, dead_after):
        DispatcherLock.__init__(self, os.path.dirname(path), dead_after=dead_after, poll=0.5)
        self.path = path


class Plan:
    """What each allocation is: its workers, their shape, time and idle timeout."""

    def __init__(self, seconds, margin, workers, shape=Shape(1, 0, None), nodes=None,
                 cores_per_node=None, idle_timeout=300.0, sbatch_options=(),
                 max_allocations=4, backlog=1, poll=DEFAULT_POLL):
        self.seconds = seconds
        self.margin = margin
        self.workers = workers  # per allocation
        self.shape = shape
        self.nodes = nodes
        self.cores_per_node = cores_per_node
        self.idle_timeout = idle_timeout
        self.sbatch_options = list(sbatch_options)
        self.max_allocations = max_allocations
        self.backlog = backlog
        self.poll = max(MIN_POLL, poll)

    def as_json(self):
        return {"time": self.seconds, "margin": self.margin, "workers": self.workers,
                "shape": self.shape.as_json(), "idle_timeout": self.idle_timeout,
                "max_allocations": self.max_allocations, "backlog": self.backlog,
                "poll": self.poll}


class Controller:
    """The controller: run() until stopped; its state is the queue's and Slurm's."""

    def __init__(self, layout, plan, worker, python=None, log_dir=None, cwd=None,
                 exit_when_done=False, cancel_on_stop=False):
        self.layout = layout
        self.plan = plan
        self.worker = list(worker)  # the `fjd worker` command line of each Slurm task
        self.python = python
        self.log_dir = log_dir
        self.cwd = cwd
        self.exit_when_done = exit_when_done
        self.cancel_on_stop = cancel_on_stop
        self.paths = auto_state.paths(layout)
        self.name = allocation_name(layout.root)
        self.demand = DemandCounter(layout, plan.shape, plan.seconds, plan.margin)
        self.lock = ControllerLock(self.paths["lock"], dead_after=max(30.0, 3 * plan.poll))
        self.stopping = None  # why we stop (a signal, a stop request)
        self.known = {}  # Slurm job id -> {"submitted": time, "registered": bool}
        self.allocations = []  # what the last squeue said
        self.failed_sbatch = 0
        self.no_worker = 0
        self.blocked = None  # why we no longer submit
        self.last_error = None
        self.waiting = []  # why queued jobs start no allocation
        self.warned_no_dispatcher = False

    # -- life cycle ---------------------------------------------------------------------------

    def run(self):
        """Run until stopped; the exit status."""
        os.makedirs(self.paths["marks"], exist_ok=True)
        self.take_lock()
        previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGTERM, self.on_signal)
        try:
            auto_state.take_stop_request(self.layout)  # (one its predecessor never saw)
            self.restore()
            log.info("fjd workers auto: allocations named %s, %d worker%s each, --time %s, "
                     "at most %d (%d queued)", self.name, self.plan.workers,
                     "" if self.plan.workers == 1 else "s", slurm_time(self.plan.seconds),
                     self.plan.max_allocations, self.plan.backlog)
            if self.plan.poll < DEFAULT_POLL:
                log.warning("--poll %g: Slurm sites expect a client to ask no more often than "
                            "every %g s (shorter cycles are for tests)", self.plan.poll,
                            DEFAULT_POLL)
            while not self.stopping:
                started = time.monotonic()
                if self.cycle():
                    break
                self.sleep(self.plan.poll - (time.monotonic() - started))
            return self.finish()
        finally:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])
            self.lock.release()

    def take_lock(self):
        try:
            self.lock.acquire()
        except LockRefused:
            holder = decode_beat(read_beat(self.paths["lock"]) or b"{}")
            raise RecruitError("another `fjd workers auto` runs on this queue root: %s"
                               % holder_text(holder).replace("the dispatcher",
                                                             "the controller"))

    def on_signal(self, number, frame):
        self.stopping = "stopped by %s" % signal.Signals(number).name

    def sleep(self, seconds):
        deadline = time.monotonic() + max(0.0, seconds)
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def restore(self):
        """Counters and submitted jobs of an earlier controller of this root."""
        state = auto_state.load(self.layout) or {}
        self.failed_sbatch = int(state.get("failed_sbatch_in_a_row") or 0)
        self.no_worker = int(state.get("ended_without_worker_in_a_row") or 0)
        if self.failed_sbatch >= FAILED_SBATCH_LIMIT or self.no_worker >= NO_WORKER_LIMIT:
            log.info("the last controller had stopped submitting (%s); counting afresh",
                     state.get("blocked") or "its failure counters")
            self.failed_sbatch = self.no_worker = 0  # (started again: presumably fixed)
        for allocation in state.get("allocations") or ():
            if allocation.get("job_id"):
                self.known[str(allocation["job_id"])] = {
                    "submitted": allocation.get("submitted"),
                    "registered": bool(allocation.get("registered"))}
        self.check_limits()

    def finish(self):
        """Stop: cancel our allocations if asked, say why in the state file."""
        request = auto_state.take_stop_request(self.layout)
        cancelling = self.cancel_on_stop or bool(request and request.get("cancel"))
        reason = self.stopping or "done"
        if cancelling:
            try:
                self.allocations = list_allocations(self.name)  # (as they are now)
                ids = [a.job_id for a in self.allocations if a.active]
                cancel(ids)
                self.allocations = [a._replace(state="CANCELLED") if a.active else a
                                    for a in self.allocations]
                if ids:
                    log.info("cancelled %s", ", ".join(ids))
                reason += "; cancelled %d allocation%s" % (len(ids), "" if len(ids) == 1
                                                           else "s")
            except SlurmError as error:
                log.error("%s", error)
                reason += "; %s" % error
        log.info("fjd workers auto: %s", reason)
        self.save(running=False, stopped=reason)
        return 0

    # -- one cycle ------------------------------------------------------------------------------

    def cycle(self):
        """One pass of the checklist; True when the controller is done."""
        try:
            if not self.lock.renew():
                self.stopping = "another controller took the lock"
                return True
        except OSError as error:
            log.warning("cannot renew %s: %s", self.paths["lock"], error.strerror)
        if os.path.exists(self.paths["stop"]):
            self.stopping = "stop requested"
            return True
        try:
            self.allocations = list_allocations(self.name)
        except SlurmError as error:
            log.warning("%s; trying again in %g s", error, self.plan.poll)
            return False
        self.note_ended()
        demand = self.demand.count()
        self.waiting = [text for _, text in demand.reasons]
        self.check_dispatcher(demand)
        self.withdraw_unneeded(demand)
        self.submit_for(demand)
        self.save(running=True, demand=demand)
        if self.exit_when_done and not demand.runnable and self.queue_empty() and \
                not any(a.active for a in self.allocations):
            self.stopping = ("the queue is empty" if not demand.queued else
                             "no queued job can run in an allocation") + \
                " and every allocation has ended"
            return True
        return False

    def note_ended(self):
        """Allocations gone from squeue (or ending) are done with; those whose workers
        never came up count towards NO_WORKER_LIMIT."""
        active = {a.job_id for a in self.allocations if a.active}
        for allocation in self.allocations:
            if allocation.job_id not in self.known:
                self.known[allocation.job_id] = {"submitted": None, "registered": False}
        for job_id, info in list(self.known.items()):
            if not info["registered"] and self.registered(job_id):
                info["registered"] = True
                self.no_worker = 0
            if job_id in active:
                continue
            del self.known[job_id]
            self.forget_mark(job_id)
            if info["registered"] or info.get("withdrawn"):
                continue
            self.no_worker += 1
            log.warning("allocation %s ended before any of its workers came up (%d in a row)",
                        job_id, self.no_worker)
        self.check_limits()

    def registered(self, job_id):
        return os.path.exists(os.path.join(self.paths["marks"], job_id))

    def forget_mark(self, job_id):
        try:
            os.unlink(os.path.join(self.paths["marks"], job_id))
        except OSError:
            pass

    def check_limits(self):
        if self.blocked:
            return
        if self.failed_sbatch >= FAILED_SBATCH_LIMIT:
            self.blocked = "%d sbatch calls in a row failed (the last: %s)" % (
                self.failed_sbatch, self.last_error or "see the log")
        elif self.no_worker >= NO_WORKER_LIMIT:
            self.blocked = ("%d allocations in a row ended before any worker came up (see "
                            "the slurm-*.out logs)" % self.no_worker)
        if self.blocked:
            log.error("not submitting any more allocations: %s; fix it and start `fjd "
                      "workers auto` again", self.blocked)

    def capacity(self):
        """Jobs the allocations on their way and the idle workers can start soon."""
        pending = sum(1 for a in self.allocations if a.pending)
        starting = sum(1 for a in self.allocations
                       if a.running and not self.known.get(a.job_id, {}).get("registered"))
        idle = len(list_names(self.layout.workerqueue))
        return self.plan.workers * (pending + starting) + idle

    def submit_for(self, demand):
        """Submit what the demand asks for, within the limits."""
        if self.blocked or self.stopping or not demand.runnable:
            return
        excess = demand.runnable - self.capacity()
        if excess <= 0:
            return
        active = [a for a in self.allocations if a.active]
        pending = sum(1 for a in active if a.pending)
        room = min(self.plan.max_allocations - len(active), self.plan.backlog - pending,
                   int(math.ceil(excess / float(self.plan.workers))))
        for _ in range(max(0, room)):
            if not self.submit_one():
                return

    def withdraw_unneeded(self, demand):
        """Allocations still queued in Slurm when no queued job needs them are cancelled:
        their workers would only wait out --idle-timeout."""
        if demand.runnable:
            return
        ids = [a.job_id for a in self.allocations if a.pending]
        if not ids:
            return
        try:
            cancel(ids)
        except SlurmError as error:
            log.warning("%s", error)
            return
        for job_id in ids:
            self.known.setdefault(job_id, {"submitted": None, "registered": False})
            self.known[job_id]["withdrawn"] = True
        self.allocations = [a for a in self.allocations if a.job_id not in ids]
        log.info("cancelled allocation%s %s, still queued in Slurm: no queued job needs "
                 "%s", "" if len(ids) == 1 else "s", ", ".join(ids),
                 "it" if len(ids) == 1 else "them")

    def submit_one(self):
        try:
            job_id, _, log_path = start_slurm(
                self.layout, self.worker, count=None if self.plan.cores_per_node
                else self.plan.workers, nodes=self.plan.nodes,
                cores_per_node=self.plan.cores_per_node,
                time_limit=slurm_time(self.plan.seconds), margin=self.plan.margin,
                sbatch_options=self.plan.sbatch_options, python=self.python,
                log_dir=self.log_dir, cwd=self.cwd, job_name=self.name,
                shape=tuple(self.plan.shape), marks=self.paths["marks"])
        except RecruitError as error:
            self.failed_sbatch += 1
            self.last_error = str(error)
            log.warning("%s (%d failed in a row)", error, self.failed_sbatch)
            self.check_limits()
            return False
        self.failed_sbatch = 0
        self.known[job_id] = {"submitted": time.time(), "registered": False}
        self.allocations.append(_submitted(job_id, self.plan.seconds))
        log.info("submitted allocation %s (%d worker%s), log %s", job_id, self.plan.workers,
                 "" if self.plan.workers == 1 else "s", log_path)
        return True

    def check_dispatcher(self, demand):
        if demand.runnable and not os.path.exists(os.path.join(self.layout.root,
                                                               "dispatcher.lock")):
            if not self.warned_no_dispatcher:
                log.warning("no dispatcher serves this queue root: the allocations' workers "
                            "get no jobs until one runs (fjd dispatcher)")
            self.warned_no_dispatcher = True
        else:
            self.warned_no_dispatcher = False

    def queue_empty(self):
        """Nothing waits (waiting/) and no inbox holds a job: the work is done."""
        if list_names(self.layout.waiting):
            return False
        for worker_id in list_names(self.layout.jobpod):
            if any(not n.startswith(".") for n in list_names(self.layout.inbox(worker_id))):
                return False
        return True

    def save(self, running, demand=None, stopped=None):
        allocations = []
        for a in self.allocations:
            info = self.known.get(a.job_id, {})
            allocations.append({
                "job_id": a.job_id, "state": a.state, "workers": self.plan.workers,
                "registered": bool(info.get("registered")), "time_left": a.time_left,
                "submitted": info.get("submitted"), "reason": a.reason})
        state = {"running": running, "stopped": stopped, "blocked": self.blocked,
                 "name": self.name, "limits": self.plan.as_json(),
                 "controller": {"host": hostname(), "pid": os.getpid()},
                 "allocations": allocations, "waiting": self.waiting,
                 "failed_sbatch_in_a_row": self.failed_sbatch,
                 "last_sbatch_error": self.last_error,
                 "ended_without_worker_in_a_row": self.no_worker}
        if demand is not None:
            state["demand"] = {"runnable": demand.runnable, "queued": demand.queued}
        try:
            auto_state.save(self.layout, state)
        except OSError as error:
            log.warning("cannot write %s: %s", self.paths["state"], error.strerror)


def _submitted(job_id, seconds):
    """What squeue will say of an allocation just submitted."""
    return Allocation(job_id, "PENDING", seconds, 0, "", "submitted")


