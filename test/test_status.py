"""fjd status: counts, running jobs with worker/host/elapsed, failures, throughput, --json."""
import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from conftest import PYTHON, REPO, assert_no_traceback, fjd_cli, py, wait_for

from fjd.layout import HEARTBEAT_FILE, Layout
from fjd.liveness import write_beat
from fjd.lock import LOCK_NAME
from fjd.names import compose
from fjd.status import RUNNING_NAME_WIDTH, keep_the_end, rate_of, render


def put(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def finished(layout, folder, name, end_ts, **record):
    put(os.path.join(layout.folder(folder), name), "[control]\nexecutable: true\n")
    record.update(name=name, state=folder, end_ts=end_ts, original=name)
    put(os.path.join(layout.records, name + ".json"), json.dumps(record))


def make_queue(root):
    layout = Layout(str(root))
    layout.ensure()
    now = time.time()
    for i in range(3):
        put(os.path.join(layout.jobqueue, "q%d.conf" % i), "[control]\nexecutable: true\n")
    for i in range(5):  # one job a second
        finished(layout, "done", "d%d.conf" % i, now - 10 + i, exit_status=0)
    finished(layout, "failed", "f0.conf", now - 5, exit_status=3,
             reason="exited with status 3")
    finished(layout, "failed", "f1.conf", now - 4, reason="program not found: simm")
    inbox = layout.inbox("nodeA-41-abc123")
    put(os.path.join(inbox, "r0.conf"), "[control]\nexecutable: true\n")
    put(os.path.join(inbox, ".stdout"), "")
    put(os.path.join(inbox, ".heartbeat"),
        json.dumps({"beat": 7, "worker": "nodeA-41-abc123", "host": "nodeA", "pid": 41,
                    "job": "r0.conf"}) + "   \n")
    put(os.path.join(layout.workerqueue, "nodeB-42-def456"), "nodeB 42\n")
    os.makedirs(layout.inbox("nodeB-42-def456"))
    put(os.path.join(layout.inbox("nodeB-42-def456"), ".heartbeat"), "3 nodeB 42\n")
    return layout


def test_json_has_everything_a_script_needs(tmp_path):
    make_queue(tmp_path)
    result = fjd_cli(tmp_path, "status", "--json")
    assert result.returncode == 0, result.err
    state = json.loads(result.out)
    assert state["counts"] == {"queued": 3, "waiting": 0, "running": 1, "assigned": 0,
                               "done": 5, "failed": 2, "cancelled": 0}
    assert state["workers"] == {"inboxes": 2, "idle": 1}
    [running] = state["running"]
    assert (running["job"], running["worker"], running["host"], running["pid"],
            running["state"]) == ("r0.conf", "nodeA-41-abc123", "nodeA", 41, "running")
    assert 0 <= running["elapsed"] < 60
    assert [f["name"] for f in state["failed"]] == ["f1.conf", "f0.conf"]  # newest first
    assert state["failed"][1]["reason"] == "exited with status 3"
    # 7 finished jobs over 6 s of end times
    assert abs(state["throughput"]["jobs_per_second"] - 1.0) < 0.01
    assert abs(state["eta_seconds"] - 4.0) < 0.1  # 3 queued + 1 running at 1 job/s


def test_text_shows_running_and_failed_with_reasons(tmp_path):
    make_queue(tmp_path)
    result = fjd_cli(tmp_path, "status")
    assert result.returncode == 0, result.err
    text = result.out
    for expected in ("queued            3", "done              5", "failed            2",
                     "r0.conf", "nodeA-41-abc123", "nodeA", "0:00:0",
                     "f1.conf: program not found: simm", "f0.conf: exited with status 3",
                     "1.0 jobs/s", "ETA 0:00:04"):
        assert expected in text, (expected, text)
    limited = fjd_cli(tmp_path, "status", "--failed", "1").out
    assert "f1.conf" in limited and "f0.conf" not in limited and "newest 1 of 2" in limited


def test_not_a_queue(tmp_path):
    result = fjd_cli(tmp_path, "status")
    assert result.returncode == 1
    assert "is not a queue root" in result.err and "--root" in result.err
    missing = fjd_cli(tmp_path / "nope", "status", cwd="/")
    assert missing.returncode == 1 and "does not exist" in missing.err


def test_watch_redraws_until_interrupted(tmp_path):
    make_queue(tmp_path)
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.Popen([PYTHON, "-m", "fjd", "status", "--watch", "0.2", "--root",
                             str(tmp_path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    frame = ("queue %s" % tmp_path).encode()
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while seen.count(frame) < 3 and time.monotonic() < deadline:  # three redraws
            if select.select([proc.stdout], [], [], 0.5)[0]:
                seen += os.read(proc.stdout.fileno(), 65536)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert (seen + out).count(frame) >= 3
    assert_no_traceback(err.decode())


def test_live_queue(queue):
    fast = queue.job("fast.conf", "%s -c pass" % sys.executable)
    slow = queue.job("slow.conf", "%s -c 'import time; time.sleep(30)'" % sys.executable)
    assert fast and slow
    queue.dispatcher()
    queue.worker()
    wait_for(lambda: queue.done() == ["fast.conf"] and queue.in_inboxes(), 15,
             message="fast done, slow running")
    time.sleep(1.2)
    state = json.loads(fjd_cli(queue.root, "status", "--json").out)
    [running] = state["running"]
    assert running["original"] == "slow.conf"
    assert running["state"] == "running"
    assert running["elapsed"] >= 1.0
    assert running["host"] and running["worker"]
    assert state["counts"]["done"] == 1


def test_rate_of():
    """rate_of: finished jobs per second over the newest sample of end times."""
    assert rate_of([]) is None
    assert rate_of([5.0]) is None
    assert rate_of([3.0, 3.0, 3.0]) is None  # no time passed
    assert rate_of([0.0, 1.0, 2.0, 3.0, 4.0]) == 1.0
    assert rate_of([4.0, 0.0, 2.0, 1.0, 3.0]) == 1.0  # order does not matter
    ends = [0.0, 100.0, 200.0] + [200.0 + i * 0.5 for i in range(1, 5)]
    assert rate_of(ends, sample=5) == 2.0  # only the newest five count
    assert rate_of(ends) == pytest.approx(6 / 202.0)


def test_frames_without_watch_is_refused(tmp_path):
    (tmp_path / "jobqueue").mkdir()
    result = fjd_cli(tmp_path, "status", "--frames", "3")
    assert result.returncode == 2
    assert "--frames counts the redraws of --watch: give --watch too" in result.err


def test_status_says_when_nothing_can_make_progress(queue):
    """Jobs queued with no dispatcher, then workers that died: `fjd status` says so in a
    sentence, and --json has the facts (issue: `queued 2`, `ETA unknown` forever)."""
    queue.job("a.conf", "true")
    result = fjd_cli(queue.root, "status")
    assert "! no dispatcher serves this root" in result.out, result.out
    worker = queue.worker()
    wait_for(lambda: queue.names("workerqueue"), message="the worker announced")
    worker.proc.kill()
    worker.proc.wait()
    result = fjd_cli(queue.root, "status")
    assert "! no worker is alive: the 1 worker in jobpod/ is gone (1 of this host, whose " \
        "process is gone;" in result.out, result.out
    state = json.loads(fjd_cli(queue.root, "status", "--json").out)
    assert state["serving"]["dispatcher"]["state"] == "none"
    assert state["serving"]["workers"] == {"alive_here": 0, "gone_here": 1, "elsewhere": 0,
                                           "silent_elsewhere": 0}
    queue.dispatcher("--worker-timeout", "2")
    queue.worker()
    # (the dead worker's announcement may take it first: it comes back after the burial)
    wait_for(lambda: queue.done() == ["a.conf"], 30, message="the job done")
    result = fjd_cli(queue.root, "status")
    assert "!" not in result.out, result.out  # nothing left to do: nothing to warn about
    state = json.loads(fjd_cli(queue.root, "status", "--json").out)
    assert state["serving"]["dispatcher"]["state"] == "here"


def test_a_job_held_by_a_worker_that_is_gone_shows_as_such(queue):
    """A worker SIGKILLed mid-job: until the dispatcher takes its inbox back, `fjd status`
    shows the job as held by a worker that is gone, not as running."""
    queue.dispatcher("--worker-timeout", "60")
    worker = queue.worker()
    queue.job("long.conf", py("import time; time.sleep(60)"))
    wait_for(lambda: queue.in_inboxes() == ["long.conf"], message="the job handed out")
    worker.proc.kill()
    worker.proc.wait()
    state = json.loads(fjd_cli(queue.root, "status", "--json").out)
    assert [r["state"] for r in state["running"]] == ["gone"]
    assert state["counts"]["running"] == 0
    text = fjd_cli(queue.root, "status").out
    assert " gone " in text and "no worker is alive" in text, text


def test_running_table_names_tasks_plainly_and_keeps_the_end_of_long_names():
    array = "20261207-231937.747074-019665-000001-a-long-sweep-name-that-goes-on.conf"
    queue_name = compose(array, first=5, last=6, uid="056dd497")
    state = {"root": "/q", "counts": dict.fromkeys(
        ("queued", "running", "assigned", "done", "failed", "cancelled"), 0),
        "workers": {"inboxes": 1, "idle": 0}, "throughput": None, "eta_seconds": None,
        "running": [{"job": queue_name, "state": "running", "worker": "w1", "host": "h",
                     "elapsed": 3.0}], "failed": []}
    text = render(state)
    row = [line for line in text.splitlines() if " w1 " in line][0]
    assert "@t5-6" not in text and row.split()[0].endswith("goes-on.conf#5-6")
    assert len(row.split()[0]) == RUNNING_NAME_WIDTH
    assert keep_the_end("abcdef", 4) == "~def" and keep_the_end("abc", 4) == "abc"


def test_status_judges_other_hosts_by_the_age_of_their_beats_on_the_servers_clock(queue):
    """A lock and a worker's heartbeat written by another host, last renewed long ago (on the
    file server's clock: their mtimes against a file made just now): status says that the
    dispatcher is probably gone and that no worker is alive; beats of other hosts renewed
    just now are left alone."""
    queue.job("a.conf", "true")
    lock = os.path.join(queue.root, LOCK_NAME)
    write_beat(lock, {"host": "elsewhere", "pid": 4321, "token": "t", "beat": 7})
    inbox = os.path.join(queue.root, "jobpod", "elsewhere-4322-abcdef")
    os.makedirs(inbox)
    heartbeat = os.path.join(inbox, HEARTBEAT_FILE)
    write_beat(heartbeat, {"host": "elsewhere", "pid": 4322, "beat": 3})
    fresh = json.loads(fjd_cli(queue.root, "status", "--json").out)["serving"]
    assert fresh["dispatcher"]["state"] == "elsewhere"
    assert fresh["workers"]["elsewhere"] == 1 and fresh["workers"]["silent_elsewhere"] == 0
    old = time.time() - 600
    for path in (lock, heartbeat):
        os.utime(path, (old, old))
    text = fjd_cli(queue.root, "status").out
    assert "! the dispatcher on elsewhere (pid 4321) has not renewed its lock for 6" in text
    assert "! no worker is alive: the 1 worker in jobpod/ is gone (1 of other hosts, " \
        "silent for more than a worker timeout;" in text, text
    assert [n for n in os.listdir(queue.root) if n.startswith(".clock-")] == []
