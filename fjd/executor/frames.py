"""The byte format of the executor's files (DESIGN.md, "Python calls").

A results file (``calls/<executor>/results-<worker>``) is a run of frames, each written
whole with one append by one process at a time (the worker's call runner, or the worker
itself after it killed the runner): a magic, the key's and the body's lengths, a CRC-32 of
both, the key (ASCII: which call) and the body (a pickle). A reader skips bytes that fail
the CRC to the next magic (a write cut short: the disk full).

An items file (``map-<k>.items``) is a header pickle followed by one pickle per task; its
index (``map-<k>.idx``) holds the offset and length of task i's pickle at 16 * (i - 1).
"""
import os
import struct
import zlib

MAGIC = b"\xf3FJr"
HEADER = struct.Struct(">4sHII")  # magic, key length, body length, crc32(key + body)
INDEX_ENTRY = struct.Struct(">QQ")  # offset, length of one task's pickle


def frame(key, body):
    """The bytes of one frame."""
    key = key.encode("ascii")
    return HEADER.pack(MAGIC, len(key), len(body), zlib.crc32(body, zlib.crc32(key))) + \
        key + body


def append_frame(fd, key, body):
    """Append one frame with one write (fd opened with O_APPEND); (offset of the body,
    length of the body) are not known to the writer, the reader finds them."""
    append_bytes(fd, frame(key, body))


def append_bytes(fd, data):
    """Append whole frames with one write (fd opened with O_APPEND)."""
    written = os.write(fd, data)
    while written < len(data):  # (a short write to a regular file: out of space, say)
        more = os.write(fd, data[written:])
        if more <= 0:
            raise OSError("short write to a results file")
        written += more


def parse_frames(buffer, base):
    """(frames, consumed) of the whole frames at the start of buffer, a file's bytes from
    offset base: frames as (key, offset of the body in the file, length of the body). A
    frame that is not whole yet stops the parse; bytes that are no frame are skipped."""
    found = []
    at = 0
    end = len(buffer)
    while end - at >= HEADER.size:
        magic, key_length, body_length, crc = HEADER.unpack_from(buffer, at)
        if magic != MAGIC:
            at = skip_to_magic(buffer, at + 1)
            continue
        start = at + HEADER.size
        stop = start + key_length + body_length
        if stop > end:
            break  # not written whole yet
        key = bytes(buffer[start:start + key_length])
        if zlib.crc32(buffer[start + key_length:stop], zlib.crc32(key)) != crc:
            at = skip_to_magic(buffer, at + 1)
            continue
        found.append((key.decode("ascii", "replace"), base + start + key_length,
                      body_length))
        at = stop
    return found, at


def skip_to_magic(buffer, at):
    found = buffer.find(MAGIC, at)
    return max(at, len(buffer) - len(MAGIC) + 1) if found < 0 else found


def read_at(fd, offset, length):
    """length bytes from offset (OSError if the file is shorter)."""
    data = os.pread(fd, length, offset)
    while len(data) < length:
        more = os.pread(fd, length - len(data), offset + len(data))
        if not more:
            raise OSError("a results or items file is shorter than its index says")
        data += more
    return data


def read_body(path, offset, length):
    """A frame's body from its results file (a big one: not kept in memory)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        return read_at(fd, offset, length)
    finally:
        os.close(fd)


# -- keys -----------------------------------------------------------------------------------

def call_key(offset):
    """The key of a submitted call, by its payload's offset in calls.pkl."""
    return "c%d" % offset


def task_key(block, index):
    """The key of a map's task: its map block (items file) and index in it."""
    return "m%d.%d" % (block, index)


def parse_key(key):
    """("c", offset) or ("m", (block, index)); None for an unknown key."""
    try:
        if key.startswith("c"):
            return "c", int(key[1:])
        if key.startswith("m"):
            block, index = key[1:].split(".")
            return "m", (int(block), int(index))
    except ValueError:
        pass
    return None
