"""Finding the records of finished jobs, tasks and arrays again (DESIGN.md, "Records").

For ``fjd show``, ``fjd status`` and ``fjd retry``. Journals are searched for the byte
patterns record_kinds.py makes (a needle per key and value), so only lines that may match
are parsed; an array's done and cancelled task records are counted without being parsed.
Roots written by fjd 0.2 have one ``records/NAME.json`` per job; they are still read.
Filing records is records.py's.
"""
import json
import os
import time

from . import journal, names, record_kinds
from .fsops import list_names

LEGACY_SUFFIX = ".json"


def iso(timestamp):
    if timestamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(timestamp)) + (
        ".%03d" % int((timestamp % 1) * 1000))



def legacy_record(layout, final_name):
    """The fjd 0.2 record records/NAME.json of a finished job, or None."""
    try:
        with open(os.path.join(layout.records, final_name + LEGACY_SUFFIX), "rb") as handle:
            record = json.loads(handle.read().decode())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def legacy_names(layout):
    try:
        with os.scandir(layout.records) as entries:
            return [e.name[:-len(LEGACY_SUFFIX)] for e in entries
                    if e.name.endswith(LEGACY_SUFFIX) and not e.name.startswith(".")]
    except FileNotFoundError:
        return []


def find_job_records(layout, name):
    """Every record of the single job called name (its final name, its queue name or its
    original name), oldest first, each with "_journal" and "_offset" added."""
    found = []
    needles = [journal.needle("name", name), journal.needle("queue", name),
               journal.needle("original", name)]
    for path in journal.journal_paths(layout.records):
        hits = journal.find(path, needles + [record_kinds.KIND_MOVED])
        moved = {r.get("ref"): r for _, r in hits if r.get("k") == record_kinds.MOVED}
        jobs = {offset: record for offset, record in hits
                if record.get("k") == record_kinds.JOB}
        for ref in moved:
            if ref not in jobs and moved[ref].get("name") == name:
                record = journal.record_at(path, ref) if isinstance(ref, int) else None
                if record is not None and record.get("k") == record_kinds.JOB:
                    jobs[ref] = record
        for offset, record in sorted(jobs.items()):
            if offset in moved:  # filed under another name than first recorded
                record = dict(record, name=moved[offset]["name"],
                              recorded_name=record.get("name"))
            if name not in (record.get("name"), record.get("queue"), record.get("original")):
                continue
            found.append(dict(record, _journal=journal.writer_of(path), _offset=offset))
    legacy = legacy_record(layout, name)
    if legacy:
        found.append(dict(legacy, k=record_kinds.JOB, _journal=None, _offset=None))
    found.sort(key=lambda r: (r.get("end") or r.get("end_ts") or 0))
    return found


def find_task_records(layout, array, index, uid=None):
    """Every record of task index of the array called array (or with id uid), oldest
    first, each with "_journal" and "_offset" added. Range records count too."""
    found = []
    # the task's number is the rarer needle (one line per array and journal, as a rule);
    # range records are few
    needles = [record_kinds.task_index_pattern(index), record_kinds.KIND_TASKS]
    for path in journal.journal_paths(layout.records):
        for offset, record in journal.find(path, needles):
            if uid and record.get("u") != uid or not uid and record.get("array") != array:
                continue
            kind = record.get("k")
            if kind == record_kinds.TASK and record.get("i") == index or \
                    kind == record_kinds.TASKS and \
                    record.get("first", 0) <= index <= record.get("last", -1):
                writer = journal.writer_of(path)
                found.append(dict(record, worker=record.get("worker", writer),
                                  _journal=writer, _offset=offset))
    found.sort(key=lambda r: (r.get("end") or 0))
    return found


def read_output(layout, span, limit=None):
    """The bytes of an output span [file, offset, length] (length None: to the end)."""
    if not span:
        return b""
    name, offset, length = span[0], span[1], span[2]
    path = name if os.sep in name else os.path.join(layout.records, name)
    if not os.path.isabs(path):
        path = os.path.join(layout.root, path)
    with open(path, "rb") as handle:
        handle.seek(offset)
        if length is None:
            return handle.read(limit if limit is not None else -1)
        return handle.read(length if limit is None else min(length, limit))


def scan_array_lines(path, needles, task_prefix, counts, chunk=1 << 24):
    """(offset, record) of the lines of a journal that hold one of needles, except the done
    and cancelled task records of the array, which are only counted (into counts) without
    being parsed: a million of them take a second, not a minute."""
    for base, body in journal.whole_line_blocks(path, chunk):
        start = 0
        for line in body.split(b"\n")[:-1]:
            here = base + start
            start += len(line) + 1
            if line.startswith(task_prefix):
                if record_kinds.STATE_DONE in line:
                    counts[record_kinds.DONE] += 1
                    continue
                if record_kinds.STATE_CANCELLED in line:
                    counts[record_kinds.CANCELLED] += 1
                    continue
            elif not any(n in line for n in needles):
                continue
            record = journal.unframe(line)
            if record is not None:
                yield here, record



def array_summary(layout, name):
    """What the records say of the array called name (its original name, or the name it was
    filed under): counts of its tasks by state, where its file is, its first failures.
    None when no record mentions such an array. One pass over the journals, counting."""
    tally = ArrayTally(name)
    for path in journal.journal_paths(layout.records):
        for _, record in scan_array_lines(path, tally.needles, tally.task_prefix,
                                               tally.counts):
            tally.add(record)
    if not tally.uids:
        return None
    counts = tally.counts
    counts["failed"] -= len(tally.retried)
    where, tasks = [], None
    for uid, record in tally.finals.items():
        where.append("%s/%s" % (record.get("folder"), record.get("name")))
        tasks = record.get("tasks")
    where += queued_entries(layout, tally.uids)
    summary = {"array": name, "ids": sorted(u for u in tally.uids if u),
               "where": where or None, "tasks": tasks, "failures": tally.failures_shown()}
    summary.update(counts)
    if tasks is not None:
        summary["not_finished"] = max(0, tasks - sum(counts.values()))
    return summary


class ArrayTally:
    """What the records of one array add up to, one record at a time."""

    def __init__(self, name):
        self.name = name
        self.needles = [journal.needle("array", name), journal.needle("name", name)]
        self.task_prefix = record_kinds.task_line_prefix(name)
        self.uids, self.finals = set(), {}
        self.counts = {"done": 0, "failed": 0, "cancelled": 0}
        self.failures, self.retried = [], set()

    def add(self, record):
        kind = record.get("k")
        name = self.name
        if kind == record_kinds.ARRAY and name in (record.get("name"), record.get("original")):
            self.uids.add(record.get("u"))
            self.finals[record.get("u")] = record
        elif kind in (record_kinds.TASK, record_kinds.TASKS) and record.get("array") == name:
            self.uids.add(record.get("u"))
            size = 1 if kind == record_kinds.TASK else record.get("last", 0) - record.get(
                "first", 0) + 1
            state = record.get("state")
            if state in self.counts:
                self.counts[state] += size
            if state == "failed":
                self.failures.append(record)
        elif kind == record_kinds.RETRIED and record.get("array") == name:
            for uid, first, last in record.get("tasks") or []:
                self.retried.update((uid, i) for i in range(first, last + 1))

    def failures_shown(self):
        """The failures not retried since, newest first: [{"task", "reason"}]."""
        shown = []
        for record in sorted(self.failures, key=lambda r: r.get("end") or 0, reverse=True):
            task = names.task_name(self.name, record["i"]) \
                if record.get("k") == record_kinds.TASK else \
                "%s#%s-%s" % (self.name, record.get("first"), record.get("last"))
            if (record.get("u"), record.get("i")) not in self.retried:
                shown.append({"task": task, "reason": record.get("reason")})
        return shown


def queued_entries(layout, uids):
    """Where ranges of the arrays with these ids wait or run: paths from the root."""
    where = []
    folders = [layout.jobqueue, layout.arrays] + [layout.inbox(w) for w in
                                                  list_names(layout.jobpod)]
    for folder in folders:
        for entry in list_names(folder):
            if names.parse(entry).uid in uids:
                where.append(os.path.relpath(os.path.join(folder, entry), layout.root))
    return where
