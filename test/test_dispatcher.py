"""The dispatcher's pure parts: the job listing and its priorities (fjd.dispatcher.listing,
the same rule as fjd.jobfile's), and batch sizing (fjd.dispatcher.batching) on a Dispatcher
that is never run."""
import os
import stat

import pytest

from fjd import defaults, names
from fjd.defaults import BATCH_SECONDS, MAX_BATCH, MAX_RANGE, RANGE_SECONDS
from fjd.dispatcher import Dispatcher
from fjd.dispatcher.listing import JobListing, read_priority
from fjd.jobfile import load, priority_of

from unit_helpers import put


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
