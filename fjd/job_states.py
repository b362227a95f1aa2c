"""One word for where each named job stands: what ``fjd state`` and ``fjd wait`` answer.

Workflow managers ask for the state of their jobs once per job and check, so the answer
must cost little whatever the size of the queue: the folders a job passes through before
it finishes (waiting/, jobqueue/, the inboxes, arrays/) are short and listed once per
call; done/, failed/ and cancelled/ may hold millions of files and are never listed: a
name found in none of the listings is looked up there by name (DESIGN.md rule 7).

The folders are listed in the order a job moves through them (waiting/, jobqueue/, the
inboxes, arrays/, then the finished folders), so a job moving on while they are read is
still seen once. A job moving back (handed back by a stopped worker, retried) can slip
between two looks: a name found nowhere is looked for once more before it is ``unknown``.
"""
import os

from . import folders, names

QUEUED, WAITING, RUNNING = "queued", "waiting", "running"
DONE, FAILED, CANCELLED, UNKNOWN = "done", "failed", "cancelled", "unknown"
WORDS = (QUEUED, WAITING, RUNNING, DONE, FAILED, CANCELLED, UNKNOWN)
FINISHED = (DONE, FAILED, CANCELLED)
SNAKEMAKE = {QUEUED: "running", WAITING: "running", RUNNING: "running", DONE: "success",
             FAILED: "failed", CANCELLED: "failed", UNKNOWN: "failed"}
# where a piece of a job is, by the word it makes; the first found of these wins
_RANK = (RUNNING, QUEUED, WAITING)


class Snapshot:
    """The unfinished jobs of a queue as one pass over its short folders found them:
    original name -> [(word, QueueName)] for every piece (an array has several ranges)."""

    def __init__(self, layout):
        self.layout = layout
        self.pieces = {}
        self._add(layout.list_names(layout.waiting), WAITING)
        self._add(layout.list_names(layout.jobqueue), QUEUED)
        for worker_id in layout.list_names(layout.jobpod):
            self._add(layout.inbox_jobs(worker_id) or (), RUNNING)
        self.arrays_listing = layout.list_names(layout.arrays)
        self._add(self.arrays_listing, RUNNING)  # finished ranges: the array is under way

    def _add(self, found, word):
        for name in found:
            if names.is_ignored(name):
                continue
            queue_name = names.parse(name) if "@" in name else names.QueueName(
                name, 0, None, None, None, None, None, None)
            self.pieces.setdefault(queue_name.original, []).append((word, queue_name))

    def __contains__(self, original):
        return original in self.pieces

    def word(self, original, index=None):
        """queued, waiting or running for a job (or task index of an array) listed here;
        None when it is not."""
        words = set()
        for word, queue_name in self.pieces.get(original, ()):
            if index is not None and queue_name.is_tasks and not \
                    queue_name.first <= index <= queue_name.last:
                continue
            if index is not None and queue_name.finished:
                continue  # (that task has finished: its records say how)
            words.add(word)
        for word in _RANK:
            if word in words:
                return word
        return None


def valid(name):
    """Whether name can be a job's name in this queue (never a path elsewhere)."""
    return bool(name) and "/" not in name and "\0" not in name and \
        not name.startswith(".") and name not in (".", "..")


def finished_word(layout, name):
    """done, failed or cancelled when a job or array called name is filed there, else
    None: one lookup per folder, never a listing (as dependency_state.finished_state)."""
    final = next(names.final_names(name))
    for word in FINISHED:
        if folders.lexists(os.path.join(layout.folder(word), final)):
            return word
    return None


def look_up(layout, target, snapshot, task_state=None):
    """The word for one name (``NAME`` or ``NAME#N``) in this snapshot, None when it is
    found nowhere. task_state: dependency_state.task_state, for the tasks of arrays (its
    records are read only then; a task name without it is unknown)."""
    if not valid(target):
        return UNKNOWN
    task = names.parse_task_name(target)
    if task is None:
        return snapshot.word(target) or finished_word(layout, target)
    if task_state is None:
        return UNKNOWN
    array, index = task
    word = snapshot.word(array, index)
    if word is not None:
        return word
    finished = task_state(layout, array, index, snapshot.arrays_listing)
    if finished is None and array in snapshot:
        return RUNNING  # (no range of it covers the task just now: it is on its way)
    return finished


def states(layout, targets, task_state=None):
    """The word for each of targets, in order (see the module's docstring); task_state:
    see look_up."""
    snapshot = Snapshot(layout)
    found = [look_up(layout, target, snapshot, task_state) for target in targets]
    missed = [number for number, word in enumerate(found) if word is None]
    if missed:
        snapshot = Snapshot(layout)
        for number in missed:
            found[number] = look_up(layout, targets[number], snapshot, task_state) or UNKNOWN
    return found


def has_tasks(targets):
    """Whether any of targets names a task of an array (``NAME#N``)."""
    return any("#" in target and names.parse_task_name(target) for target in targets)


def unfinished(layout):
    """The original names of every job and array not finished yet (for ``fjd wait --all``)."""
    return set(Snapshot(layout).pieces)


def is_finished(word):
    return word in FINISHED
