"""The pieces that keep fjd light on a shared filesystem, each on its own: real files in
tmp_path, real UDP on loopback, no daemons (DESIGN.md rule 12; the whole effect is measured
on sshfs by test/test_requests.py and bench/shared.py).
"""
import os
import socket
import subprocess
import sys
import time
import types

import pytest

from conftest import REPO, wait_drained
from fjd import defaults, folders, layout, names
from fjd.defaults import MAX_BATCH, SHARED_BATCH_GROWTH, SHARED_MIN_BATCH_SECONDS
from fjd.dispatcher import Dispatcher
from fjd.hints import HintListener, HintSender
from fjd.jobfile import JobError, read_job_bytes
from fjd.layout import HEARTBEAT_FILE, Layout
from fjd.liveness import write_beat
from fjd.records import OpenSource, move_noreplace
from fjd.worker import Worker

SUBMITTED = "20261124-171800.123456-3f9c2a-000001s-job.conf"


# == hints: "idle <worker id>" ===============================================================

def test_an_idle_hint_names_its_worker_and_bad_names_are_dropped():
    """The dispatcher learns from "idle <id>" which announcement to look up; an id that is
    no plain name in workerqueue/ (a path, a dot-name) is not remembered."""
    listener, sender = HintListener("queue-a"), HintSender("queue-a")
    address = [["127.0.0.1", listener.port]]
    try:
        sender.send(address, b"idle host-12-abcdef")
        sender.send(address, b"idle ../../etc")
        sender.send(address, b"idle .hidden")
        sender.send(address, b"jobs")
        assert wait_drained(listener)
        time.sleep(0.1)
        listener.drain()
        assert listener.take_named() == {"host-12-abcdef"}
        assert listener.take_named() == set()  # taken once
        assert listener.take_news() == {b"idle", b"jobs"}
        assert listener.take_news() == set()
    finally:
        listener.close()
        sender.close()


def test_a_flood_of_named_hints_is_bounded():
    listener = HintListener("queue-a")
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for number in range(300):
            raw.sendto(b"fjd1 queue-a idle w-%d" % number, ("127.0.0.1", listener.port))
        time.sleep(0.2)
        listener.drain()
        named = listener.take_named()
        assert 0 < len(named) <= 300
        assert all(name.startswith("w-") for name in named)
    finally:
        raw.close()
        listener.close()


# == the dispatcher on a shared mount =========================================================

@pytest.fixture
def shared_dispatcher(tmp_path, monkeypatch):
    """A Dispatcher that takes its root for a shared mount (never run)."""
    monkeypatch.setattr(layout, "is_shared_filesystem", lambda path: True)
    d = Dispatcher(root=str(tmp_path))
    assert d.layout.shared
    return d


def test_shared_batches_grow_faster_and_are_not_cut_below_a_floor(shared_dispatcher):
    """On a shared mount a worker's batch grows SHARED_BATCH_GROWTH times a round trip
    (not twice), and the fair share may not cut it below SHARED_MIN_BATCH_SECONDS of work."""
    d = shared_dispatcher
    assert d.batches.next_size("w", now=0.0) == 1
    sizes, now, size = [], 0.0, 1
    for _ in range(4):
        d.batches.sent["w"] = (now, size)
        now += 0.0001 * size
        size = d.batches.next_size("w", now)
        sizes.append(size)
    assert sizes == [SHARED_BATCH_GROWTH, SHARED_BATCH_GROWTH ** 2, MAX_BATCH, MAX_BATCH]
    d.batches.sent["w"] = (10.0, 50)
    d.batches.next_size("w", now=10.5)  # 10 ms a job
    assert d.batches.floor["w"] == int(SHARED_MIN_BATCH_SECONDS / 0.01)
    d.batches.sent["w"] = (20.0, 1)
    d.batches.next_size("w", now=25.0)  # 5 s a job: one at a time, no floor to speak of
    assert d.batches.floor["w"] == 1 and d.batches.sizes["w"] == 1


def test_local_batches_keep_doubling_without_a_floor(tmp_path):
    d = Dispatcher(root=str(tmp_path))
    assert not d.layout.shared
    d.batches.sent["w"] = (0.0, 1)
    assert d.batches.next_size("w", now=0.0001) == 2
    assert "w" not in d.batches.floor


def hinted(d, *messages):
    """Send hints to the dispatcher's own listener and let it read them."""
    sender = HintSender(d.root_id)
    try:
        for message in messages:
            sender.send([["127.0.0.1", d.idle.hints.port]], message)
        assert wait_drained(d.idle.hints)
        time.sleep(0.05)
        d.idle.hints.drain()
    finally:
        sender.close()


def test_idle_workers_on_a_shared_mount_by_name_between_fresh_listings(shared_dispatcher):
    """While hints get through, idle workers are found by their "idle <id>" hint (one
    lookup each) and no listing is made between the fresh ones (every
    FRESH_LISTING_EVERY); the files decide: a hint for a worker that is not announced finds
    nothing, and one that is not hinted is found by the next fresh listing."""
    d = shared_dispatcher
    d.layout.ensure()
    d.root_id = d.layout.identity()
    d.idle.hints = HintListener(d.root_id)
    announced = lambda name: open(os.path.join(d.layout.workerqueue, name), "w").close()
    try:
        announced("w1")
        now = time.monotonic()
        assert d.idle.find(now) == ["w1"]  # the first look is a fresh listing
        d.idle.spare = (now, set())  # (w1 was given work)
        announced("w2")
        announced("w3")
        hinted(d, b"idle w2", b"idle w4")
        assert sorted(d.idle.find(now + 0.1)) == ["w2"]  # w4 has no announcement
        assert d.idle.find(now + 0.2) == []  # no hint, no listing: w3 waits
        assert sorted(d.idle.find(now + defaults.FRESH_LISTING_EVERY + 0.3)) == \
            ["w1", "w2", "w3"]  # the fresh listing finds everybody announced
    finally:
        d.idle.hints.close()



def test_a_worker_started_since_the_last_heartbeat_reading_is_asked_where_it_takes_hints(
        shared_dispatcher):
    """hint_addresses: heartbeats are read every 10 s on a shared mount; a worker not read
    yet is read once, when it is first hinted, rather than left without hints till then."""
    d = shared_dispatcher
    d.layout.ensure()
    inbox = d.layout.inbox("w1")
    os.mkdir(inbox)
    write_beat(os.path.join(inbox, HEARTBEAT_FILE),
               {"beat": 1, "worker": "w1", "hints": [["127.0.0.1", 4242]]})
    assert d.live.hint_addresses("w1") == [["127.0.0.1", 4242]]
    os.unlink(os.path.join(inbox, HEARTBEAT_FILE))
    assert d.live.hint_addresses("w1") == [["127.0.0.1", 4242]]  # read once, not at every hint
    assert d.live.hint_addresses("w2") is None  # no heartbeat: no hints (the files still work)


def test_idle_workers_without_hints_are_listed_at_every_look(shared_dispatcher):
    """Where no hint was heard lately (a firewall), every look lists workerqueue/."""
    d = shared_dispatcher
    d.layout.ensure()
    now = time.monotonic()
    assert d.idle.find(now) == []
    open(os.path.join(d.layout.workerqueue, "w1"), "w").close()
    assert d.idle.find(now + 0.1) == ["w1"]


def test_a_submitted_single_job_is_handed_out_without_looking_in_the_inbox(
        tmp_path, monkeypatch):
    """fjd submit names are unique by construction: no lookup of the name in the inbox
    first. A hand-made name is looked for (a second job0.conf must not replace the first)."""
    d = Dispatcher(root=str(tmp_path))
    d.layout.ensure()
    os.mkdir(d.layout.inbox("w"))
    looked = []
    real = folders.lexists
    monkeypatch.setattr(folders, "lexists", lambda path: looked.append(path) or real(path))
    for name in (SUBMITTED, "job0.conf"):
        open(os.path.join(d.layout.jobqueue, name), "w").close()
    assert d.handout.assign(SUBMITTED, "w", unique=names.submitted(SUBMITTED)) == "assigned"
    assert looked == []
    open(os.path.join(d.layout.inbox("w"), "job0.conf"), "w").close()
    assert d.handout.assign("job0.conf", "w") == "busy-name"
    assert looked == [os.path.join(d.layout.inbox("w"), "job0.conf")]
    assert os.path.exists(os.path.join(d.layout.jobqueue, "job0.conf"))


# == folders: one lookup for an existence check ==============================================

def test_lexists_through_kept_folders_sees_links_fifos_and_absence(tmp_path):
    """With the folders kept open (shared mounts), lexists is an O_PATH open: a dangling
    link exists, a FIFO exists and nothing blocks, a missing name does not."""
    root = Layout(str(tmp_path))
    root.ensure()
    folders.use(root)
    try:
        os.symlink("nowhere", os.path.join(root.jobqueue, "dangling"))
        os.mkfifo(os.path.join(root.jobqueue, "fifo"))
        assert folders.lexists(os.path.join(root.jobqueue, "dangling"))
        assert folders.lexists(os.path.join(root.jobqueue, "fifo"))
        assert not folders.lexists(os.path.join(root.jobqueue, "missing"))
        folders.must_exist(os.path.join(root.jobqueue, "fifo"))
        with pytest.raises(FileNotFoundError):
            folders.must_exist(os.path.join(root.jobqueue, "missing"))
    finally:
        folders.stop()


def test_a_listing_after_our_own_change_ends_the_free_refresh(tmp_path):
    """Our own rename in a folder drops a shared mount's cached listing of it, so the next
    listing needs no dot-file; but a listing made after the change fills that cache again,
    and then the next fresh listing needs the dot-file after all (sshfs's defaults: a job
    queued by another host stayed unseen for the 10 s of the idle dispatcher's backstop)."""
    root = Layout(str(tmp_path))
    root.ensure()
    folders.use(root)
    try:
        open(os.path.join(root.jobqueue, "a.conf"), "w").close()
        folders.rename(os.path.join(root.jobqueue, "a.conf"), os.path.join(root.done, "a.conf"))
        assert folders.changed_since_listed(root.jobqueue)
        assert not folders.changed_since_listed(root.jobqueue)  # asked: taken
        folders.rename(os.path.join(root.done, "a.conf"), os.path.join(root.jobqueue, "a.conf"))
        assert folders.listdir(root.jobqueue) == ["a.conf"]
        assert not folders.changed_since_listed(root.jobqueue)  # listed since
    finally:
        folders.stop()


# == reading a job: sendfile, and the descriptor kept for the filing ==========================

@pytest.mark.parametrize("splice", [False, True], ids=["read", "sendfile"])
def test_job_bytes_are_the_same_whichever_way_they_are_read(tmp_path, splice):
    data = b"[control]\nexecutable: true\n" + b"# padding\n" * 50000  # ~500 KiB
    path = str(tmp_path / "big.conf")
    with open(path, "wb") as handle:
        handle.write(data)
    got, owner, inode, fd = read_job_bytes(path, 1 << 20, keep_open=True, splice=splice)
    try:
        assert got == data and owner == os.geteuid() and inode == os.stat(path).st_ino
        assert os.fstat(fd).st_ino == inode
    finally:
        os.close(fd)
    assert read_job_bytes(path, 1 << 20, splice=splice)[3] is None
    with pytest.raises(JobError, match="too large"):
        read_job_bytes(path, 1000, splice=splice)
    empty = str(tmp_path / "empty.conf")
    open(empty, "w").close()
    assert read_job_bytes(empty, 1000, splice=splice)[0] == b""
    os.mkfifo(str(tmp_path / "fifo.conf"))
    with pytest.raises(JobError, match="FIFO"):
        read_job_bytes(str(tmp_path / "fifo.conf"), 1000, splice=splice)


def test_a_move_by_descriptor_refuses_a_taken_name_and_undoes_a_vanished_source(tmp_path):
    """move_noreplace with the open file, the way where hard links are the no-replace move
    (as on sshfs) and the folders are kept open: a taken target is refused
    (FileExistsError, the descriptor still open for the next name); a source that moved
    away after its open leaves no link behind and reads as gone (FileNotFoundError)."""
    from fjd import records
    root = Layout(str(tmp_path))
    root.ensure()
    inbox = root.inbox("w")
    os.mkdir(inbox)
    folders.use(root)
    records._no_renameat2.add(root.done)  # as sshfs answers: link and unlink
    try:
        source = os.path.join(inbox, "a.conf")
        with open(source, "w") as handle:
            handle.write("a\n")
        with open(os.path.join(root.done, "a.conf"), "w") as handle:
            handle.write("a person's\n")
        opened = OpenSource(os.open(source, os.O_RDONLY))
        with pytest.raises(FileExistsError):
            move_noreplace(source, os.path.join(root.done, "a.conf"), opened)
        assert opened.fd is not None
        move_noreplace(source, os.path.join(root.done, "a~2.conf"), opened)
        assert opened.fd is None, "not linked by its descriptor"
        assert not os.path.exists(source)
        assert open(os.path.join(root.done, "a~2.conf")).read() == "a\n"
        assert open(os.path.join(root.done, "a.conf")).read() == "a person's\n"

        with open(source, "w") as handle:
            handle.write("b\n")
        opened = OpenSource(os.open(source, os.O_RDONLY))
        os.rename(source, source + ".bak")  # the job renamed its own file
        with pytest.raises(FileNotFoundError):
            move_noreplace(source, os.path.join(root.done, "b.conf"), opened)
        assert not os.path.exists(os.path.join(root.done, "b.conf")), "our link stayed"
        assert open(source + ".bak").read() == "b\n"
    finally:
        records._no_renameat2.discard(root.done)
        folders.stop()


# == the worker's own stdout and stderr make way for the output journals =====================

def test_free_standard_descriptors_keeps_the_log_and_frees_1_and_2(tmp_path):
    """After spawn.free_standard_descriptors a process still logs where it did, and writes
    to descriptors 1 and 2 (what a job would inherit) go to /dev/null until the output
    journals take them."""
    code = (
        "import logging, os, sys\n"
        "logging.basicConfig(stream=sys.stderr, format='%(message)s', level=logging.INFO)\n"
        "from fjd import spawn\n"
        "spawn.free_standard_descriptors()\n"
        "logging.getLogger('fjd').info('still logging')\n"
        "print('still printing')\n"
        "os.write(1, b'to fd 1\\n'); os.write(2, b'to fd 2\\n')\n"
        "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)\n"
        "os.dup2(fd, 2); os.write(2, b'into the journal\\n')\n"
        "logging.getLogger('fjd').info('log after')\n")
    journal_path = str(tmp_path / "w.err")
    result = subprocess.run([sys.executable, "-c", code, journal_path], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=REPO))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"still printing\n"
    assert result.stderr == b"still logging\nlog after\n"
    with open(journal_path, "rb") as handle:
        assert handle.read() == b"into the journal\n"


# == the worker on a shared mount =============================================================

def test_a_worker_on_a_shared_mount_asks_for_more_near_the_end_of_a_batch(tmp_path,
                                                                          monkeypatch):
    """near_the_end: once a batch, when what is left once the next job begins takes at
    most SHARED_ASK_LEAD at the pace so far (always before the last one) and at most half
    of the batch is left; never when stopping, never on a local disk (a hand-out there
    takes a millisecond)."""
    local = Worker(root=str(tmp_path / "local"))
    monkeypatch.setattr(layout, "is_shared_filesystem", lambda path: True)
    worker = Worker(root=str(tmp_path / "shared"))
    assert worker.layout.shared and not local.layout.shared
    for each in (worker, local):
        each.waker = types.SimpleNamespace(stopping=False)
    lead = defaults.SHARED_ASK_LEAD
    started = time.monotonic() - 10 * 0.9 * lead  # ten done, each in 0.9 of the lead
    assert worker.near_the_end(started, 10, 1)
    assert worker.near_the_end(started, 10, 2)  # 0.9 of a lead after the next one starts
    assert not worker.near_the_end(started, 10, 3)  # 1.8 leads to go then
    slow = time.monotonic() - 10 * 5 * lead  # ten done, each in five leads
    assert worker.near_the_end(slow, 10, 1)  # the last one overlaps the hand-out anyway
    assert not worker.near_the_end(slow, 10, 2)
    assert not worker.near_the_end(started, 10, 0)  # the end itself: nothing to overlap
    assert not worker.near_the_end(time.monotonic(), 1, 2)  # over half of it left
    assert not local.near_the_end(started, 10, 1)
    worker.asked_early = True
    assert not worker.near_the_end(started, 10, 1)  # once a batch
    worker.asked_early = False
    worker.waker.stopping = True
    assert not worker.near_the_end(started, 10, 1)


def test_a_worker_beats_four_times_within_the_dispatchers_timeout(tmp_path):
    """defaults.worker_beat and Following.follow_timeout: the default beat unless the
    dispatcher's --worker-timeout (from its lock) needs a faster one, never faster than
    MIN_BEAT; nonsense in a lock means the default; an explicit heartbeat is kept."""
    assert defaults.worker_beat(False, None) == defaults.LOCAL.heartbeat == 2.0
    assert defaults.worker_beat(False, 8.0) == 2.0
    assert defaults.worker_beat(True, 30.0) == defaults.SHARED.heartbeat == 5.0
    assert defaults.worker_beat(False, 3.0) == 0.75
    assert defaults.worker_beat(True, 6.0) == 1.5
    assert defaults.worker_beat(False, 0.01) == defaults.MIN_BEAT
    following = Worker(root=str(tmp_path / "q")).following
    following.follow_timeout(3)
    assert following.interval == 0.75
    for nonsense in ("3", True, None, -1, float("nan"), float("inf"), [3]):
        following.follow_timeout(3)
        following.follow_timeout(nonsense)
        assert following.interval == 2.0, nonsense
    asked = Worker(root=str(tmp_path / "q"), heartbeat=1.0).following
    asked.follow_timeout(0.5)
    assert asked.interval == 1.0
