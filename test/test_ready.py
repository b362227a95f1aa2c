"""fjd.ready: when a file in jobqueue/ is whole (settle time, or a lease nobody holds)."""
import fcntl
import os
import stat

import pytest

from fjd.ready import F_RDLCK, F_SETLEASE, F_UNLCK, GONE, NOT_REGULAR, READY, WRITING, \
    ReadinessChecker

from unit_helpers import FakeClock, put


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
