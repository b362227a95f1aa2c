"""fjd.liveness: heartbeats written in place and read without blocking, and the watch that
calls a worker dead only once its beat stayed the same for dead_after seconds."""
import os

import pytest

from fjd.liveness import (Beat, HeartbeatWatch, decode_beat, parse_beat, read_beat,
                          read_heartbeat, write_beat)

from unit_helpers import FakeClock


def test_watch_dead_only_after_dead_after_unchanged():
    """A heartbeat is dead once its content stayed the same for dead_after seconds."""
    clock = FakeClock()
    watch = HeartbeatWatch(8.0, clock=clock)
    assert watch.observe("w", b"1") == 0.0
    clock.advance(5)
    assert watch.observe("w", b"1") == 5.0
    assert not watch.is_dead("w", b"1")
    clock.advance(2.9)
    assert not watch.is_dead("w", b"1")
    clock.advance(0.1)
    assert watch.is_dead("w", b"1")
    assert watch.unchanged_for("w") == pytest.approx(8.0)


def test_watch_a_changed_beat_restarts_the_timer():
    """A beat whose content changed is alive again, and its timer starts from the change."""
    clock = FakeClock()
    watch = HeartbeatWatch(8.0, clock=clock)
    watch.observe("w", b"1")
    clock.advance(7.5)
    assert watch.observe("w", b"2") == 0.0
    clock.advance(7.5)
    assert not watch.is_dead("w", b"2")
    assert watch.unchanged_for("w") == 7.5
    clock.advance(0.5)
    assert watch.is_dead("w", b"2")


def test_watch_keys_forget_and_unknown_keys():
    """keys() lists what is watched, forget() drops a key, an unknown key is 0 s old."""
    clock = FakeClock()
    watch = HeartbeatWatch(1.0, clock=clock)
    assert watch.unchanged_for("nobody") == 0.0
    watch.observe("a", b"x")
    watch.observe("b", None)  # a missing heartbeat is content too
    assert sorted(watch.keys()) == ["a", "b"]
    clock.advance(3)
    assert watch.is_dead("b", None)
    watch.forget("a")
    watch.forget("never-seen")
    assert watch.keys() == ["b"]
    assert watch.observe("a", b"x") == 0.0  # forgotten: starts afresh


def test_watch_compares_content_not_mtime(tmp_path):
    """A heartbeat rewritten with the same bytes (new mtime) has not changed; new bytes with
    an old mtime have."""
    path = str(tmp_path / ".heartbeat")
    clock = FakeClock()
    watch = HeartbeatWatch(8.0, clock=clock)
    write_beat(path, {"beat": 1, "host": "h", "pid": 1})
    watch.observe("w", read_beat(path))
    clock.advance(9)
    write_beat(path, {"beat": 1, "host": "h", "pid": 1})
    os.utime(path, ns=(10 ** 18, 10 ** 18))  # far in the future: it was "touched"
    assert watch.is_dead("w", read_beat(path))
    write_beat(path, {"beat": 2, "host": "h", "pid": 1})
    os.utime(path, ns=(1, 1))  # far in the past
    assert not watch.is_dead("w", read_beat(path))


def test_write_and_read_beat_round_trip(tmp_path):
    """write_beat pads to whole blocks of size; the bytes decode back to the payload."""
    path = str(tmp_path / ".heartbeat")
    payload = {"beat": 3, "host": "node1", "pid": 42, "job": "job0.conf", "extra": [1, 2]}
    assert write_beat(path, payload) == 256
    raw = read_beat(path)
    assert len(raw) == 256 and raw.rstrip(b" ").endswith(b"\n")
    assert decode_beat(raw) == payload
    assert parse_beat(decode_beat(raw)) == Beat(3, "node1", 42, "job0.conf", payload)
    assert read_heartbeat(str(tmp_path)) == Beat(3, "node1", 42, "job0.conf", payload)
    assert write_beat(str(tmp_path / "big"), payload, size=4096) == 4096
    assert os.path.getsize(str(tmp_path / "big")) == 4096


def test_write_beat_grows_and_never_truncates(tmp_path):
    """A long beat grows the file; a shorter one later keeps its size, blanks the rest, and
    still reads back as itself."""
    path = str(tmp_path / ".heartbeat")
    size = write_beat(path, {"beat": 1, "host": "h", "pid": 1})
    long_payload = {"beat": 2, "host": "h", "pid": 1, "job": "j" * 400}
    size = write_beat(path, long_payload, size)
    assert size == 512 and os.path.getsize(path) == 512
    assert decode_beat(read_beat(path)) == long_payload
    inode = os.stat(path).st_ino
    size = write_beat(path, {"beat": 3, "host": "h", "pid": 1}, size)
    assert size == 512 and os.path.getsize(path) == 512
    assert os.stat(path).st_ino == inode  # rewritten in place
    assert decode_beat(read_beat(path)) == {"beat": 3, "host": "h", "pid": 1}
    assert read_beat(path)[-300:] == b" " * 300


def test_write_beat_create_false_never_makes_the_file(tmp_path):
    """create=False: FileNotFoundError for a missing heartbeat, and none is made."""
    path = str(tmp_path / ".heartbeat")
    with pytest.raises(FileNotFoundError):
        write_beat(path, {"beat": 1, "pid": 1}, create=False)
    assert not os.path.exists(path)
    write_beat(path, {"beat": 1, "pid": 1})
    write_beat(path, {"beat": 2, "pid": 1}, 256, create=False)
    assert decode_beat(read_beat(path))["beat"] == 2
    missing_folder = str(tmp_path / "gone" / ".heartbeat")
    with pytest.raises(FileNotFoundError):
        write_beat(missing_folder, {"beat": 1, "pid": 1}, create=False)


@pytest.mark.timeout(5)
def test_fifo_heartbeat_reads_as_nothing_without_blocking(tmp_path):
    """A FIFO planted as .heartbeat (no writer) reads as empty at once: no Beat."""
    os.mkfifo(str(tmp_path / ".heartbeat"))
    assert not read_beat(str(tmp_path / ".heartbeat"))
    assert read_heartbeat(str(tmp_path)) is None


def test_read_beat_missing_or_symlink_is_none(tmp_path):
    """A missing heartbeat and a symbolic link to a real one both read as None."""
    assert read_beat(str(tmp_path / "nothing")) is None
    assert read_heartbeat(str(tmp_path / "no-inbox")) is None
    real = str(tmp_path / "real")
    write_beat(real, {"beat": 1, "host": "h", "pid": 1})
    os.symlink(real, str(tmp_path / ".heartbeat"))
    assert read_beat(str(tmp_path / ".heartbeat")) is None
    assert read_heartbeat(str(tmp_path)) is None


@pytest.mark.parametrize("raw", [None, b"", b"   \n", b"garbage", b"[1, 2]", b'"text"',
                                 b"3 nodeB 42\n", b'{"beat": 1, "pid"'])
def test_decode_beat_unreadable_is_empty(raw):
    """Anything that is not one JSON object decodes to {} (and parses to no Beat)."""
    assert decode_beat(raw) == {}
    assert parse_beat(decode_beat(raw)) is None


def test_decode_beat_survives_bad_utf8():
    """Bytes that are not UTF-8 inside the JSON are replaced, not fatal."""
    assert decode_beat(b'{"beat": 1, "pid": 2, "host": "n\xffde"}')["host"] == "n\ufffdde"


@pytest.mark.parametrize("info,expected", [
    ({"beat": 1, "pid": 2}, Beat(1, "?", 2, None, {"beat": 1, "pid": 2})),
    ({"beat": "7", "pid": "9", "host": ""}, Beat(7, "?", 9, None,
                                                 {"beat": "7", "pid": "9", "host": ""})),
    ({"beat": 1}, None),
    ({"pid": 1}, None),
    ({"beat": "x", "pid": 1}, None),
    ({"beat": None, "pid": 1}, None),
    ({"beat": 1, "pid": [1]}, None),
])
def test_parse_beat(info, expected):
    """beat and pid must be integers; host defaults to '?', job to None."""
    assert parse_beat(info) == expected
