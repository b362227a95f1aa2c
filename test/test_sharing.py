"""Sharing a range: an idle worker does not wait while another holds tasks it has not
started (dispatcher/sharing.py, TaskRange.share_if_asked)."""
import json
import os
import time

import pytest

from conftest import fjd_cli, py, wait_for
from fjd import moves, names
from fjd.execute import Runner
from fjd.layout import JOBQUEUE, SHARE_FILE
from fjd.waker import Waker
from fjd.worker import Worker

exclusive = pytest.mark.exclusive

HANG = "import sys, time; time.sleep(30 if int(sys.argv[1]) in (3, 4) else 0.05)"


def task_records(queue):
    found = []
    for name in queue.names("records"):
        if name.endswith(".journal"):
            with open(queue.path("records", name), "rb") as handle:
                for line in handle:
                    record = json.loads(line.rsplit(b"\t", 1)[0])
                    if record.get("k") == "task":
                        found.append(dict(record, journal=name))
    return found


@exclusive
def test_two_hung_tasks_of_one_sweep_run_side_by_side(queue):
    """The issue's case: 14 tasks, two of them hang until their 3 s timeout. Whichever
    worker holds both, the other takes over what it has not started: the sweep ends in at
    most 7 s (12 s when the two ran one after the other), every task once."""
    queue.dispatcher()
    queue.worker()
    queue.worker()
    wait_for(lambda: len(queue.names("workerqueue")) == 2, message="two idle workers")
    started = time.monotonic()
    submit = fjd_cli(queue.root, "submit", "-q", "--no-jobfile", "--timeout", "3",
                     "--exe", py(HANG, "{i}"), "--param", "i=1..14")
    assert submit.returncode == 0, submit.err
    queue.wait_finished(1, timeout=30)
    elapsed = time.monotonic() - started
    records = task_records(queue)
    assert sorted(r["i"] for r in records) == list(range(1, 15))  # each task once
    hung = sorted((r for r in records if r["i"] in (3, 4)), key=lambda r: r["i"])
    assert all(r.get("timed_out") for r in hung), hung
    assert hung[0]["journal"] != hung[1]["journal"], hung  # two workers
    # side by side: the later hung run started before the earlier one ended (the 7 s of
    # the issue is measured by bench/, not here: a loaded machine stretches every step)
    first, second = sorted(hung, key=lambda r: r["start"])
    assert second["start"] < first["end"], hung
    assert elapsed < 12.0 or os.getloadavg()[0] > 4, "the sweep took %.1f s" % elapsed
    assert queue.failed() and not queue.done()  # (the two timed out)


def test_a_shared_range_keeps_the_tasks_before_the_cut():
    queue_name = names.parse(moves.array_range("sweep.conf", 10, "abcd1234", None))
    kept, rest = moves.shared_rest(queue_name, 4)
    assert kept == moves.Piece(dict(first=1, last=3), None)
    assert rest.folder == JOBQUEUE and rest.fields["first"] == 4 and \
        rest.fields["last"] == 10 and rest.fields["attempts"] == 0
    made = moves.piece_names(queue_name, [kept, rest])
    assert [names.parse(n)[2:4] for n in made] == [(1, 3), (4, 10)]
    assert all(names.parse(n).uid == "abcd1234" for n in made)


def started_worker(root):
    """A worker of this process, registered in root, that ticks every 0.3 s."""
    worker = Worker(root=str(root), heartbeat=0.3)
    worker.waker = Waker(watch_children=True, classify=worker.launcher.sender_is_our_job)
    runner = Runner(worker.waker, 1.0, worker.presence.tick, 0.3)
    worker.presence.attach(worker.waker)
    worker.following.runner = worker.launcher.runner = runner
    assert worker.start_up()
    return worker


def hand_range(inbox, command, count, asked):
    """Put an array of count tasks running command in the inbox as one range, as the
    dispatcher hands it out, and a request to share the range named asked (None: this one)."""
    name = moves.array_range("sweep.conf", count, "abcd1234", None)
    with open(os.path.join(inbox, name), "w") as handle:
        handle.write("[control]\nexecutable: %s\njobfile: none\ntasks: product\n\n[params]\n"
                     "i: 1..%d\n" % (command, count))
    with open(os.path.join(inbox, SHARE_FILE), "w") as handle:
        handle.write((asked or name) + "\n")
    return name


def test_a_worker_asked_to_share_gives_back_what_it_has_not_started(tmp_path):
    """A real worker (in this process) runs a range of five tasks whose first takes longer
    than a tick, with the dispatcher's request naming the range in its inbox: it keeps task
    1, puts tasks 2-5 back in jobqueue/ unstarted, and files task 1's range in arrays/."""
    root = tmp_path / "q"
    worker = started_worker(root)
    try:
        inbox = worker.presence.inbox
        name = hand_range(inbox, py("import sys, time; time.sleep(1.0 if sys.argv[1] == '1' "
                                    "else 0)", "{i}"), 5, asked=None)
        worker.run_batch([name])
        rest = [n for n in os.listdir(str(root / "jobqueue"))]
        assert [names.parse(n)[2:4] for n in rest] == [(2, 5)]
        finished = os.listdir(str(root / "arrays"))
        assert [names.parse(n)[2:4] for n in finished] == [(1, 1)]
        assert not os.path.exists(os.path.join(inbox, SHARE_FILE))
        assert [n for n in os.listdir(inbox) if not n.startswith(".")] == []
    finally:
        worker.shut_down()


def test_a_request_for_another_range_is_dropped(tmp_path):
    """A request left from a range run before names another array: it is removed and
    the range runs whole."""
    root = tmp_path / "q"
    worker = started_worker(root)
    try:
        inbox = worker.presence.inbox
        name = hand_range(inbox, py("import time; time.sleep(0.7)"), 2,
                          asked=moves.array_range("other.conf", 9, "ffff0000", None))
        worker.run_batch([name])
        assert os.listdir(str(root / "jobqueue")) == []
        assert [names.parse(n)[2:4] for n in os.listdir(str(root / "arrays"))] == [(1, 2)]
        assert not os.path.exists(os.path.join(inbox, SHARE_FILE))
    finally:
        worker.shut_down()
