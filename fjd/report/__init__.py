"""`fjd report`: a picture of a queue's runs as one self-contained HTML page.

runs.RunReader finds the journals, the `moved` and `array` records and the arrays'
parameters; scan.Scanner reads every run into a picture.Picture (bounded memory: bars up
to a limit, time bins beyond); page.render draws it (charts.py: the SVG). The page is
written to a temporary name beside the output file and renamed, never into the queue.
"""
import os
import time

from .. import journal
from ..runs import RunReader
from .page import render
from .picture import Picture
from .scan import Scanner, describe

HEAD_BYTES = 1 << 16  # of each journal, for the time its first runs started


def time_span(reader, since=None, now=None):
    """(first, last) time the journals' runs cover, from each journal's first and last
    lines: the time bins are laid out before the runs are read."""
    first, last = None, None
    for info in reader.journals:
        fd = journal.open_journal(info.path)
        if fd is None:
            continue
        try:
            head = os.pread(fd, HEAD_BYTES, 0)
        finally:
            os.close(fd)
        head = head[:head.rfind(b"\n") + 1]
        for _, record in journal.read_lines(head, 0):
            if record.get("k") == journal.HEADER:
                continue
            for key in ("start", "end"):
                value = record.get(key)
                if isinstance(value, (int, float)) and (first is None or value < first):
                    first = value
        record = journal.last_record(info.path) or {}
        value = record.get("end")
        if isinstance(value, (int, float)) and (last is None or value > last):
            last = value
    now = time.time() if now is None else now
    first = now if first is None else first
    if since is not None:
        first = max(first, since)
    return first, max(first, last if last is not None else now)


def build(layout, selection, title=None):
    """The page's HTML for the runs of layout's queue that selection picks."""
    reader = RunReader(layout, selection)
    try:
        t0, t1 = time_span(reader, selection.since)
        picture = Picture(t0, t1)
        Scanner(reader, picture).run()
        title = title or "fjd report: %s" % layout.root
        note = "Made %s from the journals in %s%s." % (
            time.strftime("%Y-%m-%d %H:%M:%S"), os.path.join(layout.root, "records"),
            selection_text(selection))
        return render(picture, title, lambda detail: describe(detail, reader.params), note)
    finally:
        reader.close()


def selection_text(selection):
    parts = []
    if selection.array:
        parts.append("array %s" % selection.array)
    if selection.state:
        parts.append("state %s" % selection.state)
    if selection.since:
        parts.append("runs ended since %s" % time.strftime("%Y-%m-%d %H:%M:%S",
                                                           time.localtime(selection.since)))
    return ", only " + ", ".join(parts) if parts else ""


def write(path, text):
    """Write the page under a temporary name beside path, then rename it."""
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    with open(temporary, "w", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return os.path.getsize(path)
