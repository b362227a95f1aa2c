"""Array jobs: one file for a sweep, records and output in per-worker journals, tasks that
can be shown, retried and cancelled, and crash safety in the middle of a range (issue 11)."""
import json
import os
import random
import time

import pytest

from fjd import record_search
from fjd.layout import Layout

from conftest import PYTHON, assert_no_traceback, fjd_cli, fjd_in_process, py, wait_for


def entries(root):
    """Every file and folder under root (what a file quota counts), logs/ left out."""
    count = 0
    for folder, dirs, files in os.walk(str(root)):
        if folder == str(root) and "logs" in dirs:
            dirs.remove("logs")
        count += len(dirs) + len(files)
    return count


def only(folder):
    found = os.listdir(str(folder))
    assert len(found) == 1, found
    return found[0]


def task_record(root, array, index):
    """The newest record of task index of array (the library's reading: fjd show's)."""
    found = record_search.find_task_records(Layout(str(root)), array, index)
    assert found, "no record of %s#%d" % (array, index)
    return found[-1]


def task_output(root, record, kind):
    span = record.get(kind)
    if isinstance(span, str):
        span = [span, 0, None]
    return record_search.read_output(Layout(str(root)), span).decode("utf-8", "replace")


def test_a_sweep_runs_as_one_array_with_its_records_in_journals(tmp_path):
    root = tmp_path / "root"
    # a shell, not a Python, per task: 12 interpreters' start is CPU the suite has not to spare
    job = "sh -c 'echo out $$0; echo err $$0 >&2; [ $$0 != 7 ] || exit 3' $i"
    result = fjd_cli(root, "run", "--exe", job, "--param", "i=1..12", "--workers", "2",
                     "--no-jobfile", cwd=tmp_path)
    assert result.returncode == 1, (result.out, result.err)  # a task failed
    assert "queued an array of 12 tasks" in result.err
    assert "12 jobs finished" in result.out and "11 done, 1 failed" in result.out
    array = only(root / "failed")  # one task failed: the array file ends in failed/
    assert os.listdir(root / "done") == [] and os.listdir(root / "arrays") == []
    assert os.listdir(root / "jobqueue") == [] and os.listdir(root / "jobpod") == []
    assert "%s#7: exited with status 3" % array in result.out
    # every task's record and output, read as fjd show reads them; through fjd show itself
    # for the first, the failed and the last: each way once in a process of its own, the
    # rest in this one (a command is a Python start: CPU the suite has not to spare)
    for i in range(1, 13):
        record = task_record(root, array, i)
        assert record["state"] == ("failed" if i == 7 else "done")
        assert record["i"] == i and record["attempt"] == 1
        assert task_output(root, record, "stdout") == "out %d\n" % i
        assert task_output(root, record, "stderr") == "err %d\n" % i
    in_a_process = {(1, "--json"), (7, "--stdout"), (12, "--stderr")}
    for i in (1, 7, 12):
        def show(how):
            run = fjd_cli if (i, how) in in_a_process else fjd_in_process
            shown = run(root, "show", "%s#%d" % (array, i), how)
            assert shown.returncode == 0, shown.err
            return shown.out
        read = {k: v for k, v in task_record(root, array, i).items() if not k.startswith("_")}
        shown = json.loads(show("--json"))
        assert shown.pop("params") == {"i": str(i)} and shown.pop("command")[-1] == str(i)
        assert shown == json.loads(json.dumps(read))
        assert show("--stdout") == "out %d\n" % i
        assert show("--stderr") == "err %d\n" % i
    text = fjd_cli(root, "show", "%s#7" % array).out
    assert "state: failed" in text and "reason: exited with status 3" in text
    summary = fjd_in_process(root, "show", array).out
    assert "tasks: 12" in summary and "done: 11" in summary and "failed: 1" in summary
    status = json.loads(fjd_in_process(root, "status", "--json").out)
    assert status["counts"]["done"] == 11 and status["counts"]["failed"] == 1
    assert status["tasks"] == {"done": 11, "failed": 1, "cancelled": 0}
    assert [f["name"] for f in status["failed"]] == ["%s#7" % array]
    worker = status["failed"][0]["worker"]  # the journal's writer (a task record names none)
    assert worker and "%s.journal" % worker in os.listdir(root / "records")
    assert status["failed"][0]["host"] and worker.startswith(status["failed"][0]["host"])
    # no file per task: the array file, and per worker a journal and two output journals
    record_files = os.listdir(root / "records")
    assert all(n.endswith((".journal", ".out", ".err")) for n in record_files)
    assert len(record_files) <= 3 * 2 + 1


def test_a_big_sweep_leaves_few_files(tmp_path):
    """2,000 tasks that each print to stdout and stderr leave a handful of files (fjd 0.2
    left 3 per job), and every line can be read back."""
    root = tmp_path / "root"
    result = fjd_cli(root, "run", "--exe", "sh -c 'echo out $$0; echo err $$0 >&2' $i",
                     "--param", "i=1..2000", "--workers", "2", "--no-jobfile", timeout=120,
                     cwd=tmp_path)
    assert result.returncode == 0, (result.out, result.err)
    assert entries(root) <= 40, sorted(os.listdir(root / "records"))
    array = only(root / "done")
    for i in (1, 2, 999, 1000, 1500, 2000):  # in a process of its own: the first and last
        run = fjd_cli if i in (1, 2000) else fjd_in_process
        assert run(root, "show", "%s#%d" % (array, i), "--stdout").out == "out %d\n" % i
        assert run(root, "show", "%s#%d" % (array, i), "--stderr").out == "err %d\n" % i


TABLE = """[control]
executable: {python} -c "import fjd, json, os, sys; print(json.dumps([fjd.params(), os.environ['FJD_TASK'], os.environ['FJD_PARAM_alpha'], open(sys.argv[-1]).read()]))"
tasks: table
repeat: 2

[params]
alpha\tlabel
# a comment line and an empty line are not rows

0.5\tfirst one
-1\tsecond
"""


def test_a_hand_written_table_array_and_the_ways_a_task_gets_its_parameters(queue):
    queue.write("table.conf", TABLE.format(python=PYTHON))
    queue.dispatcher()
    queue.worker(env={"PYTHONPATH": os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))})
    wait_for(lambda: queue.done(), message="the array to finish")
    assert queue.done() == ["table.conf"]
    expected = {1: ("0.5", "first one"), 2: ("0.5", "first one"), 3: ("-1", "second"),
                4: ("-1", "second")}
    for task, (alpha, label) in expected.items():
        record = queue.task_record("table.conf", task)
        params, index, from_env, jobfile = json.loads(queue.output(None, record=record))
        assert params == {"alpha": alpha, "label": label}  # fjd.params()
        assert index == str(task) and from_env == alpha  # FJD_TASK, FJD_PARAM_alpha
        # the 2012 contract: the last argument is a job file with this task's [params]
        assert "[params]\nalpha: %s\nlabel: %s\n" % (alpha, label) in jobfile


def test_retry_puts_the_failed_tasks_of_an_array_back(queue):
    marks = queue.path("marks")
    os.mkdir(marks)
    # tasks 3 and 5 fail the first time they run, and succeed after
    job = py("import os, sys; i = sys.argv[1]; m = os.path.join(sys.argv[2], i); "
             "first = not os.path.exists(m); open(m, 'a').write('x'); "
             "sys.exit(4 if first and i in ('3', '5') else 0)", "$i", marks)
    assert fjd_cli(queue.root, "submit", "-q", "--exe", job, "--param", "i=1..6",
                   "--no-jobfile").returncode == 0
    queue.dispatcher()
    queue.worker()
    wait_for(lambda: queue.failed(), message="the array to finish with failures")
    array = queue.failed()[0]
    before = json.loads(fjd_cli(queue.root, "status", "--json").out)
    assert before["counts"]["failed"] == 2
    result = fjd_cli(queue.root, "retry", "--all")
    assert result.returncode == 0, result.err
    assert "2 failed tasks -> jobqueue/" in result.out
    wait_for(lambda: queue.done() == [array], message="the retried tasks to finish")
    after = json.loads(fjd_cli(queue.root, "status", "--json").out)
    assert after["counts"]["failed"] == 0 and after["counts"]["done"] == 6
    runs = {n: len(open(os.path.join(marks, n)).read()) for n in os.listdir(marks)}
    assert runs == {"1": 1, "2": 1, "3": 2, "4": 1, "5": 2, "6": 1}
    assert queue.task_record(array, 3)["state"] == "done"


def test_cancel_stops_the_rest_of_an_array(queue):
    started = queue.path("started")
    os.mkdir(started)
    job = py("import os, sys, time; open(os.path.join(sys.argv[2], sys.argv[1]), 'w')"
             ".close(); time.sleep(30)", "$i", started)
    assert fjd_cli(queue.root, "submit", "-q", "--exe", job, "--param", "i=1..50",
                   "--no-jobfile", "--name", "slow").returncode == 0
    queue.dispatcher()
    worker = queue.worker()
    wait_for(lambda: os.listdir(started), message="the first task to start")
    array = [n for n in queue.queued() + queue.in_inboxes()][0].split("@")[0]
    result = fjd_cli(queue.root, "cancel", array)
    assert result.returncode == 0, result.err
    wait_for(lambda: queue.names("cancelled"), 15, message="the array in cancelled/")
    assert queue.names("cancelled") == [array]
    assert len(os.listdir(started)) == 1  # the others never started
    assert worker.alive()
    status = json.loads(fjd_cli(queue.root, "status", "--json").out)
    assert status["counts"]["cancelled"] == 50 and status["counts"]["queued"] == 0


@pytest.mark.slow  # a death noticed after the timeout, then the rest of 40 tasks
def test_a_worker_killed_in_the_middle_of_a_range(queue):
    """SIGKILL while a range runs: the finished tasks are kept, the running one runs again
    (as attempt 2), the rest goes back unstarted; each task is recorded done once."""
    marks = queue.path("marks")
    os.mkdir(marks)
    job = py("import os, sys, time; open(os.path.join(sys.argv[2], sys.argv[1]), 'a')"
             ".write(os.environ['FJD_ATTEMPT']); time.sleep(0.2)", "$i", marks)
    assert fjd_cli(queue.root, "submit", "-q", "--exe", job, "--param", "i=1..40",
                   "--no-jobfile").returncode == 0
    queue.dispatcher("--worker-timeout", "3")
    victim = queue.worker()
    wait_for(lambda: len(os.listdir(marks)) >= 5, message="some tasks to run")
    victim.kill()
    queue.worker()
    wait_for(lambda: queue.done(), 40, message="the array to finish")
    array = queue.done()[0]
    attempts = {int(n): open(os.path.join(marks, n)).read() for n in os.listdir(marks)}
    assert sorted(attempts) == list(range(1, 41))
    again = [i for i, runs in attempts.items() if len(runs) > 1]
    assert len(again) <= 1, attempts  # only the task that was running when it died
    for i in again:
        assert attempts[i] == "12" and queue.task_record(array, i)["attempt"] == 2
    done = [r for r in all_task_records(queue) if r["state"] == "done"]
    assert sorted(r["i"] for r in done) == list(range(1, 41))  # recorded done once each


def all_task_records(queue):
    from fjd import journal
    found = []
    for path in journal.journal_paths(queue.path("records")):
        found += [r for _, r in journal.all_records(path) if r.get("k") == "task"]
    return found


def test_params_helper_outside_fjd(tmp_path):
    """fjd.params() also reads the [params] of a job file given as the last argument."""
    import fjd
    job = tmp_path / "job.conf"
    job.write_text("[control]\nexecutable: x\n\n[params]\nalpha: 0.3\nName: b\n")
    assert fjd.params(argv=["prog", str(job)], environ={}) == {"alpha": "0.3", "name": "b"}
    assert fjd.params(argv=["prog"], environ={"FJD_PARAMS": '{"a": "1"}'}) == {"a": "1"}
    assert fjd.params(argv=["prog"], environ={}) == {}


def test_a_root_of_fjd_0_2_is_still_read(tmp_path):
    """records/NAME.json of the previous version: status counts it, show shows it (and its
    output files), retry retries it."""
    root = tmp_path
    for folder in ("jobqueue", "done", "failed", "records"):
        os.makedirs(root / folder)
    (root / "done" / "old.conf").write_text("[control]\nexecutable: true\n")
    (root / "failed" / "bad.conf").write_text("[control]\nexecutable: false\n")
    (root / "records" / "old.conf.json").write_text(json.dumps(
        {"name": "old.conf", "state": "done", "exit_status": 0, "end_ts": time.time(),
         "stdout": "records/old.conf.out"}))
    (root / "records" / "old.conf.out").write_text("hello from 0.2\n")
    (root / "records" / "bad.conf.json").write_text(json.dumps(
        {"name": "bad.conf", "state": "failed", "reason": "exited with status 1",
         "end_ts": time.time()}))
    status = json.loads(fjd_cli(root, "status", "--json").out)
    assert status["counts"]["done"] == 1 and status["counts"]["failed"] == 1
    assert status["failed"][0]["reason"] == "exited with status 1"
    assert fjd_cli(root, "show", "old.conf", "--stdout").out == "hello from 0.2\n"
    assert "state: done" in fjd_cli(root, "show", "old.conf").out
    assert fjd_cli(root, "retry", "bad.conf").returncode == 0
    assert os.listdir(root / "failed") == []
    assert json.loads((root / "records" / "bad.conf.json").read_text())["retried"]


@pytest.mark.slow
def test_chaos_with_arrays(queue):
    """Arrays and single jobs while workers and the dispatcher are SIGKILLed: every task is
    recorded done exactly once, and duplicate runs stay within the worker kills."""
    marks = queue.path("marks")
    os.mkdir(marks)
    options = ("--worker-timeout", "3", "--max-attempts", "1000")
    dispatcher = queue.dispatcher(*options)
    workers = [queue.worker() for _ in range(4)]
    job = "sh -c 'echo \"$FJD_WORKER_ID\" >> \"marks/$FJD_JOB_NAME\"; sleep 0.05'"
    for number in range(3):  # $$ is a literal $ for fjd submit
        assert fjd_cli(queue.root, "submit", "-q", "--exe", job.replace("$", "$$"),
                       "--param", "i=1..150", "--no-jobfile",
                       "--name", "sweep%d" % number).returncode == 0
    for i in range(30):
        queue.job("single%02d.conf" % i, job)
    total = 3 * 150 + 30
    rng = random.Random(4321)
    worker_kills = dispatcher_kills = 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(queue.done()) < 33:
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
    wait_for(lambda: len(queue.done()) == 33, 90, message="every job and array in done/")
    assert queue.failed() == [] and queue.queued() == [] and queue.in_inboxes() == []
    assert os.listdir(queue.path("arrays")) == []
    runs = sum(len(open(os.path.join(marks, n)).read().split()) for n in os.listdir(marks))
    assert len(os.listdir(marks)) == total
    duplicates = runs - total
    print("chaos with arrays: %d worker kills, %d dispatcher kills, %d duplicate runs"
          % (worker_kills, dispatcher_kills, duplicates))
    assert worker_kills >= 5 and dispatcher_kills >= 1
    assert duplicates <= worker_kills
    done = {}
    for record in all_task_records(queue):
        if record["state"] == "done":
            key = (record["u"], record["i"])
            assert key not in done, "task recorded done twice: %s" % (key,)
            done[key] = record
    assert len(done) == 3 * 150
    status = json.loads(fjd_cli(queue.root, "status", "--json").out)
    assert status["counts"]["done"] == total and status["counts"]["failed"] == 0
    for daemon in [dispatcher] + workers:
        assert daemon.alive()
        assert daemon.stop() == 0
        assert_no_traceback(daemon.log())
