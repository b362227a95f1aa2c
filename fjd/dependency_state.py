"""Where a job or task named in an ``after`` key stands, read from the folders: the one
place that `fjd submit`, `fjd status`/`show` and the dispatcher ask (DESIGN.md,
"Dependencies").

A job is finished once its file is in done/, failed/ or cancelled/ under its name (names
`fjd submit` gives are unique; a hand-made name finished before counts as finished). An
array is finished when the dispatcher files it there; one of its tasks, once a finished
range in arrays/ covers it (no flags: done) or the array is filed, and its records say how.
"""
import os

from . import arrays, dependencies, folders, names, record_search
from .defaults import PRIORITY_HEAD, STATUS_HEAD_READS
from .dependencies import CANCELLED, DONE, FAILED

STATE_ORDER = (DONE, FAILED, CANCELLED)


def finished_state(layout, name):
    """done, failed or cancelled when the job or array called name is filed there."""
    for state in STATE_ORDER:
        if folders.lexists(os.path.join(layout.folder(state), name)):
            return state
    return None


def finished_range(layout, array, index, arrays_listing=None):
    """The QueueName of a finished range of array in arrays/ that covers task index."""
    listing = arrays_listing
    if listing is None:
        try:
            listing = folders.listdir(layout.arrays)
        except OSError:
            listing = []
    for name in listing:
        if "@" not in name or not name.startswith(array):
            continue
        queue_name = names.parse(name)
        if queue_name.original == array and queue_name.finished and \
                queue_name.first <= index <= queue_name.last:
            return queue_name
    return None


def task_state(layout, array, index, arrays_listing=None):
    """done, failed or cancelled for task index of array once it has ended, else None."""
    filed = finished_state(layout, array)
    if filed == DONE:
        return DONE
    if filed is None:
        piece = finished_range(layout, array, index, arrays_listing)
        if piece is None:
            return None
        if not piece.flags:
            return DONE
    records = record_search.find_task_records(layout, array, index)
    if records:
        return records[-1].get("state") or filed
    return filed or CANCELLED


def state_of(layout, target, arrays_listing=None):
    """done, failed, cancelled or None (not finished) of a name waited for."""
    name, index = dependencies.split_target(target)
    if index is None:
        return finished_state(layout, name)
    return task_state(layout, name, index, arrays_listing)


def census(layout):
    """The original names of every job and array not finished: queued, waiting, in an
    inbox, with finished ranges in arrays/, or claimed on their way to failed/ or
    cancelled/."""
    from_names = set()
    for folder in (layout.jobqueue, layout.waiting, layout.arrays):
        for name in layout.list_names(folder):
            from_names.add(names.parse(name).original)
    for worker_id in layout.list_names(layout.jobpod):
        for name in layout.inbox_jobs(worker_id) or ():
            from_names.add(names.parse(name).original)
    return from_names


def missing(layout, targets, known=None):
    """The targets (job names or NAME#N) that name nothing in this queue. known: a census,
    made here when needed. A job on its way from one folder to the next while the folders
    are listed one after the other can be missed by one look: a name counts as missing
    only when a second look (its finished state, then a new census) misses it too."""
    lost = []
    for target in targets:
        name, _ = dependencies.split_target(target)
        if finished_state(layout, name):
            continue
        if known is None:
            known = census(layout)
        if name not in known:
            lost.append(target)
    if not lost:
        return lost
    again = census(layout)
    return [t for t in lost if dependencies.split_target(t)[0] not in again and
            not finished_state(layout, dependencies.split_target(t)[0])]


def array_file(layout, name):
    """A path of the array (or job) file called name, wherever it is; None if nowhere."""
    for state in STATE_ORDER:
        path = os.path.join(layout.folder(state), name)
        if os.path.lexists(path):
            return path
    folders_ = [layout.waiting, layout.jobqueue, layout.arrays]
    folders_ += [layout.inbox(w) for w in layout.list_names(layout.jobpod)]
    for folder in folders_:
        for found in layout.list_names(folder):
            if not names.is_ignored(found) and names.parse(found).original == name:
                return os.path.join(folder, found)
    return None


def array_size(layout, name):
    """The number of tasks of the array called name (1 for a job), None if it is nowhere."""
    path = array_file(layout, name)
    return None if path is None else arrays.task_count(path)


def read_dependencies(path):
    """The Dependencies a job file declares in its first bytes (NONE when unreadable)."""
    try:
        fd = folders.open_at(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return dependencies.NONE
    try:
        return dependencies.parse_head(os.read(fd, PRIORITY_HEAD))
    except OSError:
        return dependencies.NONE
    finally:
        os.close(fd)


def described(layout, deps):
    """[{name, key, state}] of what deps names, each with where it stands now."""
    return [{"name": target, "key": key, "state": state_of(layout, target)}
            for key, targets in zip(dependencies.KEYS, deps) for target in targets]


def where_and_what(layout, name):
    """(folder the job or array called name is in, or None; [{name, key, state}] of what
    it waits for)."""
    path = array_file(layout, name)
    if path is None:
        return None, []
    folder = os.path.basename(os.path.dirname(path))
    if os.path.dirname(os.path.dirname(path)) == layout.jobpod:
        folder = "jobpod"
    return folder, described(layout, read_dependencies(path))


def waiting_summary(layout, shown=5, head_reads=STATUS_HEAD_READS):
    """What `fjd status` says of waiting/: jobs, tasks (an array counts its tasks, for the
    first head_reads files), and for the first few what each waits for and where that
    stands."""
    found = sorted(n for n in layout.list_names(layout.waiting) if not names.is_ignored(n))
    tasks = 0
    first = []
    for number, name in enumerate(found):
        path = os.path.join(layout.waiting, name)
        queue_name = names.parse(name) if "@" in name else None
        if queue_name is not None and queue_name.is_tasks:  # (after_each: a range)
            tasks += queue_name.size
        else:
            tasks += arrays.task_count(path) if number < head_reads else 1
        if number < shown:
            first.append({"name": name,
                          "waits_for": described(layout, read_dependencies(path))})
    return {"jobs": len(found), "tasks": tasks, "first": first}
