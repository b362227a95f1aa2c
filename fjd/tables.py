"""The rows of a table array's file, read by offset (DESIGN.md, "Array jobs").

A row is a line that is not empty and does not start with ``#``. Rows are read from an
offset with pread, never the whole file: a worker finds its range's first row from a row
whose offset it knows, and the dispatcher counts rows in one pass of big chunks.
"""
import os


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
