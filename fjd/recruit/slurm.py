"""Workers as one Slurm batch job: `sbatch` a script whose tasks each run one worker.

The workers stop a margin before the allocation's time limit (their --lifetime, asked of
Slurm when the job starts) and hand an unfinished job back to the queue, where the next
allocation's workers pick it up.
"""
import json
import os
import subprocess
import sys

from ..durations import slurm_seconds
from ..errors import RecruitError
from .local import child_env, log_dir_for

SBATCH_TIMEOUT = 120  # seconds


def default_margin(limit):
    if limit is None:
        return 120.0
    return float(min(300, max(30, limit // 10)))


BATCH_SCRIPT = '''#!%(python)s
"""fjd workers as a Slurm batch job (made by `fjd workers start --slurm`).

Each Slurm task runs one fjd worker. The workers stop --margin seconds before the
allocation's time limit (their --lifetime) and hand an unfinished job back to the queue.
"""
import json
import os
import re
import subprocess
import sys
import time

CONFIG = json.loads(%(config)r)


def seconds(text):
    match = re.match(r"(?:(\\d+)-)?(\\d+)(?::(\\d+))?(?::(\\d+))?\\Z", (text or "").strip())
    if not match:
        return None
    days, first, second, third = match.groups()
    numbers = [int(first)] + [int(x) for x in (second, third) if x is not None]
    if days is not None:
        h, m, s = (numbers + [0, 0])[:3]
        return int(days) * 86400 + h * 3600 + m * 60 + s
    if len(numbers) == 1:
        return numbers[0] * 60
    if len(numbers) == 2:
        return numbers[0] * 60 + numbers[1]
    return numbers[0] * 3600 + numbers[1] * 60 + numbers[2]


def time_left():
    """The controller's view of the time left in this job: SLURM_JOB_END_TIME where Slurm
    sets it (23.02 and later), else one squeue."""
    end = os.environ.get("SLURM_JOB_END_TIME", "")
    if end.isdigit() and int(end) > 0:
        return max(0, int(end) - int(time.time()))
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    try:
        out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%%L"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return seconds(out.stdout.decode("utf-8", "replace").strip())


def main():
    left = time_left()
    if left is None:
        left = CONFIG["limit"]
    argv = list(CONFIG["worker"])
    if left is not None:
        lifetime = left - CONFIG["margin"]
        if lifetime <= 0:
            lifetime = max(1.0, left / 2.0)
        argv += ["--lifetime", "%%g" %% lifetime]
        print("fjd: %%s s left in this allocation; workers stop after %%g s"
              %% (left, lifetime), flush=True)
    if CONFIG.get("marks"):  # each worker marks that it came up (fjd/allocation_marks.py)
        os.environ["FJD_REGISTERED_MARK"] = os.path.join(
            CONFIG["marks"], os.environ.get("SLURM_JOB_ID", "unknown"))
    srun = ["srun", "--kill-on-bad-exit=0"] + CONFIG["per_task"] + [
            "--output", CONFIG["task_log"], "--error", CONFIG["task_log"]] + argv
    print("fjd: running %%s" %% " ".join(srun), flush=True)
    os.execvp(srun[0], srun)


main()
'''


def allocation(cpus, gpus, memory):
    """The per-task options of sbatch and srun for workers of this shape."""
    options = ["--cpus-per-task=%d" % cpus]
    if gpus:
        options.append("--gpus-per-task=%d" % gpus)
    if memory:
        options.append("--mem-per-cpu=%dM" % max(1, -(-memory // (cpus * 2 ** 20))))
    return options


def start_slurm(layout, worker, count=None, nodes=None, cores_per_node=None, time_limit=None,
                margin=None, sbatch_options=(), python=None, log_dir=None, cwd=None,
                job_name="fjd-workers", shape=(1, 0, None), marks=None):
    """Submit the workers; returns (job id, margin in seconds). worker: the `fjd worker`
    command line each task runs; shape: (cores, GPUs, memory in bytes or None) of each
    task (`--cpus-per-task`, `--gpus-per-task`, `--mem-per-cpu`). RecruitError (status 2
    for bad options) otherwise. marks: a folder where the workers mark that they came up
    (allocation_marks.py)."""
    limit = slurm_seconds(time_limit) if time_limit else None
    if time_limit and limit is None:
        raise RecruitError("--time %s is not a Slurm time (MINUTES, HH:MM:SS or D-HH:MM:SS)"
                           % time_limit, 2)
    margin = margin if margin is not None else default_margin(limit)
    if limit is not None and margin >= limit:
        raise RecruitError("--margin %g s leaves no time in a %s limit" % (margin, time_limit),
                           2)
    if count is None and cores_per_node is None:
        raise RecruitError("say how many workers: N, or --cores-per-node C (C workers on each "
                           "of --nodes)", 2)
    layout.ensure()
    log_dir = log_dir_for(layout, log_dir)
    cwd = os.path.abspath(cwd) if cwd else os.getcwd()
    per_task = allocation(*shape)
    config = {"worker": list(worker), "limit": limit, "margin": margin,
              "task_log": os.path.join(log_dir, "slurm-%j-worker-%t.log"),
              "per_task": per_task, "marks": marks}
    sbatch = ["sbatch", "--parsable", "--job-name", job_name,
              "--output", os.path.join(log_dir, "slurm-%j.out"), "--chdir", cwd] + per_task
    for option, value in (("--nodes", nodes), ("--ntasks", count),
                          ("--ntasks-per-node", cores_per_node), ("--time", time_limit)):
        if value:
            sbatch += [option, str(value)]
    sbatch += list(sbatch_options)
    script = BATCH_SCRIPT % {"python": python or sys.executable, "config": json.dumps(config)}
    try:
        result = subprocess.run(sbatch, input=script.encode(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=child_env(),
                                timeout=SBATCH_TIMEOUT)
    except FileNotFoundError:
        raise RecruitError("sbatch not found: is this a Slurm login node?")
    except subprocess.TimeoutExpired:
        raise RecruitError("sbatch did not answer within %d s" % SBATCH_TIMEOUT)
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip() or "no message"
        raise RecruitError("sbatch failed (exit status %d): %s" % (result.returncode, message))
    job_id = result.stdout.decode().strip().split(";")[0]
    return job_id, margin, os.path.join(log_dir, "slurm-%s.out" % job_id)
