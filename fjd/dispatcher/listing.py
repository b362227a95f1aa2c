"""The queued names in dispatch order: listing jobqueue/, reading heads for priorities,
and deciding when a listing is worth making again (DESIGN.md rules 7 and 12)."""
import collections
import logging
import os
import time

from .. import arrays, defaults, folders, names, tickets
from ..changes import BACKSTOP_DUE, CONFIRM, SKIP, ChangeGate, folder_signature
from ..dependencies import may_declare
from ..jobfile import priority_of
from ..job_request import request_of_bytes
from ..resources import may_ask
from ..time_request import seconds_of_bytes
from ..layout import display
from ..fsops import refresh_listing
from ..names import is_ignored
from .timers import due

log = logging.getLogger("fjd.dispatcher")


def read_head(path):
    """The first PRIORITY_HEAD bytes of a queued job file (b"" when unreadable)."""
    return folders.read_head(path, defaults.PRIORITY_HEAD)


def read_priority(path):
    """[control] priority of a queued job file (0 when absent or unreadable), read from its
    first PRIORITY_HEAD bytes the way the worker reads the whole file (jobfile.priority_of)."""
    return priority_of(read_head(path))


def head_info(head):
    """(priority, array kind or None) of a job file's first bytes."""
    return priority_of(head), arrays.declared_kind(head[:arrays.MAX_HEADER])


def complete_on_arrival(name):
    """Names only fjd gives, always by renaming a complete file into jobqueue/: `fjd submit`
    names, and names with fjd's checksummed suffix. On a shared mount, where only waiting
    can tell whether a file is still being written, these need not wait."""
    return names.submitted(name) or ("@" in name and names.parse(name).original != name)


class JobListing:
    """The queued names in dispatch order, kept between cycles; re-listed only when worth it.

    Jobs go in name order (fjd submit names sort in submission order), except that the next
    PRIORITY_WINDOW jobs are reordered by their [control] priority, higher first. Listing a
    folder of 10^6 names costs about a second (DESIGN.md rule 7), so a new listing is made
    when the cached names run out, or when the folder changed and the last listing is old
    compared with what it cost to make.
    """

    RELIST_COST_FACTOR = 10.0

    def __init__(self, path, shared=False):
        self.path = path
        self.arrivals = None  # a DirWatcher on path, where inotify sees every writer
        self.shared = shared  # a shared mount: folder mtimes and listings may be stale
        self.pending = collections.deque()
        self.odd = []  # (name, mode) of entries that are not regular files
        self.last_list_at = None
        self.last_list_cost = 0.0
        self.last_mtime = None
        self.priorities = {}  # name -> priority, for names in the priority window
        self.woken = False  # a hint woke the dispatcher: make the next listing fresh
        self.last_fresh = None
        self.kinds = {}  # name -> array kind (None: a single job), read with the priority
        self.dependent = set()  # names in kinds whose head may declare after keys
        self.requests = {}  # names in kinds whose head asks for resources -> the request
        self.time_requests = {}  # names in kinds whose head asks for time -> the seconds
        self.readiness = None  # settling.SharedReadiness on a shared mount: heads with sightings
        # on a shared mount an idle poll asks one stat before it lists (changes.py)
        self.gate = ChangeGate(lambda: folder_signature(path, folders.stat_folder)) \
            if shared else None

    # -- questions about what is queued ------------------------------------------------------

    def next_is_range(self):
        pending = self.pending
        return bool(pending) and "@" in pending[0] and names.parse(pending[0]).is_tasks

    def same_priority(self, first):
        """Is the next queued job of the same priority as first?"""
        priorities = self.priorities
        if not priorities or not self.pending:
            return True
        return priorities.get(self.pending[0], 0) == priorities.get(first, 0)

    def inherit_priority(self, new, old):
        """A name made from a queued one (a started array, a piece of a range) keeps its
        place among the priorities."""
        self.priorities[new] = self.priorities.get(old, 0)

    def arrived(self, name):
        """A name the dispatcher itself put in jobqueue/ (a job released from waiting/):
        queued at once, without listing the folder again (on a shared mount an empty
        queue is listed only now and then)."""
        self.pending.append(name)

    def forget(self, name):
        self.priorities.pop(name, None)

    def take_odd(self):
        """The entries that are not regular files, found by the last listing (once)."""
        odd, self.odd = self.odd, []
        return odd

    # -- listing -----------------------------------------------------------------------------

    def _folder_mtime(self):
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None

    def by_priority(self, queued):
        """The window at the front reordered by priority; the rest stays in name order.
        The first bytes of each job in the window are read once: its priority, and whether
        it is an array."""
        window = queued[:defaults.PRIORITY_WINDOW]
        known, kinds, dependent = self.priorities, self.kinds, self.dependent
        requests, times = self.requests, self.time_requests
        self.priorities, self.kinds, self.dependent, self.requests = {}, {}, set(), {}
        self.time_requests = {}
        readiness = self.readiness
        if readiness is not None:
            readiness.settle.keep(set(window))
        for name in window:
            if name in known and name in kinds:
                self.priorities[name], self.kinds[name] = known[name], kinds[name]
                if name in dependent:
                    self.dependent.add(name)
                if name in requests:
                    self.requests[name] = requests[name]
                if name in times:
                    self.time_requests[name] = times[name]
            elif names.plain_submitted(name):
                self.priorities[name], self.kinds[name] = 0, None  # no need to read it
            else:
                path = os.path.join(self.path, name)
                head = readiness.read_window(path, name) if readiness is not None and \
                    not complete_on_arrival(name) else read_head(path)  # (settling.py)
                self.priorities[name], self.kinds[name] = head_info(head)
                if may_declare(head):
                    self.dependent.add(name)
                if may_ask(head):
                    self.requests[name] = request_of_bytes(head)
                self.time_requests[name] = seconds_of_bytes(head)  # (None: none)
        if not any(self.priorities.values()):
            return queued
        window.sort(key=lambda name: -self.priorities[name])  # stable: name order within
        return window + queued[defaults.PRIORITY_WINDOW:]

    def refresh_if_due(self, now):
        if self.shared and not self.pending and not self.woken:
            return self.poll_empty(now)
        if self.pending and self.last_list_at is not None and not self.relist_due(now):
            return
        self.relist(now)

    def poll_empty(self, now):
        """Nothing queued when we last looked (shared mount): new jobs come with a hint,
        and a poll without one costs a stat while the folder's stat says nothing arrived."""
        every = defaults.EMPTY_RELIST_EVERY if self.gate.trusted(now) \
            else defaults.DISTRUSTED_RELIST_EVERY
        if not due(self.last_list_at, now, every):
            return
        decision = self.gate.decide(now)
        if decision == SKIP:
            self.last_list_at = now
            return
        self.relist(now, fresh=decision != CONFIRM)
        if decision == BACKSTOP_DUE and self.pending:
            self.gate.missed(now)
            log.info("%s: jobs arrived that the folder's stat did not show (this mount "
                     "caches attributes): idle polls list afresh for the next %d min",
                     display(self.path), self.gate.distrust // 60)

    def relist_due(self, now):
        """Whether names are still queued from the last listing and a new one is worth it."""
        age = now - self.last_list_at
        if age < self.last_list_cost * self.RELIST_COST_FACTOR:
            return False
        if self.arrivals is not None:
            # inotify sees files arriving here (our own renames out do not count), so
            # a long listing is made again only for news, or once a minute to be sure
            return bool(self.arrivals.drain()) or \
                age >= max(defaults.SAFETY_RELIST, self.last_list_cost)
        if self.shared:
            # while names are left, a listing (a request per hundred names, and the
            # dot-file) is made again for jobs a hint announced, else now and then:
            # what it finds meanwhile sorts after the kept names, as a rule
            return age >= (1.0 if self.woken else defaults.SHARED_RELIST_WHILE_PENDING)
        return self._folder_mtime() != self.last_mtime

    def repair_ranges(self, found):
        """Ranges of one array that overlap here come from a split cut short by a crash
        (tickets.py): finish it before anything is handed out."""
        ranges = {}
        for name in found:
            if "@" in name:
                queue_name = names.parse(name)
                if queue_name.is_tasks:
                    ranges.setdefault(queue_name.uid, []).append(name)
        suspects = [n for group in ranges.values() if len(group) > 1 for n in group]
        if not suspects:
            return found
        repaired = tickets.repair(self.path, suspects)
        return [n for n in found if n not in suspects] + repaired

    def relist(self, now, fresh=None):
        """List the folder again; on a shared mount fresh (the dot-file trick first) when
        a hint woke us or the last fresh listing is FRESH_LISTING_EVERY old, unless told."""
        started = time.monotonic()
        self.pending = collections.deque()  # let the old names go first: half the peak memory
        if self.arrivals is not None:
            self.arrivals.drain()
        if self.shared:
            if fresh is None:
                fresh = self.woken or due(self.last_fresh, now, defaults.FRESH_LISTING_EVERY)
            if fresh:
                refresh_listing(self.path)
                self.last_fresh = now
            self.gate.before_listing(now, fresh)
        self.woken = False
        self.last_mtime = None if self.shared else self._folder_mtime()
        regular, odd = self.scan()
        regular = self.repair_ranges(regular)
        regular.sort()
        self.pending = collections.deque(self.by_priority(regular))
        self.odd = odd
        self.last_list_at = now
        self.last_list_cost = time.monotonic() - started

    def scan(self):
        """(regular files, [(name, mode)] of other entries) in the folder, ignored names
        left out; a missing folder is empty."""
        regular, odd = [], []
        try:
            with folders.scandir(self.path) as entries:
                for entry in entries:
                    name = entry.name
                    if is_ignored(name):
                        continue
                    try:
                        if entry.is_file(follow_symlinks=False):
                            regular.append(name)
                        else:
                            odd.append((name, entry.stat(follow_symlinks=False).st_mode))
                    except OSError:
                        continue
        except FileNotFoundError:
            pass
        return regular, odd
