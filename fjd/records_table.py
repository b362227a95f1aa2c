"""`fjd records`' rows: one per run of a job or task, in TSV, CSV or JSON lines.

A row has the fixed columns of COLUMNS with the array's parameters between ``task`` and
``state``, one column each (a parameter named like a fixed column gets ``param.`` before
its name). The columns are known before the first row is written: the parameters of every
array that has a file (filed, waiting or running) when the command starts. A range of
tasks that ended together without running (a `tasks` record: cancelled, or an unreadable
array file) is a row per task. Rows are written as they are read: constant memory.
"""
import csv
import io
import json

from . import record_search
from .runs import JOB, TASK

COLUMNS = ("name", "array", "task", "state", "exit_status", "signal", "reason", "worker",
           "host", "attempt", "start", "end", "duration", "stdout", "stderr")
FORMATS = ("tsv", "csv", "jsonl")
_CLEAN = str.maketrans({"\t": " ", "\n": " ", "\r": " "})


def parameter_columns(reader):
    """The parameter names of every array whose file can be found, in first-seen order."""
    files = reader.params.files
    uids = list(files.filed)
    files.path("")  # lists the folders once
    uids += [uid for uid in files.listed if uid not in files.filed]
    seen = []
    for uid in uids:
        for name in reader.params.names(uid):
            if name not in seen:
                seen.append(name)
    return seen


def span_text(span):
    """Where an output span is: FILE:OFFSET+LENGTH (FILE from the queue root; LENGTH ?
    when the rest of the file may be the job's)."""
    if not span:
        return None
    if isinstance(span, str):
        return span
    name = span[0] if "/" in span[0] else "records/" + span[0]
    length = "?" if span[2] is None else span[2]
    return "%s:%s+%s" % (name, span[1], length)


class RowMaker:
    """The values of each row, in the order of columns(), straight from the records."""

    def __init__(self, reader, iso=False):
        self.reader = reader
        self.params = reader.params
        self.names = parameter_columns(reader)
        self.blank = [None] * len(self.names)
        self.iso = iso

    def columns(self):
        own = [n if n not in COLUMNS else "param." + n for n in self.names]
        return list(COLUMNS[:3]) + own + list(COLUMNS[3:])

    def rows(self):
        """Lists of values (None for nothing), one per task for a range record."""
        for info, offset, record in self.reader.records():
            for row in self.rows_of(info, offset, record):
                yield row

    def rows_of(self, info, offset, record):
        """The rows of one record: one, or one per task of a range."""
        kind = record.get("k")
        if kind == TASK:
            index = record.get("i")
            return [self.row(record, info, "%s#%s" % (record.get("array"), index), index)]
        if kind == JOB:
            return [self.row(record, info, self.reader.job_name(record, info, offset), None)]
        first, last = record.get("first"), record.get("last")
        if not isinstance(first, int) or not isinstance(last, int):
            return []
        return (self.row(record, info, "%s#%d" % (record.get("array"), index), index)
                for index in range(first, last + 1))

    def row(self, record, info, name, index):
        get = record.get
        start, end = get("start"), get("end")
        try:
            duration = round(end - start, 6)
        except TypeError:
            duration = None
        if self.iso:
            start, end = record_search.iso(start), record_search.iso(end)
        worker = get("worker") or (info.writer if info.is_worker else None)
        params = self.blank if index is None else self.parameters(get("u"), index)
        return [name, get("array"), index] + params + [
            get("state"), get("exit_status"), get("signal"), get("reason"), worker,
            get("host") or info.host, get("attempt"), start, end, duration,
            span_text(get("stdout")), span_text(get("stderr"))]

    def parameters(self, uid, index):
        values = self.params.values(uid, index)
        if values is None:
            return self.blank
        own = self.params.names(uid)
        if own == self.names:
            return values
        mine = dict(zip(own, values))
        return [mine.get(n) for n in self.names]


def tsv_line(row, tabs):
    """A row as a TSV line; tabs and line breaks in values become blanks."""
    line = "\t".join(["" if v is None else str(v) for v in row])
    if line.count("\t") != tabs or "\n" in line or "\r" in line:
        line = "\t".join(["" if v is None else str(v).translate(_CLEAN) for v in row])
    return line + "\n"


def write_rows(out, maker, form):
    """Write the header (not for jsonl) and every row to the binary stream out, through
    the JSON path (records_fast.FastTsv is the quick way to TSV)."""
    text = io.TextIOWrapper(out, encoding="utf-8", errors="surrogateescape", newline="\n")
    try:
        return write_text_rows(text, maker, form, maker.columns())
    finally:
        text.flush()
        text.detach()


def write_text_rows(out, maker, form, columns):
    count = 0
    if form == "jsonl":
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        for count, row in enumerate(maker.rows(), 1):
            out.write(dumps(dict(zip(columns, row))) + "\n")
        return count
    if form == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for count, row in enumerate(maker.rows(), 1):
            writer.writerow(row)
        return count
    out.write("\t".join(columns) + "\n")
    tabs = len(columns) - 1
    write = out.write
    for count, row in enumerate(maker.rows(), 1):
        write(tsv_line(row, tabs))
    return count
