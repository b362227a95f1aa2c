"""Snakemake on fjd through contrib/snakemake (issue 31): a real workflow with fan-out and
fan-in, a failing rule, a rerun that finishes the rest, and Ctrl-C cancelling what
Snakemake submitted (skipped where Snakemake or its generic cluster executor is missing:
test/run_tests.sh installs both); the profile's sidecar and submit scripts on their own."""
import importlib.util
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import PYTHON, REPO, fjd_env, wait_for

needs_snakemake = pytest.mark.skipif(
    importlib.util.find_spec("snakemake") is None or
    importlib.util.find_spec("snakemake_executor_plugin_cluster_generic") is None,
    reason="snakemake and snakemake-executor-plugin-cluster-generic are not installed "
           "(test/run_tests.sh installs them)")

CHUNKS = 10
WORKFLOW = """
CHUNKS = range(%d)

rule all:
    input: "total.txt"

rule split:
    output: expand("chunks/{i}.txt", i=CHUNKS)
    run:
        for i in CHUNKS:
            with open("chunks/%%d.txt" %% i, "w") as out:
                out.write(str(i))

rule work:
    input: "chunks/{i}.txt"
    output: "worked/{i}.txt"
    threads: 1
    shell:
        "if [ {wildcards.i} = 7 ] && [ -e fail-flag ]; then echo broken >&2; exit 3; fi; "
        "echo $(( $(cat {input}) * 2 )) > {output}"

rule square:
    input: "worked/{i}.txt"
    output: "squared/{i}.txt"
    shell: "echo $(( $(cat {input}) * $(cat {input}) )) > {output}"

rule gather:
    input: expand("squared/{i}.txt", i=CHUNKS)
    output: "total.txt"
    shell: "awk '{{s += $1}} END {{print s}}' {input} > {output}"
""" % CHUNKS

SLOW_WORKFLOW = """
rule all:
    input: expand("slow/{i}.txt", i=range(12))

rule slow:
    output: "slow/{i}.txt"
    shell: "echo started >> started.log; while [ ! -e gate ]; do sleep 0.1; done; touch {output}"
"""


def profile_copy(tmp_path, root):
    """A copy of contrib/snakemake (links and all) whose config.yaml names root."""
    profile = tmp_path / "profile"
    shutil.copytree(os.path.join(REPO, "contrib", "snakemake"), str(profile), symlinks=True)
    with open(str(profile / "config.yaml"), "a") as handle:
        handle.write("# fjd-root: %s\n" % root)
    return profile


def snakemake(workdir, profile, *args, **popen):
    """Snakemake with the profile, fjd from this checkout and no FJD_ROOT (the profile
    names the root)."""
    env = fjd_env()
    return subprocess.Popen(
        [PYTHON, "-m", "snakemake", "--profile", str(profile), "--jobs", "4",
         "--seconds-between-status-checks", "1"] + list(args),
        cwd=str(workdir), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, **popen)


def finish(process, timeout=400):
    out = process.communicate(timeout=timeout)[0].decode("utf-8", "replace")
    return process.returncode, out


@pytest.mark.slow
@needs_snakemake
def test_a_workflow_with_a_failing_rule_then_a_rerun(queue, tmp_path):
    queue.dispatcher()
    queue.worker()
    queue.worker()
    work = tmp_path / "wf"
    work.mkdir()
    (work / "Snakefile").write_text(WORKFLOW)
    (work / "fail-flag").write_text("")
    profile = profile_copy(tmp_path, queue.root)
    status, out = finish(snakemake(work, profile, "--keep-going"))
    assert status != 0, out
    assert "Error in rule work" in out, out
    assert not (work / "total.txt").exists() and not (work / "squared" / "7.txt").exists()
    assert sorted(os.listdir(str(work / "squared"))) == \
        sorted("%d.txt" % i for i in range(CHUNKS) if i != 7)
    assert len(queue.failed()) == 1 and "-snakejob.work." in queue.failed()[0]
    first_run = len(queue.done())
    assert first_run == 1 + (CHUNKS - 1) * 2, queue.done()
    os.unlink(str(work / "fail-flag"))
    status, out = finish(snakemake(work, profile))
    assert status == 0, out
    assert (work / "total.txt").read_text().strip() == str(sum((2 * i) ** 2
                                                               for i in range(CHUNKS)))
    assert len(queue.done()) == first_run + 3  # work 7, square 7, gather: nothing again
    assert queue.names("cancelled") == [] and queue.queued() == []


@pytest.mark.slow
@needs_snakemake
@pytest.mark.parametrize("whom", ["group", "snakemake"])
def test_ctrl_c_cancels_everything_snakemake_submitted(queue, tmp_path, whom):
    """whom: a terminal's Ctrl-C (SIGINT to Snakemake's whole process group, helpers
    included) or SIGINT to Snakemake alone."""
    queue.dispatcher()
    queue.worker()
    queue.worker()
    work = tmp_path / "wf"
    work.mkdir()
    (work / "Snakefile").write_text(SLOW_WORKFLOW)
    profile = profile_copy(tmp_path, queue.root)
    process = snakemake(work, profile, start_new_session=True)
    started = work / "started.log"
    try:
        wait_for(lambda: started.exists() and len(started.read_text().split()) >= 2, 120,
                 message="two jobs running")
        wait_for(lambda: len(os.listdir(queue.path("jobqueue"))) >= 1, 60,
                 message="jobs queued behind them")
        if whom == "group":
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        status, out = finish(process, 120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert status != 0
    result = subprocess.run([PYTHON, "-m", "fjd", "--root", queue.root, "wait", "--all",
                             "--timeout", "60"], env=fjd_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert result.returncode in (0, 1), result.stderr  # (nothing left: all cancelled)
    cancelled = queue.names("cancelled")
    assert len(cancelled) >= 3 and queue.done() == [] and queue.failed() == [], out
    ran = started.read_text().split()
    time.sleep(2)  # nothing of it may start afterwards
    (work / "gate").write_text("")
    time.sleep(1)
    assert started.read_text().split() == ran
    assert queue.queued() == [] and queue.in_inboxes() == []
    assert not list((work / "slow").glob("*.txt")) if (work / "slow").exists() else True


def test_the_sidecar_cancels_what_was_recorded_and_a_late_submit_cancels_itself(queue,
                                                                                tmp_path):
    """The profile's scripts without Snakemake: a job submitted through the sidecar's record
    is cancelled when the sidecar stops; one submitted after that cancels itself."""
    profile = profile_copy(tmp_path, queue.root)
    script = tmp_path / "snakejob.step.1.sh"
    script.write_text('#!/bin/sh\n# properties = {"threads": 1, "resources": {}}\ntrue\n')
    script.chmod(0o755)
    sidecar = subprocess.Popen([str(profile / "fjd-snakemake-sidecar")], env=fjd_env(),
                               stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        variables = sidecar.stdout.readline().decode().strip()
        env = fjd_env({"SNAKEMAKE_CLUSTER_SIDECAR_VARS": variables})

        def run(role, *args):
            return subprocess.run([str(profile / ("fjd-snakemake-" + role))] + list(args),
                                  env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        submitted = run("submit", str(script))
        name = submitted.stdout.decode().strip()
        assert submitted.returncode == 0 and name.endswith("-snakejob.step.1.sh"), submitted
        assert run("status", name).stdout == b"running\n"
        sidecar.send_signal(signal.SIGTERM)
        assert sidecar.wait(30) == 0
    finally:
        if sidecar.poll() is None:
            sidecar.kill()
    assert queue.names("cancelled") == [name]
    assert run("status", name).stdout == b"failed\n"
    late = run("submit", str(script))
    assert late.returncode == 1 and b"cancelled" in late.stderr and late.stdout == b""
    assert len(queue.names("cancelled")) == 2 and queue.queued() == []
