"""fjd workers auto --slurm against a real single-node Slurm (test/slurm_fixture.py: 2 CPUs,
so two one-core allocations run at once and the others wait in Slurm's queue).

Every test puts wrappers for sbatch and squeue first on PATH, which log each call and run
the real command, so that the calls the controller makes are counted. --poll 1 and short
idle timeouts keep them short.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import PYTHON, Daemon, fjd_cli, wait_for
from slurm_fixture import SlurmCluster, Unavailable
from fjd.recruit.allocations import allocation_name

pytestmark = pytest.mark.slow

WRAPPER = """#!/bin/sh
echo "%(tool)s $*" >> %(log)s
exec %(real)s "$@"
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("Slurm test: needs Linux and root")
    found = SlurmCluster(tmp_path_factory.mktemp("slurm-auto"))
    try:
        found.start()
    except Unavailable as error:
        pytest.skip("Slurm test: %s" % error)
    yield found
    found.stop()


class Fleet:
    """A queue root, the Slurm cluster, counted sbatch and squeue calls, a controller."""

    def __init__(self, queue, cluster, tmp_path):
        self.queue = queue
        self.cluster = cluster
        self.calls = str(tmp_path / "calls.log")
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for tool in ("sbatch", "squeue"):
            real = subprocess.check_output(["which", tool]).decode().strip()
            path = bin_dir / tool
            path.write_text(WRAPPER % {"tool": tool, "log": self.calls, "real": real})
            path.chmod(0o755)
        self.env = cluster.env(queue.env({"PATH": "%s:%s" % (bin_dir, os.environ["PATH"])}))
        self.name = allocation_name(queue.root)
        self.controllers = []

    def start(self, *args):
        argv = [PYTHON, "-m", "fjd", "workers", "auto", "--slurm", "--root", self.queue.root,
                "--poll", "1"] + list(args)
        log_path = os.path.join(self.queue.logs, "auto-%d.log" % len(self.controllers))
        daemon = Daemon(argv, log_path, self.queue.root, self.env)
        self.controllers.append(daemon)
        return daemon

    def cli(self, *args):
        return fjd_cli(self.queue.root, *args, env=self.env, timeout=90)

    def submit(self, *args):
        result = self.cli("submit", *args)
        assert result.returncode == 0, result.err
        return result

    def count(self, tool, needle=""):
        try:
            with open(self.calls) as handle:
                return sum(1 for line in handle if line.startswith(tool + " ") and
                           needle in line)
        except FileNotFoundError:
            return 0

    def allocations(self):
        """{job id: state} of this root's allocations that are queued or running."""
        out = self.cluster.ask(["squeue", "--noheader", "--name=%s" % self.name,
                                "--format=%i %T"]) or ""
        found = dict(line.split() for line in out.splitlines() if line.strip())
        return {k: v for k, v in found.items() if v in ("PENDING", "CONFIGURING", "RUNNING")}

    def status(self):
        result = self.cli("status", "--json")
        assert result.returncode == 0, result.err
        return json.loads(result.out)["allocations"]

    def logs(self):
        return "\n".join(d.log() for d in self.controllers)

    def close(self):
        for daemon in self.controllers:
            if daemon.alive():
                daemon.proc.send_signal(signal.SIGTERM)
                try:
                    daemon.proc.wait(15)
                except subprocess.TimeoutExpired:
                    daemon.kill()
            daemon.close()
        ids = list(self.allocations())
        if ids:
            self.cluster.ask(["scancel"] + ids)


@pytest.fixture
def fleet(queue, cluster, tmp_path):
    found = Fleet(queue, cluster, tmp_path)
    yield found
    found.close()


def test_a_queue_brings_allocations_up_to_the_limit_and_they_end_when_idle(fleet):
    queue = fleet.queue
    queue.dispatcher()
    # (jobs of 0.3 s go one at a time: a worker's batch is a quarter of a second's work)
    fleet.submit("--exe", "sleep 0.3", "--no-jobfile", "--repeat", "200", "--split")
    started = time.monotonic()
    controller = fleet.start("--time", "5", "--max-allocations", "3", "--backlog", "1",
                             "--idle-timeout", "4")
    most = [0]

    def finished():
        most[0] = max(most[0], len(fleet.allocations()))
        return len(queue.done()) >= 200
    wait_for(finished, 150, interval=0.3, message="the 200 jobs to be done (done: %d)\n%s"
             % (len(queue.done()), fleet.logs()))
    assert most[0] == 3, fleet.logs()
    assert queue.failed() == []
    # the workers have nothing to do: they exit after 4 s, and their allocations end
    wait_for(lambda: not fleet.allocations(), 40, interval=0.5,
             message="the allocations to end once idle")
    assert fleet.count("sbatch") <= 4, fleet.logs()
    elapsed = time.monotonic() - started
    # one squeue a cycle (the allocations' batch scripts ask once each, with -j)
    assert fleet.count("squeue", "--me") <= elapsed / 1.0 + 2
    status = fleet.status()
    assert status["running"] and status["blocked"] is None
    assert controller.alive()
    # the queue grows again: allocations come back
    before = fleet.count("sbatch")
    fleet.submit("--exe", "sleep 0.5", "--no-jobfile", "--repeat", "10", "--split")
    wait_for(lambda: len(queue.done()) >= 210, 90, interval=0.3,
             message="the next 10 jobs to be done\n%s" % fleet.logs())
    assert before < fleet.count("sbatch") <= before + 3
    assert controller.stop(signal.SIGINT, timeout=15) == 0
    assert "stopped by SIGINT" in fleet.status()["stopped"]


def test_jobs_that_ask_for_more_than_the_time_start_no_allocation(fleet):
    fleet.submit("--exe", "true", "--repeat", "3", "--time-request", "2h")
    fleet.start("--time", "1:00:00")
    wait_for(lambda: fleet.count("squeue", "--me") >= 3, 30, interval=0.2,
             message="three cycles")
    assert fleet.count("sbatch") == 0
    auto = fleet.status()
    assert auto["allocations"] == []
    assert any("3 jobs ask for 2h each" in reason and "no allocation" in reason
               for reason in auto["waiting"]), auto
    text = fleet.cli("status").out
    assert "3 jobs ask for 2h each" in text, text


def test_a_bad_partition_stops_submissions_after_ten_failures(fleet):
    fleet.submit("--exe", "true")
    controller = fleet.start("--time", "10", "--sbatch-option=--partition=nosuchpartition")
    wait_for(lambda: "not submitting" in fleet.logs(), 60, interval=0.3,
             message="the controller to give up")
    wait_for(lambda: fleet.count("squeue", "--me") >= fleet.count("sbatch") + 3, 30,
             interval=0.3, message="more cycles")
    assert fleet.count("sbatch") == 10
    auto = fleet.status()
    assert "10 sbatch calls in a row failed" in auto["blocked"], auto
    assert "partition" in auto["blocked"].lower()
    assert "not submitting: 10 sbatch calls in a row failed" in fleet.cli("status").out
    assert controller.alive()
    result = fleet.cli("workers", "auto", "stop")
    assert result.returncode == 0 and "stopped the controller" in result.out, result.out


def test_a_restarted_controller_does_not_double_its_allocations(fleet):
    fleet.submit("--exe", "true", "--repeat", "20", "--split")  # no dispatcher: they stay
    first = fleet.start("--time", "10", "--max-allocations", "2", "--backlog", "2",
                        "--idle-timeout", "120")
    wait_for(lambda: len(fleet.allocations()) == 2, 60, interval=0.3,
             message="two allocations")
    second_try = fleet.start("--time", "10")
    assert second_try.proc.wait(30) != 0
    assert "another `fjd workers auto` runs" in second_try.log()
    first.kill()  # SIGKILL: no state written on the way out
    submitted = fleet.count("sbatch")
    assert submitted == 2
    result = fleet.cli("workers", "auto", "stop")  # a stale lock: nobody to stop
    assert result.returncode == 0 and "no `fjd workers auto` runs" in result.out, result.out
    again = fleet.start("--time", "10", "--max-allocations", "2", "--backlog", "2",
                        "--idle-timeout", "120")
    squeues = fleet.count("squeue", "--me")
    wait_for(lambda: fleet.count("squeue", "--me") >= squeues + 4, 30, interval=0.2,
             message="four cycles of the new controller")
    assert fleet.count("sbatch") == submitted
    assert len(fleet.allocations()) == 2
    assert len(fleet.status()["allocations"]) == 2
    result = fleet.cli("workers", "auto", "stop", "--cancel")
    assert result.returncode == 0, result.out + result.err
    wait_for(lambda: not again.alive(), 30, message="the controller to stop")
    wait_for(lambda: not fleet.allocations(), 30, interval=0.3,
             message="the allocations to be cancelled")
    assert "cancelled 2 allocations" in fleet.status()["stopped"]


def test_an_allocation_at_its_time_limit_hands_jobs_back_to_the_next(fleet):
    queue = fleet.queue
    queue.dispatcher()
    # one allocation at a time, one worker; it stops 15 s after it starts (60 s less a
    # 45 s margin): the first job runs, the second is cut and handed back, the next
    # allocation runs it
    fleet.submit("--exe", "sleep 9", "--no-jobfile", "--name", "first")
    fleet.submit("--exe", "sleep 9", "--no-jobfile", "--name", "second")
    controller = fleet.start("--time", "1", "--margin", "45", "--max-allocations", "1",
                             "--idle-timeout", "3", "--exit-when-done")
    wait_for(lambda: any("@w" in name for name in queue.queued()) or
             any("@w" in name for name in queue.in_inboxes()), 60, interval=0.3,
             message="a job to be handed back at the end of the first allocation")
    queue.wait_finished(2, timeout=90)
    assert len(queue.done()) == 2 and queue.failed() == []
    assert fleet.count("sbatch") == 2, fleet.logs()
    # --exit-when-done: the queue is empty and the last allocation ends once idle
    assert controller.proc.wait(60) == 0
    assert "the queue is empty" in fleet.status()["stopped"]


def test_allocations_without_workers_stop_submissions_after_three(fleet):
    fleet.submit("--exe", "true", "--repeat", "5", "--split")
    controller = fleet.start("--time", "10", "--python", "/nonexistent/python3")
    wait_for(lambda: "not submitting" in fleet.logs(), 90, interval=0.3,
             message="the controller to give up\n%s" % fleet.logs())
    assert fleet.count("sbatch") == 3, fleet.logs()
    auto = fleet.status()
    assert "3 allocations in a row ended before any worker came up" in auto["blocked"]
    assert controller.alive()
