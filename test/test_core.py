"""The 2012 usage, the on-disk contract, and how jobs are run (issue 2, points 2-4, 6, 7)."""
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import PYTHON, REPO, assert_no_traceback, wait_for


def copy_example(root):
    shutil.copytree(os.path.join(REPO, "test"), os.path.join(root, "test"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def run_create_jobs(queue):
    return subprocess.run([PYTHON, os.path.join("test", "create_jobs.py")], cwd=queue.root,
                          env=queue.env(), check=True, capture_output=True, text=True)


@pytest.mark.parametrize("workers_first", [False, True])
def test_original_example(queue, workers_first):
    """python dispatcher.py, python worker.py (x3), python test/create_jobs.py: ten jobs done."""
    copy_example(queue.root)
    if workers_first:
        workers = [queue.worker() for _ in range(3)]
        time.sleep(0.3)
        dispatcher = queue.dispatcher()
    else:
        dispatcher = queue.dispatcher()
        workers = [queue.worker() for _ in range(3)]
    run_create_jobs(queue)
    queue.wait_finished(10)
    assert queue.done() == ["job%d.conf" % i for i in range(10)]
    assert queue.failed() == []
    for i in range(10):
        with open(queue.path("data", "job%d.dat" % i)) as handle:
            assert handle.read() == "This was done with parameter param1:value%d." % i
    ran_on = {queue.record("job%d.conf" % i)["worker"] for i in range(10)}
    assert len(ran_on) >= 2, "jobs should spread over the workers"
    for daemon in [dispatcher] + workers:
        assert daemon.stop(signal.SIGINT) == 0
        assert_no_traceback(daemon.log())


def test_run_example_script(tmp_path):
    """The README's first command runs the example end to end and exits 0."""
    checkout = tmp_path / "fjd"
    shutil.copytree(REPO, checkout, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", "jobqueue", "jobpod", "workerqueue", "done", "failed",
        "records", "cancelled", "data", "bench"))
    result = subprocess.run([PYTHON, "test/run_example.py"], cwd=str(checkout),
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "data/job9.dat: This was done with parameter param1:value9." in result.stdout
    assert_no_traceback(result.stderr)


def test_record_contents(queue):
    queue.dispatcher()
    queue.worker()
    queue.job("hello.conf", PYTHON + " -c \"import sys; print('out', sys.argv[1]); "
                                     "sys.stderr.write('err')\"")
    queue.wait_finished(1)
    assert queue.done() == ["hello.conf"]
    record = queue.record("hello.conf")
    assert record["exit_status"] == 0 and record["state"] == "done"
    assert record["host"] and record["worker"] and record["start"] and record["end"]
    assert record["end"] >= record["start"]
    job_path = record["command"][-1]
    assert os.path.isabs(job_path) and job_path.endswith("hello.conf")
    assert queue.output("hello.conf") == "out %s\n" % job_path
    assert queue.output("hello.conf", "stderr") == "err"
    # no file of its own: the record is a line in the worker's journal, the output a span of
    # the worker's output journals
    worker = record["worker"]
    assert sorted(queue.names("records")) == sorted(
        [worker + ".journal", worker + ".out", worker + ".err"])


def test_stdin_is_devnull_and_no_shell(queue):
    queue.dispatcher()
    queue.worker()
    queue.job("stdin.conf", PYTHON + " -c \"import sys; assert sys.stdin.read() == ''\"")
    queue.job("noshell.conf", "echo $HOME ';' `id`")
    queue.wait_finished(2)
    assert queue.done() == ["noshell.conf", "stdin.conf"]
    assert queue.output("noshell.conf").startswith("$HOME ; `id` ")


def test_dispatcher_start_keeps_queued_jobs(queue):
    """The 2012 dispatcher wiped jobqueue/ on start; ours never touches queued jobs."""
    for i in range(5):
        queue.job("keep%d.conf" % i, "true")
    queue.write(".hidden", "x")
    dispatcher = queue.dispatcher()
    time.sleep(1.0)
    assert queue.queued() == ["keep%d.conf" % i for i in range(5)]
    dispatcher.stop()
    queue.dispatcher()
    queue.worker()
    queue.wait_finished(5)
    assert queue.done() == ["keep%d.conf" % i for i in range(5)]


def test_same_name_never_overwrites(queue):
    queue.dispatcher()
    queue.worker()
    queue.job("same.conf", "echo first")
    queue.wait_finished(1)
    queue.job("same.conf", "echo second")
    queue.wait_finished(2)
    queue.job("same.conf", "false")
    queue.wait_finished(3)
    assert queue.done() == ["same.conf", "same~2.conf"]
    assert queue.failed() == ["same.conf"]  # names are unique within a folder
    assert queue.output("same.conf", record=[
        r for r in all_records(queue, "same.conf") if r["state"] == "done"][0]
    ).startswith("first")
    assert queue.output("same~2.conf").startswith("second")
    # a person who puts a file of that name into done/ keeps it: fjd never replaces it
    queue.write("taken.conf", "mine", folder="done")
    queue.job("taken.conf", "true")
    wait_for(lambda: "taken~2.conf" in queue.done(), message="taken~2.conf in done/")
    with open(queue.path("done", "taken.conf")) as handle:
        assert handle.read() == "mine"
    assert queue.record("taken~2.conf")["state"] == "done"


def all_records(queue, name):
    from fjd import record_search
    return record_search.find_job_records(queue.layout(), name)


def test_two_jobs_same_name_in_one_inbox_do_not_collide(queue):
    """One slow worker, jobs of the same name queued twice: both run, none lost."""
    queue.dispatcher()
    queue.worker()
    queue.job("dup.conf", PYTHON + " -c \"import time; time.sleep(0.5)\"")
    wait_for(lambda: not queue.queued(), message="dup.conf dispatched")
    queue.job("dup.conf", "true")
    queue.wait_finished(2)
    assert queue.done() == ["dup.conf", "dup~2.conf"]


def test_large_output_and_background_child_do_not_stall(queue):
    queue.dispatcher()
    queue.worker()
    chatty = ("import sys, subprocess; sys.stdout.write('x' * 20000000); "
              "sys.stderr.write('y' * 1000000); "
              "subprocess.Popen(['sleep', '30'])")
    queue.job("chatty.conf", "%s -c \"%s\"" % (PYTHON, chatty))
    queue.job("next.conf", "true")
    queue.wait_finished(2, timeout=20)
    assert queue.done() == ["chatty.conf", "next.conf"]
    assert len(queue.output("chatty.conf")) == 20000000
    assert len(queue.output("chatty.conf", "stderr")) == 1000000


def test_logfile_created_before_run_and_missing_folder_made(queue):
    queue.dispatcher()
    queue.worker()
    check = "import os, sys; sys.exit(0 if os.path.exists('out/deep/result.txt') else 5)"
    queue.job("log.conf", "%s -c \"%s\"" % (PYTHON, check), logfile="out/deep/result.txt")
    queue.wait_finished(1)
    assert queue.done() == ["log.conf"], queue.reason(queue.failed()[0])


def test_workdir_and_environment(queue):
    os.mkdir(queue.path("wd"))
    queue.dispatcher()
    queue.worker()
    show = ("import os; print(os.getcwd()); print(os.environ['FJD_JOB_NAME']); "
            "print(os.environ['FJD_ATTEMPT'])")
    queue.job("env.conf", "%s -c \"%s\"" % (PYTHON, show), workdir="wd")
    queue.wait_finished(1)
    assert queue.output("env.conf").split() == [queue.path("wd"), "env.conf", "1"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_daemons_stop_cleanly(queue, sig):
    dispatcher = queue.dispatcher()
    worker = queue.worker()
    wait_for(lambda: queue.names("workerqueue"), message="worker announced")
    wait_for(lambda: os.path.exists(queue.path("dispatcher.lock")), message="dispatcher up")
    started = time.monotonic()
    assert dispatcher.stop(sig) == 0
    assert worker.stop(sig) == 0
    assert time.monotonic() - started < 3
    for daemon in (dispatcher, worker):
        assert_no_traceback(daemon.log())
    assert queue.names("workerqueue") == [] and queue.names("jobpod") == []


def test_stopping_worker_hands_back_running_job(queue):
    """A stopped worker kills its job's process group and puts the job back in the queue."""
    queue.dispatcher()
    worker = queue.worker("--grace", "1")
    pidfile = queue.path("child.pid")
    script = ("import os, subprocess, sys, time; child = subprocess.Popen(['sleep', '60']); "
              "open(%r, 'w').write(str(child.pid)); time.sleep(60)" % pidfile)
    queue.job("long.conf", "%s -c \"%s\"" % (PYTHON, script))
    wait_for(lambda: os.path.exists(pidfile) and open(pidfile).read(), message="job started")
    child = int(open(pidfile).read())
    started = time.monotonic()
    assert worker.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 5
    assert_no_traceback(worker.log())
    queued = queue.queued()
    # back in the queue; a deliberate stop is no attempt of the job's
    assert len(queued) == 1 and queued[0].startswith("long.conf@w")
    wait_for(lambda: not os.path.exists("/proc/%d" % child) or
             open("/proc/%d/stat" % child).read().split()[2] == "Z",
             timeout=5, message="the job's background child to be killed")
    os.unlink(pidfile)
    queue.worker()
    wait_for(lambda: os.path.exists(pidfile), message="job restarted")
    from fjd import record_search
    assert record_search.find_job_records(queue.layout(), "long.conf") == []


def test_latency_default_settings(queue):
    """Loose guard against slow polling; the real latency figures come from bench/."""
    queue.dispatcher()
    queue.worker()
    wait_for(lambda: queue.names("workerqueue"), message="worker announced")
    time.sleep(0.3)
    samples = []
    for i in range(5):
        submitted = time.time()
        queue.job("lat%d.conf" % i, "true")
        queue.wait_finished(i + 1)
        samples.append(queue.record("lat%d.conf" % i)["start"] - submitted)
        time.sleep(0.1)
    assert sorted(samples)[2] < 0.2, samples


def test_submission_order_and_priority(queue):
    """Jobs run in name (submission) order; [control] priority, higher first, overrides it."""
    for name, priority in [("a.conf", None), ("b.conf", "5"), ("c.conf", None),
                           ("d.conf", "-2"), ("e.conf", "5"), ("f.conf", "10")]:
        if priority is None:
            queue.job(name, "true")
        else:
            queue.job(name, "true", priority=priority)
    queue.dispatcher()
    queue.worker()
    queue.wait_finished(6)
    order = sorted(queue.done(), key=lambda n: queue.record(n)["start"])
    assert order == ["f.conf", "b.conf", "e.conf", "a.conf", "c.conf", "d.conf"]


def test_dispatcher_progress_line_on_a_terminal(queue):
    """On a terminal the dispatcher draws a live progress line; in a log file it does not."""
    import pty
    for i in range(20):
        queue.job("p%02d.conf" % i, "true")
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([PYTHON, os.path.join(REPO, "dispatcher.py"), "--root", queue.root,
                             "--exit-when-done"], stdin=subprocess.DEVNULL, stdout=terminal,
                            stderr=terminal, env=queue.env(), cwd=queue.root)
    os.close(terminal)
    worker = queue.worker()
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    assert proc.wait(30) == 0
    os.close(controller)
    text = output.decode("utf-8", "replace")
    assert "\r\x1b[K" in text and "20/20 finished" in text, text[-2000:]
    assert "ETA" in text and "jobs/s" in text
    assert "fjd: " not in worker.log()


def test_silent_jobs_and_late_background_output(queue):
    """A job that prints nothing has no output files; output that a job's background child
    writes after the job ended stays with that job, never in the next job's files."""
    queue.job("a-late.conf", "sh -c '(sleep 0.5; echo late) & exit 0'")
    queue.job("b-silent.conf", "true")
    queue.job("c-speaks.conf", "echo three")
    queue.dispatcher()
    queue.worker()
    queue.wait_finished(3)
    time.sleep(1.0)
    assert queue.done() == ["a-late.conf", "b-silent.conf", "c-speaks.conf"]
    silent = queue.record("b-silent.conf")
    assert silent["stdout"] is None and silent["stderr"] is None
    assert queue.output("c-speaks.conf") == "three %s\n" % (
        queue.record("c-speaks.conf")["command"][-1])
    assert queue.output("a-late.conf") == "late\n"


def test_idle_announcements_move_by_rename_and_delete_no_file(queue):
    """The announcement goes back and forth between workerqueue/ and the worker's inbox, and
    renewing it while idle keeps the same file: no file is deleted per job or per idle beat
    (on ext4 without a journal, each deleted inode slows later file creations nearby)."""
    queue.dispatcher()
    worker = queue.worker()
    wait_for(lambda: queue.names("workerqueue"), message="worker announced")
    (worker_id,) = queue.names("workerqueue")
    announcement = queue.path("workerqueue", worker_id)
    inode = os.stat(announcement).st_ino
    for i in range(5):
        queue.job("one%d.conf" % i, "true")
        queue.wait_finished(i + 1)
        wait_for(lambda: os.path.exists(announcement), message="announced again")
        assert os.stat(announcement).st_ino == inode
    time.sleep(2.5)  # the worker renews its announcement after 2 s of idleness
    assert os.stat(announcement).st_ino == inode
    assert queue.names(os.path.join("jobpod", worker_id)) == []
    assert worker.stop(signal.SIGINT) == 0
    assert not os.path.exists(queue.path("jobpod", worker_id))
