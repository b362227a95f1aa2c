"""Hand-written job files on a shared mount, judged by the file server's clock (ready.py
ServerClock and ServerSettle, dispatcher/settling.py), and which workers get work first
(dispatcher/proving.py): issue 27. The sshfs tests are in test_settle_sshfs.py."""
import os
import time

from fjd.dispatcher.listing import JobListing
from fjd.dispatcher.proving import Proofs
from fjd.dispatcher.settling import SharedReadiness
from fjd.ready import CLOCK_FILE, GONE, NOT_REGULAR, READY, SECOND, WRITING, \
    ReadinessChecker, ServerClock, ServerSettle

from unit_helpers import FakeClock, put


class StubClock:
    """A ServerClock whose server time the test sets."""

    def __init__(self, reference=None):
        self.reference = reference
        self.reads = 0

    def reach(self, wanted):
        return self.reference if self.reference is not None and \
            self.reference >= wanted else None


def test_server_clock_reads_the_mtime_of_its_own_write(tmp_path):
    """The reference is the mtime of a byte it has just written: the server's time, never
    later than the moment it was read; it never goes back."""
    path = str(tmp_path / ".fjd-clock")
    clock = ServerClock(path, clock=FakeClock())
    assert clock.reference is None
    first = clock.read()
    assert first == os.stat(path).st_mtime_ns
    os.utime(path, ns=(first - 10 * SECOND, first - 10 * SECOND))  # somebody set it back
    assert clock.read() >= first
    clock.close()


def test_server_clock_reads_again_only_when_the_wanted_time_should_have_come(tmp_path):
    """reach(t): no request while, by our own clock, the server's time cannot be t yet."""
    now = FakeClock()
    clock = ServerClock(str(tmp_path / ".fjd-clock"), clock=now, min_interval=0.25)
    base = clock.read()
    assert clock.reach(base) == base  # known already: no read
    reads = []
    clock.read = lambda original=clock.read: reads.append(1) or original()
    assert clock.reach(base + 5 * SECOND) is None and not reads
    now.advance(0.1)
    assert clock.reach(base + 1) is None and not reads  # within min_interval
    clock.close()


def sighted(settle, name, mtime, reference, size=10):
    settle.clock.reference = reference
    settle.note(name, mtime, size)


def test_a_file_older_than_the_settle_time_by_the_servers_clock_is_settled():
    """mtime + settle (+1 s where times are whole seconds) at or before the reference that
    was read before the look: settled. A file written a moment ago is not."""
    settle = ServerSettle(StubClock(), settle_seconds=1.0)
    now = 1000 * SECOND + 123
    sighted(settle, "old.conf", now - 30 * SECOND, now)
    assert settle.settled("old.conf")
    sighted(settle, "fresh.conf", now - SECOND // 2, now)
    assert not settle.settled("fresh.conf")
    assert settle.waiting_for("fresh.conf") == now - SECOND // 2 + SECOND
    # whole seconds (SFTP): one more second, so a file 1.5 s old is not settled yet
    whole = 2000 * SECOND
    sighted(settle, "sftp.conf", whole - SECOND, whole)
    assert not settle.settled("sftp.conf")
    sighted(settle, "sftp.conf", whole - 2 * SECOND, whole)
    assert settle.settled("sftp.conf")


def test_no_reference_before_the_look_means_not_settled():
    """A look made before any reading of the server's clock proves nothing."""
    settle = ServerSettle(StubClock(None), settle_seconds=1.0)
    settle.note("job.conf", 1, 10)
    assert not settle.settled("job.conf")


def test_settle_zero_takes_whatever_is_there():
    settle = ServerSettle(StubClock(None), settle_seconds=0)
    settle.note("job.conf", 10 ** 18, 10)
    assert settle.settled("job.conf")


def test_two_looks_settle_seconds_apart_on_our_clock_settle_too():
    """The stat-after-stat rule as well: seen unchanged over the settle time on our own
    clock (a second sooner than the server's whole-second times allow); a change starts
    the wait again."""
    ours = FakeClock()
    settle = ServerSettle(StubClock(2000 * SECOND), settle_seconds=1.0, own_clock=ours)
    settle.note("job.conf", 2000 * SECOND, 10)  # written this second
    assert not settle.settled("job.conf") and not settle.watched_long_enough("job.conf")
    ours.advance(1.0)
    assert settle.watched_long_enough("job.conf") and not settle.settled("job.conf")
    settle.note("job.conf", 2000 * SECOND, 11)  # it grew: the wait begins again
    assert not settle.watched_long_enough("job.conf")
    ours.advance(1.0)
    settle.note("job.conf", 2000 * SECOND, 11)
    assert settle.settled("job.conf")


def test_keep_and_forget():
    settle = ServerSettle(StubClock(5), settle_seconds=1.0)
    for name in ("a", "b", "c"):
        settle.note(name, 1, 1)
    settle.keep({"a", "b"})
    settle.forget("a")
    assert set(settle.seen) == {"b"}


def test_proven_workers_first_and_an_announcement_back_proves():
    """Unproven workers are served only when no proven one is idle; a worker whose
    announcement is back after a batch of ours, or whose heartbeat changed, is proven."""
    proofs = Proofs(take_up=3.5)
    assert proofs.first_choice(["w1", "w2"]) == ["w1", "w2"]  # nobody proven yet
    proofs.beat("w1", b"beat 1")
    proofs.beat("w1", b"beat 2")
    assert proofs.first_choice(["w1", "w2"]) == ["w1"]
    proofs.handed("w2", ["job.conf"], 100.0)
    assert [w for w, _ in proofs.overdue(103.0)] == []
    assert [w for w, _ in proofs.overdue(103.5)] == ["w2"]
    assert proofs.first_choice(["w2"]) == ["w2"] and not proofs.unproven("w2")
    assert not proofs.overdue(200.0)


def test_a_batch_not_taken_up_is_overdue_with_its_names():
    proofs = Proofs(take_up=2.0)
    proofs.beat("dead", b"old beat")
    proofs.handed("dead", ["a.conf"], 10.0)
    proofs.beat("dead", b"old beat")  # read again: unchanged
    overdue = proofs.overdue(12.0)
    assert overdue == [("dead", overdue[0][1])] and overdue[0][1].names == ("a.conf",)
    assert overdue[0][1].beat == b"old beat"
    proofs.forget("dead")
    assert not proofs.overdue(99.0) and proofs.unproven("dead")


def test_the_inbox_is_looked_at_until_the_worker_came_back_from_our_batch():
    """A hand-made name is looked for in an inbox (rule 2) unless the worker came back
    from a batch of ours and was not given that name in its last batches."""
    proofs = Proofs()
    assert not proofs.inbox_clear_of("w", "job0.conf")
    proofs.handed("w", ["job0.conf"], 1.0)
    assert not proofs.inbox_clear_of("w", "job1.conf")
    proofs.first_choice(["w"])  # its announcement is back
    assert proofs.inbox_clear_of("w", "job1.conf")
    assert not proofs.inbox_clear_of("w", "job0.conf")
    for n in range(3):
        proofs.handed("w", ["other%d.conf" % n], 2.0 + n)
    assert proofs.inbox_clear_of("w", "job0.conf")


def shared_readiness(folder, settle_seconds=1.0):
    listing = JobListing(str(folder))
    clock = ServerClock(str(folder / CLOCK_FILE))
    readiness = SharedReadiness(listing, ServerSettle(clock, settle_seconds),
                                ReadinessChecker(settle_seconds, use_leases=False))
    listing.readiness = readiness
    return listing, readiness, clock


def test_a_file_renamed_in_is_ready_at_the_first_look_a_fresh_one_waits(tmp_path):
    """Through the listing's window: the head is read once, with the file's sighting; an
    old file is READY without another look, a fresh one is WRITING until the server's
    clock has passed it, and one that changed meanwhile waits again."""
    old = put(tmp_path / "old.conf", "[control]\nexecutable: true\n")
    long_ago = os.stat(old).st_mtime_ns - 60 * SECOND
    os.utime(old, ns=(long_ago, long_ago))
    fresh = put(tmp_path / "fresh.conf", "[control]\nexecutable: true\n")
    listing, readiness, clock = shared_readiness(tmp_path)
    listing.relist(0.0)
    assert sorted(listing.pending) == ["fresh.conf", "old.conf"]
    assert readiness.check("old.conf", old) == (READY, None, None)
    assert readiness.check("fresh.conf", fresh)[0] == WRITING
    with open(fresh, "a") as handle:  # still being written; then its mtime set back
        handle.write("# more\n")
    os.utime(fresh, ns=(long_ago, long_ago))
    clock.reference += 10 * SECOND  # as if the server's clock had moved on
    assert readiness.check("fresh.conf", fresh)[0] == WRITING  # changed: looked at anew
    state, kind, head = readiness.check("fresh.conf", fresh)
    assert state == READY and kind is None and head.startswith(b"[control]")
    assert readiness.check("gone.conf", str(tmp_path / "gone.conf"))[0] == GONE
    os.mkdir(str(tmp_path / "folder.conf"))
    assert readiness.check("folder.conf", str(tmp_path / "folder.conf"))[0] == NOT_REGULAR
    clock.close()


def test_without_the_servers_clock_a_file_is_watched_stat_after_stat(tmp_path):
    """A clock file that cannot be written (here: a folder in its place) costs hand-written
    jobs the old settle wait on our own clock (two looks), not the hand-out."""
    os.mkdir(str(tmp_path / CLOCK_FILE))
    fresh = put(tmp_path / "fresh.conf", "[control]\nexecutable: true\n")
    listing, readiness, clock = shared_readiness(tmp_path, settle_seconds=0.3)
    listing.relist(0.0)
    started = time.monotonic()
    assert readiness.check("fresh.conf", fresh)[0] == WRITING  # our own clock, from now
    while True:
        state, kind, _ = readiness.check("fresh.conf", fresh)
        if state == READY or time.monotonic() - started > 5:
            break
        time.sleep(0.01)
    assert state == READY and kind is None
    assert time.monotonic() - started >= 0.3


def test_a_file_from_the_future_is_watched_stat_after_stat(tmp_path):
    """A file whose mtime is ahead of the server's clock (copied with its times from a
    host whose clock is ahead) would wait for ever by the server's clock: it is watched
    over the settle time on ours instead."""
    future = put(tmp_path / "future.conf", "[control]\nexecutable: true\n")
    ahead = os.stat(future).st_mtime_ns + 3600 * SECOND
    os.utime(future, ns=(ahead, ahead))
    listing, readiness, clock = shared_readiness(tmp_path, settle_seconds=0.2)
    listing.relist(0.0)
    started = time.monotonic()
    while True:
        state = readiness.check("future.conf", future)[0]
        if state == READY or time.monotonic() - started > 5:
            break
        time.sleep(0.01)
    assert state == READY and time.monotonic() - started >= 0.2
    clock.close()
