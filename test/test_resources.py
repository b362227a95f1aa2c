"""Resources (issue 24): workers that own cores, GPUs and memory, jobs that ask for them.
Unit tests of resources.py and the hand-out's matching, then real daemons."""
import json
import os
import signal
import sys
import time

import pytest

from conftest import fjd_cli, wait_for
from fjd import names, resources
from fjd.resources import DEFAULT, Shape

WORKER_OPTS = ("--interval", "0.05")


# -- resources.py -----------------------------------------------------------------------------

def test_sizes():
    assert resources.parse_size("512M") == 512 * 2 ** 20
    assert resources.parse_size("4G") == 4 * 2 ** 30
    assert resources.parse_size("1.5G") == 1536 * 2 ** 20
    assert resources.parse_size("100") == 100 * 2 ** 20  # megabytes, as in Slurm
    assert resources.parse_size("2GB") == resources.parse_size("2gib") == 2 * 2 ** 30
    for bad in ("", "x", "4X", "-1G", "0"):
        with pytest.raises(ValueError):
            resources.parse_size(bad)
    assert resources.format_size(int(4.3 * 2 ** 30)) == "4.3 GB"
    assert resources.format_size(4 * 2 ** 30) == "4 GB"
    assert resources.format_size(512 * 2 ** 20) == "512 MB"


def test_short_text_round_trip():
    for shape in (Shape(4, 2, 8 * 2 ** 30), Shape(1, 1, None), Shape(2, 0, 1536 * 2 ** 20)):
        assert resources.parse_text(shape.text) == shape
    assert DEFAULT.text == ""
    assert resources.parse_text("c0") is None and resources.parse_text("x1") is None


def test_worker_ids_say_their_shape_and_default_ones_are_unchanged():
    assert resources.worker_id_with_shape("vm-12-abcdef", DEFAULT) == "vm-12-abcdef"
    shaped = resources.worker_id_with_shape("vm-12-abcdef", Shape(4, 2, None))
    assert shaped == "vm-12-abcdef_c4g2"
    assert resources.worker_shape(shaped) == Shape(4, 2, None)
    assert resources.worker_shape("vm-12-abcdef") == DEFAULT
    assert resources.bare_worker_id(shaped) == "vm-12-abcdef"
    from fjd import moves
    tag = moves.worker_tag(shaped, 3)
    name = names.requeue_name("job.conf", 1, tag)
    assert names.parse(name).tag == tag  # a valid field: the shape is not in it


def test_covers_and_requests():
    assert Shape(2, 1, None).covers(Shape(2, 1, 8 * 2 ** 30))  # no memory given: no limit
    assert not Shape(2, 1, 2 ** 30).covers(Shape(1, 0, 2 * 2 ** 30))
    assert not DEFAULT.covers(Shape(1, 1, None))
    assert resources.request_of_control({"cpus": "2", "gpus": "1", "memory": "4G"}) == \
        Shape(2, 1, 4 * 2 ** 30)
    for bad in ({"cpus": "0"}, {"gpus": "x"}, {"memory": "lots"}):
        with pytest.raises(ValueError):
            resources.request_of_control(bad)


def test_waiting_reason():
    shapes = {Shape(1, 1, None), DEFAULT}
    assert resources.waiting_reason(3, Shape(1, 2, None), shapes) == \
        "3 jobs need 2 GPUs; no live worker has more than 1"
    assert resources.waiting_reason(1, Shape(1, 0, 8 * 2 ** 30), {Shape(2, 0, 4 * 2 ** 30)}) \
        == "1 job needs 8 GB of memory; no live worker has more than 4 GB"


def test_submitted_names_carry_the_request_only_when_not_default():
    from fjd.submit import request_mark
    assert request_mark(b"[control]\nexecutable: true\n") == ""
    assert request_mark(b"[control]\nexecutable: true\ngpus: 2\ncpus: 4\n") == "_c4g2"
    name = "20261124-171800.123456-3f9c2a-000001s_c4g2-job.conf"
    assert names.plain_submitted(name)
    assert names.submitted_request(name) == (True, "c4g2")
    assert names.submitted_request(name[:36] + "-job.conf") == (True, None)
    assert names.submitted_request("job.conf") == (False, None)
    requeued = names.requeue_name(name, 2, "d1a2")  # the request stays in the original
    assert names.submitted_request(requeued) == (True, "c4g2")


def test_bad_request_fails_the_job_with_one_line():
    from fjd.jobfile import JobError, parse_job
    with pytest.raises(JobError, match="memory must be a size"):
        parse_job(b"[control]\nexecutable: true\nmemory: lots\n")
    assert parse_job(b"[control]\nexecutable: true\ngpus: 1\n").settings.request == \
        Shape(1, 1, None)


# -- the hand-out's matching, without daemons -------------------------------------------------

class FakeListing:
    def __init__(self, queued):
        import collections
        self.pending = collections.deque(queued)
        self.requests = {}


def submitted(seq, text=""):
    return "20261124-171800.123456-3f9c2a-%06ds%s-job.conf" % (seq, "_" + text if text else "")


def test_smallest_fit_and_no_head_of_line_blocking():
    from fjd.dispatcher.fitting import Fitting
    queued = [submitted(1, "g3"), submitted(2, "g1"), submitted(3), submitted(4, "c2"),
              submitted(5, "g1")]
    listing = FakeListing(queued)
    fitting = Fitting(None, listing)
    idle = fitting.order(["b_c4g1", "a", "c_c2"])
    assert idle == ["a", "c_c2", "b_c4g1"]  # smallest first
    assert list(listing.pending) == [submitted(3)]  # the rest held by request
    big = resources.worker_shape("b_c4g1")
    assert fitting.take(big) == submitted(2, "g1")  # what needs its size first...
    assert fitting.take(big) == submitted(5, "g1")
    assert fitting.take(big) == submitted(4, "c2")  # ... then smaller ones
    assert fitting.take(big) is None  # the 3-GPU job: nobody here can run it
    assert fitting.take(DEFAULT) is None
    assert fitting.held_total == 1


# -- real daemons -----------------------------------------------------------------------------

ENV_PRINTER = """import json, os, sys, time
start = time.time()
time.sleep(float(sys.argv[1]))
seen = {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "FJD_GPUS", "OMP_NUM_THREADS",
        "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "FJD_CPUS", "FJD_WORKER_ID")}
seen.update(start=start, end=time.time(), affinity=sorted(os.sched_getaffinity(0)))
with open("/proc/self/status") as status:
    seen["allowed"] = [l.split()[1] for l in status if l.startswith("Cpus_allowed_list")][0]
print(json.dumps(seen))
"""


def printer(queue, seconds=0.2):
    """A command that prints the environment it got as a JSON line (after seconds)."""
    path = os.path.join(os.path.dirname(queue.root), "printer.py")
    if not os.path.exists(path):
        with open(path, "w") as handle:
            handle.write(ENV_PRINTER)
    return "%s %s %s" % (sys.executable, path, seconds)


def submit(queue, *args):
    result = fjd_cli(queue.root, "submit", "--no-jobfile", *args)
    assert result.returncode == 0, result.err
    return result


def outputs(queue):
    """Every JSON line the jobs printed."""
    seen = []
    for name in os.listdir(queue.path("records")):
        if name.endswith(".out"):
            with open(queue.path("records", name)) as handle:
                seen += [json.loads(line) for line in handle if line.startswith("{")]
    return seen


def wait_printed(queue, count, timeout=30):
    return wait_for(lambda: len(outputs(queue)) >= count and outputs(queue), timeout,
                    message="%d jobs printed" % count)


@pytest.mark.slow
def test_no_two_running_jobs_see_the_same_gpu(queue):
    queue.dispatcher()
    for gpu in range(3):
        queue.worker("--gpus", str(gpu), *WORKER_OPTS)
    queue.worker(*WORKER_OPTS)
    submit(queue, "--gpus", "1", "-n", "9", "--exe", printer(queue, 0.3))
    submit(queue, "-n", "3", "--exe", printer(queue, 0.05))
    seen = wait_printed(queue, 12)
    gpu_runs = [run for run in seen if run["FJD_GPUS"]]
    assert len(gpu_runs) == 9
    for run in gpu_runs:
        assert run["CUDA_VISIBLE_DEVICES"] == run["FJD_GPUS"] in ("0", "1", "2")
        assert run["FJD_WORKER_ID"].endswith("_g1")
        for other in gpu_runs:
            if other is not run and other["CUDA_VISIBLE_DEVICES"] == run["CUDA_VISIBLE_DEVICES"]:
                assert other["end"] <= run["start"] or run["end"] <= other["start"]
    for run in seen:
        if not run["FJD_GPUS"] and run["FJD_WORKER_ID"].endswith("_g1"):
            assert run["CUDA_VISIBLE_DEVICES"] == ""  # a 0-GPU job sees no GPU


@pytest.mark.slow
def test_three_gpu_job_waits_is_reported_and_blocks_nobody(queue):
    queue.dispatcher()
    queue.worker("--gpus", "0", *WORKER_OPTS)
    queue.worker("--gpus", "1", *WORKER_OPTS)
    submit(queue, "--gpus", "3", "--name", "big", "--exe", printer(queue, 0))
    submit(queue, "--gpus", "1", "-n", "4", "--split", "--exe", printer(queue, 0))
    wait_for(lambda: len(queue.done()) == 4, 30, message="the 1-GPU jobs done")
    assert len(queue.queued()) == 1 and "_g3-big" in queue.queued()[0]
    status = fjd_cli(queue.root, "status")
    assert "1 job needs 3 GPUs; no live worker has more than 1" in status.out, status.out
    assert "resources  2 x 1 GPU" in status.out, status.out
    data = json.loads(fjd_cli(queue.root, "status", "--json").out)
    assert data["waiting_for_resources"][0]["count"] == 1
    assert data["waiting_for_resources"][0]["request"]["gpus"] == 3
    assert "1 job needs 3 GPUs" in data["waiting_for_resources"][0]["reason"]


@pytest.mark.slow
def test_smallest_fit(queue):
    # the workers go idle first, then the jobs arrive: each goes to the smallest that fits
    queue.dispatcher()
    # (workers that register once the dispatcher is up are known alive at once; one that
    # was there before it may be a dead one's leftover until its heartbeat moves: proving.py)
    wait_for(lambda: os.path.exists(queue.path("dispatcher.lock")), message="the dispatcher")
    queue.worker("--cpus", "4", *WORKER_OPTS)
    queue.worker("--cpus", "2", *WORKER_OPTS)
    queue.worker(*WORKER_OPTS)
    wait_for(lambda: len(queue.names("workerqueue")) == 3, message="three idle workers")
    submit(queue, "--cpus", "2", "--name", "two", "--exe", printer(queue, 0))
    submit(queue, "--name", "one", "--exe", printer(queue, 0))
    queue.wait_finished(2)
    by_cpus = {run["FJD_CPUS"]: run for run in wait_printed(queue, 2)}
    assert by_cpus["2"]["FJD_WORKER_ID"].endswith("_c2")  # not the 4-core one
    assert by_cpus["2"]["OMP_NUM_THREADS"] == by_cpus["2"]["MKL_NUM_THREADS"] == "2"
    # the default job went to the default worker (which leaves the variables alone)
    assert "_" not in by_cpus[None]["FJD_WORKER_ID"]


@pytest.mark.slow
def test_killed_gpu_worker_job_runs_again_on_a_worker_that_fits(queue):
    queue.dispatcher("--worker-timeout", "2")
    first = queue.worker("--gpus", "0", *WORKER_OPTS)
    queue.worker(*WORKER_OPTS)
    wait_for(lambda: len(queue.names("workerqueue")) == 2, message="two idle workers")
    submit(queue, "--gpus", "1", "--exe", printer(queue, 3))
    wait_for(lambda: queue.in_inboxes(), message="the job handed out")
    time.sleep(0.5)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    wait_for(lambda: queue.queued(), message="the job back in the queue")
    time.sleep(1)  # (the default worker must not get it meanwhile)
    assert queue.queued() and not queue.in_inboxes()
    queue.worker("--gpus", "1", *WORKER_OPTS)
    # (the killed worker's job lives on in its own session, and prints too)
    runs = wait_for(lambda: [r for r in outputs(queue) if r["FJD_GPUS"] == "1"], 30,
                    message="the job run again")
    assert runs[0]["FJD_WORKER_ID"].endswith("_g1")
    assert all(r["FJD_WORKER_ID"].endswith("_g1") for r in outputs(queue))


HOG = "import time; block = bytearray(300 * 2 ** 20); block[::4096] = b'x' * len(block[::4096]); " \
      "time.sleep(30)"


@pytest.mark.slow
def test_memory_hog_is_stopped_with_its_reason_and_the_worker_goes_on(queue):
    queue.dispatcher()
    queue.worker("--cpus", "1", "--gpus", "7", *WORKER_OPTS)
    hog = "%s -c %s" % (sys.executable, json.dumps(HOG))
    submit(queue, "--memory", "100M", "--name", "hog", "--exe", hog)
    submit(queue, "--name", "after", "--exe", printer(queue, 0))
    queue.wait_finished(2, timeout=40)
    failed = queue.failed()
    assert len(failed) == 1 and "_m100M-hog" in failed[0]
    reason = queue.reason(failed[0])
    assert reason.startswith("used ") and \
        "of memory, more than the 100 MB it asked for" in reason, reason
    assert len(queue.done()) == 1
    shown = fjd_cli(queue.root, "show", failed[0])
    assert "request: 1 core, 100 MB" in shown.out or "request: 100 MB" in shown.out, shown.out
    assert "resources: 1 GPU (GPU ids 7)" in shown.out, shown.out
    record = queue.record(failed[0])
    assert record["request"]["memory"] == 100 * 2 ** 20
    assert record["resources"]["gpu_ids"] == ["7"]


def cores_of(text):
    return resources.parse_cores(text)


@pytest.mark.slow
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores")
def test_workers_start_pins_two_core_workers_and_sets_thread_variables(queue):
    usable = sorted(os.sched_getaffinity(0))
    queue.dispatcher()
    started = fjd_cli(queue.root, "workers", "start", "1", "--cpus", "2")
    assert started.returncode == 0, started.err
    assert "_c2 " in started.out
    try:
        submit(queue, "--cpus", "2", "-n", "2", "--exe", printer(queue, 0))
        for run in wait_printed(queue, 2):
            assert run["FJD_CPUS"] == run["OMP_NUM_THREADS"] == run["MKL_NUM_THREADS"] == \
                run["OPENBLAS_NUM_THREADS"] == "2"
            assert cores_of(run["allowed"]) == usable[:2] == run["affinity"]
    finally:
        fjd_cli(queue.root, "workers", "stop")


@pytest.mark.slow
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores")
def test_workers_start_gives_each_worker_its_own_core_and_gpus(queue):
    usable = sorted(os.sched_getaffinity(0))
    queue.dispatcher()
    started = fjd_cli(queue.root, "workers", "start", "2", "--cpus", "1", "--gpus", "0,1,2,3",
                      "--gpus-per-worker", "2")
    assert started.returncode == 0, started.err
    try:
        submit(queue, "--gpus", "2", "-n", "6", "--split", "--exe", printer(queue, 0.2))
        seen = wait_printed(queue, 6)
        by_gpus = {}
        for run in seen:
            by_gpus.setdefault(run["CUDA_VISIBLE_DEVICES"], set()).add(run["allowed"])
        assert set(by_gpus) <= {"0,1", "2,3"}
        cores = [c for allowed in by_gpus.values() for c in allowed]
        assert all(len(allowed) == 1 for allowed in by_gpus.values())  # one core each
        assert sorted(cores_of(c)[0] for c in cores) == sorted(usable[:len(cores)])
    finally:
        fjd_cli(queue.root, "workers", "stop")


def test_plan_and_auto_gpus(monkeypatch):
    from fjd.errors import RecruitError
    from fjd.recruit import shapes
    count, each = shapes.plan(2, cpus=1, cores=[4, 5])
    assert count == 2 and each == [["--cpus", "1", "--pin", "4"], ["--cpus", "1", "--pin", "5"]]
    count, each = shapes.plan(2, cpus=2, cores=[0, 1])  # 2 x 2 does not fit: not pinned
    assert each == [["--cpus", "2"], ["--cpus", "2"]]
    count, each = shapes.plan(None, gpus="0,1,2,3", gpus_per_worker=2, memory=2 ** 30,
                              cores=[0])
    assert count == 2 and each[1] == ["--gpus", "2,3", "--memory", "1G"]
    with pytest.raises(RecruitError):
        shapes.plan(3, gpus="0,1")
    assert shapes.granted_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert shapes.granted_gpus({"SLURM_JOB_GPUS": "0,1"}) == ["0", "1"]
    monkeypatch.setenv("PATH", "/nonexistent")
    assert shapes.granted_gpus({}) == []  # no nvidia-smi: none


def test_slurm_allocation():
    from fjd.recruit.slurm import allocation
    assert allocation(1, 0, None) == ["--cpus-per-task=1"]
    assert allocation(4, 2, 8 * 2 ** 30) == ["--cpus-per-task=4", "--gpus-per-task=2",
                                             "--mem-per-cpu=2048M"]


def test_slurm_and_hosts_get_the_resource_options(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "sbatch-seen"
    fake = bin_dir / "sbatch"
    fake.write_text("#!/bin/sh\necho \"$@\" > %s\ncat >> %s\necho 4242\n" % (seen, seen))
    fake.chmod(0o755)
    root = tmp_path / "root"
    root.mkdir()
    env = dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ["PATH"]))
    from conftest import fjd_env
    result = fjd_cli(root, "workers", "start", "2", "--slurm", "--cpus", "4", "--gpus",
                     "auto", "--memory", "8G", env=fjd_env(env))
    assert result.returncode == 0, result.err
    text = seen.read_text()
    assert "--cpus-per-task=4 --gpus-per-task=1 --mem-per-cpu=2048M" in text
    assert '"--cpus", "4", "--gpus", "auto", "--memory", "8192M"' in text
    import argparse
    from fjd.recruit.shapes import forwarded
    args = argparse.Namespace(cpus=2, gpus="auto", gpus_per_worker=2, memory=2 ** 30)
    assert forwarded(args) == ["--cpus", "2", "--gpus", "auto", "--gpus-per-worker", "2",
                               "--memory", "1G"]


@pytest.mark.slow
def test_fjd_run_starts_workers_that_fit_or_refuses(queue):
    from conftest import fjd_env
    env = fjd_env({"CUDA_VISIBLE_DEVICES": "5"})
    env.pop("SLURM_JOB_GPUS", None)
    ran = fjd_cli(queue.root, "run", "--gpus", "1", "-n", "2", "--no-jobfile", "--exe",
                  printer(queue, 0), env=env)
    assert ran.returncode == 0, ran.err
    assert [run["CUDA_VISIBLE_DEVICES"] for run in outputs(queue)] == ["5", "5"]
    refused = fjd_cli(queue.root, "run", "--gpus", "2", "--no-jobfile", "--exe", "true",
                      env=env)
    assert refused.returncode != 0
    assert "the jobs ask for 2 GPUs; this host has 1" in refused.err, refused.err


@pytest.mark.slow
def test_bench_resources_smoke(tmp_path):
    import subprocess
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, os.path.join(repo, "bench", "resources.py"),
                           "--workers", "6", "--jobs", "300", "--fake-processes", "1",
                           "--tmp", str(tmp_path), "--json"], cwd=repo,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=180)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    result = json.loads(proc.stdout)
    assert [run["label"] for run in result["runs"]] == ["one", "mixed", "stuck"]
    assert result["runs"][2]["left_queued"] == 30  # the jobs nobody could run, still queued
    assert result["mixed_over_one"] > 0


@pytest.mark.slow
def test_hand_written_job_and_array_ask_in_their_heads(queue):
    queue.dispatcher()
    queue.worker(*WORKER_OPTS)
    queue.job("gpu.conf", printer(queue, 0), gpus=1)
    queue.write("sweep.conf", "[control]\nexecutable: %s\ntasks: product\ngpus: 1\n\n"
                "[params]\nx: 1..3\n" % printer(queue, 0))
    queue.job("plain.conf", printer(queue, 0))
    wait_for(lambda: queue.done() == ["plain.conf"], message="the plain job done")
    time.sleep(0.5)
    assert sorted(queue.queued())[0] == "gpu.conf" and len(queue.queued()) == 2
    status = fjd_cli(queue.root, "status")
    assert "4 jobs need 1 GPU; no live worker has any" in status.out, status.out
    queue.worker("--gpus", "3", *WORKER_OPTS)
    queue.wait_finished(3)
    runs = wait_printed(queue, 5)
    assert sorted(r["FJD_GPUS"] or "" for r in runs) == ["", "3", "3", "3", "3"]
    record = queue.task_record("sweep.conf", 2)
    assert record["request"]["gpus"] == 1 and record["resources"]["gpu_ids"] == ["3"]
    shown = fjd_cli(queue.root, "show", "sweep.conf#2")
    assert "request: 1 GPU" in shown.out and "resources: 1 GPU (GPU ids 3)" in shown.out


def test_group_rss_counts_the_children_of_the_group(tmp_path):
    import subprocess
    from fjd.memory_watch import group_rss
    hog = tmp_path / "hog.py"
    hog.write_text("import sys, time\nblock = bytearray(120 * 2 ** 20)\n"
                   "block[::4096] = b'x' * len(block[::4096])\nprint('ready', flush=True)\n"
                   "time.sleep(30)\n")
    proc = subprocess.Popen(["sh", "-c", "%s %s; true" % (sys.executable, hog)],
                            start_new_session=True, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        assert group_rss(proc.pid) > 120 * 2 ** 20  # the grandchild's memory counts
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_environment_and_pinning_errors():
    from fjd.errors import QueueError
    owned = resources.Resources(cpus=4, gpus=["0", "1"])
    env = owned.environment({"CUDA_VISIBLE_DEVICES": "0,1,2,3"}, Shape(1, 1, None))
    assert env["CUDA_VISIBLE_DEVICES"] == env["FJD_GPUS"] == "0,1"
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == env["FJD_CPUS"] == "4"
    assert owned.environment({}, DEFAULT)["CUDA_VISIBLE_DEVICES"] == ""  # asked for none
    assert resources.Resources().environment({"A": "1"}, DEFAULT) == {"A": "1"}
    with pytest.raises(QueueError, match="cannot pin this worker to cores 100000"):
        resources.Resources(cores=[100000]).pin()
