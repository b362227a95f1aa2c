"""The parameter values of an array's tasks, for `fjd records` and `fjd report`.

Task records do not hold their values (a million tasks would repeat them a million
times); the array file does. Each array file is opened once and read once: a product
array computes a task's values from its number (values.ArraySpec.values_at, with whole-
number ranges done in ints and up to MEMO_LIMIT values of each remembered: most parameters have few),
a table array's row offsets are found in one pass of big chunks. The file is looked for
where the `array` record says it was filed, else wherever a range of it waits or runs
(record_search.queued_entries); an array whose file cannot be read has no values.
"""
import array as arrays_of_numbers
import os

from . import arrays, names, record_kinds
from .fsops import list_names
from .jobfile import JobError
from .tables import is_row

MAX_SPEC_BYTES = 1 << 30
MEMO_LIMIT = 4096  # values remembered per parameter


class ArrayFiles:
    """Where each array's file is: {uid: path}, from `array` records and the folders."""

    def __init__(self, layout):
        self.layout = layout
        self.filed = {}  # uid -> path from an `array` record
        self.listed = None  # uid -> path of a range in the folders, found on first need

    def note(self, record):
        """Learn from an `array` record where its file went."""
        if record.get("k") == record_kinds.ARRAY and record.get("u"):
            folder = getattr(self.layout, record.get("folder") or "", None)
            if isinstance(folder, str) and record.get("name"):
                self.filed[record["u"]] = os.path.join(folder, record["name"])

    def path(self, uid):
        if uid in self.filed:
            return self.filed[uid]
        if self.listed is None:
            self.listed = {}
            folders = [self.layout.jobqueue, self.layout.arrays] + [
                self.layout.inbox(w) for w in list_names(self.layout.jobpod)]
            for folder in folders:
                for entry in list_names(folder):
                    parsed = names.parse(entry)
                    if parsed.uid:
                        self.listed.setdefault(parsed.uid, os.path.join(folder, entry))
        return self.listed.get(uid)


class ProductValues:
    """Values of a product array's tasks: a whole-number range computed in ints, other
    values computed once each (up to MEMO_LIMIT per parameter)."""

    def __init__(self, spec):
        self.repeat = spec.repeat
        self.sizes = [len(values) for values in spec.values]
        self.getters = [value_getter(values) for values in spec.values]
        self.order = list(range(len(spec.values) - 1, -1, -1))

    def __call__(self, index):
        rest = (index - 1) // self.repeat
        found = []
        for position in self.order:
            rest, digit = divmod(rest, self.sizes[position])
            found.append(self.getters[position](digit))
        found.reverse()
        return found


def value_getter(values):
    """A function of a value's position in values that is quick on every call."""
    segments = values.segments
    if len(segments) == 1 and not isinstance(segments[0], list) and segments[0][3] == 0:
        first, step = int(segments[0][0]), int(segments[0][1])
        return lambda digit: str(first + step * digit)
    memo = {}

    def remembered(digit):
        value = memo.get(digit)
        if value is None:
            value = values[digit]
            if len(memo) < MEMO_LIMIT:  # (a long range is computed each time)
                memo[digit] = value
        return value
    return remembered


class TableValues:
    """Values of a table array's tasks: every row's offset found in one pass."""

    def __init__(self, spec, fd):
        self.spec = spec
        self.fd = fd
        self.offsets = row_offsets(fd, spec.data_offset)

    def __call__(self, index):
        row = self.spec.row_of(index)
        if row > len(self.offsets):
            return None
        start = self.offsets[row - 1]
        end = self.offsets[row] if row < len(self.offsets) else start + (1 << 16)
        text = os.pread(self.fd, end - start, start).split(b"\n", 1)[0].rstrip(b"\r")
        try:
            return self.spec.split_row(text.decode("utf-8", "surrogateescape"), row)
        except JobError:
            return None


def row_offsets(fd, offset, chunk=1 << 22):
    """The offset of every row from offset on (8 bytes each, not a list of ints)."""
    found = arrays_of_numbers.array("q")
    carry, base = b"", offset
    while True:
        data = os.pread(fd, chunk, offset)
        offset += len(data)
        block = carry + data
        lines = block.split(b"\n")
        carry = lines.pop() if data else b""
        for line in lines:
            if is_row(line):
                found.append(base)
            base += len(line) + 1
        if not data:
            if is_row(carry):
                found.append(base)
            return found


class TaskParams:
    """names(uid) and values(uid, index) of every array in a queue root."""

    def __init__(self, layout):
        self.files = ArrayFiles(layout)
        self.readers = {}  # uid -> (names, values function) or None
        self.fds = []

    def note(self, record):
        self.files.note(record)

    def reader(self, uid):
        if uid not in self.readers:
            self.readers[uid] = self.open(uid)
        return self.readers[uid]

    def open(self, uid):
        path = self.files.path(uid) if uid else None
        if path is None:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        self.fds.append(fd)
        try:
            spec = arrays.read_spec(fd, MAX_SPEC_BYTES)
            values = ProductValues(spec) if spec.kind == "product" else TableValues(spec, fd)
        except (OSError, JobError):
            return None
        return spec.names, values, spec

    def spec(self, uid):
        """The array's ArraySpec (its command, [control] and names), or None."""
        reader = self.reader(uid)
        return reader[2] if reader else None

    def names(self, uid):
        reader = self.reader(uid)
        return reader[0] if reader else []

    def values(self, uid, index):
        """The task's values in the order of names(uid), or None."""
        reader = self.reader(uid)
        if reader is None or not isinstance(index, int):
            return None
        return reader[1](index)

    def close(self):
        for fd in self.fds:
            os.close(fd)
        self.fds = []
