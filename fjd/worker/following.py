"""Following the dispatcher: what its lock (``dispatcher.lock``) says a worker must do, and
the UDP hints between the two on shared mounts (hints.py).

The lock gives the dispatcher's --worker-timeout, which sets how often we beat
(defaults.worker_beat), and the addresses where it takes "idle" hints. It is read at
registration, before a batch when the last reading is old, and while none was found.
"""
import logging
import os
import time

from .. import defaults
from ..hints import HintListener, HintSender
from ..liveness import decode_beat, read_beat
from ..lock import LOCK_NAME

log = logging.getLogger("fjd.worker")


class Following:
    """The beat interval the dispatcher asks for, and the hints to and from it."""

    def __init__(self, layout, timings, heartbeat=None):
        self.layout = layout
        self.timings = timings
        self.asked = heartbeat  # given: kept, whatever the dispatcher's timeout
        self.interval = heartbeat or timings.heartbeat  # seconds between our beats
        self.read_at = None  # monotonic time of the last reading of its lock
        self.seen = False  # that reading found a lock
        self.addresses = (None, None)  # (monotonic time read, where it takes hints)
        self.listener = self.sender = None  # on shared mounts
        self.runner = None  # an execute.Runner, whose checks follow the beat

    def listen(self, root_id):
        """On a shared mount, take hints for this queue (and send them); False if not."""
        if not self.layout.shared or self.listener is not None:
            return False
        self.listener = HintListener(root_id)
        self.sender = HintSender(root_id)
        return True

    def own_addresses(self):
        """Where we take hints, for the heartbeat (None without any)."""
        return self.listener.addresses if self.listener is not None else None

    def hinted_lately(self, now):
        return self.listener is not None and self.listener.heard_within(
            defaults.HINTS_TRUSTED_FOR, now)

    def hint_idle(self, worker_id):
        """On a shared mount, tell the dispatcher we are idle (it may be waiting for us)."""
        if self.sender is None:
            return
        read_at, addresses = self.addresses
        now = time.monotonic()
        if read_at is None or now - read_at > 60.0 or not addresses:
            addresses = self.read(now).get("hints") or []
            self.addresses = (now, addresses)
        self.sender.send(addresses, b"idle " + worker_id.encode("ascii", "replace"))

    def reread(self, now):
        """Before a batch (a dispatcher handed it out: its lock says how to beat), when the
        last reading is old or found none."""
        if not self.seen or now - self.read_at >= defaults.DISPATCHER_REREAD:
            self.read(now)

    def read(self, now):
        """The dispatcher lock's content ({} without a dispatcher): where the dispatcher
        takes hints, and how soon it buries a quiet worker, which sets our beat."""
        holder = decode_beat(read_beat(os.path.join(self.layout.root, LOCK_NAME),
                                       splice=self.layout.fuse))
        self.read_at = now
        self.seen = bool(holder)
        if holder:
            self.follow_timeout(holder.get("worker_timeout"))
        return holder

    def follow_timeout(self, timeout):
        """Beat often enough for the dispatcher's --worker-timeout (defaults.worker_beat):
        a dispatcher started with a short one does not take us for dead between two beats."""
        if self.asked:
            return
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
                not 0 <= timeout < float("inf"):
            timeout = None  # none said (an older dispatcher), or nonsense: the default
        interval = defaults.worker_beat(self.layout.shared, timeout)
        if interval == self.interval:
            return
        if timeout is None:
            log.info("beating every %g s (the dispatcher's lock gives no timeout)", interval)
        else:
            log.info("beating every %g s (the dispatcher takes a worker quiet for %g s for "
                     "dead)", interval, timeout)
        self.interval = interval
        if self.runner is not None:
            self.runner.tick_every = min(self.timings.job_check, interval)

    def close(self):
        for closable in (self.listener, self.sender):
            if closable is not None:
                closable.close()
