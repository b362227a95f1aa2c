"""Array jobs coming to an end: the finished ranges in arrays/ are merged, and an array
whose finished ranges cover all its tasks moves to done/ (failed/ if a task failed,
cancelled/ if tasks were cancelled), under its original name or NAME~2, ...

Workers move each range they finish into arrays/ by one rename; only the dispatcher merges
and completes, so there is one actor for these names. A merge cut short by a crash leaves a
range inside another, which tickets.repair() removes (DESIGN.md, "Array jobs").
"""
import logging
import os
import time

from . import arrays, defaults, moves, names, record_kinds, records, tickets
from .layout import display
from .fsops import refresh_listing

log = logging.getLogger("fjd.dispatcher")


class Completion:
    """The dispatcher's view of arrays/: what is finished of each array, and its size."""

    def __init__(self, layout, max_job_bytes, journal=None):
        self.layout = layout
        self.journal = journal  # where the completion of an array is recorded
        self.max_job_bytes = max_job_bytes
        self.sizes = {}  # array id -> number of tasks
        self.last_mtime = None
        self.active = False  # arrays/ held something at the last pass
        self.on_filed = None  # called with an array's original name once it is filed

    def due(self):
        """Whether arrays/ may have changed since the last pass (local disks: its mtime)."""
        if self.layout.shared:
            return True
        try:
            mtime = os.stat(self.layout.arrays).st_mtime_ns
        except OSError:
            return False
        if mtime == self.last_mtime:
            return False
        self.last_mtime = mtime
        return True

    def run(self, force=False):
        """One pass over arrays/; returns the number of arrays filed as complete."""
        if not force and not self.due():
            return 0
        folder = self.layout.arrays
        if self.layout.shared:
            refresh_listing(folder)
        try:
            found = [n for n in os.listdir(folder) if not n.startswith(".")]
        except FileNotFoundError:
            return 0
        self.active = bool(found)
        if not found:
            return 0
        found = tickets.repair(folder, found)
        unfinished = [n for n in found if not names.parse(n).finished]
        for name in unfinished:  # not ours to keep here (put by hand?): back to the queue
            if names.parse(name).is_tasks:
                self.move(name, self.layout.jobqueue, name)
        by_array = {}
        for name in found:
            queue_name = names.parse(name)
            if queue_name.is_tasks and queue_name.finished:
                by_array.setdefault(queue_name.uid, []).append((queue_name, name))
        filed = 0
        for uid, ranges in by_array.items():
            ranges.sort(key=lambda item: item[0].first)
            if not self.worth_merging(uid, ranges):
                continue
            merged = self.merge(ranges)
            if len(merged) == 1 and merged[0][0].first == 1:
                queue_name, name = merged[0]
                if queue_name.last >= self.size_of(uid, name):
                    filed += self.complete(name, queue_name)
        if filed:
            self.last_mtime = None
        return filed

    def merge(self, ranges):
        """One array's finished ranges, in task order, merged where they meet; the
        (QueueName, name) of what is left."""
        folder = self.layout.arrays
        merged = [ranges[0]]
        for queue_name, name in ranges[1:]:
            previous, previous_name = merged[-1]
            if previous.last + 1 == queue_name.first:
                try:
                    union = tickets.merge(folder, previous_name, name)
                except OSError as error:
                    log.warning("cannot merge %s and %s: %s", display(previous_name),
                                display(name), error.strerror)
                    merged.append((queue_name, name))
                    continue
                merged[-1] = (names.parse(union), union)
            else:
                merged.append((queue_name, name))
        return merged

    def worth_merging(self, uid, ranges):
        """Merge an array's finished ranges only once they cover all its tasks, or when
        they are many (MERGE_PIECES): each merge is two requests, and a merge made while
        a worker waits for its next range delays it (on a shared mount by milliseconds)."""
        if len(ranges) == 1 or len(ranges) >= defaults.MERGE_PIECES:
            return True
        if ranges[0][0].first != 1:
            return False
        for (previous, _), (queue_name, _) in zip(ranges, ranges[1:]):
            if previous.last + 1 != queue_name.first:
                return False
        return ranges[-1][0].last >= self.size_of(uid, ranges[-1][1])

    def size_of(self, uid, name):
        size = self.sizes.get(uid)
        if size is None:
            try:
                fd = os.open(os.path.join(self.layout.arrays, name),
                             os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                return float("inf")
            try:
                size = arrays.read_spec(fd, self.max_job_bytes).count
            except (OSError, arrays.JobError):
                size = names.parse(name).last  # the names are all we can go by
            finally:
                os.close(fd)
            self.sizes[uid] = size
        return size

    def complete(self, name, queue_name):
        state = moves.array_state(queue_name.flags)
        folder = self.layout.folder(state)
        try:
            final = records.first_free_name(folder, queue_name.original)
            records.move_noreplace(os.path.join(self.layout.arrays, name),
                                   os.path.join(folder, final))
        except OSError as error:
            log.warning("cannot file the finished array %s in %s/: %s", display(name), state,
                        error.strerror)
            return 0
        self.sizes.pop(queue_name.uid, None)
        if self.journal is not None:
            try:
                self.journal.append(record_kinds.array_filed(
                    final, state, queue_name.original, queue_name.uid, queue_name.last,
                    time.time(), record_kinds.array_key(queue_name.uid, final)))
            except OSError as error:
                log.warning("cannot record the completion of %s: %s", display(final),
                            error.strerror)
        log.info("array %s: all %d tasks finished -> %s/%s", display(queue_name.original),
                 queue_name.last, state, display(final))
        if self.on_filed is not None:
            self.on_filed(queue_name.original)
        return 1

    def move(self, name, folder, target):
        try:
            os.rename(os.path.join(self.layout.arrays, name), os.path.join(folder, target))
        except OSError as error:
            log.warning("cannot move %s: %s", display(name), error.strerror)
