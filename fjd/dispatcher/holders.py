"""Which workers hold what waiting jobs wait for (DESIGN.md, "Dependencies").

A dependency can end only where it runs: when the worker it was handed to announces
itself idle again (its announcement is back in workerqueue/), or asks for more, its batch
has ended, and the names in it are worth a look. That is one lookup per such worker and
loop, whatever the number of waiting jobs.
"""
import os

from .. import folders, names


class Holders:
    """Worker id -> the names waited for that it was handed (original names)."""

    def __init__(self, layout):
        self.layout = layout
        self.given = {}
        self.ranges_given = set()  # workers given ranges of arrays waited for
        self.array_due = False  # ... one announced again: arrays/ is worth a look now

    def handed(self, worker_id, given, waited_for):
        """A batch went to worker_id: the names in it that others wait for are looked at
        when it announces again. Returns what it held before (it asked for more, so that
        batch ended)."""
        previous = self.ended(worker_id)
        for name in given:
            self.note(worker_id, name, waited_for)
        return previous

    def note(self, worker_id, name, waited_for):
        original = names.parse(name).original if "@" in name else name
        if waited_for(original):
            self.given.setdefault(worker_id, set()).add(original)
            if original != name:
                self.ranges_given.add(worker_id)

    def ended(self, worker_id):
        """The names worker_id held, its batch being over."""
        held = self.given.pop(worker_id, set())
        if worker_id in self.ranges_given:
            self.ranges_given.discard(worker_id)
            self.array_due = True
        return held

    def announced(self):
        """The names held by workers that announced again (their batch ended)."""
        due = set()
        for worker_id in list(self.given):
            if folders.lexists(os.path.join(self.layout.workerqueue, worker_id)):
                due |= self.ended(worker_id)
        return due

    def in_inboxes(self, waited_for):
        """At start: what a worker already has (handed out by a dispatcher before us)."""
        for worker_id in self.layout.list_names(self.layout.jobpod):
            for name in self.layout.inbox_jobs(worker_id) or ():
                self.note(worker_id, name, waited_for)
