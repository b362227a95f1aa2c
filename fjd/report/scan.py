"""Reading the journals into a Picture fast enough for a million tasks in seconds.

Task records are written by record_kinds.task_started/task_ran with their keys in one
order, so the keys a picture needs are taken from a block of lines by one regular
expression (re.findall, C speed), without parsing the JSON of each line. A task line
counts only when it is whole: it ends in a tab, eight hex digits and a newline (a JSON
string never holds a raw tab, so a torn line cannot look whole). A block whose task lines
do not all match (a task filed by the dispatcher, a version that writes other keys) is
read line by line through runs.RunReader's checked path instead; so are the other kinds.
"""
import json
import re

from .. import record_kinds
from ..journal import unframe, whole_line_blocks
from ..runs import JOB, TASK, TASKS, checked_lines, size_of

_STRING = rb'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'
_NUMBER = rb'-?[0-9][0-9.eE+-]*'
_VALUE = rb'(?:%s|%s|null)' % (_STRING, _NUMBER)


def _key(name):
    return re.escape(record_kinds.key_pattern(name))


TASK_PREFIX = b"{" + record_kinds.pattern("k", TASK) + b","
# groups: the task's identity ("array" to "attempt", parsed only for the bars drawn one by
# one and the failures shown), start, state, "exit_status" and "signal", reason, end
TASK_LINE = re.compile(
    rb"^" + re.escape(TASK_PREFIX) + b"(" + _key("array") + _STRING + b"," +
    _key("u") + _VALUE + b"," + _key("i") + b"[0-9]+," +
    _key("run") + _VALUE + b"," + _key("attempt") + _VALUE + b")," +
    _key("start") + b"(" + _NUMBER + b")," + _key("state") + b'"([a-z]+)",(' +
    _key("exit_status") + _VALUE + b"," + _key("signal") + _VALUE + b")," +
    _key("reason") + b"(" + _VALUE + b")," + _key("end") + b"(" + _NUMBER + b"),"
    rb"[^\n\t]*\t[0-9a-f]{8}$", re.M)
OUTCOME = {"done": 0, "failed": 1, "cancelled": 3}
OUTCOME_BYTES = {key.encode(): value for key, value in OUTCOME.items()}
TIMEOUT_REASON = "timed out"


def outcome_of(state, reason):
    number = OUTCOME.get(state, 1)
    if number == 1 and reason and reason.startswith(TIMEOUT_REASON):
        return 2
    return number


class Scanner:
    """Feeds every selected run of a RunReader's journals into a Picture."""

    def __init__(self, reader, picture):
        self.reader = reader
        self.picture = picture
        self.selection = reader.selection
        self.fast = reader.selection.state is None  # (the fast path cannot tell states)

    def run(self):
        for info in self.reader.journals:
            for base, body in self.blocks(info):
                if self.fast and info.is_worker and self.scan_fast(body, base, info):
                    continue
                for offset, record in checked_lines(body, base):
                    self.add_record(record, info, offset)

    def blocks(self, info):
        return whole_line_blocks(info.path, 1 << 22)

    def scan_fast(self, body, base, info):
        """Add the block's task lines (False, nothing added, if any is not of the usual
        shape); other lines are read the checked way."""
        tasks = body.count(b"\n" + TASK_PREFIX) + body.startswith(TASK_PREFIX)
        if not tasks:
            return False
        found = TASK_LINE.findall(body)
        if len(found) != tasks:
            return False
        found = self.selected(found)
        loads, outcomes = json.loads, OUTCOME_BYTES
        runs = []
        for line in found:  # (the line's groups are its detail, see describe)
            outcome = outcomes.get(line[2], 1)
            text = None
            if line[4] != b"null":
                text = loads(line[4])
                if outcome == 1 and text.startswith(TIMEOUT_REASON):
                    outcome = 2
            runs.append((float(line[1]), float(line[5]), outcome, line, text))
        if runs:
            self.picture.add_tasks(self.picture.lane(info.writer, info.host), runs)
        if body.count(b"\n") != tasks:
            for offset, record in other_lines(body, base):
                self.add_record(record, info, offset)
        return True

    def selected(self, found):
        """The fast path's task lines that the selection wants (array, since)."""
        selection = self.selection
        if selection.array is not None:
            wanted = [record_kinds.pattern("array", selection.array) + b","] + [
                record_kinds.pattern("u", uid) + b"," for uid in selection.uids]
            found = [f for f in found if any(w in f[0] for w in wanted)]
        if selection.since is not None:
            found = [f for f in found if float(f[5]) >= selection.since]
        return found

    def add_record(self, record, info, offset):
        kind = record.get("k")
        if kind not in (JOB, TASK, TASKS) or not self.selection.wants(record):
            return
        worker = record.get("worker") or (info.writer if info is not None and info.is_worker
                                          else None)
        host = record.get("host") or (info.host if info is not None else None)
        lane = self.picture.lane(worker, host) if worker else None
        start, end = number(record.get("start")), number(record.get("end"))
        reason = record.get("reason")
        outcome = outcome_of(record.get("state"), reason)
        size = size_of({"kind": kind, "first": record.get("first"),
                        "last": record.get("last")})
        if kind == JOB:
            record = dict(record, name=self.reader.job_name(record, info, offset))
        self.picture.add("job" if kind == JOB else "task", lane, start, end, outcome, size,
                         record, reason if isinstance(reason, str) else None)


def other_lines(body, base):
    """(offset, record) of the whole lines of a block that are not task lines."""
    start = 0
    for line in body.split(b"\n")[:-1]:
        here = base + start
        start += len(line) + 1
        if not line.startswith(TASK_PREFIX):
            record = unframe(line)
            if record is not None:
                yield here, record


def number(value):
    return float(value) if isinstance(value, (int, float)) and \
        not isinstance(value, bool) else None


def describe(detail, params):
    """A run's detail (a record, or the fast path's tuple of raw JSON bytes) as a dict:
    name, array, uid, task, attempt, exit_status, signal, params {name: value}."""
    if isinstance(detail, tuple):
        head, _, _, status, reason, _ = detail
        record = json.loads(b"{" + head + b"," + status + b',"reason":' + reason + b"}")
        record["k"] = TASK
    else:
        record = detail or {}
    kind = record.get("k")
    index = record.get("i") if kind == TASK else None
    if kind == TASK:
        name = "%s#%s" % (record.get("array"), index)
    elif kind == TASKS:
        name = "%s#%s-%s" % (record.get("array"), record.get("first"), record.get("last"))
    else:
        name = record.get("name") or record.get("original") or "?"
    values = params.values(record.get("u"), index) if index is not None else None
    return {"name": name, "attempt": record.get("attempt"),
            "exit_status": record.get("exit_status"), "signal": record.get("signal"),
            "worker": record.get("worker"), "reason": record.get("reason"),
            "params": dict(zip(params.names(record.get("u")), values)) if values else {}}
