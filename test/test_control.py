"""fjd retry and fjd cancel: never overwrite, keep history, stop running jobs."""
import json
import os
import re

from conftest import fjd_cli, py, wait_for

from fjd import names, record_search
from fjd.layout import Layout


# fails the first time (no marker yet), succeeds after that
FLAKY = "import os, sys; m = sys.argv[1]; ok = os.path.exists(m); open(m, 'w').close(); " \
        "sys.exit(0 if ok else 4)"


def test_retry_requeues_under_a_fresh_name_and_keeps_history(queue):
    marker = queue.path("marker")
    queue.job("flaky.conf", py(FLAKY, marker))
    queue.dispatcher()
    queue.worker()
    wait_for(lambda: queue.failed() == ["flaky.conf"], 15, message="the first run to fail")
    result = fjd_cli(queue.root, "retry", "flaky.conf")
    assert result.returncode == 0, result.err
    assert "flaky.conf -> jobqueue/flaky.conf@r" in result.out
    wait_for(lambda: queue.done(), 15, message="the retried job to finish")
    assert queue.failed() == []
    assert queue.done() == ["flaky.conf"]
    # both runs have their record: the history is kept, nothing is overwritten
    old, new = record_search.find_job_records(queue.layout(), "flaky.conf")
    assert old["state"] == "failed" and old["reason"] == "exited with status 4"
    assert new["state"] == "done" and new["original"] == "flaky.conf"
    assert new["queue"].startswith("flaky.conf@r")
    # the retry is on record, and the failure is no longer counted
    status = json.loads(fjd_cli(queue.root, "status", "--json").out)
    assert status["counts"]["failed"] == 0 and status["counts"]["done"] == 1


def test_retry_all_and_errors(tmp_path):
    root = tmp_path
    os.makedirs(root / "failed")
    os.makedirs(root / "jobqueue")
    os.makedirs(root / "records")
    for name in ("a.conf", "b.conf"):
        (root / "failed" / name).write_text("[control]\nexecutable: true\n")
    (root / "records" / "a.conf.json").write_text(json.dumps(
        {"name": "a.conf", "original": "a.conf", "state": "failed", "reason": "x"}))
    # a queued job that happens to have the plain name must never be replaced
    (root / "jobqueue" / "a.conf").write_text("queued, keep me")
    assert fjd_cli(root, "retry").returncode == 2
    assert fjd_cli(root, "retry", "a.conf", "--all").returncode == 2
    missing = fjd_cli(root, "retry", "nosuch.conf")
    assert missing.returncode == 1 and "no failed job called nosuch.conf" in missing.err
    result = fjd_cli(root, "retry", "--all")
    assert result.returncode == 0, result.err
    queued = sorted(os.listdir(root / "jobqueue"))
    assert len(queued) == 3 and "a.conf" in queued
    assert (root / "jobqueue" / "a.conf").read_text() == "queued, keep me"
    assert os.listdir(root / "failed") == []
    record = json.loads((root / "records" / "a.conf.json").read_text())
    assert record["retried"] and record["reason"] == "x"
    again = fjd_cli(root, "retry", "failed/a.conf")
    assert again.returncode == 1


def test_cancel_queued_jobs_by_name_and_all(tmp_path):
    root = tmp_path
    os.makedirs(root / "jobqueue")
    for name in ("a.conf", names.requeue_name("b.conf", 2, "d1"), "c.conf"):
        (root / "jobqueue" / name).write_text("[control]\nexecutable: true\n")
    assert fjd_cli(root, "cancel").returncode == 2
    result = fjd_cli(root, "cancel", "b.conf", "jobqueue/a.conf")  # original names work
    assert result.returncode == 0, result.err
    assert sorted(os.listdir(root / "cancelled")) == ["a.conf", "b.conf"]
    assert os.listdir(root / "jobqueue") == ["c.conf"]
    [record] = record_search.find_job_records(Layout(str(root)), "b.conf")
    assert record["state"] == "cancelled" and record["cancelled_from"] == "jobqueue"
    assert record["attempt"] == 2 and record["reason"].startswith("cancelled by ")
    missing = fjd_cli(root, "cancel", "zzz.conf")
    assert missing.returncode == 1 and "zzz.conf" in missing.err
    assert fjd_cli(root, "cancel", "--all").returncode == 0
    assert os.listdir(root / "jobqueue") == []
    # a second job of the same name gets its own final name
    (root / "jobqueue" / "a.conf").write_text("[control]\nexecutable: true\n")
    assert fjd_cli(root, "cancel", "a.conf").returncode == 0
    assert sorted(os.listdir(root / "cancelled")) == ["a.conf", "a~2.conf", "b.conf", "c.conf"]
    assert not [n for n in os.listdir(root / "cancelled") if n.endswith(".part")]


SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_cancel_stops_a_running_job_and_the_worker_goes_on(queue):
    pidfile = queue.path("sleeper.pid")
    queue.job("long.conf", py(SLEEPER, pidfile))
    queue.dispatcher()
    worker = queue.worker()
    pid = int(wait_for(lambda: os.path.exists(pidfile) and open(pidfile).read(), 15,
                       message="the job to start"))
    queued_only = fjd_cli(queue.root, "cancel", "--all", "--queued-only")
    assert queued_only.returncode == 0 and queue.in_inboxes() == ["long.conf"]
    result = fjd_cli(queue.root, "cancel", "long.conf")
    assert result.returncode == 0, result.err
    assert "with worker" in result.out
    assert queue.names("cancelled") == ["long.conf"]
    record = queue.record("long.conf")
    assert record["cancelled_from"].startswith("jobpod/")
    assert record["attempt"] == 1  # it was cancelled while on its first run
    wait_for(lambda: not pid_alive(pid), 10, message="the cancelled job's process to die")
    # the worker is still there and takes the next job
    queue.job("next.conf", py("pass"))
    wait_for(lambda: queue.done() == ["next.conf"], 15, message="the next job")
    assert worker.alive()
    assert queue.failed() == []


def test_cancel_speaks_of_tasks_by_their_plain_names(queue):
    """`fjd cancel --all` of an array whose ranges are queued and running: ARRAY#S-E, never
    the suffix fjd adds, and the tasks counted as tasks."""
    queue.dispatcher()
    queue.worker()
    submit = fjd_cli(queue.root, "submit", "-q", "--no-jobfile", "--name", "sweep", "--exe",
                     py("import time; time.sleep(60)", "{i}"), "--param", "i=1..6")
    assert submit.returncode == 0, submit.err
    wait_for(lambda: any("@t" in n for n in queue.in_inboxes()), message="a range handed out")
    result = fjd_cli(queue.root, "cancel", "--all")
    assert result.returncode == 0, result.err
    assert "@" not in result.out and "~" not in result.out, result.out
    assert "-sweep.conf#1" in result.out, result.out
    summary = result.err.strip().splitlines()[-1]
    counts = re.match(r"fjd cancel: (\d+) tasks? cancelled, (\d+) tasks? more had been "
                      r"handed to a worker", summary)
    assert counts and sum(int(n) for n in counts.groups()) == 6, summary
