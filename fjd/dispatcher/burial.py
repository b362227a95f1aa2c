"""Taking over a dead worker's inbox: finish what it finished, put the rest back in the queue.

The dispatcher's live-worker check (workers.py) calls bury() for a worker whose heartbeat
has not changed for the worker timeout (liveness.py). Nothing that worker finished is run again:

* its heartbeat names the job (or range) it was running and the run's id; the records of
  that run are in its journal. A job whose record is there is filed as the record says;
  a range keeps its finished tasks (they go to arrays/), the task after them counts a
  crashed attempt, and the tasks after that go back unstarted;
* a result it held because it could not file it (a full disk) is in its heartbeat, and is
  recorded and filed here;
* jobs it had not started go back as they were, and cancel requests for them are honoured.

Every step is a rename (or a split of a range within the inbox, see tickets.py), so a
dispatcher that dies in the middle leaves an inbox that the next one buries the same way.
"""
import logging
import os
import time

from .. import defaults, journal, moves, names, record_kinds, records, tickets
from ..layout import HEARTBEAT_FILE, JOBQUEUE, cancel_request, display
from ..fsops import refresh_listing, try_rename
from ..liveness import decode_beat, read_beat

BURIED_HEARTBEAT = ".heartbeat.buried"  # a dead worker's heartbeat, while it is being buried

log = logging.getLogger("fjd.dispatcher")


class DeathTags:
    """The tags `d<hex time><counter>` that make the names of a burial's requeued jobs
    unique (DESIGN.md, "Names"; moves.dispatcher_tag)."""

    def __init__(self):
        self.counter = 0

    def new(self):
        self.counter += 1
        return moves.dispatcher_tag(time.time(), self.counter)


def run_records(layout, worker_id, run):
    """The records of one run in a worker's journal (read from its tail), oldest first."""
    if run is None:
        return []
    path = os.path.join(layout.records, worker_id + journal.SUFFIX)
    found, _ = journal.tail(path, defaults.JOURNAL_TAIL)
    return [(offset, record) for offset, record in found if record.get("run") == run]


class Burial:
    """One dead worker's inbox, taken over by the dispatcher. It needs the queue's layout,
    the dispatcher's journal, its rejects (filings that wait, jobs that used up their
    attempts) and a maker of unique tags; bury() says how many it put back in the queue."""

    def __init__(self, layout, journal, rejects, tags, worker_id, raw_beat, untouched=()):
        self.layout = layout
        self.journal = journal
        self.rejects = rejects
        self.tags = tags
        self.worker_id = worker_id
        self.inbox = layout.inbox(worker_id)
        self.beat = decode_beat(raw_beat)
        if not self.beat:  # a burial cut short: the heartbeat it put aside
            self.beat = decode_beat(read_beat(os.path.join(self.inbox, BURIED_HEARTBEAT)))
        self.running = self.beat.get("job")
        self.untouched = set(untouched)  # handed after its last beat: never started
        self.run = self.beat.get("run")
        self.requeued = 0

    def bury(self):
        """Take the inbox over; the number of jobs and ranges put back in jobqueue/."""
        if self.layout.shared:
            refresh_listing(self.inbox)
        try:
            entries = os.listdir(self.inbox)
        except (FileNotFoundError, NotADirectoryError):
            return 0
        # the heartbeat goes first: a worker that was only stalled, and wakes up, finds it
        # gone and knows its jobs were taken (it kills what it runs and starts afresh). It
        # is kept under another name, for a dispatcher that takes over this burial should
        # this one die in the middle of it.
        try:
            os.rename(os.path.join(self.inbox, HEARTBEAT_FILE),
                      os.path.join(self.inbox, BURIED_HEARTBEAT))
        except OSError:
            pass
        jobs = tickets.repair(self.inbox, [n for n in entries if not n.startswith(".")])
        requests = {n for n in entries if n.startswith(".cancel-")}
        self.settle(jobs, requests, run_records(self.layout, self.worker_id, self.run))
        self.remove_inbox()
        return self.requeued

    def settle(self, jobs, requests, finished):
        """Each job of the inbox filed, cancelled or put back. The worker ran its inbox in
        name order, from the job its heartbeat names: jobs with a record of this run
        finished, the first one after them without a record was running, the rest never
        started."""
        recorded = {r.get("queue") for _, r in finished if r.get("k") == record_kinds.JOB}
        held = self.beat.get("held") or {}
        if held.get("k", record_kinds.JOB) == record_kinds.JOB and held.get("queue"):
            recorded.add(held["queue"])
        crash_counted = False
        being_filed = self.rejects.being_filed()
        for name in sorted(jobs):
            queue_name = names.parse(name)
            if os.path.join(self.inbox, name) in being_filed:
                continue  # finished, and filed as soon as its folder can be written
            if cancel_request(name) in requests:
                self.cancel(name)
            elif queue_name.is_tasks and self.running and self.same_range_run(name):
                self.take_over_running(name, finished)
            elif name in recorded:
                self.take_over_running(name, finished)
            elif name in self.untouched and name != self.running:
                self.requeue(name, crashed=False)  # (its heartbeat names no start of it)
            elif not crash_counted and self.running and name >= self.running and \
                    not queue_name.is_tasks:
                crash_counted = True
                self.requeue(name, crashed=True)
            else:
                self.requeue(name, crashed=False)

    def remove_inbox(self):
        for name in os.listdir(self.inbox):
            if name.startswith("."):
                try:
                    os.unlink(os.path.join(self.inbox, name))
                except OSError:
                    pass
        try:
            os.rmdir(self.inbox)
        except OSError:
            pass  # not empty yet (a late assignment): the next check handles it

    def same_range_run(self, name):
        """A part of the range that was running, left by a split the worker did not end."""
        running = names.parse(self.running)
        part = names.parse(name)
        return running.is_tasks and part.uid == running.uid and \
            running.first <= part.first <= running.last

    def take_over_running(self, name, finished):
        queue_name = names.parse(name)
        held = self.beat.get("held")
        if queue_name.is_tasks:
            return self.take_over_range(name, queue_name, finished, held)
        record = next((r for _, r in reversed(finished) if r.get("k") == record_kinds.JOB
                       and r.get("queue") == name), None)
        if record is None and held and held.get("queue") == name:
            record = record_kinds.held_job(held, record_kinds.held_key(self.worker_id,
                                                                       self.run))
            self.journal.append(record)
        if record is None:
            return self.requeue(name, crashed=True)
        state = record.get("state") if record.get("state") in record_kinds.STATES \
            else record_kinds.FAILED
        target = record.get("name") or queue_name.original
        log.info("%s finished on worker %s before it died: filing it in %s/", display(name),
                 display(self.worker_id), state)
        filing = records.Filing(self.layout, self.journal.writer,
                                os.path.join(self.inbox, name), queue_name.original, state,
                                record, recorded_as=target)
        try:
            filing.advance()
        except OSError as error:
            log.warning("cannot file %s in %s/: %s; it stays in %s, and is filed as soon as "
                        "that works", display(name), state, error.strerror,
                        display(self.inbox))
            self.rejects.hold(filing)

    def finished_tasks(self, queue_name, finished, held):
        """Task number -> record of the range's tasks that this run finished, the result
        the worker held (recorded here) among them."""
        done = {r.get("i"): r for _, r in finished if r.get("k") == record_kinds.TASK and
                r.get("u") == queue_name.uid}
        for _, r in finished:  # (done Python calls recorded together: worker/done_runs.py)
            if r.get("k") == record_kinds.TASKS and r.get("u") == queue_name.uid and \
                    r.get("state") == record_kinds.DONE:
                done.update((i, r) for i in range(r.get("first", 1), r.get("last", 0) + 1))
        if held and held.get("k") == record_kinds.TASK and held.get("u") == queue_name.uid \
                and held.get("i") not in done:
            record = record_kinds.held_task(held, record_kinds.held_key(
                self.worker_id, self.run, held["i"]))
            self.journal.append(record)
            done[held["i"]] = record
        return done

    def take_over_range(self, name, queue_name, finished, held):
        """The finished tasks go to arrays/, the one after them counts a crashed attempt,
        the rest goes back unstarted."""
        done = self.finished_tasks(queue_name, finished, held)
        last = queue_name.first - 1
        while last + 1 in done and last < queue_name.last:
            last += 1
        failures = any(done[i].get("state") == record_kinds.FAILED
                       for i in range(queue_name.first, last + 1))
        tag = self.tags.new() if last < queue_name.last else None
        pieces = moves.taken_over(queue_name, last, failures, tag)
        if last < queue_name.last:
            crashed = next(p.fields for p in pieces if p.folder == JOBQUEUE)
            log.warning("%s: tasks %d to %d finished on worker %s before it died; task %d "
                        "was running (crashed attempt %d)", display(queue_name.original),
                        queue_name.first, last, display(self.worker_id), crashed["first"],
                        crashed["attempts"])
        made = tickets.split(self.inbox, name, pieces)
        for new, piece in zip(made, pieces):
            if try_rename(os.path.join(self.inbox, new),
                          os.path.join(self.layout.folder(piece.folder), new)) and \
                    piece.folder == JOBQUEUE:
                self.requeued += 1
                self.rejects.fail_if_exhausted(new)  # no worker may be left to run it

    def requeue(self, name, crashed):
        """Back to jobqueue/; the job that was running counts a crashed attempt."""
        queue_name = names.parse(name)
        attempts = queue_name.attempts + (1 if crashed else 0)
        target = moves.requeued(queue_name, attempts, self.tags.new(), retag=crashed)
        if try_rename(os.path.join(self.inbox, name), os.path.join(self.layout.jobqueue,
                                                                   target)):
            self.requeued += 1
            log.warning("%s back to jobqueue/ as %s (%s)", display(name), display(target),
                        "crashed attempt %d" % attempts if crashed else "never started")
            # a job that crashed its worker --max-attempts times fails now (no worker may
            # be left to hand it out to)
            self.rejects.fail_if_exhausted(target)

    def cancel(self, name):
        """A job that `fjd cancel` asked the dead worker to cancel: cancelled here."""
        queue_name = names.parse(name)
        now = time.time()
        reason = "cancelled (its worker %s died before it could)" % self.worker_id
        if queue_name.is_tasks:
            self.journal.append(record_kinds.tasks_ended(
                queue_name.original, queue_name.uid, queue_name.first, queue_name.last,
                record_kinds.CANCELLED, reason, now,
                key=record_kinds.cancel_key(self.worker_id, name)), queue_name.size)
            target = moves.cancelled_range(queue_name)
            try_rename(os.path.join(self.inbox, name), os.path.join(self.layout.arrays,
                                                                     target))
            return
        record = record_kinds.job_cancelled_for_dead_worker(
            name, queue_name.original, reason, now, record_kinds.cancel_key(self.worker_id,
                                                                           name))
        filing = records.Filing(self.layout, self.journal, os.path.join(
            self.inbox, name), queue_name.original, record_kinds.CANCELLED, record)
        try:
            filing.advance()
        except OSError as error:
            log.warning("cannot file %s in cancelled/: %s", display(name), error.strerror)
