"""Journals: what happened to each job, one line per record, one writer per file.

Every process that finishes jobs (a worker, the dispatcher, `fjd cancel`, `fjd retry`)
appends its records to a journal of its own, ``records/<writer id>.journal``. One writer
per file keeps appends safe on NFS and sshfs, where appends from two hosts to one file can
interleave. A finished job or task adds a line, not a file (DESIGN.md, "Records").

A line is a JSON object, a tab, the CRC-32 of the JSON in 8 hex digits, and a newline. A
line cut short by a crash (no newline, or a checksum that does not match) is skipped by
readers; the writer starts its next record on a fresh line.

Every record carries the writer's running totals (``tot``: jobs done, failed, cancelled,
then the same for array tasks) and the offset of its previous failure record (``pf``),
so `fjd status` reads only the last line of each journal for its counts and follows the
``pf`` chain for the newest failures: its cost does not grow with the number of records.
"""
import errno
import os
import zlib

from . import defaults, record_kinds
from .folders import close_quietly

SUFFIX = ".journal"
HEADER = record_kinds.HEADER
TOTALS = ("jobs_done", "jobs_failed", "jobs_cancelled", "tasks_done", "tasks_failed",
          "tasks_cancelled")
_SLOT = {(kind, state): index for index, (kind, state) in enumerate(
    (kind, state) for kind in (record_kinds.JOB, record_kinds.TASK)
    for state in record_kinds.STATES)}


def frame(record):
    payload = record_kinds.encode(record)
    return payload + b"\t%08x\n" % (zlib.crc32(payload) & 0xFFFFFFFF)


def unframe(line):
    """The record of one line (without its newline), or None for a torn or foreign line."""
    payload, tab, check = line.rpartition(b"\t")
    if not tab or len(check) != 8:
        return None
    try:
        if int(check, 16) != zlib.crc32(payload) & 0xFFFFFFFF:
            return None
        record = record_kinds.decode(payload)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def count_slot(kind, state):
    """Which running total a record adds to: (index into TOTALS) or None."""
    if kind == record_kinds.TASKS:
        kind = record_kinds.TASK
    return _SLOT.get((kind, state))


class JournalWriter:
    """Appends records to this process's own journal.

    The file is created with O_EXCL (the writer id is unique), so no two processes ever
    write one journal. append() raises OSError (a full disk, say) with the journal left
    readable; the caller keeps the record and tries again later.
    """

    def __init__(self, directory, writer_id, header, direct=False):
        """direct: write with O_DIRECT (FUSE mounts only, where it needs no alignment): a
        line that crosses a page boundary is then one write request to the file server,
        not two (the kernel's page cache splits writes to pages it does not hold)."""
        self.path = os.path.join(directory, writer_id + SUFFIX)
        self.direct = getattr(os, "O_DIRECT", 0) if direct else 0
        self.writer_id = writer_id
        self.header = record_kinds.header(header, writer_id)
        self.fd = None
        self.created = False
        self.size = 0
        self.torn = False  # the last write failed part-way: begin the next with a newline
        self.totals = [0] * len(TOTALS)
        self.last_failure = None
        self.count = 0

    def open(self):
        if self.fd is None:
            if self.created:  # opened again after a failure: it has its header
                self.fd = self._open(os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
                self.size = os.fstat(self.fd).st_size
                return
            fd = self._open(os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL |
                            getattr(os, "O_CLOEXEC", 0), 0o644)
            self.fd = fd
            self.size = 0
            self.created = True
            self._write(frame(self.header))

    def _open(self, flags, mode=0o644):
        if self.direct:
            try:
                return os.open(self.path, flags | self.direct, mode)
            except OSError as error:
                if error.errno != errno.EINVAL:
                    raise
                self.direct = 0  # this filesystem refuses O_DIRECT: write through the cache
                # (it may have made the file before refusing: the writer id is ours alone)
                flags &= ~os.O_EXCL
        return os.open(self.path, flags, mode)

    def reopen(self):
        """Forget the descriptor; the next append opens the journal again (a mount that
        went away and came back leaves the old descriptor failing for ever)."""
        self.close()

    def _write(self, data):
        if self.torn:
            data = b"\n" + data
        view = memoryview(data)
        try:
            while view:
                try:
                    written = os.write(self.fd, view)
                except OSError as error:
                    if error.errno != errno.EINVAL or not self.direct or len(view) < len(data):
                        raise
                    # O_DIRECT taken at the open but refused at the write (a filesystem
                    # that wants aligned writes): the cache it is, from now on
                    self.direct = 0
                    self.close()
                    self.open()
                    continue
                self.size += written
                view = view[written:]
                self.torn = bool(view)
        except OSError:
            self.torn = self.torn or len(view) < len(data)
            self.close()  # the next append opens the file again (a mount may come back)
            raise
        self.torn = False

    def append(self, record, size=1):
        """Add one record; returns its offset. size: tasks a range record stands for."""
        self.open()
        slot = count_slot(record.get("k"), record.get("state"))
        totals = list(self.totals)
        if slot is not None:
            totals[slot] += size
        line = record_kinds.with_totals(record, totals, self.last_failure)
        offset = self.size + (1 if self.torn else 0)
        self._write(frame(line))
        self.totals = totals
        self.count += 1
        if slot is not None and record.get("state") == record_kinds.FAILED:
            self.last_failure = offset
        return offset

    def adjust(self, record, deltas):
        """A record that changes the totals by deltas (e.g. failures retried: -n)."""
        self.open()
        totals = [a + b for a, b in zip(self.totals, deltas)]
        line = record_kinds.with_totals(record, totals, self.last_failure)
        offset = self.size + (1 if self.torn else 0)
        self._write(frame(line))
        self.totals = totals
        return offset

    def close(self):
        if self.fd is not None:
            fd, self.fd = self.fd, None
            close_quietly(fd)


# -- reading --------------------------------------------------------------------------------

def journal_paths(records_dir):
    """Every journal in records/, oldest name first; [] when there is no such folder."""
    try:
        with os.scandir(records_dir) as entries:
            return sorted(os.path.join(records_dir, e.name) for e in entries
                          if e.name.endswith(SUFFIX) and not e.name.startswith("."))
    except FileNotFoundError:
        return []


def writer_of(path):
    return os.path.basename(path)[:-len(SUFFIX)]


def read_lines(data, base):
    """(offset, record) for each valid line in data, which starts at file offset base."""
    found = []
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        if end < 0:
            break  # no newline: a line still being written or torn by a crash
        record = unframe(data[start:end])
        if record is not None:
            found.append((base + start, record))
        start = end + 1
    return found


def open_journal(path):
    try:
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None


def tail(path, max_bytes=defaults.JOURNAL_TAIL_CHUNK, fd=None):
    """(offset, record) of the valid lines in the last max_bytes of a journal, oldest
    first, and the file size."""
    own = fd is None
    fd = open_journal(path) if own else fd
    if fd is None:
        return [], 0
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - max_bytes)
        data = os.pread(fd, size - start, start)
    finally:
        if own:
            os.close(fd)
    if start:
        first = data.find(b"\n")
        if first < 0:
            return [], size
        data, start = data[first + 1:], start + first + 1
    return read_lines(data, start), size


def last_record(path):
    """The last valid record of a journal (reading further back past a torn tail)."""
    fd = open_journal(path)
    if fd is None:
        return None
    try:
        size = os.fstat(fd).st_size
        span = defaults.JOURNAL_TAIL_CHUNK
        while True:
            lines, _ = tail(path, span, fd)
            if lines or span >= size:
                return lines[-1][1] if lines else None
            span *= 4
    finally:
        os.close(fd)


def record_at(path, offset, fd=None):
    """The record that starts at offset, or None."""
    own = fd is None
    fd = open_journal(path) if own else fd
    if fd is None:
        return None
    try:
        size = 4096  # a record is usually a few hundred bytes: read more only if needed
        while True:
            data = os.pread(fd, size, offset)
            end = data.find(b"\n")
            if end >= 0 or len(data) < size or size >= 1 << 24:
                break
            size *= 8
    finally:
        if own:
            os.close(fd)
    return unframe(data[:end]) if end >= 0 else None


def whole_line_blocks(path, chunk):
    """(offset, bytes) of a journal read in big chunks, each block cut after its last
    newline (the rest goes with the next block; a torn last line is never yielded)."""
    fd = open_journal(path)
    if fd is None:
        return
    try:
        offset, carry = 0, b""
        while True:
            data = os.pread(fd, chunk, offset)
            if not data:
                break
            base = offset - len(carry)
            data = carry + data
            offset += len(data) - len(carry)
            cut = data.rfind(b"\n") + 1
            body, carry = data[:cut], data[cut:]
            if body:
                yield base, body
    finally:
        os.close(fd)


def all_records(path, chunk=1 << 22):
    """(offset, record) for every valid line of a journal, in order, read in big chunks."""
    for base, body in whole_line_blocks(path, chunk):
        for found in read_lines(body, base):
            yield found


def find(path, needles, chunk=1 << 24):
    """(offset, record) of the lines that contain any of the byte strings in needles:
    a C-speed search, then a parse of the matching lines only."""
    found = []
    for base, body in whole_line_blocks(path, chunk):
        for needle in needles:
            at = body.find(needle)
            while at >= 0:
                start = body.rfind(b"\n", 0, at) + 1
                end = body.find(b"\n", at)
                record = unframe(body[start:end])
                if record is not None:
                    found.append((base + start, record))
                at = body.find(needle, end)
    found.sort(key=lambda item: item[0])
    unique = []
    for item in found:
        if not unique or unique[-1][0] != item[0]:
            unique.append(item)
    return unique


needle = record_kinds.pattern  # the bytes a line holds for "key":value
