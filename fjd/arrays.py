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
"""
import configparser
import decimal
import json
import os
import re
import shlex

from .jobfile import JobError, fresh_parser, parse_config

MAX_HEADER = 1 << 20  # bytes before a table's [params] that fjd reads as the INI header
_SECTION = re.compile(rb"^[ \t]*\[([^\]\r\n]*)\][ \t]*\r?$", re.M)
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_RANGE = re.compile(r"(%s)\.\.(%s)(?::(%s))?\Z" % (_NUMBER, _NUMBER, _NUMBER))
_LOOKS_NUMERIC = re.compile(r"^\s*[-+]?\d|\.\.\s*[-+]?\d")
_PLACEHOLDER = re.compile(r"\$\$|\{\{|\}\}|\$\{(\w+)\}|\$(\w+)|\{(\w+)\}")
JOBFILE = "jobfile"  # {jobfile}: where the job file's path goes in the command


# -- values ---------------------------------------------------------------------------------

class ValueList:
    """The values of one parameter: literal values and ranges, never expanded in memory."""

    def __init__(self, segments):
        self.segments = segments  # [list of str] or (start Decimal, step Decimal, count, places)
        self.length = sum(len(s) if isinstance(s, list) else s[2] for s in segments)

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        if index < 0:
            index += self.length
        for segment in self.segments:
            size = len(segment) if isinstance(segment, list) else segment[2]
            if index < size:
                if isinstance(segment, list):
                    return segment[index]
                start, step, _, places = segment
                return format_number(start + step * index, places)
            index -= size
        raise IndexError(index)

    def __iter__(self):
        for index in range(self.length):
            yield self[index]


def format_number(value, places):
    if places == 0:
        return str(int(value))
    return str(value.quantize(decimal.Decimal(1).scaleb(-places)))


def split_commas(text):
    """'a,b\\,c' -> [('a', False), ('b,c', True)]: commas separate values, a backslash
    keeps the next character as it is; the flag says whether a value had one (such a value
    is never a range)."""
    values, current, escaped, literal = [], [], False, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = literal = True
        elif char == ",":
            values.append(("".join(current), literal))
            current, literal = [], False
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    values.append(("".join(current), literal))
    return values


def escape_value(value):
    """A value as it must be written in a comma list so that it reads back as itself.
    (An INI line loses blanks at its end: values_text() writes such values as JSON.)"""
    text = value.replace("\\", "\\\\").replace(",", "\\,").replace("..", "\\..")
    if text[:1].isspace():
        text = "\\" + text
    if len(text) > 2 and text[-1:].isspace():
        text = text[:-1] + "\\" + text[-1]
    return text


def values_text(values):
    """The text of a [params] line for a list of values: a comma list, or a JSON list when
    a value begins or ends with a blank (which an INI line would lose)."""
    if any(v[:1].isspace() or v[-1:].isspace() for v in values):
        return json.dumps(list(values), ensure_ascii=False)
    return ",".join(escape_value(v) for v in values)


def parse_values(text):
    """A ValueList from 'a,b,c', '1..5' (a range), '0..1:0.25' (a range with a step).

    ValueError, with a message for people, for something that looks like a range but is
    not one ('1..', '1..3..2', '0.1..0.5' without a step).
    """
    stripped_text = text.strip()
    if stripped_text.startswith("[") and stripped_text.endswith("]"):
        try:
            listed = json.loads(stripped_text)
        except ValueError:
            listed = None
        if isinstance(listed, list) and all(isinstance(v, (str, int, float)) and
                                            not isinstance(v, bool) for v in listed):
            return ValueList([[str(v) for v in listed]] if listed else [])
    segments = []
    for value, literal in split_commas(text):
        stripped = value.strip()
        match = None if literal else _RANGE.match(stripped)
        if match:
            segments.append(range_segment(stripped, *match.groups()))
        elif not literal and ".." in stripped and _LOOKS_NUMERIC.search(stripped):
            raise ValueError("%r is not a range: write START..END (whole numbers) or "
                             "START..END:STEP, e.g. 1..10 or 0.1..0.5:0.1" % stripped)
        elif segments and isinstance(segments[-1], list):
            segments[-1].append(value)
        else:
            segments.append([value])
    return ValueList(segments)


def range_segment(text, start, end, step):
    places = max(decimals(start), decimals(end), decimals(step or "0"))
    if places and step is None:
        raise ValueError("the range %r has decimals, so it needs a step: e.g. %s..%s:%s"
                         % (text, start, end, "0." + "0" * (places - 1) + "1"))
    a, b = decimal.Decimal(start), decimal.Decimal(end)
    s = decimal.Decimal(step) if step is not None else decimal.Decimal(1 if b >= a else -1)
    if s == 0:
        raise ValueError("the range %r has a step of 0" % text)
    if (b - a) * s < 0:
        raise ValueError("the range %r never reaches its end: the step goes the other way"
                         % text)
    count = int((b - a) / s) + 1
    return (a, s, count, places)


def decimals(number):
    return len(number.partition(".")[2])


# -- the command template -------------------------------------------------------------------

class CommandTemplate:
    """A command line with placeholders, split into words once.

    ``$name``, ``${name}``, ``{name}`` and ``$1``, ``$2``, ... (the first, second ...
    parameter) are the parameters; ``{jobfile}`` is where the job file's path goes; ``$$``,
    ``{{`` and ``}}`` are a literal ``$``, ``{`` and ``}``. A value becomes part of its word
    exactly as it is (it is never split or interpreted), which is what quoting each value
    for the shell and then splitting would give.
    """

    def __init__(self, text, names):
        self.text = text
        self.names = list(names)
        self.unknown = []
        self.uses_jobfile = False
        index_of = {name.lower(): i for i, name in enumerate(self.names)}
        slots = []

        def replace(match):
            token = match.group(0)
            if token in ("$$", "{{", "}}"):
                return token[0]
            key = match.group(1) or match.group(2) or match.group(3)
            if match.group(3) == JOBFILE:
                self.uses_jobfile = True
                slots.append(None)
            elif key.lower() in index_of:
                slots.append(index_of[key.lower()])
            elif key.isdigit() and 1 <= int(key) <= len(self.names):
                slots.append(int(key) - 1)
            else:
                self.unknown.append(token)
                return token
            return "\0%d\1" % (len(slots) - 1)
        marked = _PLACEHOLDER.sub(replace, text)
        try:
            words = shlex.split(marked)
        except ValueError as error:
            raise ValueError("the command cannot be split into words (%s): %s"
                             % (str(error).lower(), text.strip()))
        self.words = [self._parts(word, slots) for word in words]

    @staticmethod
    def _parts(word, slots):
        parts = []
        for piece in re.split("(\0\\d+\1)", word):
            if piece.startswith("\0"):
                parts.append((slots[int(piece[1:-1])],))
            elif piece:
                parts.append(piece)
        return parts

    def argv(self, values, jobfile=None):
        """The argument list for one task: values in the order of names."""
        result = []
        for parts in self.words:
            word = []
            for part in parts:
                if isinstance(part, str):
                    word.append(part)
                elif part[0] is None:
                    word.append(jobfile or "")
                else:
                    word.append(values[part[0]])
            result.append("".join(word))
        return result


def unknown_placeholders(text, names):
    """The placeholders in text that name none of names (for [control] logfile and
    workdir, where {jobfile} has no meaning)."""
    known = {name.lower() for name in names}
    unknown = []
    for match in _PLACEHOLDER.finditer(text):
        key = match.group(1) or match.group(2) or match.group(3)
        if key is None or key.lower() in known:
            continue
        if key.isdigit() and 1 <= int(key) <= len(names):
            continue
        unknown.append(match.group(0))
    return unknown


def fill_text(text, names, values):
    """A [control] value (logfile, workdir) with the parameters filled in, unquoted."""
    index_of = {name.lower(): i for i, name in enumerate(names)}

    def replace(match):
        token = match.group(0)
        if token in ("$$", "{{", "}}"):
            return token[0]
        key = match.group(1) or match.group(2) or match.group(3)
        if key.lower() in index_of:
            return values[index_of[key.lower()]]
        if key.isdigit() and 1 <= int(key) <= len(names):
            return values[int(key) - 1]
        return token
    return _PLACEHOLDER.sub(replace, text)


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
        data = head if len(head) <= MAX_HEADER else head + read_rest(fd, len(head),
                                                                         size_limit)
        if len(data) > size_limit:
            raise JobError("the job file is too large (over %d bytes, see --max-job-size)"
                           % size_limit)
        parser = parse_config(data)
        control, repeat = control_section(parser, kind)
        params = parser["params"] if parser.has_section("params") else {}
        names = list(params.keys())
        spec = ArraySpec(kind, control, names, repeat)
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
    if kind == "table":
        return read_table_spec(fd, head)
    if kind is None:
        raise JobError("not an array job: [control] has no 'tasks' key")
    raise JobError("[control] tasks must be 'product' or 'table', not %r" % kind)


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


def is_row(line):
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(b"#")


def next_row(fd, offset, chunk=65536):
    """(text of the next table row at or after offset, offset after it); (None, end) at the
    end of the file."""
    pending = b""
    while True:
        data = os.pread(fd, chunk, offset + len(pending))
        if not data:
            line = pending
            if is_row(line):
                return line.rstrip(b"\r\n").decode("utf-8", "surrogateescape"), \
                    offset + len(pending)
            return None, offset + len(pending)
        pending += data
        while True:
            newline = pending.find(b"\n")
            if newline < 0:
                break
            line, pending = pending[:newline + 1], pending[newline + 1:]
            offset += len(line)
            if is_row(line):
                return line.rstrip(b"\r\n").decode("utf-8", "surrogateescape"), offset


def count_rows(fd, offset, chunk=1 << 20):
    """Rows from offset to the end of the file, reading it once in big chunks."""
    count = 0
    carry = b""
    while True:
        data = os.pread(fd, chunk, offset)
        if not data:
            break
        offset += len(data)
        lines = (carry + data).split(b"\n")
        carry = lines.pop()
        count += sum(1 for line in lines if is_row(line))
    return count + (1 if is_row(carry) else 0)


def skip_rows(fd, offset, rows):
    """The offset after skipping rows rows from offset."""
    for _ in range(rows):
        text, offset = next_row(fd, offset)
        if text is None:
            break
    return offset


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
