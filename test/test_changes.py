"""The idle gate of jobqueue/ on a shared mount (changes.py): pure logic, a fake stat."""
from fjd.changes import BACKSTOP_DUE, CONFIRM, FRESH, SKIP, ChangeGate


class Folder:
    """A folder's signature as a mount's stat would give it: mtime in whole seconds."""

    def __init__(self):
        self.mtime = 100
        self.readable = True

    def stat(self):
        return ("ino", self.mtime) if self.readable else None


def gate_for(folder, **kw):
    return ChangeGate(folder.stat, settle=1.05, backstop=10.0, distrust=600.0, **kw)


def settle(gate, now=0.0):
    """A fresh listing at now, a confirming one 1.25 s later: the stat is trusted."""
    gate.before_listing(now, fresh=True)
    assert gate.decide(now + 1.25) == CONFIRM
    gate.before_listing(now + 1.25, fresh=False)
    return now + 1.25


def test_a_stat_is_trusted_only_after_two_listings_a_second_apart_saw_it():
    folder, gate = Folder(), None
    gate = gate_for(folder)
    assert gate.decide(0.0) == FRESH  # never listed
    gate.before_listing(0.0, fresh=True)
    assert gate.decide(0.5) == SKIP  # unchanged, but a name may hide in this second...
    assert gate.decide(1.1) == CONFIRM  # ...so a listing confirms it once the second is over
    gate.before_listing(1.1, fresh=False)
    assert gate.decide(2.3) == SKIP
    assert gate.decide(9.9) == SKIP


def test_a_change_in_the_folder_ends_the_trust():
    folder = Folder()
    gate = gate_for(folder)
    now = settle(gate)
    folder.mtime += 1  # a job arrived
    assert gate.decide(now + 1.0) == FRESH
    gate.before_listing(now + 1.0, fresh=True)
    assert gate.decide(now + 1.5) == SKIP
    assert gate.decide(now + 2.1) == CONFIRM


def test_a_name_added_in_the_second_of_the_listing_is_found_by_the_confirmation():
    folder = Folder()
    gate = gate_for(folder)
    gate.before_listing(0.0, fresh=True)
    # a job arrives 0.3 s later in the same whole second: the stat does not change, but the
    # stat is not trusted before a second listing (which sees the job) was made
    assert gate.decide(0.6) == SKIP
    assert gate.decide(1.2) == CONFIRM


def test_a_confirmation_that_sees_another_stat_starts_over():
    folder = Folder()
    gate = gate_for(folder)
    gate.before_listing(0.0, fresh=True)
    folder.mtime += 1
    assert gate.decide(1.2) == FRESH  # the stat moved since the listing: list afresh
    gate.before_listing(1.2, fresh=False)
    assert gate.decide(1.5) == SKIP
    assert gate.decide(2.3) == CONFIRM


def test_a_backstop_listing_comes_every_ten_seconds():
    folder = Folder()
    gate = gate_for(folder)
    now = settle(gate)
    assert gate.decide(9.9) == SKIP
    assert gate.decide(10.0) == BACKSTOP_DUE
    gate.before_listing(10.0, fresh=True)  # the dot-file trick changes the mtime
    folder.mtime += 10
    assert gate.decide(10.5) == FRESH
    assert now < 10.0


def test_a_cached_stat_is_not_trusted_after_it_missed_an_arrival():
    folder = Folder()
    gate = gate_for(folder)
    settle(gate)
    assert gate.decide(10.0) == BACKSTOP_DUE
    gate.missed(10.0)  # the listing found jobs the stat had not shown
    for t in (11.0, 100.0, 609.0):
        assert gate.decide(t) == FRESH
    gate.before_listing(610.0, fresh=True)
    assert gate.decide(611.1) == CONFIRM


def test_an_unreadable_folder_is_listed_afresh():
    folder = Folder()
    gate = gate_for(folder)
    settle(gate)
    folder.readable = False
    assert gate.decide(3.0) == FRESH
    gate.before_listing(3.0, fresh=True)
    folder.readable = True
    assert gate.decide(4.2) == FRESH  # nothing to confirm against
