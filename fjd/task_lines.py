"""A task's parameters and the command it ran (issue 26).

For `fjd show`, `fjd status` and `fjd run`: a failed task is traced to the values it ran
with and to the command line its worker ran, so that it can be run again by hand. Task
records do not hold their values: task_params.py reads them from the array file, once per
array whatever the number of tasks asked about. The command is the record's own when it
has one, else it is rebuilt from the array's command (placeholders.CommandTemplate) as the
worker built it (worker/tasks.py), the per-task job file written as {jobfile}.
"""
import os
import shlex

from . import journal, record_kinds
from .jobfile import JOBFILE_PLACEHOLDER, JobError, Settings
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
