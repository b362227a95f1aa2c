"""Done Python calls recorded together (DESIGN.md "Python calls"): a map's quick calls
finish by the thousand a second, and a journal line each was most of the worker's work
for them. A run of consecutive tasks of a range that were done at their first attempt is
kept here and recorded as one `tasks` record when the worker would otherwise wait (no
reply of the call runner is at hand), when it is long, and before the range is filed,
split or given back (rule 8: the record comes first). A worker killed with a run not
recorded yet loses only that: its tasks are run again, and the caller keeps the first
outcome of each."""
from .. import record_kinds

LONGEST = 1024  # tasks in one record at most


def joined(first, last):
    """One output span [file, offset, length] from first's start to last's end; False when
    they are in different files (the journal was rotated between them)."""
    if first is None or last is None:
        return first or last
    if first[0] != last[0] or first[2] is None or last[2] is None:
        return False
    return [first[0], first[1], last[1] + last[2] - first[1]]


class DoneRun:
    """The run of done tasks not recorded yet."""

    def __init__(self):
        self.first = None  # the run's first task's record
        self.last = None
        self.end = None
        self.spans = None

    def __len__(self):
        return 0 if self.first is None else self.last - self.first["i"] + 1

    def takes(self, record):
        """Whether record can join the run (done, at its first attempt, run once)."""
        if record.get("state") != record_kinds.DONE or record.get("attempt") != 1 or \
                record.get("runs") or record.get("k") != record_kinds.TASK:
            return False
        if self.first is None:
            return True
        if record["i"] != self.last + 1 or record["u"] != self.first["u"]:
            return False
        return all(joined(self.spans[s], record.get(s)) is not False
                   for s in ("stdout", "stderr"))

    def add(self, record):
        if self.first is None:
            self.first = record
            self.spans = {s: record.get(s) for s in ("stdout", "stderr")}
        else:
            self.spans = {s: joined(self.spans[s], record.get(s)) for s in ("stdout", "stderr")}
        self.last, self.end = record["i"], record["end"]

    def full(self):
        return len(self) >= LONGEST

    def take(self):
        """(the run's record, how many tasks it stands for), and the run is empty again."""
        if self.first is None:
            return None, 0
        if self.last == self.first["i"]:
            record = self.first
        else:
            record = record_kinds.tasks_done(self.first, self.last, self.end, self.spans)
        size = len(self)
        self.first = self.last = self.end = self.spans = None
        return record, size
