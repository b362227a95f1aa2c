"""Unit tests of fjd's pure logic: no subprocesses, no daemons, no sleeping.

Clocks are injected (a FakeClock that moves only when told), and the few tests that need
real files use tmp_path. The whole file runs in well under a second.
"""
import errno
import fcntl
import os
import stat
import zlib

import pytest

from fjd import defaults, journal, names, tickets
from fjd.arrays import declared_kind, read_spec
from fjd.placeholders import CommandTemplate, fill_text, unknown_placeholders
from fjd.values import ValueList, escape_value, parse_values, values_text
from fjd.completion import Completion
from fjd.defaults import BATCH_SECONDS, MAX_BATCH, MAX_RANGE, MERGE_PIECES, RANGE_SECONDS
from fjd.dispatcher import Dispatcher
from fjd.dispatcher.listing import JobListing, read_priority
from fjd.jobfile import JobError, load, parse_config, priority_of
from fjd.layout import Layout
from fjd.liveness import (Beat, HeartbeatWatch, decode_beat, parse_beat, read_beat,
                          read_heartbeat, write_beat)
from fjd.progress import RecentRate
from fjd.ready import F_RDLCK, F_SETLEASE, F_UNLCK, GONE, NOT_REGULAR, READY, WRITING, \
    ReadinessChecker
from fjd.status import rate_of


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def put(path, data):
    """Write data (str or bytes) to path; returns path as a str."""
    path = str(path)
    with open(path, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    return path


# == liveness.py ==============================================================================

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


# == ready.py =================================================================================

def settle_checker(settle=1.0):
    clock = FakeClock()
    return ReadinessChecker(settle_seconds=settle, use_leases=False, clock=clock), clock


def test_ready_only_after_settle_seconds_unchanged(tmp_path):
    """Without leases a file is READY once its size and mtime stayed the same for settle s."""
    checker, clock = settle_checker(1.0)
    path = put(tmp_path / "job.conf", "[control]\n")
    assert checker.check(path, "job.conf") == (WRITING, None)
    clock.advance(0.5)
    assert checker.check(path, "job.conf") == (WRITING, None)
    clock.advance(0.5)
    assert checker.check(path, "job.conf") == (READY, None)


def test_ready_a_change_restarts_the_wait(tmp_path):
    """A new size, or the same size with a new mtime, starts the settle time again."""
    checker, clock = settle_checker(1.0)
    path = put(tmp_path / "job.conf", "[control]\n")
    checker.check(path, "job.conf")
    clock.advance(0.9)
    with open(path, "a") as handle:
        handle.write("executable: true\n")
    assert checker.check(path, "job.conf")[0] == WRITING
    clock.advance(0.9)
    assert checker.check(path, "job.conf")[0] == WRITING
    info = os.stat(path)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1))
    clock.advance(0.1)  # 1.0 s since the size changed, but the mtime just did
    assert checker.check(path, "job.conf")[0] == WRITING
    clock.advance(1.0)
    assert checker.check(path, "job.conf")[0] == READY


def test_ready_forget_restarts_the_wait(tmp_path):
    """forget(name) drops what was seen: the wait begins again."""
    checker, clock = settle_checker(1.0)
    path = put(tmp_path / "job.conf", "x")
    checker.check(path, "job.conf")
    clock.advance(0.8)
    checker.forget("job.conf")
    checker.forget("never-seen")
    assert checker.check(path, "job.conf")[0] == WRITING
    clock.advance(0.8)
    assert checker.check(path, "job.conf")[0] == WRITING
    clock.advance(0.2)
    assert checker.check(path, "job.conf")[0] == READY


def test_ready_settle_zero_is_immediate(tmp_path):
    """settle 0: a regular file is READY at the first look."""
    checker, _ = settle_checker(0)
    path = put(tmp_path / "job.conf", "x")
    assert checker.check(path, "job.conf") == (READY, None)


def test_ready_head_returns_first_bytes(tmp_path):
    """head=N: READY comes with the file's first N bytes (all of a shorter file)."""
    checker, clock = settle_checker(0)
    path = put(tmp_path / "job.conf", b"[control]\nexecutable: true\n")
    assert checker.check(path, "job.conf", head=9) == (READY, b"[control]")
    assert checker.check(path, "job.conf", head=1000) == (READY, b"[control]\nexecutable: true\n")
    waiting, _ = settle_checker(5)
    assert waiting.check(path, "job.conf", head=9) == (WRITING, None)


@pytest.mark.timeout(5)
def test_ready_not_regular_and_gone(tmp_path):
    """A symlink is NOT_REGULAR with S_IFLNK (never followed), a directory or FIFO is
    NOT_REGULAR with its mode, a missing name is GONE."""
    checker, _ = settle_checker(0)
    target = put(tmp_path / "real.conf", "x")
    os.symlink(target, str(tmp_path / "link.conf"))
    os.mkdir(str(tmp_path / "folder"))
    os.mkfifo(str(tmp_path / "pipe"))
    assert checker.check(str(tmp_path / "link.conf"), "link.conf") == (NOT_REGULAR,
                                                                       stat.S_IFLNK)
    state, mode = checker.check(str(tmp_path / "folder"), "folder")
    assert state == NOT_REGULAR and stat.S_ISDIR(mode)
    state, mode = checker.check(str(tmp_path / "pipe"), "pipe")
    assert state == NOT_REGULAR and stat.S_ISFIFO(mode)
    assert checker.check(str(tmp_path / "missing"), "missing") == (GONE, None)


def leases_work(folder):
    """Can this process take a read lease on a file of its own in folder?"""
    probe = put(os.path.join(str(folder), ".lease-probe"), "x")
    fd = os.open(probe, os.O_RDONLY)
    try:
        fcntl.fcntl(fd, F_SETLEASE, F_RDLCK)
        fcntl.fcntl(fd, F_SETLEASE, F_UNLCK)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        os.unlink(probe)


def test_ready_lease_refused_while_open_for_writing(tmp_path):
    """With leases, a file open for writing (even by us) is WRITING; closed, it is READY at
    once, whatever the settle time."""
    if not leases_work(tmp_path):
        pytest.skip("this filesystem grants no leases")
    checker = ReadinessChecker(settle_seconds=3600, use_leases=True, clock=FakeClock())
    path = str(tmp_path / "job.conf")
    with open(path, "w") as handle:
        handle.write("[control]\n")
        handle.flush()
        assert checker.check(path, "job.conf") == (WRITING, None)
        reader = os.open(path, os.O_RDONLY)  # a reader does not count
        try:
            assert checker.check(path, "job.conf") == (WRITING, None)
        finally:
            os.close(reader)
    assert checker.check(path, "job.conf", head=4) == (READY, b"[con")
    reader = os.open(path, os.O_RDONLY)
    try:
        assert checker.check(path, "job.conf") == (READY, None)
    finally:
        os.close(reader)


# == dispatcher.py ============================================================================

def queue_folder(tmp_path, files):
    """A jobqueue folder holding files {name: text}."""
    folder = tmp_path / "jobqueue"
    folder.mkdir()
    for name, text in files.items():
        put(folder / name, text)
    return str(folder)


def job(priority=None):
    text = "[control]\nexecutable: true\n"
    return text + ("priority: %s\n" % priority if priority is not None else "")


def test_listing_name_order_skips_ignored_and_sets_odd_aside(tmp_path):
    """A listing is in name order, without dot-names, .tmp and .part; directories and
    links are set aside with their modes."""
    folder = queue_folder(tmp_path, {"b.conf": job(), "a.conf": job(), "c.conf": job(),
                                     ".hidden": job(), "x.tmp": job(), "y.part": job()})
    os.mkdir(os.path.join(folder, "sub"))
    os.symlink("a.conf", os.path.join(folder, "link.conf"))
    listing = JobListing(folder)
    listing.relist(now=0.0)
    assert list(listing.pending) == ["a.conf", "b.conf", "c.conf"]
    odd = dict(listing.odd)
    assert sorted(odd) == ["link.conf", "sub"]
    assert stat.S_ISDIR(odd["sub"]) and stat.S_ISLNK(odd["link.conf"])
    assert listing.priorities == {"a.conf": 0, "b.conf": 0, "c.conf": 0}
    assert listing.last_list_at == 0.0


def test_listing_priority_higher_first_stable_within(tmp_path):
    """[control] priority reorders the queue, higher first, name order within a priority."""
    folder = queue_folder(tmp_path, {"j1": job(), "j2": job(-1), "j3": job(5), "j4": job(5),
                                     "j5": job(0), "j6": job(2)})
    listing = JobListing(folder)
    listing.relist(now=0.0)
    assert list(listing.pending) == ["j3", "j4", "j6", "j1", "j5", "j2"]
    assert listing.priorities["j3"] == 5 and listing.priorities["j2"] == -1


def test_listing_priority_window_only(tmp_path, monkeypatch):
    """Only the first PRIORITY_WINDOW names are reordered; the rest stay in name order."""
    monkeypatch.setattr(defaults, "PRIORITY_WINDOW", 3)
    folder = queue_folder(tmp_path, {"j1": job(), "j2": job(1), "j3": job(), "j4": job(9),
                                     "j5": job()})
    listing = JobListing(folder)
    listing.relist(now=0.0)
    assert list(listing.pending) == ["j2", "j1", "j3", "j4", "j5"]
    assert sorted(listing.priorities) == ["j1", "j2", "j3"]


def test_listing_missing_folder_is_empty(tmp_path):
    """A jobqueue/ that does not exist lists as empty."""
    listing = JobListing(str(tmp_path / "nope"))
    listing.relist(now=0.0)
    assert list(listing.pending) == [] and listing.odd == []


@pytest.mark.parametrize("text,expected", [
    (job(), 0),
    (job(7), 7),
    (job(-3), -3),
    ("[control]\nexecutable: true\npriority: 1\npriority: 7\n", 7),
    ("[control]\nexecutable: true\nPRIORITY: 4\n", 4),
    ("[control]\nexecutable: true\nPriority = 6\n", 6),
    ("[control]\npriority: 2\n[other]\npriority: 9\n[control]\nexecutable: true\n"
     "priority: 3\n", 3),
    ("[control]\npriority: 2\nexecutable: true\n[control]\nretries: 1\n", 2),
    ("[control]\nexecutable: true\n[params]\npriority: 9\n", 0),
])
def test_read_priority_same_rule_as_the_worker(tmp_path, text, expected):
    """read_priority (dispatcher) and jobfile.load (worker) agree: later value wins, keys
    are case-insensitive, a second [control] section's value wins."""
    path = put(tmp_path / "job.conf", text)
    assert read_priority(path) == expected
    assert load(path).priority == expected
    assert priority_of(text.encode()) == expected


@pytest.mark.parametrize("data", [
    b"", b"priority: 5\n", b"[control]\npriority: high\n", b"[control]\npriority: 1.5\n",
    b"[control]\npriority\n", b"[job]\npriority: 3\n", b"\0priority", b"[control\npriority",
])
def test_priority_of_invalid_is_zero(data):
    """A file that is no valid job, or whose priority is no whole number, has priority 0."""
    assert priority_of(data) == 0


def test_read_priority_refuses_links_and_missing(tmp_path):
    """A missing file or a symlink to a prioritised job reads as priority 0."""
    target = put(tmp_path / "real.conf", job(8))
    os.symlink(target, str(tmp_path / "link.conf"))
    assert read_priority(target) == 8
    assert read_priority(str(tmp_path / "link.conf")) == 0
    assert read_priority(str(tmp_path / "missing.conf")) == 0


@pytest.fixture
def plain_dispatcher(tmp_path):
    """A Dispatcher on an empty root, never run."""
    return Dispatcher(root=str(tmp_path))


def test_dispatcher_constructed_without_touching_the_root(tmp_path, plain_dispatcher):
    """Making a Dispatcher writes nothing: folders, lock and journal come with run()."""
    assert os.listdir(str(tmp_path)) == []
    assert plain_dispatcher.batches.sizes == {} and plain_dispatcher.batches.sent == {}


def test_batch_starts_at_one_and_doubles_up_to_max_batch(plain_dispatcher):
    """Quick jobs: the batch doubles each round trip and stops at MAX_BATCH."""
    d = plain_dispatcher
    assert d.batches.next_size("w", now=0.0) == 1
    assert d.batches.next_size("w", now=0.0) == 1  # nothing sent: nothing learnt
    sizes, now = [], 0.0
    size = 1
    for _ in range(10):
        d.batches.sent["w"] = (now, size)
        now += 0.0001 * size  # 0.1 ms a job
        size = d.batches.next_size("w", now)
        sizes.append(size)
    assert sizes == [2, 4, 8, 16, 32, 64, MAX_BATCH, MAX_BATCH, MAX_BATCH, MAX_BATCH]
    assert d.batches.sizes["w"] == MAX_BATCH
    assert "w" not in d.batches.sent  # each report is used once


def test_batch_follows_batch_seconds(plain_dispatcher):
    """A batch holds about BATCH_SECONDS of the worker's last per-job time."""
    d = plain_dispatcher
    d.batches.sizes["w"] = MAX_BATCH
    d.batches.sent["w"] = (10.0, 32)
    assert d.batches.next_size("w", now=10.5) == int(BATCH_SECONDS / (0.5 / 32)) == 16
    d.batches.sent["w"] = (20.0, 16)
    assert d.batches.next_size("w", now=24.0) == 1  # a quarter second a job: one at a time
    d.batches.sent["w"] = (30.0, 1)
    assert d.batches.next_size("w", now=130.0) == 1  # never below one
    d.batches.sent["w"] = (40.0, 1)
    assert d.batches.next_size("w", now=40.0) == 2  # no time at all: doubles, no division by 0


def test_batch_sizes_are_per_worker(plain_dispatcher):
    """Each worker's batch is learnt from its own round trips."""
    d = plain_dispatcher
    d.batches.sent["fast"] = (0.0, 1)
    d.batches.sent["slow"] = (0.0, 1)
    assert d.batches.next_size("fast", now=0.001) == 2
    assert d.batches.next_size("slow", now=5.0) == 1
    assert d.batches.next_size("fast", now=9.0) == 2  # remembered, not relearnt


def test_batch_of_tasks_follows_range_seconds_and_max_range(plain_dispatcher):
    """More than MAX_BATCH tasks last time: ranges are sized for RANGE_SECONDS, capped at
    MAX_RANGE."""
    d = plain_dispatcher
    d.batches.sizes["w"] = 1000
    d.batches.sent["w"] = (0.0, 256)
    assert d.batches.next_size("w", now=0.5) == int(RANGE_SECONDS / (0.5 / 256)) == 512
    d.batches.sizes["w"] = 80000
    d.batches.sent["w"] = (0.0, 80000)
    assert d.batches.next_size("w", now=0.0) == MAX_RANGE


def test_batch_for_a_queued_range_uses_range_seconds(plain_dispatcher):
    """When the next queued name is a range of tasks, the range rule applies even after a
    small batch; for single jobs the job rule does."""
    d = plain_dispatcher
    d.batches.sizes["w"] = 64
    d.batches.sent["w"] = (0.0, 4)
    d.listing.pending.append("single.conf")
    assert d.batches.next_size("w", now=0.5) == int(BATCH_SECONDS / 0.125) == 2
    d.batches.sizes["w"] = 64
    d.batches.sent["w"] = (0.0, 4)
    d.listing.pending.appendleft(names.compose("sweep.conf", first=1, last=1000,
                                               uid="abcd1234"))
    assert d.listing.next_is_range()
    assert d.batches.next_size("w", now=0.5) == int(RANGE_SECONDS / 0.125) == 8


def test_same_priority(plain_dispatcher):
    """same_priority: True without priorities or queue; else compares the next queued job
    with the first of the batch."""
    d = plain_dispatcher
    assert d.listing.same_priority("a")
    d.listing.priorities = {"a": 1, "b": 1, "c": 0}
    assert d.listing.same_priority("a")  # nothing queued
    d.listing.pending.extend(["b", "c"])
    assert d.listing.same_priority("a")
    d.listing.pending.popleft()
    assert not d.listing.same_priority("a")
    assert d.listing.same_priority("unknown")  # both 0


# == names.py =================================================================================

@pytest.mark.parametrize("fields", [
    dict(attempts=1),
    dict(attempts=12, tag="d5f3e2c-3"),
    dict(tag="w1a2b"),
    dict(tag="r7"),
    dict(first=101, last=200, uid="3f9c2a71"),
    dict(first=5, last=5, uid="00ff", attempts=2, offset=0),
    dict(first=1, last=10 ** 12 - 1, uid="ab", offset=123456),
    dict(first=1, last=3, uid="ab", flags=""),
    dict(first=1, last=3, uid="ab", flags="F"),
    dict(first=1, last=3, uid="ab", flags="CF", tag="d1"),
])
@pytest.mark.parametrize("original", ["job0.conf", "sample@a7", "a@b@c", "x~y.conf",
                                      "sweep.conf@t1-2.uab~000000", "noext", "t1-2"])
def test_compose_parse_round_trip(original, fields):
    """parse(compose(original, **fields)) gives every field back, whatever the original."""
    name = names.compose(original, **fields)
    expected = names.QueueName(original, fields.get("attempts", 0), fields.get("first"),
                               fields.get("last"), fields.get("uid"), fields.get("offset"),
                               fields.get("flags"), fields.get("tag"))
    assert names.parse(name) == expected
    assert names.with_fields(names.parse(name)) == name


def test_compose_without_fields_is_the_original():
    """A job with no history keeps its own name."""
    assert names.compose("job0.conf") == "job0.conf"
    assert names.compose("job0.conf", attempts=0, tag="") == "job0.conf"
    assert names.parse("job0.conf") == names.QueueName("job0.conf", 0, None, None, None,
                                                       None, None, None)


def test_queue_name_properties():
    """is_tasks needs a range and an id; size counts tasks; finished means flags are set."""
    single = names.parse(names.compose("j", attempts=1))
    assert not single.is_tasks and single.size == 1 and not single.finished
    tasks = names.parse(names.compose("j", first=11, last=20, uid="ab"))
    assert tasks.is_tasks and tasks.size == 10 and not tasks.finished
    done = names.parse(names.compose("j", first=1, last=2, uid="ab", flags=""))
    assert done.finished  # empty flags: finished, nothing failed
    no_uid = names.parse(names.compose("j", first=1, last=2))
    assert not no_uid.is_tasks and no_uid.size == 1


@pytest.mark.parametrize("name", [
    "sample@a7",  # a user's own name: no checksum
    "x@a1.d3~000000",  # wrong checksum
    "x@a1~" + names.checksum("x@a2"),  # checksum of something else
    "a@b@c",
    "a@b@a1",
    "@a1~" + names.checksum("@a1"),  # nothing before the @
    "x@A1~" + names.checksum("x@A1"),  # fields start with a lower-case letter
    "x@a1~" + names.checksum("x@a1").upper(),
    "x@a1~" + names.checksum("x@a1") + ".conf",
])
def test_checksum_rule_user_names_are_originals(name):
    """Only a suffix with a matching checksum is fjd's: anything else is an original name
    with attempts 0."""
    assert names.parse(name) == names.QueueName(name, 0, None, None, None, None, None, None)


def test_checksum_rule_finds_fjd_suffix_after_user_at_signs():
    """The last valid suffix counts, whatever @ the original holds."""
    name = names.compose("x@a1.d3~000000", attempts=4)
    assert names.parse(name).original == "x@a1.d3~000000"
    assert names.parse(name).attempts == 4
    assert names.parse("x@a1~" + names.checksum("x@a1")).attempts == 1


def test_parse_ignores_bad_ranges_and_unknown_fields():
    """A backward range is no range; unknown field letters are ignored."""
    head = "j@t5-2.uab"
    assert names.parse(head + "~" + names.checksum(head)).first is None
    head = "j@a2.zq.t1-3.uab"
    parsed = names.parse(head + "~" + names.checksum(head))
    assert (parsed.attempts, parsed.first, parsed.last, parsed.uid) == (2, 1, 3, "ab")


def test_requeue_name():
    """requeue_name carries the attempt count and tag; attempt 0 without tag is the
    original."""
    name = names.requeue_name("job0.conf", 2, "d5f3e2c-3")
    assert names.parse(name) == names.QueueName("job0.conf", 2, None, None, None, None, None,
                                                "d5f3e2c-3")
    assert names.parse(names.requeue_name("job0.conf", 1)).attempts == 1
    assert names.requeue_name("job0.conf", 0) == "job0.conf"
    again = names.requeue_name(names.parse(name).original, 3, "w9")
    assert names.parse(again).attempts == 3 and names.parse(again).original == "job0.conf"


def test_final_names_original_first_then_numbered():
    """done/ and failed/ take the original name, then NAME~2.ext, NAME~3.ext, ..."""
    candidates = list(names.final_names("job0.conf"))
    assert candidates[:4] == ["job0.conf", "job0~2.conf", "job0~3.conf", "job0~4.conf"]
    assert candidates[98] == "job0~99.conf"
    assert len(candidates) == 100 and candidates[-1].startswith("job0~")
    assert candidates[-1].endswith(".conf") and len(set(candidates)) == 100
    assert list(names.final_names("noext"))[:2] == ["noext", "noext~2"]
    assert list(names.final_names(".bashrc"))[:2] == [".bashrc", ".bashrc~2"]
    assert list(names.final_names("a.tar.gz"))[:2] == ["a.tar.gz", "a.tar~2.gz"]


@pytest.mark.parametrize("original", ["x" * 300 + ".conf", "\u00e9" * 200 + ".conf",
                                      "y" * 251 + ".c", "z" * 400])
def test_final_names_fit_251_bytes(original):
    """Every candidate leaves room for .out (251 bytes), keeps the extension, and differs."""
    candidates = list(names.final_names(original))
    assert all(len(os.fsencode(c)) <= names.MAX_NAME_BYTES - len(".out") for c in candidates)
    ext = os.path.splitext(original)[1]
    assert all(c.endswith(ext) for c in candidates)
    assert len(set(candidates)) == len(candidates)


def test_fit_shortens_long_names_only():
    """fit: 255 bytes at most, the extension kept, a hash keeping different names apart."""
    assert names.fit("short.conf") == "short.conf"
    exact = "e" * 250 + ".conf"
    assert names.fit(exact) == exact
    long_a, long_b = "x" * 295 + "a.conf", "x" * 295 + "b.conf"
    fitted_a, fitted_b = names.fit(long_a), names.fit(long_b)
    assert len(os.fsencode(fitted_a)) == 255 and fitted_a.endswith(".conf")
    assert fitted_a.startswith("x" * 200) and fitted_a != fitted_b
    assert names.fit(long_a) == fitted_a  # the same name fits the same way
    wide = names.fit("\u00e9" * 300)  # two bytes a character: never cut in the middle
    assert len(os.fsencode(wide)) <= 255 and wide.startswith("\u00e9" * 100)


def test_compose_shortens_long_originals_to_leave_room():
    """A long original is fitted before a suffix is added: the name stays under 255 bytes."""
    original = "y" * 300 + ".conf"
    name = names.compose(original, attempts=99, first=1, last=10 ** 12 - 1, uid="a" * 8,
                         offset=10 ** 12, flags="CF", tag="d" + "f" * 20)
    assert len(os.fsencode(name)) <= names.MAX_NAME_BYTES
    assert names.parse(name).original == names.fit(original,
                                                   names.MAX_NAME_BYTES - names.SUFFIX_ROOM)
    assert names.parse(name).attempts == 99


def test_task_name_round_trip():
    """NAME#17 names task 17 of NAME; parse_task_name gives it back."""
    assert names.task_name("sweep.conf", 17) == "sweep.conf#17"
    assert names.parse_task_name("sweep.conf#17") == ("sweep.conf", 17)
    assert names.parse_task_name("a#b#3") == ("a#b", 3)
    for plain in ["sweep.conf", "sweep.conf#0", "#3", "a#", "a#-1", "a#1.5", "a#x"]:
        assert names.parse_task_name(plain) is None, plain


def test_parse_task_name_superscript_digit_is_a_plain_name():
    """A job named run#² is a plain job name, not a crash."""
    assert names.parse_task_name("run#\u00b2") is None


# == arrays.py ================================================================================

@pytest.mark.parametrize("text,expected", [
    ("a,b,c", ["a", "b", "c"]),
    ("a\\,b,c", ["a,b", "c"]),
    ("single", ["single"]),
    ("", [""]),
    ("1..5", ["1", "2", "3", "4", "5"]),
    ("5..1", ["5", "4", "3", "2", "1"]),
    ("-1..-3", ["-1", "-2", "-3"]),
    ("3..3", ["3"]),
    (" 1..3 ", ["1", "2", "3"]),
    ("1..10:4", ["1", "5", "9"]),
    ("10..1:-3", ["10", "7", "4", "1"]),
    ("0.1..0.5:0.1", ["0.1", "0.2", "0.3", "0.4", "0.5"]),
    ("0..1:0.3", ["0.0", "0.3", "0.6", "0.9"]),
    ("1..2:0.5", ["1.0", "1.5", "2.0"]),
    ("a,1..3,b", ["a", "1", "2", "3", "b"]),
    ("1\\..3", ["1..3"]),
    ("\\1..3", ["1..3"]),
    ("v1..v3", ["v1..v3"]),
    ("a\\\\b", ["a\\b"]),
    ("end\\", ["end\\"]),
])
def test_parse_values(text, expected):
    """Lists, escapes, integer ranges both ways, decimal ranges with a step."""
    values = parse_values(text)
    assert list(values) == expected
    assert len(values) == len(expected)


@pytest.mark.parametrize("text", ["1..", "..3", "1..3..2", "0.1..0.5", "1..5:0", "1..5:-1",
                                  "5..1:1", "a..1", "x,1..,y"])
def test_parse_values_errors(text):
    """Things that look like ranges but are not: ValueError with a message for people."""
    with pytest.raises(ValueError):
        parse_values(text)


def test_an_escaped_value_is_never_a_range():
    """A value with a backslash anywhere is literal, even when it reads as a range."""
    assert list(parse_values("1..\\3")) == ["1..3"]
    assert list(parse_values("0.1..0.5\\:0.1")) == ["0.1..0.5:0.1"]


ROUND_TRIP_VALUES = ["plain", "", "a,b", ",", ",,", "..", "...", "1..3", "0.1..0.5:0.1",
                     "1..", "back\\slash", "\\", "\\\\", "trail\\", " lead", "trail ",
                     "  both  ", " x ", "a, b", "\\,", "\\..", "tab\there", "\u00e9t\u00e9",
                     "$a {b}", "  \\  "]


@pytest.mark.parametrize("value", ROUND_TRIP_VALUES)
def test_escape_value_round_trips(value):
    """escape_value(v) reads back as v, alone and in a list with others."""
    assert list(parse_values(escape_value(value))) == [value]
    text = ",".join(escape_value(v) for v in ["first", value, "last"])
    assert list(parse_values(text)) == ["first", value, "last"]


@pytest.mark.parametrize("value", [" ", "\t"])
def test_escape_value_single_blank_round_trips(value):
    """A value that is one blank reads back as itself."""
    assert list(parse_values(escape_value(value))) == [value]


def test_escaped_values_survive_a_params_line():
    """Values written the way fjd submit writes an array's [params] read back as themselves,
    whichever comes last."""
    for values in (["a", "x "], [" ", "b"], ["a,b", "1..3", "\\", "[x]"]):
        text = values_text(values)
        parser = parse_config(("[control]\nexecutable: e\n\n[params]\nx: %s\n"
                               % text).encode())
        assert list(parse_values(parser["params"]["x"])) == values


def test_value_list_indexes_without_expanding():
    """A range of 10**9 values has its length and any value at once."""
    values = parse_values("1..1000000000")
    assert len(values) == 10 ** 9
    assert values[0] == "1" and values[-1] == "1000000000"
    assert values[123456788] == "123456789"
    mixed = parse_values("a,b,10..1000000000:10,z")
    assert len(mixed) == 2 + 10 ** 8 + 1
    assert mixed[1] == "b" and mixed[2] == "10" and mixed[3] == "20"
    assert mixed[len(mixed) - 2] == "1000000000" and mixed[-1] == "z"
    with pytest.raises(IndexError):
        mixed[len(mixed)]
    with pytest.raises(IndexError):
        ValueList([["only"]])[1]


def test_command_template_placeholders():
    """$a ${a} {a} and $1 are parameters; each value is (part of) exactly one argument."""
    template = CommandTemplate("sim $a ${b} {a} $2 --x=$a/{B} '$a and ${b}'", ["a", "b"])
    assert template.unknown == [] and not template.uses_jobfile
    assert template.argv(["1", "two words"]) == [
        "sim", "1", "two words", "1", "two words", "--x=1/two words", "1 and two words"]
    assert template.argv(["it's", "$x; rm -rf *"]) == [
        "sim", "it's", "$x; rm -rf *", "it's", "$x; rm -rf *", "--x=it's/$x; rm -rf *",
        "it's and $x; rm -rf *"]


def test_command_template_literals():
    """$$, {{ and }} are a literal $, { and }; they never start a placeholder."""
    template = CommandTemplate("echo $$ $$a {{a}} {{{a}}} cost$$5", ["a"])
    assert template.argv(["V"]) == ["echo", "$", "$a", "{a}", "{V}", "cost$5"]


def test_command_template_jobfile():
    """{jobfile} is where the job file's path goes (empty when there is none)."""
    template = CommandTemplate("prog --conf={jobfile} $a", ["a"])
    assert template.uses_jobfile and template.unknown == []
    assert template.argv(["1"], "/q/job 1.conf") == ["prog", "--conf=/q/job 1.conf", "1"]
    assert template.argv(["1"]) == ["prog", "--conf=", "1"]


def test_command_template_unknown_placeholders_left_and_reported():
    """Placeholders that name no parameter are reported in .unknown and left as written."""
    template = CommandTemplate("prog $zz {yy} ${xx} $3 $0 $a", ["a", "b"])
    assert template.unknown == ["$zz", "{yy}", "${xx}", "$3", "$0"]
    assert template.argv(["1", "2"]) == ["prog", "$zz", "{yy}", "${xx}", "$3", "$0", "1"]


def test_command_template_names_ignore_case_and_bad_quotes():
    """Parameter names are not case-sensitive; unbalanced quotes are a ValueError."""
    assert CommandTemplate("p $ALPHA {alpha}", ["Alpha"]).argv(["x"]) == ["p", "x", "x"]
    with pytest.raises(ValueError):
        CommandTemplate("prog 'open $a", ["a"])


def test_unknown_placeholders():
    """unknown_placeholders lists what names no parameter in a logfile or workdir, where
    {jobfile} means nothing; $N of a parameter is known."""
    assert unknown_placeholders("$a ${A} {a} $1 $2 $$ {{ }}", ["a", "b"]) == []
    assert unknown_placeholders("{jobfile}.log", ["a"]) == ["{jobfile}"]
    assert unknown_placeholders("$zz out-{seed}.log $3", ["a", "b"]) == ["$zz", "{seed}", "$3"]
    assert unknown_placeholders("plain", []) == []


def test_fill_text():
    """fill_text puts values in unquoted, for logfile and workdir."""
    assert fill_text("out/$a-{b}_$2.log $$ {{x}}", ["a", "b"], ["1", "two words"]) == \
        "out/1-two words_two words.log $ {x}"
    assert fill_text("$zz", ["a"], ["1"]) == "$zz"


@pytest.mark.parametrize("text", ["{jobfile}.log", "$jobfile.log", "${jobfile}.log",
                                  "{JOBFILE}.log"])
def test_accepted_logfile_placeholders_are_filled(text):
    """A placeholder that passes the check for --logfile is one that gets filled."""
    assert unknown_placeholders(text, ["a"]) or "jobfile" not in \
        fill_text(text, ["a"], ["1"]).lower()


@pytest.mark.parametrize("head,expected", [
    (b"[control]\nexecutable: x\ntasks: product\n", "product"),
    (b"[control]\nTasks = TABLE\n", "table"),
    (b"[control]\r\ntasks: table\r\n", "table"),
    (b"[control]\n  tasks :  product  \n", "product"),
    (b"[control]\nexecutable: prog $a\n  tasks: product\n", None),  # a continuation line
    (b"[control]\ntasks: table\ntasks: product\n", "product"),
    (b"[control]\ntasks: table\n[other]\ntasks: x\n[control]\ntasks: product\n", "product"),
    (b"[control]\nexecutable: x\n[params]\ntasks: product\n", None),
    (b"tasks: product\n[control]\nexecutable: x\n", None),
    (b"[control]\nexecutable: x\n", None),
    (b"[control]\nexecutable: tasks\n", None),
    (b"[control]\ntasks: bogus\n", "bogus"),
    (b"", None),
])
def test_declared_kind(head, expected):
    """Only [control] declares an array, and a later tasks: wins."""
    assert declared_kind(head) == expected


def spec_of(path, limit=1 << 20):
    fd = os.open(str(path), os.O_RDONLY)
    try:
        return read_spec(fd, limit)
    finally:
        os.close(fd)


def test_read_spec_product_count_and_order(tmp_path):
    """A product: count = repeat x values of each; the first parameter varies slowest, the
    repeat innermost."""
    path = put(tmp_path / "sweep.conf", "[control]\nexecutable: sim $a $b\ntasks: product\n"
                                        "repeat: 2\n\n[params]\na: x,y\nb: 1..3\n")
    spec = spec_of(path)
    assert (spec.kind, spec.names, spec.repeat, spec.count) == ("product", ["a", "b"], 2, 12)
    order = [spec.values_at(i) for i in range(1, 13)]
    assert order == [[a, b] for a in "xy" for b in "123" for _ in range(2)]
    fd = os.open(path, os.O_RDONLY)
    try:
        assert list(spec.iter_tasks(fd, 3, 4)) == [(3, ["x", "2"], None, None),
                                                    (4, ["x", "2"], None, None)]
    finally:
        os.close(fd)
    assert spec.command.argv(spec.values_at(12)) == ["sim", "y", "3"]


def test_read_spec_product_huge_is_counted_not_expanded(tmp_path):
    """A product of 10**6 x 10**6 x 3 tasks is counted and indexed at once."""
    path = put(tmp_path / "big.conf", "[control]\nexecutable: p $a $b $c\ntasks: product\n"
                                      "[params]\na: 1..1000000\nb: 1..1000000\nc: u,v,w\n")
    spec = spec_of(path)
    assert spec.count == 3 * 10 ** 12
    assert spec.values_at(1) == ["1", "1", "u"]
    assert spec.values_at(spec.count) == ["1000000", "1000000", "w"]
    assert spec.values_at(4) == ["1", "2", "u"]


@pytest.mark.parametrize("text,message", [
    ("[control]\nexecutable: p $a\ntasks: product\n[params]\na: 1..\n", "[params] a"),
    ("[control]\nexecutable: p\ntasks: product\nrepeat: 0\n", "repeat"),
    ("[control]\nexecutable: p\ntasks: product\nrepeat: two\n", "repeat"),
    ("[control]\ntasks: product\n", "executable"),
    ("[control]\nexecutable: p\ntasks: bogus\n", "product' or 'table"),
    ("[control]\nexecutable: p\n", "not an array"),
    ("[control]\nexecutable: p\ntasks: table\n", "[params]"),
    ("[control]\nexecutable: p\ntasks: table\n[params]\n\n# only comments\n", "empty"),
    ("[control]\nexecutable: p\ntasks: table\n[params]\na b\n", "no rows"),
    ("tasks: product\n", "not an array"),
])
def test_read_spec_errors(tmp_path, text, message):
    """Anything that is not a valid array is a JobError in one line."""
    path = put(tmp_path / "bad.conf", text)
    with pytest.raises(JobError) as caught:
        spec_of(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_read_spec_product_too_large(tmp_path):
    """A product file over the size limit is refused."""
    path = put(tmp_path / "big.conf", "[control]\nexecutable: p $a\ntasks: product\n"
                                      "[params]\na: " + "x," * 100 + "y\n")
    with pytest.raises(JobError) as caught:
        spec_of(path, limit=100)
    assert "too large" in str(caught.value)


TABLE = ("[control]\nexecutable: sim $a $s\ntasks: table\n{extra}\n[params]\n"
         "# a comment before the header\n{header}\n{rows}")


def table_file(tmp_path, header, rows, extra=""):
    return put(tmp_path / "table.conf", TABLE.format(extra=extra, header=header,
                                                     rows="".join(r + "\n" for r in rows)))


def tasks_of(spec, path, first, last, offset=None):
    fd = os.open(path, os.O_RDONLY)
    try:
        return list(spec.iter_tasks(fd, first, last, offset))
    finally:
        os.close(fd)


def test_table_tab_separated(tmp_path):
    """A header with a tab: columns are split at tabs, so values may hold blanks; comment
    and blank lines are no rows."""
    path = table_file(tmp_path, "a\ts", ["0.1\t1", "", "# skipped", "hello world\t7", "x\t"])
    spec = spec_of(path)
    assert (spec.names, spec.delimiter, spec.count) == (["a", "s"], "\t", 3)
    found = tasks_of(spec, path, 1, 3)
    assert [(task, values, error) for task, values, error, _ in found] == [
        (1, ["0.1", "1"], None), (2, ["hello world", "7"], None), (3, ["x", ""], None)]
    assert spec.command.argv(found[1][1]) == ["sim", "hello world", "7"]


def test_table_blank_separated(tmp_path):
    """A header without a tab: columns are split at any run of blanks."""
    path = table_file(tmp_path, "a   s", ["1   2", "  3\t 4  ", "# c", "5 6"])
    spec = spec_of(path)
    assert (spec.names, spec.delimiter, spec.count) == (["a", "s"], None, 3)
    assert [values for _, values, _, _ in tasks_of(spec, path, 1, 3)] == [
        ["1", "2"], ["3", "4"], ["5", "6"]]


def test_table_crlf_lines(tmp_path):
    """Windows line ends are not part of the last value."""
    path = put(tmp_path / "t.conf", b"[control]\r\nexecutable: p $a $b\r\ntasks: table\r\n"
                                    b"[params]\r\na\tb\r\n1\t2\r\n3\t4\r\n")
    spec = spec_of(path)
    assert spec.names == ["a", "b"] and spec.count == 2
    assert [values for _, values, _, _ in tasks_of(spec, path, 1, 2)] == [["1", "2"],
                                                                          ["3", "4"]]


def test_table_bad_row_fails_its_tasks_only(tmp_path):
    """A row with the wrong number of values gives a JobError for its own tasks (all
    repeats of it); the rows around it run."""
    path = table_file(tmp_path, "a b", ["1 2", "3", "5 6"], extra="repeat: 2")
    spec = spec_of(path)
    assert spec.count == 6
    found = tasks_of(spec, path, 1, 6)
    assert [task for task, _, _, _ in found] == [1, 2, 3, 4, 5, 6]
    assert [values for _, values, _, _ in found] == [["1", "2"]] * 2 + [None] * 2 + \
        [["5", "6"]] * 2
    errors = [error for _, _, error, _ in found]
    assert errors[0] is None and errors[4] is None
    assert isinstance(errors[2], JobError) and "row 2" in str(errors[2])
    assert "has 1 value;" in str(errors[2]) and errors[3] is errors[2]
    assert found[2][3] == found[3][3]  # the repeats share their row's offset


def test_table_row_offset_starts_in_the_middle(tmp_path):
    """row_offset finds a task's row; iteration from there gives what a full pass gives."""
    rows = ["%d %d" % (i, i * i) for i in range(1, 11)]
    path = table_file(tmp_path, "a s", rows[:3] + ["# c", ""] + rows[3:], extra="repeat: 3")
    spec = spec_of(path)
    assert spec.count == 30
    everything = tasks_of(spec, path, 1, 30)
    fd = os.open(path, os.O_RDONLY)
    try:
        offset = spec.row_offset(fd, 13)
        assert offset == dict((t, o) for t, _, _, o in everything)[13]
        assert spec.row_offset(fd, 1) == spec.data_offset
        known = spec.row_offset(fd, 4)
        assert spec.row_offset(fd, 13, known_task=4, known_offset=known) == offset
        assert spec.row_offset(fd, 13, known_task=20, known_offset=12345) == offset  # ahead
    finally:
        os.close(fd)
    assert tasks_of(spec, path, 13, 30, offset) == everything[12:]
    assert tasks_of(spec, path, 13, 30) == everything[12:]
    assert everything[12][1] == ["5", "25"]  # task 13 is row 5 (repeat 3)


def test_table_ends_before_a_task(tmp_path):
    """A task past the last row (the file changed after queueing) fails with a reason."""
    path = table_file(tmp_path, "a", ["1", "2"])
    spec = spec_of(path)
    [(task, values, error, _)] = tasks_of(spec, path, 3, 3)
    assert task == 3 and values is None and "ends before row 3" in str(error)


# == journal.py ===============================================================================

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
        handle.write(b"x" * (journal.TAIL_CHUNK * 2))
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


# == tickets.py ===============================================================================

def array_folder(tmp_path, first=1, last=10, uid="abcd1234", **fields):
    folder = str(tmp_path / "arrays")
    os.mkdir(folder)
    name = names.compose("sweep.conf", first=first, last=last, uid=uid, **fields)
    put(os.path.join(folder, name), "[control]\nexecutable: p $a\ntasks: product\n")
    return folder, name


def ranges(folder):
    """(first, last, flags) of every name in folder, in task order."""
    parsed = [names.parse(n) for n in os.listdir(folder)]
    return sorted((p.first, p.last, p.flags) for p in parsed)



def finished_pieces(tmp_path, bounds, count=10):
    """A queue root whose arrays/ holds finished ranges (first, last) of one array of count
    tasks, all hard links of its file; the Completion that watches it."""
    layout = Layout(str(tmp_path / "root"))
    layout.ensure()
    source = put(tmp_path / "sweep.conf",
                 "[control]\nexecutable: p $a\ntasks: product\n\n[params]\na: 1..%d\n" % count)
    for first, last in bounds:
        name = names.compose("sweep.conf", first=first, last=last, uid="abcd1234", flags="")
        os.link(source, os.path.join(layout.arrays, name))
    return layout, Completion(layout, 1 << 20)


def test_finished_ranges_are_merged_once_they_cover_their_array(tmp_path):
    """Completion: ranges that do not cover the array yet stay as they are (each merge is
    two requests on a shared mount, made while workers wait); once they cover it, they
    are merged and the array is filed."""
    layout, completion = finished_pieces(tmp_path, [(1, 3), (4, 6), (8, 10)])
    assert completion.run(force=True) == 0
    assert ranges(layout.arrays) == [(1, 3, ""), (4, 6, ""), (8, 10, "")]
    os.link(str(tmp_path / "sweep.conf"), os.path.join(layout.arrays, names.compose(
        "sweep.conf", first=7, last=7, uid="abcd1234", flags="")))
    assert completion.run(force=True) == 1
    assert os.listdir(layout.arrays) == [] and os.listdir(layout.folder("done")) == [
        "sweep.conf"]


def test_many_finished_ranges_are_merged_before_the_array_ends(tmp_path):
    """... but MERGE_PIECES of them are merged where they meet, so that arrays/ stays
    short while a long array runs."""
    bounds = [(n, n) for n in range(1, MERGE_PIECES + 1)]
    layout, completion = finished_pieces(tmp_path, bounds, count=MERGE_PIECES + 5)
    assert completion.run(force=True) == 0
    assert ranges(layout.arrays) == [(1, MERGE_PIECES, "")]


SPLIT_PARTS = [dict(first=1, last=3), dict(first=4, last=10, attempts=0, offset=None,
                                           tag=None)]


def test_split_makes_hard_links_covering_the_range(tmp_path):
    """split: the parts are names of one file (hard links) that cover the range in order."""
    folder, name = array_folder(tmp_path)
    inode = os.stat(os.path.join(folder, name)).st_ino
    piece, rest = tickets.split(folder, name, SPLIT_PARTS)
    assert sorted(os.listdir(folder)) == sorted([piece, rest])
    assert ranges(folder) == [(1, 3, None), (4, 10, None)]
    assert {os.stat(os.path.join(folder, n)).st_ino for n in (piece, rest)} == {inode}
    assert names.parse(piece).uid == names.parse(rest).uid == "abcd1234"


def test_split_in_three(tmp_path):
    """More parts than two: every one but the last is linked, the last is a rename."""
    folder, name = array_folder(tmp_path)
    made = tickets.split(folder, name, [dict(first=1, last=2), dict(first=3, last=5),
                                        dict(first=6, last=10)])
    assert sorted(os.listdir(folder)) == sorted(made)
    assert ranges(folder) == [(1, 2, None), (3, 5, None), (6, 10, None)]


def test_split_cut_short_is_repaired(tmp_path):
    """A crash after the link, before the rename: repair trims the longer range to what
    follows the shorter, which gives what the split would have."""
    folder, name = array_folder(tmp_path)
    expected = [names.with_fields(names.parse(name), **part) for part in SPLIT_PARTS]
    os.link(os.path.join(folder, name), os.path.join(folder, expected[0]))  # step 1 only
    assert ranges(folder) == [(1, 3, None), (1, 10, None)]
    left = tickets.repair(folder, os.listdir(folder))
    assert left == sorted(expected) == sorted(os.listdir(folder))
    assert ranges(folder) == [(1, 3, None), (4, 10, None)]


def test_split_cut_short_is_finished_by_doing_it_again(tmp_path):
    """A part that exists already is taken as made: splitting again completes the split."""
    folder, name = array_folder(tmp_path)
    expected = [names.with_fields(names.parse(name), **part) for part in SPLIT_PARTS]
    os.link(os.path.join(folder, name), os.path.join(folder, expected[0]))
    assert tickets.split(folder, name, SPLIT_PARTS) == expected
    assert sorted(os.listdir(folder)) == sorted(expected)


def test_split_of_a_vanished_range_leaves_nothing(tmp_path, monkeypatch):
    """The range taken away (fjd cancel) before or during a split: FileNotFoundError, and
    none of the parts stays behind."""
    folder, name = array_folder(tmp_path)
    os.unlink(os.path.join(folder, name))
    with pytest.raises(FileNotFoundError):
        tickets.split(folder, name, SPLIT_PARTS)
    assert os.listdir(folder) == []

    folder2 = str(tmp_path / "arrays2")
    os.mkdir(folder2)
    put(os.path.join(folder2, name), "x")
    real_rename = os.rename

    def cancel_first(source, target):
        os.unlink(source)  # fjd cancel took the range between the link and the rename
        return real_rename(source, target)
    monkeypatch.setattr(tickets.os, "rename", cancel_first)
    with pytest.raises(FileNotFoundError):
        tickets.split(folder2, name, [dict(first=1, last=2), dict(first=3, last=5),
                                      dict(first=6, last=10)])
    monkeypatch.setattr(tickets.os, "rename", real_rename)
    assert os.listdir(folder2) == []


def test_merge_adjacent_finished_ranges(tmp_path):
    """merge: two adjacent finished ranges become one name; flags are OR-ed."""
    folder, a = array_folder(tmp_path, first=1, last=4, flags="")
    b = names.compose("sweep.conf", first=5, last=10, uid="abcd1234", flags="F")
    os.link(os.path.join(folder, a), os.path.join(folder, b))
    union = tickets.merge(folder, a, b)
    assert os.listdir(folder) == [union]
    assert names.parse(union) == names.QueueName("sweep.conf", 0, 1, 10, "abcd1234", None,
                                                 "F", None)
    c = names.compose("sweep.conf", first=11, last=12, uid="abcd1234", flags="C",
                      attempts=2, tag="d9")
    os.link(os.path.join(folder, union), os.path.join(folder, c))
    union = tickets.merge(folder, union, c)
    assert os.listdir(folder) == [union]
    assert names.parse(union) == names.QueueName("sweep.conf", 0, 1, 12, "abcd1234", None,
                                                 "CF", None)


def test_merge_cut_short_is_repaired(tmp_path):
    """A crash after the rename, before the removal: the second range lies inside the
    union, and repair removes it."""
    folder, a = array_folder(tmp_path, first=1, last=4, flags="")
    b = names.compose("sweep.conf", first=5, last=10, uid="abcd1234", flags="C")
    os.link(os.path.join(folder, a), os.path.join(folder, b))
    union = names.compose("sweep.conf", first=1, last=10, uid="abcd1234", flags="C")
    os.rename(os.path.join(folder, a), os.path.join(folder, union))  # step 1 only
    assert tickets.repair(folder, os.listdir(folder)) == [union]
    assert os.listdir(folder) == [union]


def test_repair_drops_a_range_inside_a_finished_one_with_the_same_start(tmp_path):
    """A finished range and an unfinished one with the same first task: the unfinished one
    is covered, and goes."""
    folder, finished = array_folder(tmp_path, first=1, last=10, flags="")
    inside = names.compose("sweep.conf", first=1, last=4, uid="abcd1234")
    os.link(os.path.join(folder, finished), os.path.join(folder, inside))
    assert tickets.repair(folder, os.listdir(folder)) == [finished]


def test_repair_leaves_sound_and_foreign_names_alone(tmp_path):
    """Ranges that do not overlap, other arrays and plain names are left as they are; an
    overlap fjd cannot have made is left too."""
    folder, name = array_folder(tmp_path, first=1, last=3)
    others = [names.compose("sweep.conf", first=4, last=10, uid="abcd1234"),
              names.compose("sweep.conf", first=1, last=10, uid="99999999"),
              "plain.conf"]
    for other in others:
        put(os.path.join(folder, other), "x")
    everything = sorted(os.listdir(folder))
    assert tickets.repair(folder, everything) == everything
    odd = names.compose("sweep.conf", first=2, last=5, uid="abcd1234")  # overlaps 1-3, 4-10
    put(os.path.join(folder, odd), "x")
    assert tickets.repair(folder, os.listdir(folder)) == sorted(everything + [odd])
    assert sorted(os.listdir(folder)) == sorted(everything + [odd])


# == status.py and progress.py ================================================================

def test_rate_of():
    """rate_of: finished jobs per second over the newest sample of end times."""
    assert rate_of([]) is None
    assert rate_of([5.0]) is None
    assert rate_of([3.0, 3.0, 3.0]) is None  # no time passed
    assert rate_of([0.0, 1.0, 2.0, 3.0, 4.0]) == 1.0
    assert rate_of([4.0, 0.0, 2.0, 1.0, 3.0]) == 1.0  # order does not matter
    ends = [0.0, 100.0, 200.0] + [200.0 + i * 0.5 for i in range(1, 5)]
    assert rate_of(ends, sample=5) == 2.0  # only the newest five count
    assert rate_of(ends) == pytest.approx(6 / 202.0)


def test_recent_rate_over_the_window():
    """RecentRate: jobs per second over the last WINDOW seconds, not since the start."""
    rate = RecentRate()
    assert rate.rate() == 0.0
    rate.add(0.0, 0)
    assert rate.rate() == 0.0
    for second in range(1, 101):  # 10 jobs a second for 100 s
        rate.add(float(second), 10 * second)
    assert rate.rate() == 10.0
    for second in range(101, 121):  # then 1 a second
        rate.add(float(second), 1000 + (second - 100))
    assert rate.rate() == 1.0
    assert len(rate.samples) <= RecentRate.WINDOW + 2


def test_recent_rate_falls_to_zero_when_work_stops():
    """No job finishing for WINDOW seconds: the rate is 0 (halfway, it has halved)."""
    rate = RecentRate()
    for second in range(0, 11):
        rate.add(float(second), second)
    assert rate.rate() == 1.0
    for second in range(11, 16):
        rate.add(float(second), 10)
    assert rate.rate() == 0.5
    for second in range(16, 21):
        rate.add(float(second), 10)
    assert rate.rate() == 0.0
    rate.add(21.0, 8)  # jobs handed back: never a negative rate
    assert rate.rate() == 0.0


def test_recent_rate_keeps_two_samples_across_a_long_gap():
    """Two samples far apart still give a rate (the window never empties)."""
    rate = RecentRate()
    rate.add(0.0, 0)
    rate.add(100.0, 50)
    assert rate.rate() == 0.5
    rate.add(100.0, 60)  # same time as the last: kept, rate over the whole span
    assert rate.rate() == 0.6
