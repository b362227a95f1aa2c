"""waiting/ as the dispatcher sees it: when listing it again is worth it, and its listing
(DESIGN.md, "Dependencies"; rules 7 and 12).

A chain of 1,000 jobs releases one job at a time: listing 1,000 names for every release
would make it slow, and 10,000 waiting jobs must cost an idle dispatcher nothing. So the
folder is listed again only when somebody else changed it: new names arrived (inotify, on a
local disk), its stat changed other than by our own renames, or a hint woke the dispatcher
(a shared mount, where inotify sees only this host); and at least every RELIST_BACKSTOP
seconds, at most once per RELIST_COST_FACTOR times what listing it cost.
"""
import collections
import os
import time

from .. import arrays, folders, names, tickets

RELIST_BACKSTOP = {False: 30.0, True: 60.0}  # seconds (local disk, shared mount)
RELIST_COST_FACTOR = 10.0


class WaitingFolder:
    """When waiting/ was last listed, and what its stat said then."""

    def __init__(self, layout):
        self.layout = layout
        self.path = layout.waiting
        self.listed_at = self.listed_sig = None
        self.list_cost = 0.0
        self.arrivals = None  # a DirWatcher of arrivals in waiting/ (local disks)
        self.woken = False  # a hint woke the dispatcher (shared mounts): list again

    def signature(self):
        try:
            info = folders.stat_folder(self.path)
            return info.st_mtime_ns, info.st_ino
        except OSError:
            return None

    def own_change(self, change, *args):
        """change(*args), one of our renames in or out of waiting/: when nobody else had
        changed the folder since we listed it, what we did is all that changed, and the
        next look does not list it again for it. Returns what change returns. (A change
        by somebody else in the same instant is seen by the backstop.)"""
        before = self.signature()
        try:
            return change(*args)
        finally:
            if before is not None and before == self.listed_sig:
                self.listed_sig = self.signature()

    def due(self, now, signature):
        if self.listed_at is None or self.woken:
            return True
        age = now - self.listed_at
        if signature is self.UNASKED:
            return age >= RELIST_BACKSTOP[True]
        if age < self.list_cost * RELIST_COST_FACTOR:
            return False  # (a burst of submissions: one listing per so many)
        arrived = self.arrivals is not None and self.arrivals.drain()
        return arrived or signature != self.listed_sig or \
            age >= RELIST_BACKSTOP[self.layout.shared]

    UNASKED = object()

    def listing(self, empty=False):
        """The names in waiting/ (overlapping ranges repaired), or None when it is not
        worth listing now. empty: nothing waits as far as we know; on a shared mount its
        stat is then not asked each loop (a request to the file server): `fjd submit`'s
        hint, or the backstop, says when to look."""
        now = time.monotonic()
        signature = self.UNASKED if empty and self.layout.shared else self.signature()
        if not self.due(now, signature):
            return None
        if signature is self.UNASKED:
            signature = self.signature()
        self.listed_at, self.listed_sig, self.woken = now, signature, False
        found = set(self.layout.list_names(self.path))
        self.list_cost = time.monotonic() - now
        return self.repair_ranges(found)

    def repair_ranges(self, found):
        """Ranges of one array that overlap in waiting/: a split cut short (tickets.py)."""
        uids = collections.Counter(names.parse(n).uid for n in found if "@" in n)
        suspects = [n for n in found if "@" in n and uids[names.parse(n).uid] > 1 and
                    names.parse(n).is_tasks]
        if not suspects:
            return found
        return (found - set(suspects)) | set(tickets.repair(self.path, suspects))


def is_array(path):
    """Whether the job file at path declares [control] tasks."""
    try:
        fd = folders.open_at(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        return bool(arrays.declared_kind(os.pread(fd, arrays.MAX_HEADER, 0)))
    except OSError:
        return False
    finally:
        os.close(fd)
