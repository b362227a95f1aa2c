"""fjd.journal: CRC-framed lines, the one writer of a journal with its running totals and
failure chain, and the readers (tail, last record, record at an offset, all, find)."""
import errno
import os
import zlib

import pytest

from fjd import defaults, journal

from unit_helpers import put


def test_frame_unframe_round_trip():
    """A framed record is JSON, a tab, 8 hex digits of CRC-32, a newline; it reads back."""
    record = {"k": "job", "name": "j\u00e9b \t1.conf", "n": [1, None, 2.5], "s": "\udcff"}
    line = journal.frame(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert journal.unframe(line[:-1]) == record


@pytest.mark.parametrize("damage", [
    lambda line: line[:-5],  # torn: part of the checksum missing
    lambda line: line[:len(line) // 2],  # torn in the JSON
    lambda line: line.replace(b"job", b"jab"),  # the payload changed: wrong checksum
    lambda line: line[:-8] + b"00000000",  # wrong checksum
    lambda line: line[:-8] + b"zzzzzzzz",  # not hex
    lambda line: line.replace(b"\t", b" "),  # no tab
    lambda line: b"",
    lambda line: b"garbage\tgarbage",
    lambda line: b"\x00\xff\xfe\t12345678",
])
def test_unframe_damaged_is_none(damage):
    """A torn line, a wrong checksum or garbage is None, never an exception."""
    line = journal.frame({"k": "job", "state": "done"})[:-1]
    assert journal.unframe(damage(line)) is None


def test_unframe_foreign_json_is_none():
    """A valid checksum over JSON that is not an object, or not JSON, is None."""
    for payload in (b"[1,2]", b"not json", b'"text"'):
        assert journal.unframe(payload + b"\t%08x" % (zlib.crc32(payload) & 0xFFFFFFFF)) is None


def writer(tmp_path, writer_id="w1"):
    return journal.JournalWriter(str(tmp_path), writer_id, {"role": "test"})


def test_journal_writer_running_totals(tmp_path):
    """Each record carries the running totals: jobs done/failed/cancelled, then tasks;
    a range record counts size tasks."""
    w = writer(tmp_path)
    w.append({"k": "job", "state": "done"})
    w.append({"k": "job", "state": "done"})
    w.append({"k": "job", "state": "failed"})
    w.append({"k": "job", "state": "cancelled"})
    w.append({"k": "tasks", "state": "done"}, size=5)
    w.append({"k": "task", "state": "failed"})
    w.append({"k": "task", "state": "cancelled"}, size=2)
    w.append({"k": "note", "state": "done"})  # counts nowhere
    w.append({"k": "job", "state": "running"})
    assert w.totals == [2, 1, 1, 5, 1, 2]
    w.adjust({"k": "retry"}, [0, -1, 0, 0, -1, 0])
    assert w.totals == [2, 0, 1, 5, 0, 2]
    w.close()
    records = [r for _, r in journal.all_records(w.path)]
    assert records[0] == {"role": "test", "k": "journal", "v": 1, "writer": "w1"}
    assert [r["tot"] for r in records[1:]] == [
        [1, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0], [2, 1, 0, 0, 0, 0], [2, 1, 1, 0, 0, 0],
        [2, 1, 1, 5, 0, 0], [2, 1, 1, 5, 1, 0], [2, 1, 1, 5, 1, 2], [2, 1, 1, 5, 1, 2],
        [2, 1, 1, 5, 1, 2], [2, 0, 1, 5, 0, 2]]
    assert w.count == 9
    assert journal.last_record(w.path)["tot"] == w.totals


def test_journal_writer_failure_chain(tmp_path):
    """pf is the offset of the writer's previous failure: following it from the last
    record visits every failure, newest first."""
    w = writer(tmp_path)
    offsets = {}
    for number, state in enumerate(["done", "failed", "done", "done", "failed", "cancelled",
                                    "failed", "done"]):
        offsets[number] = w.append({"k": "job", "state": state, "n": number})
    w.close()
    failures = []
    record = journal.last_record(w.path)
    while "pf" in record:
        record = journal.record_at(w.path, record["pf"])
        failures.append(record["n"])
    assert failures == [6, 4, 1]
    assert "pf" not in journal.record_at(w.path, offsets[1])  # the first failure
    assert [offset for offset, _ in journal.all_records(w.path)][1:] == list(offsets.values())


def test_journal_writer_is_the_only_writer(tmp_path):
    """Two writers with one id: the second cannot open the journal."""
    writer(tmp_path).append({"k": "job", "state": "done"})
    with pytest.raises(FileExistsError):
        writer(tmp_path).append({"k": "job", "state": "done"})


def test_journal_writer_recovers_from_a_torn_write(tmp_path, monkeypatch):
    """A write cut short (a full disk) leaves a torn line; the next record starts on a line
    of its own, its offset is right, and readers skip the torn part."""
    w = writer(tmp_path)
    w.append({"k": "job", "state": "done", "n": 1})
    real_write = os.write

    calls = []

    def half_then_full(fd, data):
        """The disk fills up: a short write, then ENOSPC (as write(2) does it)."""
        if fd != w.fd:
            return real_write(fd, data)
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, bytes(data[:len(data) // 2]))
    monkeypatch.setattr(journal.os, "write", half_then_full)
    with pytest.raises(OSError):
        w.append({"k": "job", "state": "done", "n": 2})
    monkeypatch.setattr(journal.os, "write", real_write)
    assert w.torn and w.totals == [1, 0, 0, 0, 0, 0]
    offset = w.append({"k": "job", "state": "done", "n": 2})
    w.close()
    assert journal.record_at(w.path, offset)["n"] == 2
    records = [r for _, r in journal.all_records(w.path)]
    assert [r.get("n") for r in records] == [None, 1, 2]
    assert records[-1]["tot"] == [2, 0, 0, 0, 0, 0]


def filled_journal(tmp_path, count=50):
    w = writer(tmp_path)
    offsets = [w.append({"k": "job", "state": "done", "queue": "j%03d.conf" % i, "i": i})
               for i in range(count)]
    w.close()
    return w.path, offsets


def test_tail_reads_whole_lines_at_the_end(tmp_path):
    """tail(max_bytes) gives the valid lines that start within the last max_bytes, with
    their offsets, and the file size."""
    path, offsets = filled_journal(tmp_path)
    size = os.path.getsize(path)
    lines, found_size = journal.tail(path, 300)
    assert found_size == size
    assert lines and all(offset >= size - 300 for offset, _ in lines)
    assert [offset for offset, _ in lines] == offsets[-len(lines):]
    assert lines[-1][1]["i"] == 49
    everything, _ = journal.tail(path, 10 ** 9)
    assert len(everything) == 51
    assert journal.tail(str(tmp_path / "missing.journal")) == ([], 0)


def test_last_record_skips_a_torn_last_line(tmp_path):
    """A last line without newline, or with a wrong checksum, is passed over."""
    path, _ = filled_journal(tmp_path, 3)
    with open(path, "ab") as handle:
        handle.write(b'{"k":"job","state":"done","i":99}\t00000000\n')  # wrong checksum
        handle.write(journal.frame({"k": "job", "i": 100})[:-3])  # torn
    assert journal.last_record(path)["i"] == 2
    assert journal.last_record(str(tmp_path / "missing.journal")) is None


def test_last_record_reads_back_past_a_long_torn_tail(tmp_path):
    """More than one tail chunk of garbage at the end: last_record reads further back."""
    path, _ = filled_journal(tmp_path, 3)
    with open(path, "ab") as handle:
        handle.write(b"x" * (defaults.JOURNAL_TAIL_CHUNK * 2))
    assert journal.last_record(path)["i"] == 2
    empty = put(tmp_path / "empty.journal", b"")
    assert journal.last_record(empty) is None


def test_record_at(tmp_path):
    """record_at(offset) is the record starting there; None in the middle of a line."""
    path, offsets = filled_journal(tmp_path, 5)
    assert [journal.record_at(path, o)["i"] for o in offsets] == [0, 1, 2, 3, 4]
    assert journal.record_at(path, offsets[2] + 3) is None
    assert journal.record_at(path, os.path.getsize(path)) is None
    assert journal.record_at(str(tmp_path / "missing.journal"), 0) is None


def test_all_records_in_small_chunks(tmp_path):
    """all_records gives every valid line with its offset, whatever the chunk size."""
    path, offsets = filled_journal(tmp_path, 20)
    with open(path, "ab") as handle:
        handle.write(b"garbage line\n")
        handle.write(journal.frame({"k": "job", "i": 20}))
        handle.write(journal.frame({"k": "job", "i": 21})[:-4])  # torn tail
    big = list(journal.all_records(path))
    assert [r.get("i") for _, r in big] == [None] + list(range(21))
    assert [o for o, _ in big][1:21] == offsets
    for chunk in (1, 7, 64, 1000):
        assert list(journal.all_records(path, chunk=chunk)) == big
    assert list(journal.all_records(str(tmp_path / "missing.journal"))) == []


def test_find_with_needles(tmp_path):
    """find gives the records holding any needle, once each, in file order."""
    w = writer(tmp_path)
    w.append({"k": "job", "state": "done", "queue": "a.conf", "original": "a.conf"})
    w.append({"k": "job", "state": "failed", "queue": "b.conf", "note": "\u00e9t\u00e9"})
    w.append({"k": "task", "state": "done", "array": "a.conf", "i": 3})
    w.append({"k": "job", "state": "done", "queue": "ab.conf"})
    w.close()
    with open(w.path, "ab") as handle:  # a torn line holding a needle
        handle.write(b'{"k":"job","queue":"b.conf"}\t0000\n')
    needle = journal.needle
    assert needle("queue", "a.conf") == b'"queue":"a.conf"'
    found = journal.find(w.path, [needle("queue", "a.conf")])
    assert [r["queue"] for _, r in found] == ["a.conf"]
    found = journal.find(w.path, [needle("queue", "b.conf"), needle("array", "a.conf"),
                                  needle("original", "a.conf"), needle("queue", "a.conf")])
    assert [(r["k"], r.get("queue")) for _, r in found] == [
        ("job", "a.conf"), ("job", "b.conf"), ("task", None)]
    assert [r["queue"] for _, r in journal.find(w.path, [needle("note", "\u00e9t\u00e9")])] \
        == ["b.conf"]
    assert [r["i"] for _, r in journal.find(w.path, [needle("i", 3)])] == [3]
    offsets = [o for o, _ in journal.all_records(w.path)]
    for chunk in (5, 40, 100):
        small = journal.find(w.path, [needle("state", "done")], chunk=chunk)
        assert [o for o, _ in small] == [offsets[1], offsets[3], offsets[4]]
    assert journal.find(w.path, [needle("queue", "zz")]) == []
    assert journal.find(str(tmp_path / "missing.journal"), [b"x"]) == []


def test_a_direct_journal_falls_back_where_writes_must_be_aligned(tmp_path):
    """direct=True is for FUSE, where O_DIRECT takes any write. A filesystem that takes the
    open but wants aligned writes (ext4, xfs) refuses the first unaligned one with EINVAL:
    the writer goes on through the cache, and no line is lost or torn."""
    writer = journal.JournalWriter(str(tmp_path), "w", {"role": "test"}, direct=True)
    for number in range(3):
        writer.append({"k": "task", "i": number + 1, "state": "done"})
    writer.close()
    lines = [r for _, r in journal.all_records(writer.path)]
    assert [r.get("i") for r in lines] == [None, 1, 2, 3]  # the header, then the tasks
