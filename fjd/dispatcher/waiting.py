"""The dispatcher's side of dependencies (DESIGN.md, "Dependencies"): the jobs in waiting/,
what each waits for, and the renames that release or cancel them.

Every change is one rename that leaves the job in one folder: jobqueue/NAME -> waiting/NAME
(a queued job that declares after keys), waiting/NAME -> jobqueue/NAME@e~c (released: the
``e`` field says its dependencies were met, and the hand-out does not look again), and
waiting/NAME -> cancelled/ or failed/ by a Filing (record first, keyed, then a no-replace
move). A dispatcher killed anywhere finds the jobs where they were and decides again.

What a dependency's state is costs lookups, so it is asked only when something can have
finished it: a worker given it announced again (its batch ended), an array was filed, a
waiter was cancelled here; and, as a backstop, a few names per sweep (bounded: 10,000
waiting jobs cost an idle dispatcher no more than 10).
"""
import collections
import logging
import os
import time

from .. import arrays, dependencies, dependency_state, folders, moves, names
from .. import record_kinds, records
from ..dependencies import AFTER, CANCELLED, DONE, FAILED
from ..layout import display, hostname
from .each import AfterEach, folders_listing
from .holders import Holders
from .listing import read_head
from .waiting_folder import WaitingFolder, is_array

log = logging.getLogger("fjd.dispatcher")

SWEEP_EVERY = {False: 1.0, True: 5.0}  # seconds between backstop looks (local, shared)
SWEEP_NAMES = 16  # names looked at per backstop sweep


class Entry:
    """One job in waiting/: what it waits for, and what of that is not met yet."""

    __slots__ = ("name", "original", "deps", "unmet", "array")

    def __init__(self, name, deps, array):
        self.name = name
        self.original = names.parse(name).original
        self.deps = deps
        self.unmet = set(deps.after + deps.after_finished)  # (after_each: each.py)
        self.array = array  # the file declares [control] tasks


class Waiting:
    """The waiting jobs by name, and the waiters of each name waited for."""

    def __init__(self, layout, journal, listing=None):
        self.layout = layout
        self.journal = journal
        self.listing = listing  # the JobListing: the heads it read say who declares after
        self.entries = {}  # name in waiting/ -> Entry
        self.by_original = {}  # original name -> name in waiting/
        self.waiters = {}  # name waited for (NAME or NAME#N) -> names in waiting/
        self.tasks_of = {}  # array name -> its NAME#N waited for
        self.holders = Holders(layout)  # workers given names waited for
        self.due = set()  # names waited for, to look at now
        self.suspects = {}  # (waiting name, target) -> when it was first not found
        self.last_sweep = None
        self.folder = WaitingFolder(layout)
        self.own_change = self.folder.own_change
        self.sweep_order = collections.deque()
        self.released = self.cancelled = 0
        self.cancels = None  # a DirWatcher on cancelled/ (local disks): `fjd cancel` news
        self.hints = None  # the HintListener (shared mounts): "cancelled <name>" news
        self.each = AfterEach(layout, journal, self.own_change,
                              listing.arrived if listing is not None else None)

    # -- hooks for the hand-out, the completion and the loop ----------------------------------

    def diverts(self, name, queue_name, head):
        """For a ready job in jobqueue/: True when it waits for something and went to
        waiting/ (head: its first bytes, or None when not read)."""
        if queue_name is not None and queue_name.released:
            return False
        if head is None:
            if names.plain_submitted(name) or not self.listed_dependent(name):
                return False
            head = read_head(os.path.join(self.layout.jobqueue, name))
        if not dependencies.may_declare(head):
            return False
        deps = dependencies.parse_head(head)
        if not deps:
            return False
        return self.divert(name, deps, bool(arrays.declared_kind(head[:arrays.MAX_HEADER])))

    def listed_dependent(self, name):
        listing = self.listing
        return listing is None or name not in listing.kinds or name in listing.dependent

    def handed(self, worker_id, given):
        """A batch went to a worker (handout.py): see holders.py."""
        if self.waiters or self.each.by_target or self.holders.given:
            self.due |= self.holders.handed(worker_id, given, self.waited_for)

    def waited_for(self, original):
        return original in self.waiters or original in self.tasks_of or \
            self.each.watches(original)

    def hear_cancels(self):
        """`fjd cancel` took queued jobs: those waited for are looked at now, not at the
        slow look round. The news costs no request: inotify events name the claims in
        cancelled/ (local disks), a hint names the job (shared mounts)."""
        if not (self.waiters or self.each.by_target):
            return  # (what it heard meanwhile is read, and dropped, once something waits)
        heard = self.cancels.take_names() if self.cancels is not None else []
        if self.hints is not None:
            heard += self.hints.take_cancelled()
        for name in heard:
            original = moves.claimed_original(name) if moves.is_claim(name) else \
                names.parse(name).original
            if self.waited_for(original):
                self.due.add(original)

    def array_filed(self, original):
        """completion.py filed an array: its waiters may go."""
        if original in self.waiters or original in self.tasks_of or \
                self.each.watches(original):
            self.due.add(original)

    def cycle(self):
        """Look at what may have changed; True when jobs were released."""
        before = self.released
        self.hear_cancels()
        self.refresh()
        if self.last_sweep is None and (self.waiters or self.each.by_target):
            self.holders.in_inboxes(self.waited_for)
        self.due |= self.holders.announced()
        self.sweep()
        while self.due:
            due, self.due = self.due, set()
            listing = None
            for target in sorted(due):
                if self.each.watches(target) and self.each.advance(target):
                    self.released += 1
                for name in [target] + sorted(self.tasks_of.get(target, ())):
                    if name not in self.waiters:
                        continue
                    if "#" in name and listing is None:
                        listing = folders_listing(self.layout.arrays)
                    state = dependency_state.state_of(self.layout, name, listing)
                    if state is not None:
                        self.settle(name, state)
        return self.released > before

    # -- the index -----------------------------------------------------------------------------

    def refresh(self):
        """Take in what changed in waiting/ since we last listed it (WaitingFolder says
        when listing it again is worth it)."""
        found = self.folder.listing(empty=not self.entries and not self.each.by_target)
        if found is None:
            return
        self.each.prune(found)
        pieces = self.each.pieces()
        for name in list(self.entries):
            if name not in found:
                self.vanished(name)
        for name in sorted(found - set(self.entries)):
            path = os.path.join(self.layout.waiting, name)
            if "@" in name and names.parse(name).is_tasks:
                if name not in pieces:
                    self.adopt_piece(name, dependency_state.read_dependencies(path))
                continue
            self.add(name, dependency_state.read_dependencies(path), is_array(path))

    def adopt_piece(self, name, deps):
        """A range of an after_each array in waiting/ (made by a dispatcher before us)."""
        if deps.after_each:
            self.each.adopt(name, deps.after_each[0])
            self.due.add(deps.after_each[0])
        else:  # not ours to keep here (put by hand?): a range goes to the queue
            folders.rename(os.path.join(self.layout.waiting, name),
                           os.path.join(self.layout.jobqueue, name))

    def add(self, name, deps, array, check=False):
        entry = Entry(name, deps, array)
        self.entries[name] = entry
        self.by_original[entry.original] = name
        for target in entry.unmet:
            self.waiters.setdefault(target, set()).add(name)
            array_name, index = dependencies.split_target(target)
            if index is not None:
                self.tasks_of.setdefault(array_name, set()).add(target)
            self.due.add(target)
        if check:
            self.check_new(entry)
        self.go_if_free(entry)

    def go_if_free(self, entry):
        """Release (or start task by task) a waiting job with nothing left to wait for
        and no name still to be found."""
        if self.entries.get(entry.name) is entry and not entry.unmet and \
                not any(key[0] == entry.name for key in self.suspects):
            self.forget(entry)
            self.go(entry)

    def forget(self, entry):
        self.entries.pop(entry.name, None)
        if self.by_original.get(entry.original) == entry.name:
            del self.by_original[entry.original]
        for target in entry.deps.targets():
            waiting = self.waiters.get(target)
            if waiting is not None:
                waiting.discard(entry.name)
                if not waiting:
                    del self.waiters[target]
                    array_name, index = dependencies.split_target(target)
                    if index is not None:
                        self.tasks_of.get(array_name, set()).discard(target)
        for key in [k for k in self.suspects if k[0] == entry.name]:
            del self.suspects[key]

    def vanished(self, name):
        """A waiting job that somebody else moved (`fjd cancel`): its waiters look again."""
        entry = self.entries.get(name)
        if entry is not None:
            self.forget(entry)
            self.due.add(entry.original)

    def check_new(self, entry):
        """A job diverted from jobqueue/ (a hand-written one): a cycle fails it and every
        job in it; a name found nowhere is looked for again at the next sweep."""
        edges = {e.original: [dependencies.split_target(t)[0] for t in e.deps.targets()]
                 for e in self.entries.values()}
        path = dependencies.find_cycle(entry.original, edges)
        if path is not None:
            reason = dependencies.cycle_reason(path)
            members = [self.entries.get(self.by_original.get(o)) for o in path[:-1]]
            members = [m for m in members if m is not None]
            for member in members:
                self.forget(member)  # each fails for the cycle, none for another's failure
            for member in members:
                self.fail(member, reason)
            return
        for target in dependency_state.missing(self.layout, entry.deps.targets()):
            self.suspects[(entry.name, target)] = time.monotonic()

    # -- looking, and what it finds ---------------------------------------------------------

    def sweep(self):
        """Now and then, a few of the names waited for (and suspects of unknown names)."""
        now = time.monotonic()
        if self.last_sweep is not None and \
                now - self.last_sweep < SWEEP_EVERY[self.layout.shared]:
            return
        self.last_sweep = now
        if not self.sweep_order:
            self.sweep_order.extend(sorted(set(self.waiters) | set(self.each.by_target)))
        for _ in range(min(SWEEP_NAMES, len(self.sweep_order))):
            self.due.add(self.sweep_order.popleft())
        self.check_suspects()

    def check_suspects(self):
        if not self.suspects:
            return
        known = dependency_state.census(self.layout)
        for (name, target), _ in list(self.suspects.items()):
            entry = self.entries.get(name)
            self.suspects.pop((name, target), None)
            if entry is None or target not in entry.unmet:
                continue
            if dependency_state.missing(self.layout, [target], known):
                key = AFTER if target in entry.deps.after else \
                    dependencies.KEYS[1] if target in entry.deps.after_finished else \
                    dependencies.KEYS[2]
                self.fail(entry, dependencies.unknown_reason(key, target))
            else:
                self.go_if_free(entry)

    def settle(self, target, state):
        """target has ended in state: its waiters are released, cancelled, or wait on."""
        for name in sorted(self.waiters.pop(target, ())):
            entry = self.entries.get(name)
            if entry is None:
                continue
            if target in entry.deps.after and state != DONE:
                self.cancel(entry, target, state)
                continue
            entry.unmet.discard(target)
            self.go_if_free(entry)
        array_name, index = dependencies.split_target(target)
        if index is not None:
            self.tasks_of.get(array_name, set()).discard(target)

    # -- the renames ------------------------------------------------------------------------

    def divert(self, name, deps, array):
        """jobqueue/NAME -> waiting/NAME (a hand-made name taken there gets a tag)."""
        source = os.path.join(self.layout.jobqueue, name)
        target = name
        if not names.submitted(name):
            queue_name = names.parse(name)
            if folders.lexists(os.path.join(self.layout.waiting, name)):
                target = names.with_fields(queue_name, tag=moves.dispatcher_tag(
                    time.time(), len(self.entries)))
        try:
            self.own_change(folders.rename, source, os.path.join(self.layout.waiting, target))
        except FileNotFoundError:
            return True  # gone meanwhile (cancelled)
        if self.listing is not None:
            self.listing.forget(name)
        log.info("%s waits for %s", display(target), ", ".join(deps.targets()))
        self.add(target, deps, array, check=True)
        return True

    def go(self, entry):
        """Nothing left to wait for as a whole: released, or (after_each) task by task."""
        if not entry.deps.after_each:
            return self.release(entry)
        target = entry.deps.after_each[0]
        if not entry.array:
            return self.fail(entry, "after_each: only an array can wait for each task of "
                                    "another (%s is a single job)" % display(entry.original))
        if not self.each.start(entry.name, target):
            return self.fail(entry, "after_each: it is not a valid array file")
        self.due.add(target)

    def release(self, entry):
        """waiting/NAME -> jobqueue/NAME@e~c: its dependencies are met."""
        queue_name = names.parse(entry.name)
        target = names.with_fields(queue_name, released=True)
        source = os.path.join(self.layout.waiting, entry.name)
        try:
            try:
                self.own_change(records.move_noreplace, source,
                                os.path.join(self.layout.jobqueue, target))
            except FileExistsError:
                target = names.with_fields(queue_name, released=True, tag=moves.dispatcher_tag(
                    time.time(), self.released))
                self.own_change(folders.rename, source,
                                os.path.join(self.layout.jobqueue, target))
        except FileNotFoundError:
            self.due.add(entry.original)  # cancelled meanwhile: its waiters look again
            return
        self.released += 1
        if self.listing is not None:
            self.listing.arrived(target)
        log.info("%s: dependencies met -> jobqueue/%s", display(entry.name), display(target))

    def cancel(self, entry, target, state):
        """File a waiter of a failed or cancelled dependency in cancelled/ (record first),
        and let its own waiters follow."""
        reason = dependencies.cancel_reason(target, state)
        self.file(entry, CANCELLED, reason, target)

    def fail(self, entry, reason):
        """File a waiting job that can never run (a cycle, an unknown name) in failed/."""
        self.file(entry, FAILED, reason, None)

    def file(self, entry, state, reason, dependency):
        self.forget(entry)
        path = os.path.join(self.layout.waiting, entry.name)
        key = record_kinds.dependency_key(entry.name)
        now = time.time()
        if entry.array:
            size = arrays.task_count(path)
            final = records.first_free_name(self.layout.folder(state), entry.original)
            record = dict(record_kinds.tasks_ended(
                entry.original, None, 1, size, state, reason, now,
                cancelled_from=record_kinds.WAITING_FROM, key=key), dependency=dependency,
                name=final)
            self.journal.append(record, size=size)  # (None: written before a crash)
            try:
                self.own_change(records.move_noreplace, path,
                                os.path.join(self.layout.folder(state), final))
            except FileNotFoundError:
                final = None
        else:
            if state == CANCELLED:
                record = record_kinds.job_cancelled_by_dependency(
                    entry.name, entry.original, dependency, reason, now, key)
            else:
                record = record_kinds.job_rejected(entry.name, entry.original, reason,
                                                   hostname(), 0, now, key)
            final = self.own_change(records.Filing(self.layout, self.journal, path,
                                                   entry.original, state, record).advance)
        if final is None:
            self.due.add(entry.original)
            return
        self.cancelled += 1
        log.warning("%s -> %s/%s: %s", display(entry.name), state, display(final), reason)
        self.settle_all(entry.original, state)

    def settle_all(self, original, state):
        """original was filed here in state: it and its tasks end for their waiters."""
        self.settle(original, state)
        for task in sorted(self.tasks_of.get(original, ())):
            self.settle(task, state)
