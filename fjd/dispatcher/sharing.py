"""Sharing a range: workers idle with nothing queued while another worker holds a range of
tasks it has not started (a slow or hung task at its head keeps them waiting). That worker
is asked to give back the tasks it has not started: SHARE_FILE in its inbox, naming the
range. It does at its next tick (a second locally, TaskRange.share_if_asked), and the rest
reaches an idle worker by the usual hand-out (DESIGN.md, "Array jobs")."""
import logging
import os

from .. import defaults, names
from ..fsops import write_file_atomic
from ..layout import SHARE_FILE, display
from .timers import due

log = logging.getLogger("fjd.dispatcher")


class RangeSharing:
    """The ranges handed out, per worker, and the asking to share them."""

    def __init__(self, layout, idle, live):
        self.layout = layout
        self.idle = idle  # IdleWorkers
        self.live = live  # LiveWorkers
        self.out = {}  # worker id -> [range name, handed out at, asked to share]
        self.last_look = None
        self.base = defaults.SHARED_SHARE_CHECK if layout.shared else defaults.SHARE_CHECK
        self.every = self.base  # grows while no worker idles (each look lists workerqueue/)
        self.fits = None  # (worker id, range name) -> whether it could run it (fitting.py)

    def handed(self, worker_id, name, now):
        """A batch went to worker_id: remember it when it is a range of several tasks."""
        queue_name = names.parse(name)
        if queue_name.is_tasks and queue_name.size > 1:
            self.out[worker_id] = [name, now, False]
            self.every = self.base
        else:
            self.out.pop(worker_id, None)

    def check(self, now, queued):
        """With nothing queued: ask the workers that have held a range longest (at least
        SHARE_AFTER seconds) to share it, one for each idle worker."""
        if queued or not self.out or not due(self.last_look, now, self.every):
            return 0
        held = sorted((at, worker_id) for worker_id, (_, at, asked) in self.out.items()
                      if not asked and now - at >= defaults.SHARE_AFTER)
        if not held:
            return 0
        self.last_look = now
        idle = set(self.idle.find(now))
        for worker_id in idle:
            self.out.pop(worker_id, None)  # it went idle: its range is done
        idle = [w for w in idle if self.live.looks_alive(w)]
        if not idle:
            self.every = min(2 * self.every, 8 * self.base)
            return 0
        if self.fits is not None:  # only for an idle worker that could run the rest
            held = [(at, w) for at, w in held if w in self.out and
                    any(self.fits(i, self.out[w][0]) for i in idle)]
        asked = 0
        for _, worker_id in held[:len(idle)]:
            if worker_id in self.out:
                asked += self.ask(worker_id)
        return asked

    def ask(self, worker_id):
        """SHARE_FILE in the worker's inbox, naming its range; once a range."""
        entry = self.out[worker_id]
        entry[2] = True
        path = os.path.join(self.layout.inbox(worker_id), SHARE_FILE)
        try:
            write_file_atomic(path, (entry[0] + "\n").encode("utf-8", "surrogateescape"))
        except OSError as error:
            log.debug("cannot ask worker %s to share %s: %s", display(worker_id),
                      display(entry[0]), error)
            return 0
        log.info("workers idle with nothing queued: asked worker %s to share %s",
                 display(worker_id), display(entry[0]))
        return 1
