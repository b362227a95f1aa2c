"""Whether a worker that says when it stops (a Slurm allocation's: time_request.py) has the
time a queued job asks for. A submitted job's request is in its name; a hand-written job's
in its head, which the listing reads for the jobs at the front anyway (priority window) and
which is read here, once per name, for the others: only for workers with an end, so a
queue without such workers reads nothing more."""
import os

from .. import names, time_request
from .listing import read_head

HEADS_KEPT = 100000  # hand-written names whose time request (or none) is remembered


class TimeFit:
    """The time check of the hand-out, for names the listing has or has not read."""

    def __init__(self, listing):
        self.listing = listing
        self.read = {}  # queue name -> seconds asked (None: nothing), read here

    def fits(self, worker_id, name):
        end = time_request.worker_end(worker_id)
        if end is None:
            return True  # (the hot path: a worker without an end takes any job)
        return time_request.fits(worker_id, name, asked=self.asked(name))

    def asked(self, name):
        """The seconds a hand-written job asks for (None: nothing, or a submitted job,
        whose name says)."""
        original = names.parse(name).original if "@" in name else name
        if names.submitted(original):
            return None
        heads = self.listing.time_requests
        if name in heads:
            return heads[name]
        if name not in self.read:
            if len(self.read) > HEADS_KEPT:
                self.read.clear()
            self.read[name] = time_request.seconds_of_bytes(
                read_head(os.path.join(self.listing.path, name)))
        return self.read[name]
