"""Crash recovery: heartbeats, requeue, attempts, timeouts, retries, one dispatcher (issue 3)."""
import os
import random
import threading
import time

import pytest

from conftest import PYTHON, assert_no_traceback, fjd_cli, py, wait_for
from fjd import names
from fjd.liveness import write_beat

# workers beat four times within it (0.75 s; defaults.worker_beat): a dead one is noticed
# in about 4 s
FAST = ("--worker-timeout", "3")


def heartbeat_paths(queue):
    return [queue.path("jobpod", w, ".heartbeat") for w in queue.names("jobpod")]


def started_marker(queue, name):
    return queue.path("started-" + name)


def slow_job(queue, name, seconds=30, **control):
    """A job that notes it started, then sleeps."""
    marker = started_marker(queue, name)
    script = ("import sys, time; open(%r, 'a').write('x'); time.sleep(%s)" % (marker, seconds))
    return queue.job(name, '%s -c "%s"' % (PYTHON, script), **control)


@pytest.mark.slow  # waits out the default timeout
@pytest.mark.exclusive  # the default timeout (8 s) leaves 2 s of the bound
def test_killed_worker_job_is_requeued_within_10s_by_default(queue):
    """SIGKILL a worker mid-job: with default settings the job is back within 10 s."""
    queue.dispatcher()
    victim = queue.worker()
    slow_job(queue, "victim.conf", seconds=1.5)
    wait_for(lambda: os.path.exists(started_marker(queue, "victim.conf")),
             message="job started")
    victim.kill()
    killed_at = time.monotonic()
    wait_for(lambda: queue.queued(), timeout=12, message="job back in jobqueue/")
    assert time.monotonic() - killed_at < 10
    requeued = queue.queued()
    assert requeued[0].startswith("victim.conf@a1."), requeued
    # The burial moves the job out first and removes the emptied inbox after it.
    wait_for(lambda: queue.names("jobpod") == [], timeout=5,
             message="the dead worker's inbox is cleaned up")
    queue.worker()
    queue.wait_finished(1)
    assert queue.done() == ["victim.conf"]
    assert queue.record("victim.conf")["attempt"] == 2
    with open(started_marker(queue, "victim.conf")) as handle:
        assert handle.read() == "xx", "at-least-once: the job ran twice"


def test_dead_idle_worker_gets_nothing_or_it_comes_back(queue):
    dispatcher = queue.dispatcher(*FAST)
    idle = queue.worker()
    wait_for(lambda: queue.names("workerqueue"), message="worker announced")
    idle.kill()  # leaves its announcement and inbox behind
    for i in range(3):
        queue.job("after%d.conf" % i, "true")
    # until the dead worker is buried (3 s without a beat): its jobs, if any, come back
    wait_for(lambda: "presumed dead" in dispatcher.log(), timeout=15,
             message="the dead worker buried")
    queue.worker()
    queue.wait_finished(3, timeout=15)
    assert queue.done() == ["after0.conf", "after1.conf", "after2.conf"]
    for name in queue.done():
        assert queue.record(name)["attempt"] == 1, "never started, so no crash counted"


@pytest.mark.slow  # three deaths, each noticed after the timeout
def test_job_that_keeps_killing_its_worker_fails_after_max_attempts(queue):
    queue.dispatcher(*FAST, "--max-attempts", "3")
    workers = [queue.worker() for _ in range(3)]
    queue.job("killer.conf", '%s -c "import os; os.kill(os.getppid(), 9)"' % PYTHON)
    wait_for(lambda: queue.failed(), timeout=30, message="killer.conf in failed/")
    reason = queue.reason("killer.conf")
    assert "died while running it 3 times" in reason, reason
    assert sum(1 for w in workers if not w.alive()) == 3
    queue.worker()
    queue.job("fine.conf", "true")
    wait_for(lambda: queue.done() == ["fine.conf"], message="normal service resumes")


def test_workers_beat_to_a_short_worker_timeout(queue):
    """--worker-timeout is in the dispatcher's lock: workers, one of them started before the
    dispatcher, beat four times within it, so a timeout shorter than their default beat
    buries none of them while their jobs run several timeouts long."""
    early = queue.worker()
    wait_for(lambda: queue.names("workerqueue"), message="the early worker to announce itself")
    dispatcher = queue.dispatcher("--worker-timeout", "1.2")
    late = queue.worker()
    for i in range(2):
        slow_job(queue, "long%d.conf" % i, seconds=3)
    queue.wait_finished(2, timeout=30)
    assert "presumed dead" not in dispatcher.log(), dispatcher.log()
    assert queue.done() == ["long0.conf", "long1.conf"]
    for name in queue.done():
        assert queue.record(name)["attempt"] == 1
        with open(started_marker(queue, name)) as handle:
            assert handle.read() == "x"
    for worker in (early, late):
        assert "beating every 0.3 s" in worker.log(), worker.log()
        assert worker.alive()


@pytest.mark.slow  # a death noticed, then twice the timeout without a false one
def test_clock_skew_in_heartbeat_mtimes_fakes_nothing(queue):
    """Heartbeat mtimes far in the future or past neither kill a live worker nor hide a dead
    one: liveness is "content unchanged for T on the observer's own clock"."""
    dispatcher = queue.dispatcher(*FAST)
    alive = queue.worker()
    doomed = queue.worker()
    wait_for(lambda: len(heartbeat_paths(queue)) == 2, message="two heartbeats")
    stop = threading.Event()

    def skew():
        flip = 0
        while not stop.is_set():
            for path in heartbeat_paths(queue):
                stamp = 4102444800 if flip % 2 else 1000  # year 2100, and 1970
                try:
                    os.utime(path, (stamp, stamp))
                except OSError:
                    pass
            flip += 1
            time.sleep(0.05)

    thread = threading.Thread(target=skew)
    thread.start()
    try:
        doomed.kill()
        wait_for(lambda: len(queue.names("jobpod")) == 1, timeout=8,
                 message="the killed worker to be declared dead despite skewed mtimes")
        time.sleep(5)  # well over the timeout: the live worker must not be buried
        slow_job(queue, "after-skew.conf", seconds=0)
        queue.wait_finished(1)
    finally:
        stop.set()
        thread.join()
    log = dispatcher.log()
    assert log.count("presumed dead") == 1, log
    assert alive.alive() and queue.record("after-skew.conf")["worker"] in queue.names("jobpod")


def test_timeout_kills_process_group(queue):
    queue.dispatcher()
    queue.worker()
    pidfile = queue.path("child.pid")
    script = ("import subprocess, time; c = subprocess.Popen(['sleep', '60']); "
              "open(%r, 'w').write(str(c.pid)); time.sleep(60)" % pidfile)
    queue.job("slow.conf", '%s -c "%s"' % (PYTHON, script), timeout="1")
    queue.job("next.conf", "true")
    queue.wait_finished(2, timeout=15)
    assert queue.failed() == ["slow.conf"] and queue.done() == ["next.conf"]
    assert "timed out after 1 s" in queue.reason("slow.conf")
    child = int(open(pidfile).read())
    wait_for(lambda: not os.path.exists("/proc/%d" % child) or
             open("/proc/%d/stat" % child).read().split()[2] == "Z", timeout=5,
             message="the job's child to be killed too")


def test_retries_rerun_failed_command(queue):
    queue.dispatcher()
    queue.worker()
    counter = queue.path("tries")
    script = ("import sys; f = open(%r, 'a'); f.write('x'); f.close(); "
              "sys.exit(0 if len(open(%r).read()) >= 3 else 1)" % (counter, counter))
    queue.job("flaky.conf", '%s -c "%s"' % (PYTHON, script), retries="2")
    queue.job("hopeless.conf", "false", retries="1")
    queue.wait_finished(2)
    assert queue.done() == ["flaky.conf"] and queue.failed() == ["hopeless.conf"]
    assert len(queue.record("flaky.conf")["runs"]) == 3
    assert len(queue.record("hopeless.conf")["runs"]) == 2


def dispatcher_records(queue):
    from fjd import journal
    found = []
    for path in journal.journal_paths(queue.path("records")):
        if os.path.basename(path).startswith("dispatcher-"):
            found += [r for _, r in journal.all_records(path)]
    return found


def cancel_for_a_dead_worker(queue, running):
    """Kill the one worker once running() is true, `fjd cancel` what its inbox holds, wait
    for its burial: (the name it held, the dispatcher's record of its cancel, the reason)."""
    victim = queue.worker()
    wait_for(running, message="the job to start")
    victim.kill()
    worker_id, = queue.names("jobpod")
    held, = queue.in_inboxes()
    result = fjd_cli(queue.root, "cancel", names.parse(held).original)
    assert result.returncode == 0, result.err
    wait_for(lambda: not queue.names("jobpod"), 15, message="the burial")
    assert not queue.queued(), "a cancelled job was requeued"
    mine = [r for r in dispatcher_records(queue)
            if r.get("key") == "cancel:%s:%s" % (worker_id, held)]
    assert len(mine) == 1, mine
    return held, mine[0], "cancelled (its worker %s died before it could)" % worker_id


@pytest.mark.slow
def test_cancel_of_a_dead_workers_jobs_is_honoured_by_its_burial(queue):
    """`fjd cancel` of a range and of a job whose worker died before it saw the request:
    the burial cancels them (never requeues them), with a keyed record that says why."""
    queue.dispatcher(*FAST)
    started = queue.path("started")
    os.mkdir(started)
    task = py("import os, sys, time; open(os.path.join(sys.argv[2], sys.argv[1]), 'w')"
              ".close(); time.sleep(30)", "$i", started)
    assert fjd_cli(queue.root, "submit", "-q", "--exe", task, "--param", "i=1..5",
                   "--no-jobfile", "--name", "sweep").returncode == 0
    held, record, reason = cancel_for_a_dead_worker(queue, lambda: os.listdir(started))
    assert (record["k"], record["state"], record["reason"]) == ("tasks", "cancelled", reason)
    assert (record["first"], record["last"]) == (1, names.parse(held).last)
    array = names.parse(held).original
    wait_for(lambda: queue.names("cancelled") == [array], 10, message="the array cancelled")
    slow_job(queue, "victim.conf")
    held, record, reason = cancel_for_a_dead_worker(
        queue, lambda: os.path.exists(started_marker(queue, "victim.conf")))
    assert queue.names("cancelled") == sorted([array, "victim.conf"])
    assert queue.reason("victim.conf") == record["reason"] == reason
    assert_no_traceback(queue.all_logs())


def test_second_dispatcher_refuses_then_takes_over_from_dead_one(queue):
    first = queue.dispatcher()
    wait_for(lambda: os.path.exists(queue.path("dispatcher.lock")), message="lock")
    second = queue.dispatcher()
    assert second.proc.wait(10) == 1
    assert "another dispatcher is running on this queue root" in second.log()
    assert_no_traceback(second.log())
    first.kill()  # SIGKILL: the lock stays behind
    third = queue.dispatcher()
    queue.worker()
    queue.job("carry-on.conf", "true")
    queue.wait_finished(1)
    assert third.alive() and "is gone; taking over" in third.log()


def test_lock_of_other_host_is_judged_by_its_heartbeat_not_its_clock(queue):
    lock = queue.path("dispatcher.lock")
    stop = threading.Event()

    def foreign_dispatcher():
        beat = 0
        while not stop.is_set():
            beat += 1
            write_beat(lock, {"host": "elsewhere", "pid": 1, "beat": beat, "token": "foreign"})
            os.utime(lock, (1000, 1000))  # a wildly wrong clock on the other host
            time.sleep(0.5)

    thread = threading.Thread(target=foreign_dispatcher)
    thread.start()
    try:
        wait_for(lambda: os.path.exists(lock), message="foreign lock")
        refused = queue.dispatcher("--worker-timeout", "2")
        assert refused.proc.wait(10) == 1
        assert "host elsewhere" in refused.log()
    finally:
        stop.set()
        thread.join()
    # the foreign dispatcher is now silent: taken over after 2 s unchanged
    started = time.monotonic()
    taker = queue.dispatcher("--worker-timeout", "2")
    wait_for(lambda: "taking over" in taker.log(), timeout=10, message="take-over")
    assert time.monotonic() - started >= 1.5
    def ours():
        try:  # (a take-over replaces the file: between two names it may be missing)
            with open(lock) as handle:
                return '"token": "foreign"' not in handle.read()
        except FileNotFoundError:
            return False
    wait_for(ours, message="our lock")
    assert taker.alive()


def test_only_own_users_files_run(queue):
    queue.dispatcher()
    queue.worker()
    path = queue.job("foreign.conf", "touch OWNED")
    if os.geteuid() != 0:
        pytest.skip("needs root to create a file owned by another user")
    os.chown(path, 65534, 65534)
    queue.wait_finished(1)
    assert queue.failed() == ["foreign.conf"]
    assert "belongs to" in queue.reason("foreign.conf")
    assert not os.path.exists(queue.path("OWNED"))


def test_allow_user_widens_the_trust(queue):
    if os.geteuid() != 0:
        pytest.skip("needs root to create a file owned by another user")
    queue.dispatcher()
    queue.worker("--allow-user", "65534")
    path = queue.job("nobody.conf", "true")
    os.chown(path, 65534, 65534)
    queue.wait_finished(1)
    assert queue.done() == ["nobody.conf"]


def test_world_writable_root_warns_and_folders_are_not(queue):
    os.chmod(queue.root, 0o777)
    dispatcher = queue.dispatcher()
    wait_for(lambda: "writable by every user" in dispatcher.log(), message="warning")
    for folder in ("jobqueue", "done", "failed", "jobpod", "workerqueue", "records"):
        mode = os.stat(queue.path(folder)).st_mode
        assert not mode & 0o002, folder


@pytest.mark.slow
def test_chaos_sigkill_workers_and_dispatcher(queue):
    """Hundreds of short jobs while workers and the dispatcher are SIGKILLed and restarted.

    Afterwards every job is in done/ under its own name, none lost, and the number of
    duplicate runs is at most the number of worker kills (at-least-once).
    """
    jobs = 300
    os.mkdir(queue.path("marks"))
    options = ("--worker-timeout", "3", "--max-attempts", "1000")
    dispatcher = queue.dispatcher(*options)
    workers = [queue.worker() for _ in range(4)]
    for i in range(jobs):
        queue.job("chaos%03d.conf" % i,
                  "sh -c 'echo \"$FJD_WORKER_ID\" >> \"marks/$FJD_JOB_NAME\"; sleep 0.1'")
    rng = random.Random(1234)
    worker_kills = dispatcher_kills = 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(queue.done()) < jobs:
        time.sleep(rng.uniform(0.2, 0.6))
        if rng.random() < 0.25:
            dispatcher.kill()
            dispatcher_kills += 1
            dispatcher = queue.dispatcher(*options)
        else:
            victim = rng.choice(workers)
            victim.kill()
            worker_kills += 1
            workers.remove(victim)
            workers.append(queue.worker())
    queue.wait_finished(jobs, timeout=60)
    time.sleep(0.5)
    expected = ["chaos%03d.conf" % i for i in range(jobs)]
    assert queue.failed() == []
    assert queue.done() == expected
    runs = 0
    for name in expected:
        with open(queue.path("marks", name)) as handle:
            lines = handle.read().split()
        assert lines, name
        runs += len(lines)
    duplicates = runs - jobs
    print("chaos: %d worker kills, %d dispatcher kills, %d duplicate runs"
          % (worker_kills, dispatcher_kills, duplicates))
    assert worker_kills >= 5 and dispatcher_kills >= 1
    assert duplicates <= worker_kills
    assert queue.queued() == [] and queue.in_inboxes() == []
    for daemon in [dispatcher] + workers:
        assert daemon.alive()
        assert daemon.stop() == 0
        assert_no_traceback(daemon.log())


def test_fifo_as_heartbeat_blocks_nobody(queue):
    """A FIFO planted as a worker's .heartbeat reads as empty: the dispatcher keeps serving,
    `fjd status` still answers, and the fake worker is buried."""
    fake = queue.path("jobpod", "fake-1-abcdef")
    os.makedirs(fake)
    os.mkfifo(os.path.join(fake, ".heartbeat"))
    queue.dispatcher(*FAST)
    queue.worker()
    queue.job("through.conf", "true")
    queue.wait_finished(1)
    assert fjd_cli(queue.root, "status", "--json", timeout=20).returncode == 0
    wait_for(lambda: not os.path.exists(fake), timeout=10,
             message="the fake worker to be buried")
