"""`fjd retry` of an array's failed tasks puts back, too, the tasks that ``after_each``
cancelled because of them, and those cancelled because of these, and so on (DESIGN.md,
"Dependencies").

The dispatcher files such tasks with a ``tasks`` record (``dependency A#N``, cancelled from
waiting/) and moves them to arrays/ as a cancelled range, where they are merged with the
rest of their array B and B is filed once all its tasks ended. They come back as waiting
ranges of B in waiting/ (``B@tN-M.u<id>.r<nonce>``), which the dispatcher adopts and
releases once task N of A is done again; a record first (``retried``, with the ranges and
a reference to the cancellation), then:

* B filed: its file is split as `fjd retry` splits an array (control.Retry.tasks): the
  other tasks to arrays/ as finished ranges (linked), the tasks put back to waiting/, the
  last of them by renaming the file itself;
* B still running: a cancelled range still on its own in arrays/ goes to waiting/ by one
  rename. Part of a range, or a range merged with others, is left cancelled (only the
  dispatcher may split or merge names in arrays/ while it runs), and the command says so.
"""
import os
import time

from . import arrays, journal, moves, names, record_kinds
from .control import ControlError, who
from .fsops import list_names, try_rename
from .jobfile import JobError
from .layout import ARRAYS, WAITING
from .names import nonce


class Cancellation:
    """One record of tasks after_each cancelled, and which of them were put back since."""

    __slots__ = ("ref", "array", "uid", "first", "last", "tasks")

    def __init__(self, ref, record, restored):
        self.ref = ref  # [writer, offset]
        self.array = record.get("array")
        self.uid = record.get("u")
        self.first, self.last = record["first"], record["last"]
        self.tasks = set(range(self.first, self.last + 1)) - restored


def restored_tasks(layout):
    """{(writer, offset): tasks} put back by earlier retries (taken back ones left out)."""
    undone, found = set(), []
    kinds = [record_kinds.pattern("k", record_kinds.RETRIED),
             record_kinds.pattern("k", record_kinds.RETRY_UNDONE)]
    for path in journal.journal_paths(layout.records):
        if os.path.basename(path).startswith("retry-"):
            for _, record in journal.find(path, kinds):
                if record.get("tasks") is None:
                    continue
                mark = (record.get("at"), record.get("u"))
                if record.get("k") == record_kinds.RETRY_UNDONE:
                    undone.add(mark)
                else:
                    found.append((mark, record))
    by_ref = {}
    for mark, record in found:
        if mark in undone:
            continue
        tasks = set()
        for _, first, last in record["tasks"]:
            tasks.update(range(first, last + 1))
        for ref in record.get("refs") or []:
            by_ref.setdefault(tuple(ref), set()).update(tasks)
    return by_ref


def cancellations(layout, array, restored):
    """[Cancellation] of the tasks after_each cancelled because tasks of array ended
    badly (the dispatchers' records), with tasks left that were not put back yet."""
    needle = record_kinds.pattern("dependency", array + "#")[:-1]  # (no closing quote)
    found = []
    for path in journal.journal_paths(layout.records):
        if not os.path.basename(path).startswith("dispatcher-"):
            continue
        for offset, record in journal.find(path, [needle]):
            dependency = record.get("dependency") or ""
            if record.get("k") == record_kinds.TASKS and record.get("u") and \
                    record.get("cancelled_from") == record_kinds.WAITING_FROM and \
                    record.get("state") == record_kinds.CANCELLED and \
                    dependency.rsplit("#", 1)[0] == array:
                ref = (journal.writer_of(path), offset)
                cancellation = Cancellation(list(ref), record, restored.get(ref, set()))
                if cancellation.tasks:
                    found.append(cancellation)
    return found


def runs_of(tasks):
    """[(first, last)] of the sorted tasks, run by run."""
    runs = []
    for task in sorted(tasks):
        if runs and runs[-1][1] == task - 1:
            runs[-1][1] = task
        else:
            runs.append([task, task])
    return [tuple(run) for run in runs]


class EachRestore:
    """Put back what after_each cancelled, for one `fjd retry` (control.Retry)."""

    def __init__(self, retry):
        self.retry = retry
        self.layout = retry.layout
        self.restored = restored_tasks(self.layout)
        self.failed = None  # {uid: (array, failed tasks)}, read when first needed
        self.left = []  # (array, (first, last)) that stay cancelled, and why
        self.jobs = []  # names of jobs put back to waiting/ (their dependency came back)
        self.errors = []  # (array, why its tasks could not come back)

    def restore(self, array, tasks):
        """Tasks of array (a set) come back: their followers too, transitively. Returns
        [(follower, [(first, last)], filed)] of what went back to waiting/."""
        done = []
        todo = [(array, set(tasks))]
        while todo:
            source, back = todo.pop()
            groups = {}
            for cancellation in cancellations(self.layout, source, self.restored):
                if cancellation.tasks & back:
                    groups.setdefault((cancellation.uid, cancellation.array), []).append(
                        cancellation)
            for (uid, follower), group in sorted(groups.items()):
                runs, filed = self.follower(uid, follower, group, back)
                if not runs:
                    continue
                done.append((follower, runs, filed))
                came = {t for first, last in runs for t in range(first, last + 1)}
                todo.append((follower, came))
                for dependency in ([follower] if filed else []) + \
                        [names.task_name(follower, t) for t in sorted(came)]:
                    self.jobs += self.retry.restore_waiters(dependency)
        return done

    def follower(self, uid, array, group, back):
        """Put back the tasks of array (id uid) the group's records cancelled that are in
        back; ([(first, last)] put back, whether the array had been filed)."""
        wanted = set().union(*(c.tasks for c in group)) & back
        try:
            path = self.retry.array_file(uid, array)
        except ControlError:
            path = None
        filed = path is not None
        try:
            runs = self.split_filed(uid, array, path, group, wanted) if filed else \
                self.from_arrays(uid, array, group, wanted)
        except ControlError as error:
            self.errors.append((array, str(error)))
            return [], filed
        came = {t for first, last in runs for t in range(first, last + 1)}
        for cancellation in group:  # (a later call in this run sees them put back)
            self.restored.setdefault(tuple(cancellation.ref), set()).update(came)
            cancellation.tasks -= came
        return runs, filed

    def record(self, uid, array, runs, group):
        """The `retried` record (first, as for every retry); the entry, to take back."""
        entry = record_kinds.tasks_retried([[uid, first, last] for first, last in runs],
                                           array, uid, who(), time.time(),
                                           [c.ref for c in group])
        count = sum(last - first + 1 for first, last in runs)
        self.retry.journal.adjust(entry, [0, 0, 0, 0, 0, -count])
        return entry, count

    def take_back(self, entry, count):
        self.retry.journal.adjust(record_kinds.retry_undone(entry), [0, 0, 0, 0, 0, count])

    def from_arrays(self, uid, array, group, wanted):
        """The array still runs: a cancelled range on its own in arrays/ whose tasks all
        come back goes to waiting/ by one rename; the rest stays cancelled."""
        ranges = {}
        for name in list_names(self.layout.arrays):
            queue_name = names.parse(name)
            if queue_name.uid == uid and queue_name.finished and \
                    queue_name.flags == moves.CANCELLED_FLAG:
                ranges[(queue_name.first, queue_name.last)] = name
        moved = []
        for cancellation in sorted(group, key=lambda c: c.first):
            span = (cancellation.first, cancellation.last)
            tasks = cancellation.tasks & wanted
            if not tasks:
                continue
            if tasks != set(range(span[0], span[1] + 1)) or span not in ranges:
                self.left += [(array, run) for run in runs_of(tasks)]
                continue
            entry, count = self.record(uid, array, [span], [cancellation])
            target = names.compose(array, first=span[0], last=span[1], uid=uid,
                                   tag=moves.retry_tag(nonce()))
            if try_rename(os.path.join(self.layout.arrays, ranges[span]),
                          os.path.join(self.layout.waiting, target)):
                moved.append(span)
            else:  # merged meanwhile by the dispatcher
                self.take_back(entry, count)
                self.left.append((array, span))
        return moved

    def split_filed(self, uid, array, path, group, wanted):
        """The array is filed: split its file, the tasks that come back to waiting/, the
        others to arrays/ as finished ranges (flags from its records)."""
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            count = arrays.read_spec(fd, 1 << 30).count
        except JobError as error:
            raise ControlError("the file of %s cannot be read: %s" % (array, error))
        finally:
            os.close(fd)
        failed, cancelled = self.ended_badly(uid, wanted)
        pieces = pieces_of(array, uid, count, wanted, failed, cancelled,
                           moves.retry_tag(nonce()))
        runs = [(names.parse(n).first, names.parse(n).last) for n, f in pieces
                if f == WAITING]
        entry, restored = self.record(uid, array, runs, group)
        renamed = next(i for i, (_, f) in enumerate(pieces) if f == WAITING)
        order = [p for p in pieces if p[1] == ARRAYS] + \
            [p for i, p in enumerate(pieces) if p[1] == WAITING and i != renamed]
        try:
            for new, folder in order:
                try:
                    os.link(path, os.path.join(self.layout.folder(folder), new))
                except FileExistsError:
                    pass  # (made by a retry killed before its rename)
            os.rename(path, os.path.join(self.layout.waiting, pieces[renamed][0]))
        except FileNotFoundError:  # moved meanwhile (another retry)
            self.take_back(entry, restored)
            return []
        return runs

    def ended_badly(self, uid, wanted):
        """(failed, cancelled) tasks of the array with id uid, not counting wanted."""
        if self.failed is None:
            self.failed = self.retry.failed_tasks()
        failed = set(self.failed.get(uid, (None, []))[1])
        cancelled = set()
        for path in journal.journal_paths(self.layout.records):
            for offset, record in journal.find(path, [record_kinds.pattern("u", uid)]):
                if record.get("state") != record_kinds.CANCELLED:
                    continue
                ref = (journal.writer_of(path), offset)
                if record.get("k") == record_kinds.TASK:
                    cancelled.add(record.get("i"))
                elif record.get("k") == record_kinds.TASKS:
                    cancelled.update(set(range(record["first"], record["last"] + 1)) -
                                     self.restored.get(ref, set()))
        return failed - wanted, cancelled - wanted


def pieces_of(array, uid, count, wanted, failed, cancelled, tag):
    """(name, folder) of each run of tasks 1..count: wanted to waiting/ (tag), the others
    to arrays/ as finished, flagged F or C as their tasks ended."""
    pieces = []
    at = 1
    for first, last in runs_of(wanted) + [(count + 1, count)]:
        if first > at:
            span = set(range(at, first))
            flags = moves.FAILED_FLAG if span & failed else \
                moves.CANCELLED_FLAG if span & cancelled else ""
            pieces.append((names.compose(array, first=at, last=first - 1, uid=uid,
                                         flags=flags), ARRAYS))
        if first <= last:
            pieces.append((names.compose(array, first=first, last=last, uid=uid, tag=tag),
                           WAITING))
        at = last + 1
    return pieces
