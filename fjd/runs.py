"""Every run of a job or task that a queue root's journals record, one at a time.

Read by `fjd records` (a row per run) and `fjd report` (a picture of the runs). Both read
the journals only: nothing is written into the queue root, and a queue that is running
is read as it is (a journal's last line may be half-written: journal.whole_line_blocks
never yields it). Memory does not grow with the number of records: a run is yielded and
forgotten; what is kept is per journal (its header) and per array (task_params).

Before the runs, one C-speed search of every journal for `moved` and `array` records
(journal.find): the first say under which name a job was filed in the end (DESIGN.md,
"Records"), the second where an array's file went, from which its tasks' parameter
values are read.
"""
import calendar
import json
import re
import time
import zlib

from . import journal, names, record_kinds
from .recruit.roster import host_from_id
from .task_params import TaskParams

JOB, TASK, TASKS = record_kinds.JOB, record_kinds.TASK, record_kinds.TASKS
KIND_ARRAY = record_kinds.pattern("k", record_kinds.ARRAY)
_SCANNER = json.JSONDecoder()


class JournalInfo:
    """Who wrote a journal: its writer id, role and host (from its header line)."""

    def __init__(self, path):
        self.path = path
        self.writer = journal.writer_of(path)
        header = journal.record_at(path, 0) or {}
        if header.get("k") != record_kinds.HEADER:
            header = {}
        self.role = header.get("role") or self.writer.split("-", 1)[0]
        self.host = header.get("host") or host_from_id(self.writer)

    @property
    def is_worker(self):
        return self.role == "worker"


class Selection:
    """What the runs are narrowed to: an array's name, a state, runs ending after since."""

    def __init__(self, array=None, state=None, since=None):
        self.array = array
        self.state = state
        self.since = since
        self.uids = set()  # ids of the array called array (from its `array` records)

    def note_array(self, record):
        if self.array is not None and self.array in (record.get("name"),
                                                     record.get("original")):
            self.uids.add(record.get("u"))

    def wants(self, record):
        """Whether a job, task or tasks record is one of the selection's."""
        if self.array is not None and record.get("array") != self.array and (
                record.get("u") is None or record.get("u") not in self.uids):
            return False
        if self.state is not None and record.get("state") != self.state:
            return False
        if self.since is not None:
            end = number(record.get("end"))
            return end is not None and end >= self.since
        return True

    def everything(self):
        return self.array is None and self.state is None and self.since is None


class RunReader:
    """The runs of a queue root, oldest journal first, each journal in its order."""

    def __init__(self, layout, selection=None):
        self.layout = layout
        self.selection = selection or Selection()
        self.journals = [JournalInfo(p) for p in journal.journal_paths(layout.records)]
        self.params = TaskParams(layout)
        self.moved = {}  # (writer, offset) -> the name a job was filed under in the end
        self.amend()

    def amend(self):
        """The one search before reading: `moved` and `array` records of every journal."""
        for info in self.journals:
            for _, record in journal.find(info.path, [record_kinds.KIND_MOVED, KIND_ARRAY]):
                if record.get("k") == record_kinds.MOVED:
                    writer = record.get("ref_writer") or info.writer
                    self.moved[(writer, record.get("ref"))] = record.get("name")
                elif record.get("k") == record_kinds.ARRAY:
                    self.params.note(record)
                    self.selection.note_array(record)

    def records(self):
        """(journal info, offset, record) of every job, task and tasks record selected."""
        wants = None if self.selection.everything() else self.selection.wants
        kinds = (JOB, TASK, TASKS)
        for info in self.journals:
            for offset, record in checked_records(info.path):
                if record.get("k") in kinds and (wants is None or wants(record)):
                    yield info, offset, record

    def __iter__(self):
        """Each selected run as a dict (see base_run)."""
        for info, offset, record in self.records():
            yield self.run_of(record, info, offset)

    def job_name(self, record, info, offset):
        """The name a job was filed under in the end."""
        return self.moved.get((info.writer, offset)) or record.get("name") or \
            record.get("original")

    def run_of(self, record, info, offset):
        kind = record.get("k")
        if kind == TASK:
            return task_run(record, info, offset)
        if kind == JOB:
            return job_run(record, info, offset, self.job_name(record, info, offset))
        if kind == TASKS:
            return range_run(record, info, offset)
        return None

    def close(self):
        self.params.close()


def checked_records(path, chunk=1 << 22):
    """(offset, record) of each whole line of a journal whose checksum matches."""
    for base, body in journal.whole_line_blocks(path, chunk):
        for found in checked_lines(body, base):
            yield found


def checked_lines(body, base):
    """(offset, record) of each line of a block of whole lines whose checksum matches:
    journal.unframe's test, inlined, and the JSON scanner called without json.loads'
    wrapping (this runs a million times)."""
    scan = _SCANNER.scan_once
    crc32 = zlib.crc32
    start = 0
    for line in body.split(b"\n")[:-1]:
        here = base + start
        start += len(line) + 1
        payload, tab, check = line.rpartition(b"\t")
        if len(check) != 8 or not tab:
            continue
        try:
            if int(check, 16) != crc32(payload):
                continue
            text = payload.decode("utf-8", "surrogateescape")
            record, end = scan(text, 0)
        except (ValueError, StopIteration):
            continue
        if end == len(text) and isinstance(record, dict):
            yield here, record


def base_run(record, info, offset):
    """The keys every run has, as a dict (one per run; yielded and forgotten)."""
    start, end = number(record.get("start")), number(record.get("end"))
    worker = record.get("worker") or (info.writer if info.is_worker else None)
    return {"kind": record.get("k"), "state": record.get("state"),
            "exit_status": record.get("exit_status"), "signal": record.get("signal"),
            "reason": record.get("reason"), "worker": worker,
            "host": record.get("host") or (host_from_id(worker) if worker else None)
            or info.host,
            "attempt": record.get("attempt"), "start": start, "end": end,
            "duration": round(end - start, 6) if start is not None and end is not None
            else None,
            "stdout": record.get("stdout"), "stderr": record.get("stderr"),
            "timed_out": bool(record.get("timed_out")),
            "journal": info.writer, "offset": offset}


def task_run(record, info, offset):
    run = base_run(record, info, offset)
    index = record.get("i")
    run.update(name=names.task_name(record.get("array"), index) if isinstance(index, int)
               else record.get("array"), array=record.get("array"), uid=record.get("u"),
               first=index, last=index)
    return run


def range_run(record, info, offset):
    """A `tasks` record: a range of tasks that ended together, none of them run."""
    run = base_run(record, info, offset)
    first, last = record.get("first"), record.get("last")
    run.update(name="%s#%s-%s" % (record.get("array"), first, last), array=record.get("array"),
               uid=record.get("u"), first=first, last=last)
    return run


def job_run(record, info, offset, name):
    run = base_run(record, info, offset)
    run.update(name=name, array=None, uid=None, first=None, last=None)
    return run


def number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def size_of(run):
    """How many tasks (or jobs) a run stands for."""
    if run["kind"] == TASKS and isinstance(run["first"], int) and isinstance(run["last"], int):
        return max(0, run["last"] - run["first"] + 1)
    return 1


# -- times people give ------------------------------------------------------------------------

_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M",
            "%Y-%m-%d")


def parse_time(text, now=None):
    """Seconds since the epoch for '30m' or '2h' (ago), an epoch number, or a local
    ISO time such as 2026-12-07T14:00 (a trailing Z: UTC). ValueError otherwise."""
    text = text.strip()
    ago = _AGO.match(text)
    if ago:
        return (time.time() if now is None else now) - float(ago.group(1)) * _UNITS[
            ago.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    utc = text.endswith("Z")
    bare = text[:-1] if utc else text
    for form in _FORMATS:
        try:
            parsed = time.strptime(bare, form)
        except ValueError:
            continue
        return float(calendar.timegm(parsed) if utc else time.mktime(parsed))
    raise ValueError("%r is not a time: give e.g. 2h (ago), 2026-12-07T14:00 or epoch "
                     "seconds" % text)
