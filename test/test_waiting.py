"""Dependencies with real daemons: waiting/, release, the failure cascade, unknown names and
cycles (dispatcher/waiting.py)."""
import time

import pytest

from conftest import fjd_cli, py, wait_for

APPEND = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + chr(10))"


def submit(queue, *args):
    result = fjd_cli(queue.root, "submit", "-q", *args) if "-q" in args else \
        fjd_cli(queue.root, "submit", *args)
    assert result.returncode == 0, result.err
    return result.out.split()


def step(queue, label, *more):
    """Submit a job that appends label to order.txt; its name."""
    return submit(queue, "--exe", py(APPEND, queue.path("order.txt"), label), "--name",
                  label, *more)[0]


def order(queue):
    try:
        with open(queue.path("order.txt")) as handle:
            return handle.read().split()
    except FileNotFoundError:
        return []


def test_chain_of_jobs_and_arrays_runs_in_order(queue):
    queue.dispatcher()
    queue.worker()
    queue.worker()
    first = step(queue, "a")
    second = step(queue, "b", "--after", first)
    sweep = submit(queue, "--exe", py(APPEND, queue.path("order.txt"), "c$i"), "--param",
                   "i=1..3", "--name", "c", "--after", second)[0]
    last = step(queue, "d", "--after", sweep)
    wait_for(lambda: last in queue.done(), 20, message="the last job done")
    got = order(queue)
    assert got[:2] == ["a", "b"] and sorted(got[2:5]) == ["c1", "c2", "c3"] and \
        got[5] == "d", got
    assert sweep in queue.done()
    assert queue.names("waiting") == [] and queue.names("cancelled") == []


def test_failure_cancels_three_levels_and_after_finished_runs(queue):
    queue.dispatcher()
    queue.worker()
    bad = submit(queue, "--exe", "false", "--name", "bad")[0]
    level1 = step(queue, "l1", "--after", bad)
    level2 = step(queue, "l2", "--after", level1)
    level3 = step(queue, "l3", "--after", level2)
    cleanup = step(queue, "cleanup", "--after-finished", level3)
    wait_for(lambda: cleanup in queue.done(), 20, message="the after_finished job done")
    assert sorted(queue.names("cancelled")) == sorted([level1, level2, level3])
    assert queue.reason(level1) == "dependency %s failed" % bad
    assert queue.reason(level2) == "dependency %s was cancelled" % level1
    assert queue.record(level3)["dependency"] == level2
    assert order(queue) == ["cleanup"]


def test_submit_refuses_a_name_that_is_nowhere(queue):
    queue.dispatcher()
    result = fjd_cli(queue.root, "submit", "--exe", "true", "--after", "nosuch.conf")
    assert result.returncode == 2
    assert "nosuch.conf" in result.err
    assert queue.names("waiting") == [] and queue.queued() == []
    with open(queue.path("file.conf"), "w") as handle:
        handle.write("[control]\nexecutable: true\nafter: nosuch.conf\n")
    result = fjd_cli(queue.root, "submit", queue.path("file.conf"))
    assert result.returncode == 2 and queue.names("waiting") == []
    queue.worker()
    first = submit(queue, "--exe", "true")[0]
    with open(queue.path("file.conf"), "w") as handle:
        handle.write("[control]\nexecutable: true\nafter: %s\n" % first)
    second = submit(queue, queue.path("file.conf"))[0]
    assert "s-" not in second.split("-", 3)[3][:8]  # no plain mark: its head is read
    wait_for(lambda: {first, second} <= set(queue.done()), 10, message="both done")


def test_hand_written_jobs_wait_fail_on_unknown_names_and_cycles(queue):
    queue.job("ping.conf", py(APPEND, queue.path("order.txt"), "pong"), after="pong.conf")
    queue.job("pong.conf", py(APPEND, queue.path("order.txt"), "ping"), after="ping.conf")
    queue.job("lost.conf", "true", after="nowhere.conf")
    queue.job("later.conf", py(APPEND, queue.path("order.txt"), "later"),
              after="sooner.conf")
    queue.job("sooner.conf", py(APPEND, queue.path("order.txt"), "sooner"))
    queue.dispatcher()
    queue.worker()
    wait_for(lambda: {"later.conf", "sooner.conf"} <= set(queue.done()) and
             len(queue.failed()) == 3, 20, message="the chain done and three failed")
    assert order(queue) == ["sooner", "later"]
    assert queue.reason("lost.conf") == "after: names nowhere.conf, which is not in this queue"
    cycle = queue.reason("ping.conf")
    assert cycle.startswith("dependency cycle: ") and "pong.conf" in cycle
    assert queue.reason("pong.conf").startswith("dependency cycle: ")
    assert queue.names("waiting") == []


SLEEP = "import time; time.sleep(60)"
PASS_IF = "import os, sys; sys.exit(0 if os.path.exists(sys.argv[1]) else 1)"


def test_status_show_and_cancel_of_a_waiting_job(queue):
    queue.dispatcher()
    queue.worker()
    gate = submit(queue, "--exe", py(SLEEP), "--name", "gate")[0]
    first = step(queue, "w1", "--after", gate)
    second = step(queue, "w2", "--after", first)
    status = fjd_cli(queue.root, "status", "--json")
    import json
    state = json.loads(status.out)
    assert state["counts"]["waiting"] == 2
    assert state["waiting"]["first"][0]["waits_for"] == [
        {"name": gate, "key": "after", "state": None}]
    text = fjd_cli(queue.root, "status").out
    assert "waiting" in text and "after %s (not finished)" % gate in text
    shown = fjd_cli(queue.root, "show", second)
    assert shown.returncode == 0, shown.err
    assert "state: waiting" in shown.out and \
        "waits for: after %s (not finished)" % first in shown.out
    cancelled = fjd_cli(queue.root, "cancel", first, "--queued-only")
    assert cancelled.returncode == 0, cancelled.err
    assert "(was waiting)" in cancelled.out
    wait_for(lambda: second in queue.names("cancelled"), 10,
             message="the job after the cancelled one cancelled")
    assert queue.reason(second) == "dependency %s was cancelled" % first
    assert queue.names("waiting") == []


def test_retry_of_a_failed_dependency_puts_back_what_it_cancelled(queue):
    flag = queue.path("flag")
    queue.dispatcher()
    queue.worker()
    base = submit(queue, "--exe", py(PASS_IF, flag), "--name", "base")[0]
    first = step(queue, "w1", "--after", base)
    second = step(queue, "w2", "--after", first)
    wait_for(lambda: len(queue.names("cancelled")) == 2, 20, message="two cancelled")
    assert base in queue.failed()
    open(flag, "w").close()
    result = fjd_cli(queue.root, "retry", base)
    assert result.returncode == 0, result.err
    assert result.out.count("-> waiting/") == 2, result.out
    wait_for(lambda: {base, first, second} <= set(queue.done()), 20,
             message="all three done after the retry")
    assert order(queue) == ["w1", "w2"]
    assert queue.names("cancelled") == []


def test_python_submit_and_fjd_run_take_dependencies(queue):
    import fjd
    result = fjd_cli(queue.root, "run", "--exe", py(APPEND, queue.path("order.txt"), "a"),
                     "--name", "a", "-q", "--workers", "1")
    assert result.returncode == 0, result.err
    first = queue.done()[0]
    result = fjd_cli(queue.root, "run", "--exe", py(APPEND, queue.path("order.txt"), "b"),
                     "--name", "b", "--after", first, "-q", "--workers", "1")
    assert result.returncode == 0, result.err
    assert order(queue) == ["a", "b"]
    made = fjd.submit(py(APPEND, queue.path("order.txt"), "c"), root=queue.root,
                      after=[first], after_finished=queue.done()[1])
    assert queue.names("waiting") == made
    try:
        fjd.submit("true", root=queue.root, after="nosuch.conf")
    except fjd.SubmitError as error:
        assert "nosuch.conf" in str(error)
    else:
        raise AssertionError("a name that is nowhere was taken")
    queue.dispatcher()
    queue.worker()
    wait_for(lambda: made[0] in queue.done(), 20, message="the job after both done")
    assert order(queue) == ["a", "b", "c"]


TASK = ("import sys, time; i = int(sys.argv[2]); "
        "open(sys.argv[1], 'a').write(sys.argv[3] + str(i) + chr(10)); "
        "time.sleep(2.5 if sys.argv[3] == 'a' and i == 6 else 0); "
        "sys.exit(1 if sys.argv[3] == 'a' and i in (2, 5) else 0)")


def test_after_each_runs_task_by_task_and_cancels_after_failures(queue):
    queue.dispatcher()
    queue.worker()
    queue.worker()
    first = submit(queue, "--exe", py(TASK, queue.path("order.txt"), "$i", "a"), "--param",
                   "i=1..6", "--name", "a")[0]
    second = submit(queue, "--exe", py(TASK, queue.path("order.txt"), "$i", "b"), "--param",
                    "i=1..6", "--name", "b", "--after-each", first)[0]
    wait_for(lambda: second in queue.names("cancelled"), 30, message="the second array filed")
    got = order(queue)
    assert sorted(n for n in got if n.startswith("b")) == ["b1", "b3", "b4", "b6"], got
    for task in (1, 3, 4, 6):
        assert got.index("a%d" % task) < got.index("b%d" % task), got
    # task by task: b1 ran while a6 (2.5 s) still ran
    assert queue.task_record(second, 1)["end"] < queue.task_record(first, 6)["end"]
    for task in (2, 5):
        record = queue.task_record(second, task)
        assert record["state"] == "cancelled"
        assert record["reason"] == "dependency %s#%d failed" % (first, task)
    assert queue.names("waiting") == []


def test_after_each_needs_arrays_of_one_size(queue):
    first = submit(queue, "--exe", "true", "--param", "i=1..3")[0]
    result = fjd_cli(queue.root, "submit", "--exe", "true", "--param", "i=1..4",
                     "--after-each", first)
    assert result.returncode == 2 and "3 tasks" in result.err
    result = fjd_cli(queue.root, "submit", "--exe", "true", "--after-each", first)
    assert result.returncode == 2
    result = fjd_cli(queue.root, "submit", "--exe", "true", "--after", first + "#4")
    assert result.returncode == 2 and "has 3 tasks" in result.err
    assert queue.names("waiting") == []


MARK = ("import sys, time; open(sys.argv[1], 'a').write(sys.argv[2] + chr(10)); "
        "time.sleep(0.05); sys.exit(1 if sys.argv[2].endswith('fail') else 0)")
MARK_TASK = ("import sys, time; label = sys.argv[2] + sys.argv[3]; "
             "open(sys.argv[1], 'a').write(label + chr(10)); time.sleep(0.05); "
             "sys.exit(1 if label == 'a4' else 0)")


def build_graph(queue, chains=6, links=5):
    """Chains of jobs (chain 0 fails at its second link), and an array b after_each a
    (a#4 fails); {label: queue name} and the dependencies {name: name waited for}."""
    import fjd
    marks = queue.path("marks.txt")
    made, after = {}, {}
    for chain in range(chains):
        previous = None
        for link in range(links):
            label = "c%d-%d%s" % (chain, link, "fail" if (chain, link) == (0, 1) else "")
            name = fjd.submit(py(MARK, marks, label), root=queue.root, name=label,
                              after=previous and [previous])[0]
            made[label], after[name] = name, previous
            previous = name
    first = fjd.submit(py(MARK_TASK, marks, "a", "$i"), params={"i": "1..8"},
                       root=queue.root, name="a")[0]
    second = fjd.submit(py(MARK_TASK, marks, "b", "$i"), params={"i": "1..8"},
                        root=queue.root, name="b", after_each=[first])[0]
    return made, after, first, second


def check_graph(queue, made, after, first, second, exactly_once):
    with open(queue.path("marks.txt")) as handle:
        runs = handle.read().split()
    for label, name in made.items():
        chain, link = label[1:].split("-")[:2]
        cancelled = chain == "0" and int(link.rstrip("fail")) >= 2
        if cancelled:
            assert label not in runs and name in queue.names("cancelled"), label
            continue
        assert runs.count(label) >= 1 and (runs.count(label) == 1 or not exactly_once), label
        if after[name]:  # nothing early: it started after the last run of what it waits for
            assert queue.record(name)["start"] >= queue.record(after[name])["end"], label
    for task in range(1, 9):
        assert ("b%d" % task in runs) == (task != 4), runs
        if task != 4:
            assert queue.task_record(second, task)["start"] >= \
                queue.task_record(first, task)["end"]
    assert queue.names("waiting") == [] and queue.queued() == []


def chaos(queue, seconds, kill_workers, seed):
    import random
    options = ("--worker-timeout", "3", "--max-attempts", "1000")
    dispatcher = queue.dispatcher(*options)
    workers = [queue.worker() for _ in range(3)]
    made, after, first, second = build_graph(queue)
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    kills = 0
    while time.monotonic() < deadline and second not in queue.names("cancelled"):
        time.sleep(rng.uniform(0.1, 0.4))
        if not kill_workers or rng.random() < 0.4:
            dispatcher.kill()
            dispatcher = queue.dispatcher(*options)
        else:
            victim = rng.choice(workers)
            victim.kill()
            workers.remove(victim)
            workers.append(queue.worker())
        kills += 1
    wait_for(lambda: second in queue.names("cancelled") and not queue.names("waiting") and
             not queue.queued() and not queue.in_inboxes(), 90,
             message="everything finished")
    time.sleep(0.5)
    check_graph(queue, made, after, first, second, exactly_once=not kill_workers)
    assert kills >= 3
    for daemon in [dispatcher] + workers:
        assert daemon.alive()


@pytest.mark.slow
def test_sigkill_of_the_dispatcher_while_dependencies_resolve(queue):
    chaos(queue, 6, kill_workers=False, seed=23)


@pytest.mark.slow
def test_sigkill_of_workers_and_dispatcher_while_dependencies_resolve(queue):
    chaos(queue, 8, kill_workers=True, seed=2323)


ONE_TASK = ("import sys, time; i = int(sys.argv[1]); "
            "time.sleep(4 if i == 3 else 0); sys.exit(1 if i == 1 else 0)")


def test_a_job_after_one_task_of_an_array(queue):
    queue.dispatcher()
    queue.worker()
    queue.worker()
    # both idle first, so that the 3 tasks are shared out (tasks 1-2 and 3): a task's
    # dependants are released once the range that holds it is filed
    wait_for(lambda: len(queue.names("workerqueue")) == 2, message="two idle workers")
    sweep = submit(queue, "--exe", py(ONE_TASK, "$i"), "--param", "i=1..3")[0]
    after_two = step(queue, "two", "--after", sweep + "#2")
    after_one = step(queue, "one", "--after", sweep + "#1")
    wait_for(lambda: after_two in queue.done(), 10, message="the job after task 2 done")
    assert sweep not in queue.names("failed")  # task 3 still runs: the array is not filed
    wait_for(lambda: after_one in queue.names("cancelled"), 10,
             message="the job after the failed task 1 cancelled")
    assert queue.reason(after_one) == "dependency %s#1 failed" % sweep


def test_a_cancelled_queued_dependency_cancels_its_waiters_at_once(queue):
    """With 200 names waited for the backstop sweep takes over 10 s to come round; the
    dispatcher hears of `fjd cancel` from its own listing of jobqueue/ instead."""
    import fjd
    queue.dispatcher()  # no worker: the dependencies stay queued
    firsts = [fjd.submit("true", root=queue.root, name="q%d" % n)[0] for n in range(200)]
    waiters = [fjd.submit("true", root=queue.root, name="w%d" % n, after=[first])[0]
               for n, first in enumerate(firsts)]
    wait_for(lambda: len(queue.names("waiting")) == 200, 20, message="all waiting")
    time.sleep(1.5)  # the dispatcher has taken them in (and made its first sweep)
    target = firsts[137]
    result = fjd_cli(queue.root, "cancel", target)
    assert result.returncode == 0, result.err
    started = time.monotonic()
    wait_for(lambda: waiters[137] in queue.names("cancelled"), 10,
             message="the waiter of the cancelled job cancelled")
    assert time.monotonic() - started < 3
    assert queue.reason(waiters[137]) == "dependency %s was cancelled" % target
    assert len(queue.names("waiting")) == 199


def test_the_dispatcher_hears_of_cancels_by_claim_name_and_by_hint(queue):
    """What `fjd cancel` took, named by an inotify event of its claim in cancelled/ (local
    disks) or by a hint (shared mounts), is looked at now if something waits for it."""
    import types
    from fjd import moves
    from fjd.dispatcher.waiting import Waiting
    waiting = Waiting(queue.layout(), None)
    waiting.waiters = {"x.conf": {"w1"}, "y.conf": {"w2"}}
    waiting.cancels = types.SimpleNamespace(
        take_names=lambda: [moves.claim_name("x.conf", "abcd"), "other.conf"])
    waiting.hints = types.SimpleNamespace(take_cancelled=lambda: {"y.conf", "z.conf"})
    waiting.hear_cancels()
    assert waiting.due == {"x.conf", "y.conf"}
