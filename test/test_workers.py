"""fjd workers start|list|stop on this host (ssh and Slurm have their own test files)."""
import functools
import json
import os
import signal
import subprocess
import time

import pytest

import conftest
from conftest import PYTHON, fjd_env, fjd_in_process, kill_leftovers, py, wait_for

# starting and stopping workers can take longer than conftest's default minute
fjd_cli = functools.partial(conftest.fjd_cli, timeout=90)


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def root(tmp_path):
    """A queue root; any worker left running by a failed test is stopped afterwards."""
    path = tmp_path / "root"
    path.mkdir()
    (path / "jobqueue").mkdir()
    yield path
    subprocess.run([PYTHON, "-m", "fjd", "workers", "stop", "--timeout", "15", "--silent-after",
                    "2", "--root", str(path)], env=fjd_env(), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    kill_leftovers(path)


def started_pids(text):
    return [int(line.split("(pid ")[1].split()[0]) for line in text.splitlines()
            if line.startswith("started worker")]


def test_start_list_stop(root):
    result = fjd_cli(root, "workers", "start", "2")
    assert result.returncode == 0, result.err
    pids = started_pids(result.out)
    assert len(pids) == 2 and all(pid_alive(p) for p in pids)
    logs = sorted(os.listdir(root / "logs"))
    assert len(logs) == 2 and all(name.startswith("worker-") for name in logs)
    for line in result.out.splitlines():
        assert os.path.exists(line.split(", log ")[1])
    started = time.monotonic()
    listing = fjd_cli(root, "workers", "list")
    assert time.monotonic() - started < 5
    assert listing.returncode == 0
    assert "2 live workers on %s" % os.uname()[1] in listing.out
    as_json = json.loads(fjd_cli(root, "workers", "list", "--json").out)
    assert sorted(w["pid"] for w in as_json) == sorted(pids)
    assert all(w["alive"] and w["state"] == "idle" for w in as_json)
    # the workers are detached: they outlive the command that started them
    assert all(pid_alive(p) for p in pids)
    stop = fjd_cli(root, "workers", "stop")
    assert stop.returncode == 0, stop.err
    assert stop.out.count("stopped ") == 2
    assert os.listdir(root / "jobpod") == []
    wait_for(lambda: not any(pid_alive(p) for p in pids), 10, message="workers to exit")


def test_dead_inboxes_are_not_live_workers(root):
    inbox = root / "jobpod" / "ghost-99999-abcdef"
    inbox.mkdir(parents=True)
    (inbox / ".heartbeat").write_text(json.dumps({"beat": 5, "host": "ghost",
                                                  "pid": 99999}))
    started = time.monotonic()
    listing = fjd_cli(root, "workers", "list", "--wait", "1.5")
    assert time.monotonic() - started >= 1.5  # it watched the heartbeat, not a clock
    assert "0 live workers" in listing.out and "1 more inbox" in listing.out
    assert "ghost-99999-abcdef" not in listing.out
    assert "ghost-99999-abcdef" in fjd_cli(root, "workers", "list", "--all",
                                           "--wait", "1").out
    stop = fjd_cli(root, "workers", "stop", "--silent-after", "1.5")
    assert stop.returncode == 1
    assert "did not beat" in stop.err and "dead or stuck" in stop.err
    assert (inbox / ".stop").exists()


def test_stop_by_host_and_a_busy_worker_hands_its_job_back(root):
    assert fjd_cli(root, "workers", "start", "1").returncode == 0
    other = fjd_cli(root, "workers", "stop", "--host", "some-other-host")
    assert other.returncode == 0 and "no workers to stop on some-other-host" in other.out
    assert len(os.listdir(root / "jobpod")) == 1
    marker = root / "started"
    code = "import sys, time; open(sys.argv[1], 'w').close(); time.sleep(60)"
    assert fjd_cli(root, "submit", "-q", "--exe", py(code, str(marker))).returncode == 0
    log = open(root / "dispatcher.log", "ab")
    dispatcher = subprocess.Popen([PYTHON, "-m", "fjd", "dispatcher", "--root", str(root)],
                                  env=fjd_env(), stdout=log, stderr=log)
    try:
        wait_for(lambda: marker.exists(), 20, message="the job to start")
        stop = fjd_cli(root, "workers", "stop", "--host", os.uname()[1])
        assert stop.returncode == 0, stop.err
        [queued] = os.listdir(root / "jobqueue")
        assert "@w" in queued and "@a1." not in queued  # a deliberate stop: no attempt
        assert os.listdir(root / "jobpod") == []
    finally:
        dispatcher.send_signal(signal.SIGTERM)
        dispatcher.wait(10)
        log.close()


def test_start_errors(root):
    assert fjd_cli(root, "workers", "start", "0").returncode == 2  # in a process of its own
    start = functools.partial(fjd_in_process, root, "workers", "start")  # the rest: in this one
    bad = start("1", "--nodes", "2")
    assert bad.returncode == 2 and "--nodes only goes with --slurm" in bad.err
    both = start("--hosts", "x", "--slurm")
    assert both.returncode == 2
    hosts = root / "hosts.conf"
    hosts.write_text("[a]\nworkers: 2\n")
    missing_name = start("--hosts", str(hosts))
    assert missing_name.returncode == 2 and "has no 'name'" in missing_name.err
    hosts.write_text("not an ini file\n")
    assert "not a valid INI hosts file" in start("--hosts", str(hosts)).err
    assert "cannot read" in start("--hosts", str(root / "nope.conf")).err
    bad_time = start("2", "--slurm", "--time", "soon")
    assert bad_time.returncode == 2 and "not a Slurm time" in bad_time.err
    tight = start("2", "--slurm", "--time", "1", "--margin", "60")
    assert tight.returncode == 2 and "leaves no time" in tight.err
    assert os.listdir(root / "jobpod") == [] if (root / "jobpod").exists() else True


def test_slurm_time_parsing():
    from fjd.recruit.slurm import slurm_seconds
    assert slurm_seconds("90") == 5400
    assert slurm_seconds("1:30") == 90
    assert slurm_seconds("2:00:00") == 7200
    assert slurm_seconds("1-2") == 93600
    assert slurm_seconds("1-0:01:05") == 86465
    assert slurm_seconds("UNLIMITED") is None


def test_a_live_worker_of_this_host_is_listed_without_waiting_for_its_beat(queue):
    """`fjd workers list` asks this host's process table about its own workers (a beat takes
    2 s); a stopped one (SIGSTOP) still has to beat, and does not."""
    from fjd.recruit import roster
    worker = queue.worker()
    layout = queue.layout()
    wait_for(lambda: any(roster.read_heartbeat(layout.inbox(w)) for w in queue.names("jobpod")),
             message="a heartbeat")
    started = time.monotonic()
    found = roster.survey(layout, wait=10.0)
    assert time.monotonic() - started < 1.0
    assert [w["alive"] for w in found] == [True]
    os.kill(worker.proc.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: open("/proc/%d/stat" % worker.proc.pid).read().rsplit(")", 1)[1]
                 .split()[0] == "T", message="the worker stopped")
        assert [w["alive"] for w in roster.survey(layout, wait=0.5)] == [False]
    finally:
        os.kill(worker.proc.pid, signal.SIGCONT)
