"""``fjd show ARRAY --stdout`` (and ``--stderr``): what each task of an array wrote, in task
order, each after a header line ``== ARRAY#N (done, exit 0) ==`` (issue 26, point 7).

One pass over the journals, never a search per task: the array's task lines are read
straight from their bytes with the expression `fjd records` uses (records_fast.TASK_ROW,
each line's CRC-32 checked), any other line through JSON (runs.checked_lines). What is
kept of a run is a small tuple (compact), so a million tasks fit in memory; the output
journals are then read in task order, each opened once.
"""
import os
import zlib

from . import journal, names, record_kinds
from .records_fast import NULL, PAYLOAD_END, TASK_ROW
from .runs import RunReader, Selection, checked_lines


class TaskRuns:
    """The runs of one array's tasks: {index: run}, the newest of each (every run with
    every). A run is (end, state, exit status, signal, timed out, file, offset, length)."""

    def __init__(self, selection, kind, every=False):
        self.selection = selection
        self.name = selection.array.encode("utf-8", "surrogateescape")
        self.span_group = 10 if kind == "stdout" else 13  # TASK_ROW's groups
        self.kind = kind
        self.every = every
        self.found = {}
        self.shared = {}  # one str per state and file name (by their bytes), not one per run

    def add(self, index, run):
        if self.every:
            self.found.setdefault(index, []).append(run)
        elif index not in self.found or run[0] >= self.found[index][0]:
            self.found[index] = run

    def block(self, body, base):
        """Every task line of a block of whole lines."""
        done, crc32 = 0, zlib.crc32
        for match in TASK_ROW.finditer(body):
            if match.start() > done:
                self.lines(body[done:match.start()], base + done)
            done = match.end() + 1
            fields = match.groups()
            if int(fields[-1], 16) != crc32(body[match.start():match.start(PAYLOAD_END)]):
                continue  # (a bad line: skipped as journal.unframe would)
            if b"\\" in fields[0] or b"\\" in fields[1] or not self.fast(fields, match):
                self.lines(body[match.start():done], base + match.start())
        if done < len(body):
            self.lines(body[done:], base + done)

    def fast(self, fields, match):
        """Take a task line from its bytes; False when it needs the JSON path."""
        if fields[0][1:-1] != self.name and (
                fields[1] == NULL or fields[1][1:-1].decode() not in self.selection.uids):
            return True  # another array's
        status, signal = fields[6], fields[7]
        if not (status == NULL or status.lstrip(b"-").isdigit()) or \
                not (signal == NULL or signal.lstrip(b"-").isdigit()):
            return False
        name, offset, length = fields[self.span_group:self.span_group + 3]
        shared = self.shared
        if name not in shared:
            shared[name] = None if name is None else name[1:-1].decode(
                "utf-8", "surrogateescape")
        if fields[5] not in shared:
            shared[fields[5]] = fields[5].decode()
        # (inside a JSON string these bytes would be escaped: no false match)
        timed_out = match.string.find(b'"timed_out":true', match.start(), match.end()) >= 0
        self.add(int(fields[2]), (
            float(fields[9]), shared[fields[5]],
            None if status == NULL else int(status), None if signal == NULL else int(signal),
            timed_out, shared[name], 0 if offset is None else int(offset),
            None if length is None or length == NULL else int(length)))
        return True

    def lines(self, chunk, base):
        """Lines that are not plain task lines: through JSON."""
        for _, record in checked_lines(chunk if chunk.endswith(b"\n") else chunk + b"\n",
                                       base):
            index = record.get("i")
            if record.get("k") == record_kinds.TASK and isinstance(index, int) and \
                    self.selection.wants(record):
                self.add(index, compact(record, self.kind, self.shared))

    def in_order(self):
        """[(index, run)] in task order (each task's runs oldest first)."""
        if not self.every:
            return [(index, self.found[index]) for index in sorted(self.found)]
        return [(index, run) for index in sorted(self.found)
                for run in sorted(self.found[index], key=lambda r: r[0])]


def compact(record, kind, shared):
    """The run tuple of a task record read through JSON."""
    span = record.get(kind)
    if isinstance(span, str):  # fjd 0.2: a file of its own
        span = [span, 0, None]
    elif not isinstance(span, list) or len(span) != 3:
        span = [None, 0, 0]
    state, name, end = record.get("state"), span[0], record.get("end")
    return (end if isinstance(end, (int, float)) else 0, shared.setdefault(state, state),
            record.get("exit_status"), record.get("signal"), bool(record.get("timed_out")),
            shared.setdefault(name, name), span[1], span[2])


def array_runs(layout, array, kind, every=False):
    """[(index, run)] of the array's tasks in task order: one pass over the journals."""
    reader = RunReader(layout, Selection(array=array))  # (finds the array's ids)
    try:
        runs = TaskRuns(reader.selection, kind, every)
        for info in reader.journals:
            for base, body in journal.whole_line_blocks(info.path, 1 << 22):
                runs.block(body, base)
    finally:
        reader.close()
    return runs.in_order()


def header(array, index, run):
    """== ARRAY#N (done, exit 0) ==: which task the output that follows is of."""
    _, state, exit_status, signal, timed_out = run[:5]
    parts = [state or "unknown"]
    if exit_status is not None:
        parts.append("exit %s" % exit_status)
    elif signal is not None:
        parts.append("signal %s" % signal)
    if timed_out:
        parts.append("timed out")
    text = "== %s (%s) ==" % (names.task_name(array, index), ", ".join(parts))
    return text if text.isprintable() else repr(text)[1:-1]


class OutputFiles:
    """Spans of output journals (file, offset, length), each file opened once and read a
    window at a time: the tasks of a range wrote one after another, so a million spans
    take a few hundred reads, not a million."""

    WINDOW = 1 << 20

    def __init__(self, layout):
        self.layout = layout
        self.fds = {}
        self.windows = {}  # file name -> (offset, bytes) last read of it

    def read(self, name, offset, length):
        """The bytes of a span of an output file (length None: to its end)."""
        if not name or not isinstance(offset, int):
            return b""
        if name not in self.fds:
            path = name if os.sep in name else os.path.join(self.layout.records, name)
            try:
                self.fds[name] = os.open(os.path.join(self.layout.root, path), os.O_RDONLY)
            except OSError:
                self.fds[name] = None
        fd = self.fds[name]
        if fd is None:
            return b""
        if length is None:
            return os.pread(fd, max(0, os.fstat(fd).st_size - offset), offset)
        start, data = self.windows.get(name, (0, b""))
        if not start <= offset <= offset + length <= start + len(data):
            start, data = offset, os.pread(fd, max(length, self.WINDOW), offset)
            self.windows[name] = (start, data)
        return data[offset - start:offset - start + length]

    def close(self):
        for fd in self.fds.values():
            if fd is not None:
                os.close(fd)
        self.fds, self.windows = {}, {}


def write_array_output(layout, array, kind, out, every=False):
    """Each task's stdout (kind "stdout") or stderr, in task order, each after a header
    line; returns how many runs were shown."""
    runs = array_runs(layout, array, kind, every)
    files = OutputFiles(layout)
    try:
        for index, run in runs:
            out.write(header(array, index, run).encode("utf-8", "backslashreplace") + b"\n")
            data = files.read(*run[5:])
            out.write(data if not data or data.endswith(b"\n") else data + b"\n")
    finally:
        files.close()
    return len(runs)
