"""moves.py: every change of a queue name, without folders.

Each function is checked against the code it replaces (copied here as it was at c192d17,
``old_*``), byte for byte, over names with and without attempts, tags, offsets and flags.
"""
import itertools
import os

import pytest

from fjd import moves, names
from fjd.layout import ARRAYS, JOBQUEUE, RECORDS

SINGLES = ["job0.conf", names.compose("job0.conf", attempts=2, tag="d5f3e2c3"),
           names.compose("x" * 250 + ".conf", attempts=1, tag="w1a2b3-4-sig"),
           "sample@a7"]
RANGES = [names.compose("sweep.conf", first=1, last=100, uid="3f9c2a71", offset=120),
          names.compose("sweep.conf", first=7, last=7, uid="3f9c2a71", attempts=2,
                        tag="wabc-3"),
          names.compose("sweep.conf", first=5, last=9, uid="ab", tag="r0011"),
          names.compose("t.conf", first=3, last=4, uid="ab", attempts=1, offset=99,
                        tag="d6a1")]
ALL = SINGLES + RANGES


def parsed(name):
    return names.parse(name)


# -- the code these functions replace ----------------------------------------------------------

def old_hand_back(name, worker_id, handbacks, attempts=None, signalled=False):
    queue_name = names.parse(name)
    tag = "w%s-%d%s" % (worker_id.rsplit("-", 1)[-1], handbacks, "-sig" if signalled else "")
    if attempts is None:
        attempts = queue_name.attempts
    if queue_name.is_tasks:
        return names.with_fields(queue_name, attempts=attempts,
                                 tag=tag if signalled else queue_name.tag)
    return names.requeue_name(queue_name.original, attempts, tag)


def old_burial_requeue(name, crashed, new_tag):
    queue_name = names.parse(name)
    attempts = queue_name.attempts + (1 if crashed else 0)
    tag = "d%s" % new_tag
    if queue_name.is_tasks:
        return names.with_fields(queue_name, attempts=attempts,
                                 tag=tag if crashed else queue_name.tag)
    return names.requeue_name(queue_name.original, attempts, tag)


def old_give_back_rest(queue_name, task, failures, row_offset, interrupted, tag):
    parts, where = [], []
    if task > queue_name.first:
        parts.append(dict(first=queue_name.first, last=task - 1, attempts=0,
                          flags="F" if failures else "", offset=None))
        where.append(ARRAYS)
    attempts = queue_name.attempts if task == queue_name.first else 0
    if interrupted:
        parts.append(dict(first=task, last=task, attempts=attempts + 1, offset=row_offset,
                          tag=tag))
        where.append(JOBQUEUE)
        if task < queue_name.last:
            parts.append(dict(first=task + 1, last=queue_name.last, attempts=0, offset=None))
            where.append(JOBQUEUE)
    else:
        parts.append(dict(first=task, last=queue_name.last, attempts=attempts,
                          offset=row_offset))
        where.append(JOBQUEUE)
    return parts, where


def old_take_over_range(queue_name, last, failures, tag):
    parts, where = [], []
    if last >= queue_name.first:
        parts.append(dict(first=queue_name.first, last=last, attempts=0,
                          flags="F" if failures else "", offset=None))
        where.append(ARRAYS)
    if last < queue_name.last:
        crashed = last + 1
        attempts = (queue_name.attempts if crashed == queue_name.first else 0) + 1
        parts.append(dict(first=crashed, last=crashed, attempts=attempts,
                          offset=queue_name.offset if crashed == queue_name.first
                          else None, tag=tag))
        where.append(JOBQUEUE)
        if crashed < queue_name.last:
            parts.append(dict(first=crashed + 1, last=queue_name.last, attempts=0,
                              offset=None, tag=None))
            where.append(JOBQUEUE)
    return parts, where


def old_retry_parts(array, uid, count, failed, all_failed, tag):
    failed_set, remaining = set(failed), set(all_failed) - set(failed)
    parts = []
    for task in range(1, count + 1):
        again = task in failed_set
        if parts and parts[-1][2] == again and parts[-1][1] == task - 1:
            parts[-1] = (parts[-1][0], task, again)
        else:
            parts.append((task, task, again))
    made = []
    for first, last, again in parts:
        if again:
            made.append((names.compose(array, first=first, last=last, uid=uid, tag=tag),
                         JOBQUEUE))
        else:
            flags = "F" if any(first <= t <= last for t in remaining) else ""
            made.append((names.compose(array, first=first, last=last, uid=uid, flags=flags),
                         ARRAYS))
    return made, [[uid, first, last] for first, last, again in parts if again]


# -- tags ---------------------------------------------------------------------------------------

def test_tags():
    assert moves.worker_tag("host-12-a1b2c3", 4) == "wa1b2c3-4"
    assert moves.worker_tag("host-12-a1b2c3", 5, signalled=True) == "wa1b2c3-5-sig"
    assert moves.dispatcher_tag(99999999.7, 3) == "d%x%d" % (99999999, 3)
    assert moves.retry_tag("0a0b0c0d") == "r0a0b0c0d"


def test_tags_survive_a_name_and_say_how_it_was_cut_short():
    for tag, died, signalled in [(moves.dispatcher_tag(1e9, 1), True, False),
                                 (moves.worker_tag("h-1-abc", 1, True), False, True),
                                 (moves.worker_tag("h-1-abc", 1), False, False),
                                 (moves.retry_tag("beef"), False, False)]:
        back = names.parse(names.requeue_name("j.conf", 1, tag))
        assert back.tag == tag
        assert moves.died_with_worker(back) is died
        assert moves.sent_stop_signal(back) is signalled
    assert not moves.died_with_worker(names.parse("j.conf"))


# -- whole names --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_requeued_is_the_workers_hand_back(name):
    queue_name = parsed(name)
    for attempts, signalled in itertools.product((None, 0, 3), (False, True)):
        tag = moves.worker_tag("host-9-abcdef", 2, signalled)
        count = queue_name.attempts if attempts is None else attempts
        assert moves.requeued(queue_name, count, tag, retag=signalled) == \
            old_hand_back(name, "host-9-abcdef", 2, attempts, signalled)


@pytest.mark.parametrize("name", ALL)
def test_requeued_is_the_burials_requeue(name):
    queue_name = parsed(name)
    for crashed in (False, True):
        tag = moves.dispatcher_tag(1700000000, 7)
        got = moves.requeued(queue_name, queue_name.attempts + (1 if crashed else 0), tag,
                             retag=crashed)
        assert got == old_burial_requeue(name, crashed, tag[1:])
        back = names.parse(got)
        assert back.original == queue_name.original
        assert back.attempts == queue_name.attempts + (1 if crashed else 0)
        assert (back.first, back.last, back.uid) == (queue_name.first, queue_name.last,
                                                     queue_name.uid)


def test_retried_job():
    name = moves.retried_job("job0.conf", "r1234abcd")
    assert name == names.requeue_name("job0.conf", 0, "r1234abcd")
    back = names.parse(name)
    assert (back.original, back.attempts, back.tag) == ("job0.conf", 0, "r1234abcd")


@pytest.mark.parametrize("name", RANGES)
def test_finished_names_drop_attempts_offset_and_tag(name):
    queue_name = parsed(name)
    for failed in (False, True):
        old = names.with_fields(queue_name, flags="F" if failed else "", attempts=0,
                                offset=None, tag=None)
        assert moves.finished_range(queue_name, moves.range_flags(failed)) == old
    old_cancel = names.with_fields(queue_name, flags="C", attempts=0, offset=None, tag=None)
    assert moves.cancelled_range(queue_name) == old_cancel
    assert moves.exhausted_range(queue_name) == names.with_fields(
        queue_name, flags="F", attempts=0, offset=None, tag=None)
    back = names.parse(moves.cancelled_range(queue_name))
    assert back.finished and back.flags == "C" and back.tag is None and back.attempts == 0
    assert (back.first, back.last, back.uid) == (queue_name.first, queue_name.last,
                                                 queue_name.uid)


def test_array_range():
    name = moves.array_range("sweep.conf", 1000, "3f9c2a71", 57)
    assert name == names.compose("sweep.conf", first=1, last=1000, uid="3f9c2a71", offset=57)
    back = names.parse(name)
    assert (back.first, back.last, back.uid, back.offset) == (1, 1000, "3f9c2a71", 57)
    assert names.parse(moves.array_range("p.conf", 3, "ab", None)).offset is None


def test_array_state():
    assert moves.array_state("") == "done"
    assert moves.array_state(None) == "done"
    assert moves.array_state("C") == "cancelled"
    assert moves.array_state("F") == "failed"
    assert moves.array_state("CF") == "failed"


def test_merged_and_repaired_rest():
    a = parsed(names.compose("s.conf", first=1, last=10, uid="ab", flags="C", tag="d1"))
    b = parsed(names.compose("s.conf", first=11, last=30, uid="ab", flags="F"))
    flags = "".join(sorted(set(a.flags or "") | set(b.flags or "")))
    assert moves.merged(a, b) == names.with_fields(a, last=b.last, flags=flags, attempts=0,
                                                   offset=None, tag=None)
    union = names.parse(moves.merged(a, b))
    assert (union.first, union.last, union.flags, union.tag) == (1, 30, "CF", None)
    longer = parsed(names.compose("s.conf", first=1, last=50, uid="ab", attempts=2,
                                  offset=8, tag="wx-1"))
    rest = moves.repaired_rest(a, longer)
    assert rest == names.with_fields(longer, first=11, attempts=0, offset=None)
    assert names.parse(rest).first == 11 and names.parse(rest).last == 50


def test_first_final_name():
    assert moves.first_final_name("job0.conf") == next(names.final_names("job0.conf"))
    long = "y" * 300 + ".conf"
    assert moves.first_final_name(long) == next(names.final_names(long))


# -- splits -------------------------------------------------------------------------------------

def split_cases():
    for name in RANGES:
        queue_name = parsed(name)
        for task in range(queue_name.first, queue_name.last + 1):
            yield name, queue_name, task


def check_pieces(queue_name, pieces, old_parts, old_where):
    assert [dict(p.fields) for p in pieces] == old_parts
    assert [p.folder for p in pieces] == old_where
    made = moves.piece_names(queue_name, pieces)
    assert made == [names.with_fields(queue_name, **part) for part in old_parts]
    covered = []
    for new in made:
        part = names.parse(new)
        assert part.original == queue_name.original and part.uid == queue_name.uid
        covered.extend(range(part.first, part.last + 1))
    assert covered == list(range(queue_name.first, queue_name.last + 1))


def test_given_back_is_the_workers_give_back_rest():
    for name, queue_name, task in split_cases():
        for failed, interrupted in itertools.product((False, True), repeat=2):
            tag = moves.worker_tag("h-1-abc", 3, signalled=failed)
            pieces = moves.given_back(queue_name, task, failed, 4096, interrupted, tag)
            check_pieces(queue_name, pieces, *old_give_back_rest(queue_name, task, failed,
                                                                 4096, interrupted, tag))


def test_given_back_counts_an_attempt_for_the_interrupted_task_only():
    queue_name = parsed(RANGES[0])
    made = moves.piece_names(queue_name, moves.given_back(queue_name, 5, False, 10, True,
                                                          "wabc-1"))
    done, cut, rest = [names.parse(n) for n in made]
    assert done.finished and (done.first, done.last) == (1, 4)
    assert (cut.first, cut.last, cut.attempts, cut.offset, cut.tag) == (5, 5, 1, 10, "wabc-1")
    assert (rest.first, rest.last, rest.attempts, rest.offset) == (6, 100, 0, None)


def test_cancel_split_is_the_workers_cancel_rest():
    for name, queue_name, task in split_cases():
        if task == queue_name.first:
            continue  # (the whole range is cancelled as it is)
        for failed in (False, True):
            old = [dict(first=queue_name.first, last=task - 1, attempts=0,
                        flags="F" if failed else "", offset=None),
                   dict(first=task, last=queue_name.last, attempts=0, offset=None)]
            check_pieces(queue_name, moves.cancel_split(queue_name, task, failed), old,
                         [ARRAYS, None])


def test_taken_over_is_the_burials_take_over_range():
    for name, queue_name, task in split_cases():
        for last_done in (queue_name.first - 1, task, queue_name.last):
            for failed in (False, True):
                pieces = moves.taken_over(queue_name, last_done, failed, "d77")
                check_pieces(queue_name, pieces, *old_take_over_range(queue_name, last_done,
                                                                     failed, "d77"))


def test_handed_out_is_the_dispatchers_range_piece():
    for name, queue_name, task in split_cases():
        if task == queue_name.first:
            continue
        old = [dict(first=queue_name.first, last=task - 1),
               dict(first=task, last=queue_name.last, attempts=0, offset=321, tag=None)]
        check_pieces(queue_name, moves.handed_out(queue_name, task, 321), old,
                     [JOBQUEUE, JOBQUEUE])


@pytest.mark.parametrize("failed,all_failed", [
    ([2, 3, 7], [2, 3, 7]), ([1], [1, 5]), ([10], [10]), ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                                                         list(range(1, 11))),
    ([4, 6], [4, 5, 6, 9])])
def test_retry_split_is_the_old_retry(failed, all_failed):
    made = moves.retry_split("sweep.conf", "ab12", 10, failed, set(all_failed) - set(failed),
                             "rfeed")
    old_made, old_ranges = old_retry_parts("sweep.conf", "ab12", 10, failed, all_failed,
                                           "rfeed")
    assert made == old_made
    assert [["ab12", f, l] for f, l in moves.retried_runs(made)] == old_ranges
    tasks = []
    for name, folder in made:
        part = names.parse(name)
        tasks.extend(range(part.first, part.last + 1))
        assert part.finished == (folder == ARRAYS)
        assert (part.tag == "rfeed") == (folder == JOBQUEUE)
    assert tasks == list(range(1, 11))


# -- claims and outputs -------------------------------------------------------------------------

@pytest.mark.parametrize("name", SINGLES)
def test_claim_names(name):
    token = "a1b2c3"
    claim = moves.claim_name(name, token)
    assert claim == ".%s.%s.part" % (names.fit(name, 200), token)
    assert moves.is_claim(claim)
    assert not moves.is_claim(name)
    old_original = names.parse(claim[1:].rsplit(".", 2)[0]).original
    assert moves.claimed_original(claim) == old_original
    if len(os.fsencode(name)) <= 200:
        assert moves.claimed_original(claim) == names.parse(name).original


def test_output_files():
    assert moves.output_file("job0.conf", "stdout") == os.path.join(RECORDS,
                                                                   "job0.conf.out")
    assert moves.output_file("job0.conf", "stderr") == os.path.join(RECORDS,
                                                                   "job0.conf.err")
    taken = "/q/records/job0.conf.out"
    assert moves.spare_output_file(taken, "abc123") == "%s.%s%s" % (
        taken[:-4], "abc123", taken[-4:]) == "/q/records/job0.conf.abc123.out"


def test_nonce():
    assert len(names.nonce()) == 8 and len(names.nonce(3)) == 6
    int(names.nonce(), 16)
    assert names.nonce() != names.nonce()
