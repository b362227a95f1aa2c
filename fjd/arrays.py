"""Array jobs: one file in jobqueue/ that stands for many tasks (DESIGN.md, "Array jobs").

An array is a job file whose ``[control]`` says ``tasks: product`` or ``tasks: table``:

    [control]                           [control]
    executable: sim --a $a --s {s}      executable: sim --a $a --s {s}
    tasks: product                      tasks: table
    repeat: 2
                                        [params]
    [params]                            a       s
    a: 0.1,0.2,-1                       0.1     1
    s: 1..5                             0.2     7

``product`` makes one task per combination of the comma-separated values in ``[params]``
(the first parameter varies slowest), each ``repeat`` times; ``table`` makes one task per row
of the table that follows the last header ``[params]``: its first line names the columns,
every other line that is not empty and does not start with ``#`` is one task. Columns are
separated by tabs when the first line holds a tab, else by blanks.

Nothing here ever holds all tasks in memory: values are ranges or lists, a task's
parameters are computed from its number, and table rows are read from an offset.

The values (values.py), the placeholders (placeholders.py) and a table's rows (tables.py)
have modules of their own; this one reads an array file as a whole.
"""
import configparser
import os
import re

from .jobfile import JobError, fresh_parser, parse_config, unknown_control_key
from .placeholders import CommandTemplate, fill_text
from .tables import count_rows, next_row, skip_rows
from .values import parse_values

MAX_HEADER = 1 << 20  # bytes before a table's [params] that fjd reads as the INI header
_SECTION = re.compile(rb"^[ \t]*\[([^\]\r\n]*)\][ \t]*\r?$", re.M)


# -- the array file ---------------------------------------------------------------------------

def declared_kind(head):
    """'product' or 'table' (or another word, which read_spec refuses) when a job file's
    first bytes declare an array in [control] tasks, else None. Read as the worker reads a
    job file (a later value wins, an indented line continues the value before it); for a
    table only what comes before its [params] rows."""
    if b"tasks" not in head.lower():
        return None  # the common case costs no parsing
    cut = len(head)
    for section in _SECTION.finditer(head):
        if section.group(1).strip().lower() == b"params":
            cut = section.start()
    if cut == len(head) and not head.endswith(b"\n"):
        cut = head.rfind(b"\n") + 1  # a head cut short mid-line
    try:
        parser = parse_config(head[:cut])
    except JobError:
        return None
    if not parser.has_section("control"):
        return None
    value = parser["control"].get("tasks")
    return value.strip().lower() or None if value is not None else None


class ArraySpec:
    """What a worker and the dispatcher need of an array file.

    control: the [control] keys (lower case) with their raw values; names: the parameter
    names in order; count: the number of tasks; for tables, data_offset is where the first
    row starts, delimiter how columns are separated.
    """

    def __init__(self, kind, control, names, repeat):
        self.kind = kind
        self.control = control
        self.names = names
        self.repeat = repeat
        self.values = []
        self.count = 0
        self.data_offset = None
        self.delimiter = None
        self.command = CommandTemplate(control["executable"], names)

    def values_at(self, index):
        """The parameter values of task index (1-based) of a product array."""
        rest = (index - 1) // self.repeat
        found = []
        for values in reversed(self.values):
            rest, digit = divmod(rest, len(values))
            found.append(values[digit])
        found.reverse()
        return found

    def row_of(self, task):
        """The table row (1-based) of a task: each row stands for `repeat` tasks."""
        return (task - 1) // self.repeat + 1

    def row_offset(self, fd, task, known_task=None, known_offset=None):
        """Where the row of task starts in a table file, counting from a task whose row
        offset is known (or from the first row)."""
        if known_task is None or known_offset is None or known_task > task:
            known_task, known_offset = 1, self.data_offset
        return skip_rows(fd, known_offset, self.row_of(task) - self.row_of(known_task))

    def iter_tasks(self, fd, first, last, offset=None):
        """(task, values or None, JobError or None, offset of its row) for tasks first..last.

        A table row that cannot be read fails its tasks alone, with the reason."""
        if self.kind == "product":
            for task in range(first, last + 1):
                yield task, self.values_at(task), None, None
            return
        row = self.row_of(first)
        if offset is None:
            offset = self.row_offset(fd, first)
        task = first
        while task <= last:
            text, after = next_row(fd, offset)
            values, error = None, None
            if text is None:
                error = JobError("the task table ends before row %d (task %d); was the file "
                                 "changed after it was queued?" % (row, task))
            else:
                try:
                    values = self.split_row(text, row)
                except JobError as problem:
                    error = problem
            while task <= last and self.row_of(task) == row:
                yield task, values, error, offset
                task += 1
            offset = after
            row += 1

    def split_row(self, line, number):
        fields = line.split("\t") if self.delimiter == "\t" else line.split()
        if len(fields) != len(self.names):
            raise JobError("row %d of the task table has %d value%s; its first line names %d "
                           "column%s" % (number, len(fields), "" if len(fields) == 1 else "s",
                                         len(self.names), "" if len(self.names) == 1 else "s"))
        return fields


def control_section(parser, kind):
    if not parser.has_section("control"):
        raise JobError("the job file has no [control] section")
    control = {key.lower(): value for key, value in parser["control"].items()}
    unknown = unknown_control_key(control)
    if unknown:
        raise JobError(unknown)
    executable = control.get("executable")
    if executable is None or not executable.strip():
        raise JobError("[control] has no 'executable', so there is nothing to run")
    control["executable"] = executable.strip()
    raw = control.get("repeat", "1").strip() or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise JobError("[control] repeat must be a whole number of at least 1, not %r" % raw)
    return control, int(raw)


def read_spec(fd, size_limit):
    """The ArraySpec of an open array file (read from its start; fd's offset is left
    anywhere). JobError, in one line, for anything that is not a valid array."""
    head = os.pread(fd, min(size_limit, MAX_HEADER) + 1, 0)
    kind = declared_kind(head)
    if kind == "product":
        return read_product_spec(fd, head, size_limit)
    if kind == "table":
        return read_table_spec(fd, head)
    if kind is None:
        raise JobError("not an array job: [control] has no 'tasks' key")
    raise JobError("[control] tasks must be 'product' or 'table', not %r" % kind)


def read_product_spec(fd, head, size_limit):
    """The ArraySpec of a product array whose first bytes are head."""
    data = head if len(head) <= MAX_HEADER else head + read_rest(fd, len(head), size_limit)
    if len(data) > size_limit:
        raise JobError("the job file is too large (over %d bytes, see --max-job-size)"
                       % size_limit)
    parser = parse_config(data)
    control, repeat = control_section(parser, "product")
    params = parser["params"] if parser.has_section("params") else {}
    names = list(params.keys())
    spec = ArraySpec("product", control, names, repeat)
    count = repeat
    for name in names:
        try:
            values = parse_values(params[name])
        except ValueError as error:
            raise JobError("[params] %s: %s" % (name, error))
        spec.values.append(values)
        count *= len(values)
    spec.count = count
    return spec


def task_count(path):
    """The number of tasks of the array file at path (1 for a single job, or anything that
    cannot be read as an array: a count for display, never a reason to fail)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return 1
    try:
        if not declared_kind(os.pread(fd, 4096, 0)):
            return 1
        return read_spec(fd, 1 << 30).count
    except (OSError, JobError):
        return 1
    finally:
        os.close(fd)


def read_rest(fd, offset, limit):
    chunks, total = [], offset
    while total <= limit:
        chunk = os.pread(fd, 1 << 20, total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read_table_spec(fd, head):
    params = None
    for section in _SECTION.finditer(head):
        if section.group(1).strip().lower() == b"params":
            params = section
    if params is None:
        raise JobError("a table array needs its rows after a [params] line (within the "
                       "first %d bytes)" % MAX_HEADER)
    parser = fresh_parser()
    try:
        parser.read_string(head[:params.start()].decode("utf-8", "surrogateescape"))
    except configparser.Error as error:
        raise JobError("not a valid INI job file: %s" % str(error).splitlines()[0])
    control, repeat = control_section(parser, "table")
    offset = params.end() + 1 if head[params.end():params.end() + 1] == b"\n" else \
        params.end()
    header, offset = next_row(fd, offset)
    if header is None:
        raise JobError("the task table after [params] is empty: its first line names the "
                       "columns")
    delimiter = "\t" if "\t" in header else None
    names = [name.strip() for name in (header.split("\t") if delimiter else header.split())]
    spec = ArraySpec("table", control, names, repeat)
    spec.delimiter = delimiter
    spec.data_offset = offset
    spec.count = count_rows(fd, offset) * repeat
    if not spec.count:
        raise JobError("the task table after [params] has no rows, only its column names")
    return spec



# -- a task's own job file (for programs that read [params] from their last argument) ------

def task_view(spec, index, values, argv_text, array_name):
    """The text of a one-task job file: [control] with this task's command, [params] with
    its values, so that programs written for single job files work unchanged."""
    lines = ["[control]", "executable: " + argv_text, "array: " + array_name,
             "task: %d" % index]
    for key in ("logfile", "workdir", "timeout", "retries"):
        if control_value(spec, key):
            lines.append("%s: %s" % (key, fill_text(spec.control[key], spec.names, values)))
    lines += ["", "[params]"] + ["%s: %s" % (n, v) for n, v in zip(spec.names, values)]
    return "\n".join(lines) + "\n"


def control_value(spec, key):
    return spec.control.get(key, "").strip() or None
