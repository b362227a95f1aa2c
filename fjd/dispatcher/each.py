"""``after_each``: task N of an array B runs once task N of array A is done (DESIGN.md,
"Dependencies").

B waits in waiting/ as ranges of its tasks, named as ranges are in jobqueue/
(``B@t1-1000.u<id>~c``, hard links of the one file, tickets.py). As A's tasks end (its
finished ranges in arrays/, then its filing), B's matching tasks are split off within
waiting/ and each piece goes on by one rename: to jobqueue/ (A's tasks done: handed out
like any range), or to arrays/ as a cancelled range, recorded first (A's tasks failed or
were cancelled). What stays waits for the next look. A dispatcher killed in between finds
the pieces in waiting/ and decides again (an interrupted split is repaired, tickets.py).
"""
import logging
import os
import time

from .. import arrays, dependencies, dependency_state, folders, journal, moves, names
from .. import record_kinds, tickets
from ..dependencies import DONE
from ..jobfile import JobError
from ..layout import ARRAYS, JOBQUEUE, display

log = logging.getLogger("fjd.dispatcher")


class EachArray:
    """One array waiting task by task for another: its pieces in waiting/."""

    __slots__ = ("original", "uid", "target", "pieces")

    def __init__(self, original, uid, target):
        self.original = original
        self.uid = uid
        self.target = target  # the array it follows, task by task
        self.pieces = set()  # its names in waiting/


class TaskStates:
    """What is known of array A's tasks: its finished ranges in arrays/, its filing, and
    (read once, only when asked) which of its tasks failed or were cancelled."""

    def __init__(self, layout, array):
        self.layout = layout
        self.array = array
        self.filed = dependency_state.finished_state(layout, array)
        self.ranges = []  # (first, last, flags) of finished ranges
        if self.filed is None:
            for name in folders_listing(layout.arrays):
                if "@" in name and name.startswith(array):
                    queue_name = names.parse(name)
                    if queue_name.original == array and queue_name.finished:
                        self.ranges.append((queue_name.first, queue_name.last,
                                            queue_name.flags))
            self.ranges.sort()
        self._bad = None

    def bad(self):
        """{task: failed or cancelled} of A's tasks whose last record is not done."""
        if self._bad is None:
            self._bad = ended_badly(self.layout, self.array)
        return self._bad

    def runs(self, first, last):
        """[(first, last, state or None)] covering tasks first..last, in order."""
        if self.filed == DONE:
            return [(first, last, DONE)]
        spans = [(1, float("inf"), "F")] if self.filed else self.ranges
        found, at = [], first
        for start, end, flags in spans:
            start, end = max(start, at), min(end, last)
            if start > end:
                continue
            if start > at:
                found.append((at, start - 1, None))
            found += self.known_runs(start, end, flags)
            at = end + 1
        if at <= last:
            found.append((at, last, None))
        return merge_runs(found)

    def known_runs(self, first, last, flags):
        if not flags:
            return [(first, last, DONE)]
        bad = self.bad()
        return [(task, task, bad.get(task, DONE)) for task in range(first, last + 1)]


def merge_runs(runs):
    merged = []
    for first, last, state in runs:
        if merged and merged[-1][2] == state and merged[-1][1] + 1 == first:
            merged[-1] = (merged[-1][0], last, state)
        else:
            merged.append((first, last, state))
    return merged


def ended_badly(layout, array):
    """{task: state} of the array's tasks whose last record says failed or cancelled and
    that no later `fjd retry` put back: one pass over the journals, parsing only the
    array's task lines that are not done, range records and retries."""
    prefix = record_kinds.task_line_prefix(array)
    found, retries = {}, []
    for path in journal.journal_paths(layout.records):
        for _, body in journal.whole_line_blocks(path, 1 << 24):
            for line in body.split(b"\n"):
                if line.startswith(prefix):
                    if record_kinds.STATE_DONE in line:
                        continue
                elif record_kinds.KIND_TASKS not in line and \
                        not line.startswith(RETRY_LINES):
                    continue
                record = journal.unframe(line)
                if record is None or record.get("array") != array:
                    continue
                if record.get("k") in (record_kinds.RETRIED, record_kinds.RETRY_UNDONE):
                    retries.append(record)
                else:
                    note_bad(found, record)
    return not_retried(found, retries)


RETRY_LINES = tuple(b"{" + record_kinds.pattern("k", kind)
                    for kind in (record_kinds.RETRIED, record_kinds.RETRY_UNDONE))


def note_bad(found, record):
    state = record.get("state")
    if state not in (dependencies.FAILED, dependencies.CANCELLED):
        return
    end = record.get("end") or 0
    if record.get("k") == record_kinds.TASK:
        tasks = [record.get("i")]
    elif record.get("k") == record_kinds.TASKS:
        tasks = range(record.get("first", 1), record.get("last", 0) + 1)
    else:
        return
    for task in tasks:
        if task not in found or found[task][0] <= end:
            found[task] = (end, state)


def not_retried(found, retries):
    """{task: state} of found {task: (end, state)} but for the tasks a `fjd retry` (not
    taken back) put back after they ended: they run again, or ran."""
    undone = {(r.get("at"), r.get("u")) for r in retries
              if r.get("k") == record_kinds.RETRY_UNDONE}
    retried = {}
    for record in retries:
        if record.get("k") != record_kinds.RETRIED or \
                (record.get("at"), record.get("u")) in undone:
            continue
        for _, first, last in record.get("tasks") or []:
            for task in range(first, last + 1):
                retried[task] = max(retried.get(task, 0), record.get("at") or 0)
    return {task: state for task, (end, state) in found.items()
            if task not in retried or end > retried[task]}


class AfterEach:
    """The arrays waiting task by task, by the array each follows."""

    def __init__(self, layout, journal_, own_change, arrived=None, max_job_bytes=1 << 30):
        self.layout = layout
        self.journal = journal_
        self.own_change = own_change  # own_change(rename, *args): our change of waiting/
        self.arrived = arrived  # arrived(name): a range we put in jobqueue/
        self.max_job_bytes = max_job_bytes
        self.by_target = {}  # array followed -> {uid: EachArray}
        self.cancelled = 0
        self.released = 0

    def watches(self, name):
        return name in self.by_target

    def prune(self, found):
        """Forget the pieces no longer in waiting/ (found: its names): cancelled."""
        for target, group in list(self.by_target.items()):
            for uid, each in list(group.items()):
                each.pieces &= found
                if not each.pieces:
                    del group[uid]
            if not group:
                del self.by_target[target]

    def pieces(self):
        """Every piece in waiting/ we know of."""
        return {piece for group in self.by_target.values() for each in group.values()
                for piece in each.pieces}

    def start(self, name, target):
        """Give the array waiting/NAME its id and the range of all its tasks (one rename
        within waiting/), and follow target; False when it is no valid array."""
        path = os.path.join(self.layout.waiting, name)
        try:
            fd = folders.open_at(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return True
        try:
            spec = arrays.read_spec(fd, self.max_job_bytes)
        except JobError:
            return False
        finally:
            os.close(fd)
        uid = names.nonce()
        ranged = moves.array_range(names.parse(name).original, spec.count, uid,
                                   spec.data_offset)
        try:
            self.own_change(folders.rename, path, os.path.join(self.layout.waiting, ranged))
        except FileNotFoundError:
            return True
        log.info("array %s: %d tasks, id %s, each after the same task of %s",
                 display(names.parse(name).original), spec.count, uid, display(target))
        self.adopt(ranged, target)
        return True

    def adopt(self, name, target):
        """A range of an after_each array found in waiting/ (or just made)."""
        queue_name = names.parse(name)
        group = self.by_target.setdefault(target, {})
        each = group.get(queue_name.uid)
        if each is None:
            each = group[queue_name.uid] = EachArray(queue_name.original, queue_name.uid,
                                                     target)
        each.pieces.add(name)

    def advance(self, target):
        """A's tasks may have ended: move B's matching tasks on. True when any went to
        jobqueue/."""
        group = self.by_target.get(target)
        if not group:
            return False
        states = TaskStates(self.layout, target)
        moved = False
        for uid, each in list(group.items()):
            for piece in sorted(each.pieces):
                moved = self.advance_piece(each, piece, states) or moved
            if not each.pieces:
                del group[uid]
        if not group:
            del self.by_target[target]
        return moved

    def advance_piece(self, each, piece, states):
        queue_name = names.parse(piece)
        runs = states.runs(queue_name.first, queue_name.last)
        if all(state is None for _, _, state in runs):
            return False
        for first, last, state in runs:
            if state not in (None, DONE):
                self.record_cancelled(each, queue_name, first, last, state)
        parts = [moves.Piece(dict(first=first, last=last, attempts=0, tag=queue_name.tag,
                                  offset=queue_name.offset if first == queue_name.first
                                  else None), None)
                 for first, last, _ in runs]
        each.pieces.discard(piece)
        try:
            made = self.own_change(tickets.split, self.layout.waiting, piece, parts)
        except FileNotFoundError:
            return False  # cancelled meanwhile
        moved = False
        for name, (_, _, state) in zip(made, runs):
            if state is None:
                each.pieces.add(name)
            else:
                moved = self.move_on(name, state) or moved
        return moved

    def record_cancelled(self, each, queue_name, first, last, state):
        tasks = "%s#%d" % (each.target, first) if first == last else \
            "%s#%d-%d" % (each.target, first, last)
        record = dict(record_kinds.tasks_ended(
            each.original, each.uid, first, last, dependencies.CANCELLED,
            dependencies.cancel_reason(tasks, state), time.time(),
            cancelled_from=record_kinds.WAITING_FROM,
            key=record_kinds.dependency_key(piece_key(each.uid, first, last, queue_name))),
            dependency=tasks)
        self.journal.append(record, size=last - first + 1)

    def move_on(self, name, state):
        """A piece of B whose tasks of A ended: to jobqueue/ (done) or, cancelled, to
        arrays/."""
        queue_name = names.parse(name)
        if state == DONE:
            folder, target = JOBQUEUE, name
        else:
            folder, target = ARRAYS, moves.cancelled_range(queue_name)
        try:
            self.own_change(folders.rename, os.path.join(self.layout.waiting, name),
                            os.path.join(self.layout.folder(folder), target))
        except FileNotFoundError:
            return False
        if state == DONE:
            self.released += queue_name.size
            if self.arrived is not None:
                self.arrived(name)
            return True
        self.cancelled += queue_name.size
        log.warning("%s: tasks %d to %d cancelled (their tasks of the array they follow "
                    "%s)", display(queue_name.original), queue_name.first, queue_name.last,
                    "failed" if state == dependencies.FAILED else "were cancelled")
        return False


def piece_key(uid, first, last, queue_name):
    """What a cancellation of tasks first..last is keyed by: the tag of a range `fjd retry`
    put back (kept by its pieces) tells a second cancellation of the same tasks from the
    first, which a dispatcher's keys would take for a record already written."""
    key = "%s#%d-%d" % (uid, first, last)
    return key + "." + queue_name.tag if queue_name.tag else key


def folders_listing(path):
    try:
        return folders.listdir(path)
    except OSError:
        return []
