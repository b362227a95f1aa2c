"""Time requests (issue 25): durations, the request in submitted names, a worker's end in
its id, and the hand-out that gives a worker no job it has no time for; --idle-exit."""
import json
import os
import time

import pytest

from conftest import fjd_cli
from fjd import resources, time_request
from fjd.durations import parse_duration, slurm_time, words
from fjd.recruit.allocations import allocation_name, parse_squeue
from fjd.recruit.auto_state import status_lines


@pytest.mark.parametrize("text, seconds", [
    ("90s", 90), ("20m", 1200), ("1h30m", 5400), ("2d", 172800), ("90", 5400),
    ("1:30", 90), ("1:30:00", 5400), ("1-00:00:00", 86400), ("2-12", 216000),
    (" 5M ", 300), ("20min", 1200)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "1.5h", "2x", "h", "-5", "1:2:3:4"])
def test_bad_durations_say_the_forms(text):
    with pytest.raises(ValueError, match="is not a duration.*1h30m"):
        parse_duration(text)


def test_duration_words_and_slurm_time():
    assert words(5400) == "1h30m" and words(45) == "45s" and words(0) == "0s"
    assert slurm_time(5400) == "01:30:00" and slurm_time(90000) == "1-01:00:00"


def test_requests_and_ends_in_names():
    name = "20261124-171800.123456-3f9c2a-000001s_c4t1200-job.conf"
    assert time_request.job_seconds(name) == 1200
    assert time_request.job_seconds(name.replace("_c4t1200", "_c4")) is None
    assert time_request.job_seconds("job.conf") is None
    assert resources.parse_text("c4t1200") == resources.Shape(4, 0, None)
    worker = time_request.worker_id_with_end("node1-42-abcdef_c4", 2000000000)
    assert worker == "node1-42-abcdef_c4e2000000000"
    assert resources.worker_shape(worker) == resources.Shape(4, 0, None)
    assert resources.bare_worker_id(worker) == "node1-42-abcdef"
    plain = time_request.worker_id_with_end("node1-42-abcdef", 2000000000)
    assert plain == "node1-42-abcdef_e2000000000"
    assert resources.worker_shape(plain) == resources.DEFAULT
    assert time_request.worker_end(plain) == 2000000000
    assert time_request.worker_end("node1-42-abcdef_c4") is None
    assert time_request.fits(plain, name, now=2000000000 - 1200)
    assert not time_request.fits(plain, name, now=2000000000 - 1199)
    assert time_request.fits("node1-42-abcdef", name)


def test_squeue_lines_and_the_allocation_name():
    found = parse_squeue("12|RUNNING|4:50|0:10|1|None\n13|PENDING|5:00|0:00|1|Priority\n"
                         "junk\n")
    assert [(a.job_id, a.running, a.pending, a.time_left) for a in found] == \
        [("12", True, False, 290), ("13", False, True, 300)]
    assert allocation_name("/a/root") == allocation_name("/a/root") != allocation_name("/b")
    lines = status_lines({"running": False, "stopped": "stopped by SIGINT",
                          "blocked": "10 sbatch calls in a row failed", "waiting": [],
                          "allocations": [{"job_id": "12", "state": "RUNNING", "workers": 2,
                                           "registered": True, "time_left": 290}]})
    assert lines[0] == "" and "stopped by SIGINT" in lines[1]
    assert any("not submitting: 10 sbatch" in line for line in lines)
    assert any(line.split()[:3] == ["12", "RUNNING", "2"] for line in lines)


def test_submit_names_the_time_request_and_checks_it(queue):
    result = fjd_cli(queue.root, "submit", "--exe", "true", "--time-request", "20m",
                     "--cpus", "2")
    assert result.returncode == 0, result.err
    assert "000001_c2t1200-" in result.out or "000001s_c2t1200-" in result.out
    bad = fjd_cli(queue.root, "submit", "--exe", "true", "--time-request", "soon")
    assert bad.returncode == 2 and "is not a duration" in bad.err
    bad = fjd_cli(queue.root, "submit", "--exe", "true", "--control", "time_request=x")
    assert bad.returncode == 2 and "[control] time_request" in bad.err


def test_a_worker_gets_only_jobs_it_has_time_for(queue):
    queue.dispatcher()
    worker = queue.worker("--lifetime", "600")
    long_one = fjd_cli(queue.root, "submit", "--exe", "true", "--no-jobfile",
                       "--time-request", "20m", "--name", "long")
    short = fjd_cli(queue.root, "submit", "--exe", "true", "--no-jobfile",
                    "--time-request", "5m", "--name", "short")
    plain = fjd_cli(queue.root, "submit", "--exe", "true", "--no-jobfile", "--name", "plain")
    assert long_one.returncode == short.returncode == plain.returncode == 0
    queue.wait_finished(2)
    assert sorted(n.rsplit("-", 1)[1] for n in queue.done()) == ["plain.conf", "short.conf"]
    assert [n.rsplit("-", 1)[1] for n in queue.queued()] == ["long.conf"]
    worker_id = queue.record(queue.done()[0])["worker"]
    assert time_request.worker_end(worker_id) is not None
    assert 590 < time_request.worker_end(worker_id) - time.time() <= 600
    assert worker.alive()


def test_a_hand_written_job_asks_for_time_in_its_head(queue):
    """A job file dropped into jobqueue/ whose [control] asks for 20 minutes is not given
    to a worker with 10 minutes left, while one asking for 5 minutes is; a worker without an
    end then takes the long one."""
    queue.job("long.conf", "true", jobfile="none", time_request="20m")
    queue.job("short.conf", "true", jobfile="none", time_request="5m")
    queue.dispatcher()
    queue.worker("--lifetime", "600")
    queue.wait_finished(1)
    assert queue.done() == ["short.conf"] and queue.queued() == ["long.conf"]
    queue.worker()
    queue.wait_finished(2)
    assert sorted(queue.done()) == ["long.conf", "short.conf"]


def test_a_worker_exits_when_idle_for_idle_exit(queue):
    worker = queue.worker("--idle-exit", "0.5")
    assert worker.proc.wait(15) == 0
    assert "--idle-exit" in worker.log()
    assert os.listdir(queue.path("jobpod")) == []


def test_status_json_has_no_allocations_without_a_controller(queue):
    result = fjd_cli(queue.root, "status", "--json")
    assert json.loads(result.out)["allocations"] is None
