"""A task's parameters and command, and an array's output task by task (issue 26).

For `fjd show`, `fjd status` and `fjd run`: a failed task is traced to the values it ran
with and to the command line its worker ran, so that it can be run again by hand. Task
records do not hold their values: task_params.py reads them from the array file, once per
array whatever the number of tasks asked about. The command is the record's own when it
has one, else it is rebuilt from the array's command (placeholders.CommandTemplate) as the
worker built it (worker/tasks.py), the per-task job file written as {jobfile}.
"""
import os
import shlex

from . import journal, names, record_kinds
from .jobfile import JOBFILE_PLACEHOLDER, JobError, Settings
from .runs import RunReader, Selection
from .task_params import TaskParams

KIND_ARRAY = record_kinds.pattern("k", record_kinds.ARRAY)
# only the dispatcher files arrays (completion.py): its journals are searched for `array`
# records, never the workers' (which hold the task records, a million of them)
ARRAY_WRITERS = ("dispatcher-",)


class TaskDetails:
    """params and command of job and task records, each array file read once."""

    def __init__(self, layout):
        self.layout = layout
        self.params = TaskParams(layout)
        self.searched = False
        self.appends = {}  # uid -> whether the task's job file path ends its command

    def search(self):
        """Where each array's file went, from the dispatchers' `array` records (once)."""
        if self.searched:
            return
        self.searched = True
        for path in journal.journal_paths(self.layout.records):
            if os.path.basename(path).startswith(ARRAY_WRITERS):
                for _, record in journal.find(path, [KIND_ARRAY]):
                    self.params.note(record)

    def of(self, record):
        """{"params": {name: value} in the array's order, "command": [word, ...]}; either
        is None when unknown (a job's values are in its own file, a range never ran)."""
        command = record.get("command")
        if record.get("k") != record_kinds.TASK:
            return {"params": None, "command": command}
        self.search()
        uid = record.get("u")
        values = self.params.values(uid, record.get("i"))
        if values is None:
            return {"params": None, "command": command}
        spec = self.params.spec(uid)
        if command is None:
            if uid not in self.appends:
                self.appends[uid] = appends_jobfile(spec)
            command = spec.command.argv(values, JOBFILE_PLACEHOLDER)
            if self.appends[uid]:
                command.append(JOBFILE_PLACEHOLDER)
        return {"params": dict(zip(spec.names, values)), "command": command}

    def close(self):
        self.params.close()


def appends_jobfile(spec):
    """Whether a worker appends the task's job file to its command (worker/tasks.py
    run_task: [control] jobfile: last, the default, and no {jobfile} in the command)."""
    try:
        jobfile = Settings(spec.control).jobfile
    except JobError:
        jobfile = "last"
    return jobfile == "last" and not spec.command.uses_jobfile


def add_details(layout, records, entries):
    """Add "params" and "command" to each entry (a dict made from the record beside it)."""
    details = TaskDetails(layout)
    try:
        for record, entry in zip(records, entries):
            entry.update(details.of(record))
    finally:
        details.close()


def command_text(command):
    """A command as one line a shell would split back into the same words."""
    if isinstance(command, list):
        return " ".join(shlex.quote(str(word)) for word in command)
    return str(command)


def params_text(params):
    return " ".join("%s=%s" % (name, shlex.quote(str(value)))
                    for name, value in params.items())


def detail_lines(entry, indent="    "):
    """The params and command lines of a failure entry (none when unknown)."""
    lines = []
    if entry.get("params"):
        lines.append("%sparams: %s" % (indent, printable(params_text(entry["params"]))))
    if entry.get("command"):
        lines.append("%scommand: %s" % (indent, printable(command_text(entry["command"]))))
    return lines


def printable(text):
    return text if text.isprintable() else repr(text)[1:-1]


# -- fjd show ARRAY --stdout ------------------------------------------------------------------

def array_runs(layout, array, every=False):
    """The runs of the array's tasks in task order: [(index, record)], the newest run of
    each task (every run, oldest first, with every). One pass over the journals."""
    reader = RunReader(layout, Selection(array=array))
    found = {}
    try:
        for _, _, record in reader.records():
            index = record.get("i")
            if record.get("k") != record_kinds.TASK or not isinstance(index, int):
                continue
            found.setdefault(index, []).append(record)
    finally:
        reader.close()
    runs = []
    for index in sorted(found):
        chosen = sorted(found[index], key=lambda r: r.get("end") or 0)
        runs += [(index, record) for record in (chosen if every else chosen[-1:])]
    return runs


def header(array, index, record):
    """== ARRAY#N (done, exit 0) ==: which task the output that follows is of."""
    parts = [record.get("state") or "unknown"]
    if record.get("exit_status") is not None:
        parts.append("exit %s" % record["exit_status"])
    elif record.get("signal") is not None:
        parts.append("signal %s" % record["signal"])
    if record.get("timed_out"):
        parts.append("timed out")
    return "== %s (%s) ==" % (printable(names.task_name(array, index)), ", ".join(parts))


class OutputFiles:
    """Spans [file, offset, length] of output journals read with one open per file."""

    def __init__(self, layout):
        self.layout = layout
        self.fds = {}

    def read(self, span):
        if not span:
            return b""
        if isinstance(span, str):  # fjd 0.2: a file of its own
            span = [span, 0, None]
        name, offset, length = span[0], span[1], span[2]
        path = name if os.sep in name else os.path.join(self.layout.records, name)
        if not os.path.isabs(path):
            path = os.path.join(self.layout.root, path)
        if path not in self.fds:
            try:
                self.fds[path] = os.open(path, os.O_RDONLY)
            except OSError:
                self.fds[path] = None
        fd = self.fds[path]
        if fd is None:
            return b""
        if length is None:
            length = max(0, os.fstat(fd).st_size - offset)
        return os.pread(fd, length, offset)

    def close(self):
        for fd in self.fds.values():
            if fd is not None:
                os.close(fd)
        self.fds = {}


def write_array_output(layout, array, kind, out, every=False):
    """Each task's stdout (kind "stdout") or stderr, in task order, each after a header
    line; returns how many tasks were shown."""
    runs = array_runs(layout, array, every)
    files = OutputFiles(layout)
    try:
        for index, record in runs:
            out.write(header(array, index, record).encode("utf-8", "backslashreplace") + b"\n")
            data = files.read(record.get(kind))
            out.write(data if not data or data.endswith(b"\n") else data + b"\n")
    finally:
        files.close()
    return len(runs)
