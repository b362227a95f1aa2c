"""`fjd records --format tsv` (the default) for task lines, straight from their bytes.

A million task records through json.loads and back out through str() cost more than
twice a bare json.loads loop; the issue asks for at least half its speed. Task lines are
written by record_kinds.task_started/task_ran with their keys in one order, so one regular
expression finds every field of a task line, and the row is made of the very bytes the
journal holds (a JSON number is written as Python prints it; a JSON string without a
backslash is its own text). Each line's CRC-32 is still checked. A line that does not
match, holds a backslash in a string, or is of another kind goes through the JSON path
(records_table.RowMaker.row) in its place, so the rows come in the journal's order.
"""
import re
import zlib

from . import journal, record_kinds
from .records_table import _CLEAN, tsv_line
from .report.scan import TASK_PREFIX, _NUMBER, _STRING, _VALUE, _key

NULL = b"null"
_SPAN = rb'(?:null|\[("[^"\\\n]*"),([0-9]+),([0-9]+|null)\])'
TASK_ROW = re.compile(
    rb"^" + re.escape(TASK_PREFIX) + _key("array") + b"(" + _STRING + b")," +
    _key("u") + b"(" + _VALUE + b")," + _key("i") + b"([0-9]+)," +
    _key("run") + _VALUE + b"," + _key("attempt") + b"(" + _VALUE + b")," +
    _key("start") + b"(" + _NUMBER + b")," + _key("state") + b'"([a-z]+)",' +
    _key("exit_status") + b"(" + _VALUE + b")," + _key("signal") + b"(" + _VALUE + b")," +
    _key("reason") + b"(" + _VALUE + b")," + _key("end") + b"(" + _NUMBER + b")," +
    _key("stdout") + _SPAN + b"," + _key("stderr") + _SPAN + b"," +
    rb"[^\n\t]*()\t([0-9a-f]{8})$", re.M)
PAYLOAD_END = 17  # the empty group just before the tab


def span_bytes(name, offset, length):
    if name is None:
        return b""
    name = name[1:-1]
    return b"%s%s:%s+%s" % (b"" if b"/" in name else b"records/", name, offset,
                             b"?" if length == NULL else length)


def plain(raw):
    """A JSON value's bytes as the TSV shows it: null empty, a string without quotes."""
    if raw == NULL:
        return b""
    return raw[1:-1] if raw[:1] == b'"' else raw


class FastTsv:
    """Writes the TSV rows of a RowMaker's runs to a binary stream."""

    def __init__(self, maker, out):
        self.maker = maker
        self.reader = maker.reader
        self.out = out
        self.tabs = len(maker.columns()) - 1
        self.uids = {}  # raw uid bytes -> values_of(uid)
        self.selection = self.reader.selection
        self.narrowed = not self.selection.everything()

    def write(self):
        """The header and every row; returns the number of rows."""
        self.out.write(("\t".join(self.maker.columns()) + "\n").encode(
            "utf-8", "surrogateescape"))
        count = 0
        for info in self.reader.journals:
            worker = info.writer.encode("utf-8", "surrogateescape") if info.is_worker else b""
            host = (info.host or "").encode("utf-8", "surrogateescape")
            for base, body in journal.whole_line_blocks(info.path, 1 << 22):
                count += self.block(body, base, info, worker, host)
        return count

    def block(self, body, base, info, worker, host):
        lines, done, crc32, write = [], 0, zlib.crc32, self.out.write
        for match in TASK_ROW.finditer(body):
            if match.start() > done:
                lines += self.others(body[done:match.start()], base + done, info)
            done = match.end() + 1
            fields = match.groups()
            if int(fields[-1], 16) != crc32(body[match.start():match.start(PAYLOAD_END)]):
                continue  # (a bad line: skipped as journal.unframe would)
            line = self.task_row(fields, worker, host)
            if line is None:
                lines += self.others(body[match.start():done], base + match.start(), info)
            elif line:
                lines.append(line)
        if done < len(body):
            lines += self.others(body[done:], base + done, info)
        write(b"".join(lines))
        return len(lines)

    def others(self, chunk, base, info):
        """The JSON path's TSV lines of whole lines in chunk."""
        found = []
        for offset, record in journal_lines(chunk, base):
            if record.get("k") in (record_kinds.JOB, record_kinds.TASK, record_kinds.TASKS) \
                    and self.selection.wants(record):
                for row in self.maker.rows_of(info, offset, record):
                    found.append(tsv_line(row, self.tabs).encode("utf-8", "surrogateescape"))
        return found

    def task_row(self, fields, worker, host):
        """The row of a task line (b"" when not selected, None for the JSON path)."""
        (array, uid, index, attempt, start, state, status, signal, reason, end,
         out_name, out_offset, out_length, err_name, err_offset, err_length, _, _) = fields
        if b"\\" in array or b"\\" in reason or b"\\" in uid:
            return None
        values = self.uids.get(uid)
        if values is None:
            values = self.uids[uid] = self.values_of(uid)
        if self.narrowed and not self.selection.wants(
                {"array": array[1:-1].decode("utf-8", "surrogateescape"), "u": values[0],
                 "state": state.decode(), "end": float(end)}):
            return b""
        name = array[1:-1]
        return b"%s#%s\t%s\t%s%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%r\t%s\t%s\n" % (
            name, index, name, index, values[1](int(index)), state,
            b"" if status == NULL else status, b"" if signal == NULL else plain(signal),
            b"" if reason == NULL else reason[1:-1], worker, host,
            b"" if attempt == NULL else attempt, start, end,
            round(float(end) - float(start), 6),
            b"" if out_name is None else span_bytes(out_name, out_offset, out_length),
            b"" if err_name is None else span_bytes(err_name, err_offset, err_length))

    def values_of(self, uid):
        """(uid as text, a function of a task's number that gives the bytes of its
        parameter columns, each after a tab)."""
        text = None if uid == NULL else uid[1:-1].decode("utf-8", "surrogateescape")
        count = len(self.maker.names)
        if not count:
            return text, lambda index: b""
        blank = b"\t" * count
        reader = self.maker.params.reader(text) if text else None
        if reader is None:
            return text, lambda index: blank
        # the array's own function when its names are the columns (one array: as a rule)
        parameters = reader[1] if reader[0] == self.maker.names else \
            lambda index: self.maker.parameters(text, index)

        def columns(index):
            found = parameters(index)
            if found is None or found is self.maker.blank:
                return blank
            line = "\t" + "\t".join(found)
            if line.count("\t") != count or "\n" in line or "\r" in line:
                line = "\t" + "\t".join([v.translate(_CLEAN) for v in found])
            return line.encode("utf-8", "surrogateescape")
        return text, columns


def journal_lines(chunk, base):
    """(offset, record) of the whole, checked lines of chunk (journal.unframe)."""
    start = 0
    for line in chunk.split(b"\n"):
        here = base + start
        start += len(line) + 1
        record = journal.unframe(line) if line else None
        if record is not None:
            yield here, record
