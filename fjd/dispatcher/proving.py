"""Which workers this dispatcher has seen alive (issue 27): an announcement in workerqueue/
may be a dead worker's (killed with its mount, it never withdrew it), and a dispatcher
started after that death cannot tell it from a live one until a heartbeat changes, or
the worker takes up a batch.

So a worker is *proven* once its heartbeat has changed under this dispatcher's eyes
(DESIGN.md rule 5: content, on our own clock) or its announcement came back after a
batch (only the worker moves it back). Unproven workers get work only when no proven
one is idle, a batch of one at a time, and a batch that such a worker does not take up
within TAKE_UP seconds (its heartbeat unchanged, its announcement not back) comes back
at once: the worker is buried (burial.py) instead of after the whole worker timeout.
"""
import collections

TAKE_UP = 3.5  # seconds an unproven worker has to take up its batch (a live one: < 2 s)
RECENT_BATCHES = 3  # batches whose names may still wait in a worker's inbox

Awaited = collections.namedtuple("Awaited", "deadline beat names")


class Proofs:
    """Proven workers, the batches unproven ones have not taken up yet, and what may still
    be in each proven worker's inbox."""

    def __init__(self, take_up=TAKE_UP):
        self.take_up = take_up
        self.proven = set()
        self.first_beat = {}  # worker id -> its heartbeat at our first reading
        self.latest = {}  # worker id -> its heartbeat at our last reading
        self.awaited = {}  # worker id -> Awaited: an unproven worker's batch
        self.recent = {}  # worker id -> deque of the name sets of its last batches
        self.round_trips = set()  # workers that came back from a batch of ours

    def beat(self, worker_id, raw):
        """A reading of the worker's heartbeat: a change since our first proves it."""
        if raw is None:
            return
        first = self.first_beat.setdefault(worker_id, raw)
        self.latest[worker_id] = raw
        awaited = self.awaited.get(worker_id)
        if raw != first or (awaited is not None and awaited.beat is not None and
                            raw != awaited.beat):
            self.prove(worker_id)

    def prove(self, worker_id):
        self.proven.add(worker_id)
        self.awaited.pop(worker_id, None)

    def unproven(self, worker_id):
        return worker_id not in self.proven

    def first_choice(self, idle):
        """The idle workers to serve: the proven ones, or if none is idle the others.
        An announcement back after a batch of ours proves its worker first."""
        for worker_id in idle:
            if worker_id in self.recent:
                self.round_trips.add(worker_id)
                self.prove(worker_id)
        proven = [w for w in idle if w in self.proven]
        return proven or idle

    def handed(self, worker_id, given, now):
        """A batch went to the worker; for an unproven one, its heartbeat as last read is
        what a take-up must change."""
        beat = self.latest.get(worker_id)
        recent = self.recent.setdefault(worker_id, collections.deque(maxlen=RECENT_BATCHES))
        recent.append(set(given))
        if worker_id not in self.proven:
            self.awaited[worker_id] = Awaited(now + self.take_up, beat, tuple(given))

    def inbox_clear_of(self, worker_id, name):
        """Whether name cannot be in the worker's inbox: the worker came back from a batch
        of ours (so what earlier dispatchers gave it is done) and was not given that name
        in its last batches. Only the dispatcher puts names there (DESIGN.md rule 2)."""
        if worker_id not in self.round_trips:
            return False
        return not any(name in names for names in self.recent.get(worker_id, ()))

    def overdue(self, now):
        """Unproven workers whose batch is due to be taken up by now: [(id, Awaited)]."""
        return [(w, a) for w, a in self.awaited.items() if a.deadline <= now]

    def extend(self, worker_id, now, beat):
        """No reading of its heartbeat from before the batch: this one is the baseline."""
        awaited = self.awaited[worker_id]
        self.awaited[worker_id] = awaited._replace(deadline=now + self.take_up, beat=beat)

    def forget(self, worker_id):
        for table in (self.first_beat, self.latest, self.awaited, self.recent):
            table.pop(worker_id, None)
        self.proven.discard(worker_id)
        self.round_trips.discard(worker_id)
