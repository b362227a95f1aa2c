"""Calls whose job finished without an outcome in a results file: cancelled by `fjd cancel`,
failed before the call could run, or out of attempts after its workers died. The caller
would wait for them for ever; instead, the oldest calls still waited for are looked for in
failed/ and cancelled/ (and done/: an array with a task that wrote nothing) every few
seconds, and a call found there fails with its record's reason."""
import os

from .. import folders, record_search
from .payload import CallFailed

CHECK_EVERY = 2.0  # seconds between looks (5 on a shared mount, where a look is a request)
CHECK_EVERY_SHARED = 5.0
OLDEST = 16  # submitted calls looked for per check (lost ones are among the oldest)
FINAL = ("failed", "cancelled", "done")


def final_folder(layout, name):
    """The folder a finished job or array of this (unique, fjd submit) name is in, or
    None while it is not finished."""
    for folder in FINAL:
        if folders.lexists(os.path.join(layout.folder(folder), name)):
            return folder
    return None


def job_failure(layout, name, folder):
    """The CallFailed for a job found finished without an outcome."""
    reason = None
    try:
        found = record_search.find_job_records(layout, name)
        reason = found[-1].get("reason") if found else None
    except (OSError, ValueError):
        pass
    return CallFailed("the call's job is in %s/ without a result: %s"
                      % (folder, reason or "no reason recorded"))


def task_failure(layout, array, task, folder):
    reason = None
    try:
        found = record_search.find_task_records(layout, array, task)
        reason = found[-1].get("reason") if found else None
    except (OSError, ValueError):
        pass
    return CallFailed("task %d of the map's array %s ended in %s/ without a result: %s"
                      % (task, array, folder, reason or "no reason recorded"))


class LostCalls:
    """The executor's periodic look for lost calls (run by the collector thread)."""

    def __init__(self, executor):
        self.executor = executor
        self.layout = executor.layout
        self.every = CHECK_EVERY_SHARED if self.layout.shared else CHECK_EVERY
        self.seen = set()  # names seen finished at the look before
        self.seeing = set()  # ... and at this one

    def second_sighting(self, name):
        """Whether name was seen finished at the look before too: an outcome written just
        before its job was filed has had a whole look's time to be read."""
        self.seeing.add(name)
        return name in self.seen

    def look(self):
        """(calls, arrays) found finished at this look and the one before."""
        found = self.finished_calls(), self.finished_arrays()
        self.seen, self.seeing = self.seeing, set()
        return found

    def finished_calls(self):
        """(future, folder) of the oldest submitted calls whose jobs are finished."""
        with self.executor.lock:
            oldest = list(self.executor.pending.values())[:OLDEST]
        found = []
        for future in oldest:
            folder = final_folder(self.layout, future.queue_name)
            if folder is not None and self.second_sighting(future.queue_name):
                found.append((future, folder))
        return found

    def finished_arrays(self):
        """(map run, array name, first, last, folder) of each map's array that holds the
        result waited for next, when that array is finished."""
        found = []
        for run in list(self.executor.maps.values()):
            block = run.block_of(run.next)
            if block is not None:
                folder = final_folder(self.layout, block[0])
                if folder is not None and self.second_sighting(block[0]):
                    found.append((run,) + block + (folder,))
        return found

    def fail(self, calls, arrays):
        """What is still missing after the results were read once more fails."""
        for future, folder in calls:
            with self.executor.lock:
                still = self.executor.pending.pop(future.queue_offset, None)
            if still is not None and not still.done():
                still.set_exception(job_failure(self.layout, future.queue_name, folder))
        for run, name, first, last, folder in arrays:
            for index in run.missing(first, last):
                run.fail(index, task_failure(self.layout, name, index - first + 1, folder))
