"""How much each worker gets: batches of single jobs and ranges of an array's tasks, sized
by how fast the worker came back for more (guided self-scheduling: never more than a
fair share of what is left, so the last batches shrink and the workers end together)."""
from .. import defaults


def fair_share(queued, workers):
    """What one worker may take of `queued` names when `workers` share them."""
    return max(1, -(-queued // workers))


def piece_size(queue_name, want, workers, floor=1):
    """How many tasks of a queued range go to one worker now: at most the batch size, and
    at most a fair share of the range (but floor tasks, if the batch size allows)."""
    if queue_name.attempts:
        return 1  # a task that was cut short goes alone, so its count is its own
    return min(want, max(1, fair_share(queue_name.size, workers), floor))


class Batches:
    """Each worker's next batch size, learnt from its round trips (on our clock)."""

    def __init__(self, shared, next_is_range):
        self.shared = shared
        self.seconds = defaults.SHARED_BATCH_SECONDS if shared else defaults.BATCH_SECONDS
        self.growth = defaults.SHARED_BATCH_GROWTH if shared else defaults.BATCH_GROWTH
        self.next_is_range = next_is_range  # is the next queued name a range of tasks?
        self.sizes = {}  # worker id -> jobs (or tasks) to hand over next time
        self.sent = {}  # worker id -> (monotonic time, jobs or tasks) of its last batch
        self.floor = {}  # worker id -> the smallest batch the fair share may cut it to

    def next_size(self, worker_id, now):
        """Learn from how fast the worker came back for more (on our clock)."""
        size = self.sizes.get(worker_id, 1)
        sent = self.sent.pop(worker_id, None)
        if sent is not None:
            per_job = max(now - sent[0], 1e-4) / sent[1]
            seconds, cap = (defaults.RANGE_SECONDS, defaults.MAX_RANGE) \
                if sent[1] > defaults.MAX_BATCH or self.next_is_range() \
                else (self.seconds, defaults.MAX_BATCH)
            size = max(1, min(cap, int(seconds / per_job), size * self.growth))
            self.sizes[worker_id] = size
            if self.shared:
                self.floor[worker_id] = max(1, int(defaults.SHARED_MIN_BATCH_SECONDS / per_job))
        return size

    def floor_of(self, worker_id):
        return self.floor.get(worker_id, 1)

    def sent_to(self, worker_id, now, count):
        self.sent[worker_id] = (now, count)

    def forget(self, worker_id):
        """A worker that died: what was learnt of it goes with it."""
        self.sizes.pop(worker_id, None)
        self.sent.pop(worker_id, None)
        self.floor.pop(worker_id, None)
