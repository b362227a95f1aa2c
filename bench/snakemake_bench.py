"""Snakemake on fjd (issue 31): a workflow of short jobs through contrib/snakemake (2 workers,
-j 2) against the same generic cluster executor with a trivial local backend (submit starts
the job script in the background and prints its pid; status looks at that pid), and the
median start-up time of `fjd submit --`, `fjd state` and `fjd cancel`.

    python3 bench/snakemake_bench.py                 # 200 jobs (the issue's size)
    python3 bench/snakemake_bench.py --jobs 10 --runs 5   # a smoke run

Targets: fjd's workflow time at most 1.2 times the local backend's; each command at most
100 ms on an idle machine. Needs snakemake and snakemake-executor-plugin-cluster-generic
(test/run_tests.sh installs them). Standard library only.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILE = os.path.join(REPO, "contrib", "snakemake")

SNAKEFILE = """
rule all:
    input: expand("out/{i}.txt", i=range(%d))

rule short:
    output: "out/{i}.txt"
    shell: "echo {wildcards.i} > {output}"
"""

LOCAL_SUBMIT = """#!/bin/sh
# the trivial backend: run the job script in the background, its pid is the job id
mkdir -p "$HOME_OF_BENCH/exit"
sh -c '"$0"; echo $? > "$HOME_OF_BENCH/exit/$$"' "$1" </dev/null >/dev/null 2>&1 &
echo $!
"""
LOCAL_STATUS = """#!/bin/sh
if [ -e "$HOME_OF_BENCH/exit/$1" ]; then
  [ "$(cat "$HOME_OF_BENCH/exit/$1")" = 0 ] && echo success || echo failed
elif kill -0 "$1" 2>/dev/null; then echo running
else echo failed
fi
"""
LOCAL_CANCEL = """#!/bin/sh
kill "$@" 2>/dev/null; exit 0
"""
COMMON = """executor: cluster-generic
max-status-checks-per-second: 50
seconds-between-status-checks: %s
latency-wait: 5
"""


def env_with_fjd(extra=None):
    env = dict(os.environ)
    env.pop("FJD_ROOT", None)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def fjd_argv(root, *args):
    return [sys.executable, "-m", "fjd", "--root", root] + list(args)


def local_profile(folder, check_every):
    os.makedirs(folder)
    for name, text in (("submit", LOCAL_SUBMIT), ("status", LOCAL_STATUS),
                       ("cancel", LOCAL_CANCEL)):
        path = os.path.join(folder, "local-" + name)
        with open(path, "w") as handle:
            handle.write(text)
        os.chmod(path, 0o755)
    with open(os.path.join(folder, "config.yaml"), "w") as handle:
        handle.write(COMMON % check_every + "cluster-generic-submit-cmd: local-submit\n"
                     "cluster-generic-status-cmd: local-status\n"
                     "cluster-generic-cancel-cmd: local-cancel\n")
    return folder


def fjd_profile(folder, root, check_every):
    shutil.copytree(PROFILE, folder, symlinks=True)
    path = os.path.join(folder, "config.yaml")
    with open(path) as handle:
        lines = [line for line in handle.read().splitlines()
                 if not line.startswith("seconds-between-status-checks:")]
    lines += ["# fjd-root: %s" % root, "seconds-between-status-checks: %s" % check_every]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return folder


def run_workflow(workdir, profile, jobs, env):
    """Seconds Snakemake took to run the workflow of jobs short jobs (-j 2)."""
    os.makedirs(workdir)
    with open(os.path.join(workdir, "Snakefile"), "w") as handle:
        handle.write(SNAKEFILE % jobs)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "snakemake", "--profile", profile,
                             "--jobs", "2", "--quiet", "all"], cwd=workdir, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit("snakemake failed in %s:\n%s" % (workdir, result.stdout.decode()[-3000:]))
    done = len(os.listdir(os.path.join(workdir, "out")))
    if done != jobs:
        sys.exit("snakemake made %d of %d outputs in %s" % (done, jobs, workdir))
    return seconds


def start_daemons(root, workers):
    os.makedirs(root)
    env = env_with_fjd()
    logs = open(os.path.join(root, "daemons.log"), "ab")
    daemons = [subprocess.Popen(fjd_argv(root, "dispatcher"), env=env, stdout=logs,
                                stderr=logs, stdin=subprocess.DEVNULL)]
    daemons += [subprocess.Popen(fjd_argv(root, "worker"), env=env, stdout=logs, stderr=logs,
                                 stdin=subprocess.DEVNULL) for _ in range(workers)]
    return daemons


def stop_daemons(daemons):
    for daemon in daemons:
        daemon.send_signal(signal.SIGTERM)
    for daemon in daemons:
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()


def median_ms(argv, runs, env, cwd):
    times = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.monotonic() - started)
    return statistics.median(times) * 1000


def startup_times(tmp, runs):
    """Median wall milliseconds of each per-job command (and of a bare interpreter)."""
    root = os.path.join(tmp, "startup-queue")
    os.makedirs(os.path.join(root, "jobqueue"))
    env = env_with_fjd()
    name = subprocess.run(fjd_argv(root, "submit", "--", "true"), env=env, cwd=tmp,
                          stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    found = {
        "python3 -c pass": median_ms([sys.executable, "-c", "pass"], runs, env, tmp),
        "fjd submit --": median_ms(fjd_argv(root, "submit", "--", "true"), runs, env, tmp),
        "fjd state": median_ms(fjd_argv(root, "state", name), runs, env, tmp),
        "fjd cancel": median_ms(fjd_argv(root, "cancel", name + "-none"), runs, env, tmp),
    }
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs in the workflow (200)")
    parser.add_argument("--workers", type=int, default=2, help="fjd workers (2)")
    parser.add_argument("--check-every", default="1",
                        help="Snakemake's seconds between status checks, both backends (1)")
    parser.add_argument("--runs", type=int, default=20, help="runs per start-up median (20)")
    parser.add_argument("--skip-workflow", action="store_true",
                        help="only the start-up times")
    options = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="fjd-snakemake-bench-")
    try:
        times = startup_times(tmp, options.runs)
        for label, ms in times.items():
            print("start-up median %-16s %6.1f ms%s" % (
                label, ms, "" if label.startswith("python") else
                "  (target <= 100 ms: %s)" % ("PASS" if ms <= 100 else "MISS")))
        if options.skip_workflow:
            return 0
        local = run_workflow(os.path.join(tmp, "wf-local"),
                             local_profile(os.path.join(tmp, "profile-local"),
                                           options.check_every),
                             options.jobs, env_with_fjd({"HOME_OF_BENCH": tmp}))
        root = os.path.join(tmp, "queue")
        daemons = start_daemons(root, options.workers)
        try:
            through_fjd = run_workflow(os.path.join(tmp, "wf-fjd"),
                                       fjd_profile(os.path.join(tmp, "profile-fjd"), root,
                                                   options.check_every),
                                       options.jobs, env_with_fjd())
        finally:
            stop_daemons(daemons)
        ratio = through_fjd / local
        print("snakemake, %d short jobs, -j 2: local backend %.1f s, fjd (%d workers) %.1f s"
              % (options.jobs, local, options.workers, through_fjd))
        print("ratio fjd / local backend: %.2f  (target <= 1.2: %s)"
              % (ratio, "PASS" if ratio <= 1.2 else "MISS"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
