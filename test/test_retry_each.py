"""`fjd retry` of an array's failed tasks puts back what after_each cancelled because of
them, transitively, with real daemons (fjd/retry_each.py)."""
import time

import pytest

from conftest import fjd_cli, py, wait_for

# task i of "a" fails while the flag file is missing for i == 2; every run leaves a mark
MARK = ("import os, sys; label = sys.argv[2] + sys.argv[3]; "
        "open(sys.argv[1], 'a').write(label + chr(10)); "
        "sys.exit(1 if label == 'a2' and not os.path.exists(sys.argv[4]) else 0)")


def marks(queue):
    try:
        with open(queue.path("marks.txt")) as handle:
            return handle.read().split()
    except FileNotFoundError:
        return []


def cancelled_task(queue, array, index):
    from fjd import record_search
    return any(record.get("state") == "cancelled" for record in
               record_search.find_task_records(queue.layout(), array, index))


def pipeline(queue):
    """a (task 2 fails), b after_each a, c after_each b, and a job after b."""
    import fjd
    flag, out = queue.path("flag"), queue.path("marks.txt")
    made = {}
    made["a"] = fjd.submit(py(MARK, out, "a", "$i", flag), params={"i": "1..4"},
                           root=queue.root, name="a")[0]
    made["b"] = fjd.submit(py(MARK, out, "b", "$i", flag), params={"i": "1..4"},
                           root=queue.root, name="b", after_each=[made["a"]])[0]
    made["c"] = fjd.submit(py(MARK, out, "c", "$i", flag), params={"i": "1..4"},
                           root=queue.root, name="c", after_each=[made["b"]])[0]
    made["j"] = fjd.submit(py(MARK, out, "j", "", flag), root=queue.root, name="j",
                           after=[made["b"]])[0]
    return made


def test_retry_puts_back_tasks_after_each_cancelled_when_all_were_filed(queue):
    queue.dispatcher()
    queue.worker()
    made = pipeline(queue)
    wait_for(lambda: {made["b"], made["c"], made["j"]} <= set(queue.names("cancelled")),
             30, message="b, c and j filed as cancelled")
    assert made["a"] in queue.failed()
    assert queue.task_record(made["b"], 2)["reason"] == \
        "dependency %s#2 failed" % made["a"]
    assert queue.task_record(made["c"], 2)["reason"] == \
        "dependency %s#2 was cancelled" % made["b"]
    assert sorted(marks(queue)) == sorted(["a1", "a2", "a3", "a4", "b1", "b3", "b4", "c1",
                                           "c3", "c4"])
    open(queue.path("flag"), "w").close()
    result = fjd_cli(queue.root, "retry", made["a"])
    assert result.returncode == 0, result.err
    assert "1 task cancelled by after_each -> waiting/ (2)" in result.out, result.out
    assert result.out.count("cancelled by after_each") == 2, result.out
    assert "(what it waits for is back)" in result.out, result.out
    wait_for(lambda: set(made.values()) <= set(queue.done()), 30,
             message="all four done after the retry")
    got = marks(queue)
    assert sorted(got) == sorted(["a1", "a2", "a3", "a4", "b1", "b3", "b4", "c1", "c3",
                                  "c4", "a2", "b2", "c2", "j"]), got
    tail = got[10:]
    assert tail.index("a2") < tail.index("b2") < tail.index("c2"), got
    assert tail.index("b2") < tail.index("j"), got
    assert queue.names("cancelled") == [] and queue.names("waiting") == []
    assert queue.names("arrays") == []
    status = fjd_cli(queue.root, "status", "--json")
    assert status.returncode == 0, status.err
    import json
    counts = json.loads(status.out)["counts"]
    assert (counts["done"], counts["cancelled"], counts["failed"]) == (13, 0, 0), counts


SLOW_B4 = ("import os, sys, time; label = sys.argv[2] + sys.argv[3]; "
           "open(sys.argv[1], 'a').write(label + chr(10)); "
           "time.sleep(8 if label == 'b4' else 0); "
           "sys.exit(1 if label == 'a2' and not os.path.exists(sys.argv[4]) else 0)")


def test_retry_puts_back_a_cancelled_range_while_its_array_still_runs(queue):
    """b4 still runs when a is retried: b's cancelled task 2 is a range of its own in
    arrays/, and one rename takes it back to waiting/ (c's task 2 too, transitively)."""
    import fjd
    queue.dispatcher()
    queue.worker()
    queue.worker()
    flag, out = queue.path("flag"), queue.path("marks.txt")
    first = fjd.submit(py(SLOW_B4, out, "a", "$i", flag), params={"i": "1..4"},
                       root=queue.root, name="a")[0]
    second = fjd.submit(py(SLOW_B4, out, "b", "$i", flag), params={"i": "1..4"},
                        root=queue.root, name="b", after_each=[first])[0]
    third = fjd.submit(py(SLOW_B4, out, "c", "$i", flag), params={"i": "1..4"},
                       root=queue.root, name="c", after_each=[second])[0]
    wait_for(lambda: first in queue.failed() and "b4" in marks(queue) and
             cancelled_task(queue, third, 2), 30, message="a filed, b4 running, c2 cancelled")
    assert second not in queue.names("cancelled") and second not in queue.done()
    open(flag, "w").close()
    result = fjd_cli(queue.root, "retry", first)
    assert result.returncode == 0, result.err
    assert result.out.count("1 task cancelled by after_each -> waiting/ (2)") == 2, \
        result.out
    wait_for(lambda: {first, second, third} <= set(queue.done()), 40,
             message="all three done after the retry")
    got = marks(queue)
    assert sorted(got) == sorted(["a%d" % i for i in (1, 2, 2, 3, 4)] +
                                 ["b%d" % i for i in (1, 2, 3, 4)] +
                                 ["c%d" % i for i in (1, 2, 3, 4)]), got
    assert got.index("b2") > len(got) - 1 - got[::-1].index("a2"), got
    assert got.index("c2") > got.index("b2"), got
    assert queue.names("cancelled") == [] and queue.names("waiting") == []


TWO_FAIL = ("import os, sys; label = sys.argv[2] + sys.argv[3]; "
            "open(sys.argv[1], 'a').write(label + chr(10)); "
            "sys.exit(1 if label == 'a3' or label == 'a2' and not os.path.exists(sys.argv[4])"
            " else 0)")


def test_retry_of_one_task_puts_back_only_the_task_that_follows_it(queue):
    """a2 and a3 fail, b2-3 are cancelled together; `fjd retry a#2` puts back b2 alone (b's
    filed file is split), and b2 runs although a is filed as failed again (a3)."""
    import fjd
    queue.dispatcher()
    queue.worker()
    flag, out = queue.path("flag"), queue.path("marks.txt")
    first = fjd.submit(py(TWO_FAIL, out, "a", "$i", flag), params={"i": "1..4"},
                       root=queue.root, name="a")[0]
    second = fjd.submit(py(TWO_FAIL, out, "b", "$i", flag), params={"i": "1..4"},
                        root=queue.root, name="b", after_each=[first])[0]
    wait_for(lambda: second in queue.names("cancelled"), 30, message="b filed")
    open(flag, "w").close()
    result = fjd_cli(queue.root, "retry", first + "#2")
    assert result.returncode == 0, result.err
    assert "1 task cancelled by after_each -> waiting/ (2)" in result.out, result.out
    wait_for(lambda: "b2" in marks(queue) and second in queue.names("cancelled") and
             first in queue.failed(), 30, message="b2 run, b and a filed again")
    assert sorted(marks(queue)) == sorted(["a1", "a2", "a2", "a3", "a4", "b1", "b2", "b4"])
    assert queue.task_record(second, 3)["state"] == "cancelled"
    assert queue.names("waiting") == [] and queue.names("arrays") == []
    import json
    counts = json.loads(fjd_cli(queue.root, "status", "--json").out)["counts"]
    assert (counts["done"], counts["cancelled"], counts["failed"]) == (6, 1, 1), counts


CHAOS_MARK = ("import os, sys, time; label = sys.argv[2] + sys.argv[3]; "
              "open(sys.argv[1], 'a').write(label + chr(10)); time.sleep(0.2); "
              "sys.exit(1 if label in ('a2', 'a5', 'a6') and not os.path.exists(sys.argv[4])"
              " else 0)")


@pytest.mark.slow
def test_sigkill_of_the_dispatcher_while_tasks_put_back_resolve(queue):
    """After `fjd retry a`, the dispatcher is SIGKILLed again and again while the tasks of
    b and c that came back wait, are released and run: each runs once, after its task of
    the array it follows."""
    import random
    import fjd
    options = ("--worker-timeout", "3")
    dispatcher = queue.dispatcher(*options)
    workers = [queue.worker() for _ in range(2)]
    flag, out = queue.path("flag"), queue.path("marks.txt")
    made = {}
    for label, after_each in (("a", None), ("b", "a"), ("c", "b")):
        made[label] = fjd.submit(py(CHAOS_MARK, out, label, "$i", flag),
                                 params={"i": "1..8"}, root=queue.root, name=label,
                                 after_each=[made[after_each]] if after_each else None)[0]
    made["j"] = fjd.submit(py(CHAOS_MARK, out, "j", "", flag), root=queue.root, name="j",
                           after=[made["b"]])[0]
    wait_for(lambda: {made["b"], made["c"], made["j"]} <= set(queue.names("cancelled")), 60,
             message="b, c and j filed as cancelled")
    before = len(marks(queue))
    open(flag, "w").close()
    result = fjd_cli(queue.root, "retry", made["a"])
    assert result.returncode == 0, result.err
    rng = random.Random(2323)
    kills = 0
    while kills < 12 and not set(made.values()) <= set(queue.done()):
        time.sleep(rng.uniform(0.1, 0.4))
        dispatcher.kill()
        dispatcher = queue.dispatcher(*options)
        kills += 1
    wait_for(lambda: set(made.values()) <= set(queue.done()), 90,
             message="all four done after the retry")
    after = marks(queue)[before:]
    expected = [x + str(i) for x in "abc" for i in (2, 5, 6)] + ["j"]
    assert sorted(after) == sorted(expected), after
    for i in (2, 5, 6):
        assert after.index("a%d" % i) < after.index("b%d" % i) < after.index("c%d" % i)
    assert all(after.index("b%d" % i) < after.index("j") for i in (2, 5, 6)), after
    assert queue.names("cancelled") == [] and queue.names("waiting") == []
    assert kills >= 3
    for daemon in [dispatcher] + workers:
        assert daemon.alive()


PIPE_MARK = ("import os, sys, time; label = sys.argv[2] + sys.argv[3]; "
             "open(sys.argv[1], 'a').write(label + chr(10)); time.sleep(0.2); "
             "sys.exit(1 if label[0] == 'a' and sys.argv[3] in ('2', '5', '6') and "
             "not os.path.exists(sys.argv[4]) else 0)")


@pytest.mark.slow
def test_sigkill_of_fjd_retry_at_any_instant_runs_nothing_early_or_twice(queue):
    """Three pipelines a -> b -> c (after_each), each `fjd retry` SIGKILLed at another
    instant: whatever it had put back runs once, after what it follows; the rest stays
    where it was (DESIGN.md, "Dependencies": the crash windows of `fjd retry`)."""
    import subprocess
    import sys
    import fjd
    from conftest import REPO
    queue.dispatcher()
    workers = [queue.worker() for _ in range(2)]
    flag, out = queue.path("flag"), queue.path("marks.txt")
    arrays = []
    for k in range(3):
        made = {}
        for label, follows in (("a", None), ("b", "a"), ("c", "b")):
            made[label] = fjd.submit(py(PIPE_MARK, out, "%s%d-" % (label, k), "$i", flag),
                                     params={"i": "1..8"}, root=queue.root,
                                     name="%s%d" % (label, k),
                                     after_each=[made[follows]] if follows else None)[0]
        arrays.append(made)
    wait_for(lambda: all(m["c"] in queue.names("cancelled") for m in arrays), 60,
             message="every c filed as cancelled")
    before = len(marks(queue))
    open(flag, "w").close()
    for made, delay in zip(arrays, (0.2, 0.35, 0.6)):
        proc = subprocess.Popen([sys.executable, "-m", "fjd", "retry", "--root", queue.root,
                                 made["a"]], cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()
        proc.wait()
    time.sleep(1)
    wait_for(lambda: not queue.names("waiting") and not queue.queued() and
             not queue.in_inboxes(), 60, message="nothing left to run")
    time.sleep(1)
    after = marks(queue)[before:]
    assert len(after) == len(set(after)), after  # nothing twice
    for k in range(3):
        for i in (2, 5, 6):
            got = [x for x in ("a%d-%d" % (k, i), "b%d-%d" % (k, i), "c%d-%d" % (k, i))
                   if x in after]
            assert got == ["a%d-%d" % (k, i), "b%d-%d" % (k, i), "c%d-%d" % (k, i)][
                :len(got)], after  # b only after a, c only after b
            assert [after.index(x) for x in got] == sorted(after.index(x) for x in got)
    for daemon in workers:
        assert daemon.alive()
