"""fjd workers start --slurm against a real single-node Slurm (test/slurm_fixture.py).

The workers run as the tasks of one sbatch job; with a one-minute limit and a 48 s margin
they stop after about 12 s and hand their unfinished job back to the queue.
"""
import functools
import os
import re
import subprocess
import sys

import pytest

import conftest
from conftest import wait_for
from slurm_fixture import slurm  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

# starting and stopping workers can take longer than conftest's default minute
fjd_cli = functools.partial(conftest.fjd_cli, timeout=90)


def test_slurm_workers_stop_before_the_time_limit(queue, slurm):
    env = slurm.env(queue.env())
    root = queue.root
    marker = queue.path("long-started")
    queue.job("quick.conf", "%s -c 'import socket; print(socket.gethostname())'"
              % sys.executable)
    queue.job("zlong.conf", "%s -c 'import sys, time; open(sys.argv[1], \"w\").close(); "
                            "time.sleep(300)' %s" % (sys.executable, marker))
    queue.dispatcher()
    result = fjd_cli(root, "workers", "start", "2", "--slurm", "--time", "1", "--margin", "48",
                     "--sbatch-option=--job-name=fjd-test", env=env)
    assert result.returncode == 0, (result.out, result.err)
    job_id = re.search(r"submitted Slurm batch job (\d+): 2 workers", result.out).group(1)
    try:
        queue.wait_finished(1, timeout=40)
        assert queue.done() == ["quick.conf"]
        assert queue.record("quick.conf")["host"] == slurm.host
        wait_for(lambda: os.path.exists(marker), 20, message="the long job to start")
        assert slurm.job_state(job_id) == "RUNNING"
        # the workers' lifetime (60 s limit - 48 s margin) ends: the long job comes back,
        # with no attempt counted (the end of an allocation is nobody's failure)
        wait_for(lambda: any(n.startswith("zlong.conf@w") for n in queue.queued()), 40,
                 message="the long job to be handed back")
        wait_for(lambda: os.listdir(queue.path("jobpod")) == [], 15,
                 message="the Slurm workers to leave")
        wait_for(lambda: slurm.job_state(job_id) in ("", "COMPLETED", "COMPLETING"), 30,
                 message="the batch job to end")
        assert queue.failed() == []
        logs = os.listdir(queue.path("logs"))
        assert "slurm-%s.out" % job_id in logs
        with open(queue.path("logs", "slurm-%s.out" % job_id)) as handle:
            text = handle.read()
        assert "workers stop after 12 s" in text or "workers stop after 1" in text, text
        assert len([n for n in logs if n.startswith("slurm-%s-worker-" % job_id)]) == 2
    finally:
        subprocess.run(["scancel", job_id], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def test_sbatch_errors_are_explained(queue, slurm):
    env = slurm.env(queue.env())
    result = fjd_cli(queue.root, "workers", "start", "2", "--slurm",
                     "--sbatch-option=--partition=nosuchpartition", env=env)
    assert result.returncode == 1
    assert "sbatch failed" in result.err and "partition" in result.err.lower()
    missing = fjd_cli(queue.root, "workers", "start", "2", "--slurm",
                      env=dict(env, PATH="/nonexistent"))
    assert missing.returncode == 1 and "sbatch not found" in missing.err
