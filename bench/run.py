#!/usr/bin/env python3
"""fjd benchmark harness: one command that measures fjd against its targets.

    python bench/run.py                      # everything, default sizes
    python bench/run.py --quick              # a smoke run with small numbers (~30 s)
    python bench/run.py --only throughput,latency --jobs 5000 --workers 2
    python bench/run.py --million 200000     # a smaller pre-filled queue
    python bench/run.py --only throughput --profile   # plus cProfile of the daemons

What it measures, each scenario in a fresh queue root under --tmp (default: the system
temp dir, which should be a local disk and not tmpfs), with the daemons started as
``python dispatcher.py --root R --log-level WARNING`` and ``python worker.py ...`` with
their default settings and stopped with SIGINT (killed if they hang):

throughput  N no-op jobs (``[control] executable: true``) through fjd with W workers, the
            same N commands through ``xargs -P W -n 1 true`` and ``parallel -j W true``
            (GNU parallel, installed with apt-get when missing); jobs/s and the ratios.
latency     single jobs dropped into an idle system; submit-to-start (median and p99).
idle        CPU used by an idle dispatcher and an idle worker over --idle-seconds.
million     a pre-filled queue of --million job files: the dispatcher's peak RSS
            (VmHWM), time until the first job starts, throughput of the first
            --million-sample jobs compared with the small-queue figure.
submit      ``fjd submit`` of a 100 x 1000 = 100,000-job sweep (reported as not
            available when ``python -m fjd submit --help`` fails).

It prints a table with PASS/MISS per target, writes bench/results/<date>.json and prints a
Markdown snippet for the README. Standard library only; Python 3.8+.

The harness only relies on fjd's public contract: the folders (jobqueue/, workerqueue/,
jobpod/, done/, failed/, records/), records/<name>.json with start_ts/end_ts, the daemon
command lines, and ``python -m fjd submit`` when it exists.
"""
import argparse
import io
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
JOB = b"[control]\nexecutable: true\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SCENARIOS = ("throughput", "latency", "idle", "submit", "million")

# The targets from the issue; "key" names the measured value in the results.
TARGETS = {
    "throughput": 1000.0,       # jobs/s, W=2, N=2000
    "vs_xargs": 0.5,            # fjd / xargs -P W
    "latency_median": 0.020,    # s
    "latency_p99": 0.100,       # s
    "idle_cpu": 1.0,            # % of one core, per daemon
    "million_rss_mb": 200.0,    # MB, dispatcher VmHWM with 10^6 queued
    "million_ratio": 0.8,       # throughput with 10^6 queued / small-queue throughput
    "submit_s": 10.0,           # s for a 100,000-job sweep
}

QUICK = dict(jobs=200, repeat=1, latency_samples=20, idle_seconds=3.0, million=5000,
             million_sample=1000, million_seconds=8.0, sweep="10x100")
DEFAULTS = dict(jobs=2000, repeat=3, latency_samples=200, idle_seconds=30.0, million=1000000,
                million_sample=20000, million_seconds=300.0, sweep="100x1000")


def say(text=""):
    """Progress goes to stderr; the results table goes to stdout."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# -- processes ------------------------------------------------------------------------------

def proc_stat_ticks(pid):
    """(utime+stime, cutime+cstime, utime, stime) of a live process in clock ticks, or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    # fields[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17
    utime, stime = int(fields[11]), int(fields[12])
    return utime + stime, int(fields[13]) + int(fields[14]), utime, stime


def proc_status_kb(pid, key):
    """A kB value such as VmHWM or VmRSS from /proc/<pid>/status; None if unavailable."""
    try:
        with open("/proc/%d/status" % pid) as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class Daemon:
    """A dispatcher or worker subprocess with its output in a log file."""

    def __init__(self, role, argv, log_path, cwd, env):
        self.role = role
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.hung = False
        self.stopped = False

    def alive(self):
        return self.proc.poll() is None

    def cpu_seconds(self):
        ticks = proc_stat_ticks(self.pid)
        if ticks is None:
            return None
        return tuple(t / CLK_TCK for t in ticks)

    def signal(self, sig=signal.SIGINT):
        if self.alive():
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def wait_or_kill(self, timeout):
        self.stopped = True
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.hung = True
            say("  ! %s (pid %d) did not stop within %.0f s of SIGINT: killing it"
                % (self.role, self.pid, timeout))
            self.proc.kill()
            return self.proc.wait()
        finally:
            self._log.close()

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def count_names(path):
    """Entries in a folder that are not dot-names; 0 if it is missing."""
    try:
        with os.scandir(path) as entries:
            return sum(1 for e in entries if not e.name.startswith("."))
    except FileNotFoundError:
        return 0


def dir_mtime(path):
    try:
        return os.stat(path).st_mtime_ns / 1e9
    except OSError:
        return None


class Scenario:
    """A fresh queue root in a temp folder, the daemons serving it, and their cleanup."""

    def __init__(self, opts, name):
        self.opts = opts
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="fjd-bench-%s-" % name, dir=opts.tmp)
        self.root = os.path.join(self.dir, "root")
        self.logs = os.path.join(self.dir, "logs")
        os.makedirs(os.path.join(self.root, "jobqueue"))
        os.makedirs(self.logs)
        self.daemons = []
        self.problems = []

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def env(self):
        env = dict(os.environ)
        env.pop("FJD_ROOT", None)
        return env

    def start(self, role, profile=None):
        argv = [self.opts.python]
        if profile:
            argv += ["-m", "cProfile", "-o", profile]
        argv += [os.path.join(self.opts.fjd, role + ".py"), "--root", self.root,
                 "--log-level", "WARNING"]
        log_path = os.path.join(self.logs, "%s-%d.log" % (role, len(self.daemons)))
        daemon = Daemon(role, argv, log_path, self.dir, self.env())
        self.daemons.append(daemon)
        return daemon

    def dispatcher(self, profile=None):
        return self.start("dispatcher", profile)

    def worker(self, profile=None):
        return self.start("worker", profile)

    def workers(self):
        return [d for d in self.daemons if d.role == "worker"]

    def wait_announced(self, count, timeout=30.0):
        """Until `count` workers have announced themselves idle in workerqueue/."""
        deadline = time.monotonic() + timeout
        while count_names(self.path("workerqueue")) < count:
            self.check_alive()
            if time.monotonic() > deadline:
                raise BenchError("%s: only %d of %d workers announced within %.0f s"
                                 % (self.name, count_names(self.path("workerqueue")), count,
                                    timeout))
            time.sleep(0.02)

    def wait_idle(self, workers):
        """Workers announced and every daemon past its start-up: an idle system."""
        self.wait_announced(workers)
        time.sleep(self.opts.settle)
        self.check_alive()

    def check_alive(self):
        for daemon in self.daemons:
            if not daemon.alive():
                raise BenchError("%s: %s exited early with status %s:\n%s"
                                 % (self.name, daemon.role, daemon.proc.returncode,
                                    daemon.log_tail()))

    def finished(self):
        return count_names(self.path("done")) + count_names(self.path("failed"))

    def wait_finished(self, total, timeout, poll):
        """Poll done/ + failed/ until `total` jobs are there; (reached, wall time seen)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.finished() >= total:
                return True, time.time()
            if time.monotonic() > deadline:
                return False, time.time()
            self.check_alive()
            time.sleep(poll)

    def stop(self):
        for daemon in self.daemons:
            if not daemon.stopped:
                daemon.signal(signal.SIGINT)
        for daemon in self.daemons:
            if not daemon.stopped:
                status = daemon.wait_or_kill(self.opts.stop_timeout)
                if daemon.hung:
                    self.problems.append("%s pid %d hung on SIGINT and was killed"
                                         % (daemon.role, daemon.pid))
                elif status not in (0, None):
                    self.problems.append("%s pid %d exited with status %s after SIGINT"
                                         % (daemon.role, daemon.pid, status))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        for problem in self.problems:
            say("  ! %s: %s" % (self.name, problem))
        if self.opts.keep:
            say("  kept %s" % self.dir)
        else:
            remove_later(self.dir)
        return False


LEFTOVERS = []  # folders to remove once everything is measured
SLOW_CREATE_US = 150.0  # creating a small file costs 15-30 µs on a quiet local disk


def warn_if_slow_create(where, microseconds):
    """Say so when creating a file costs far more than on a quiet disk (see remove_later)."""
    if microseconds and microseconds > SLOW_CREATE_US:
        say("%s: creating a file costs %.0f µs, not the usual 15-30: many files were probably "
            "deleted nearby in the last minutes, and ext4 without a journal skips their inodes "
            "one by one on every creation for a few minutes. Every file-based queue pays this; "
            "wait a few minutes, or use --tmp elsewhere, for quiet-disk numbers."
            % (where, microseconds))


def remove_later(folder):
    """Queue a folder for removal at the end of the run, not now.

    On ext4 without a journal the kernel avoids reusing the inodes of recently deleted files
    and checks each of them, one by one, on every file creation in that block group: on this
    machine creating a file cost 18 µs before 6,000 files were deleted in its folder, 614 µs
    20 s after and still 154 µs 150 s after. Removing each scenario's queue right away would
    slow every later scenario this way, so the harness deletes nothing until the end.
    """
    LEFTOVERS.append(folder)


def remove_leftovers():
    if LEFTOVERS:
        say("removing the %d temporary queue folders ..." % len(LEFTOVERS))
    while LEFTOVERS:
        shutil.rmtree(LEFTOVERS.pop(), ignore_errors=True)


class BenchError(Exception):
    pass


def write_jobs(folder, names, data=JOB):
    """Write job files the safe way (dot-name, then rename), as fast as Python can.

    Returns the seconds it took. The rename is what makes a job visible to the dispatcher.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    opn, wrt, cls, ren = os.open, os.write, os.close, os.rename
    try:
        started = time.monotonic()
        for name in names:
            tmp = "." + name + ".tmp"
            fd = opn(tmp, flags, 0o644, dir_fd=dir_fd)
            wrt(fd, data)
            cls(fd)
            ren(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return time.monotonic() - started
    finally:
        os.close(dir_fd)


def stage_jobs(folder, names, data=JOB):
    """Write job files under their temporary dot-names only (the dispatcher ignores them)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            fd = os.open("." + name + ".tmp", flags, 0o644, dir_fd=dir_fd)
            os.write(fd, data)
            os.close(fd)
    finally:
        os.close(dir_fd)


def publish_jobs(folder, names):
    """Rename staged dot-names to their job names; returns the seconds it took."""
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    ren = os.rename
    try:
        started = time.monotonic()
        for name in names:
            ren("." + name + ".tmp", name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return time.monotonic() - started
    finally:
        os.close(dir_fd)


def read_records(records_dir):
    """All records/<name>.json as dicts (unreadable ones skipped)."""
    found = []
    try:
        entries = [e.name for e in os.scandir(records_dir) if e.name.endswith(".json")]
    except FileNotFoundError:
        return found
    for name in entries:
        try:
            with open(os.path.join(records_dir, name), "rb") as handle:
                found.append(json.loads(handle.read().decode("utf-8", "replace")))
        except (OSError, ValueError):
            continue
    return found


def record_breakdown(records):
    """Where a job's time goes, from the records: run+filing time and gaps between jobs."""
    by_worker = {}
    for record in records:
        start, end = record.get("start_ts"), record.get("end_ts")
        if isinstance(start, (int, float)) and isinstance(end, (int, float)):
            by_worker.setdefault(record.get("worker"), []).append((start, end))
    durations, gaps = [], []
    for spans in by_worker.values():
        spans.sort()
        durations += [end - start for start, end in spans]
        gaps += [spans[i + 1][0] - spans[i][1] for i in range(len(spans) - 1)]
    result = {"workers_seen": len(by_worker), "jobs_with_times": len(durations)}
    if durations:
        result["run_ms_median"] = statistics.median(durations) * 1000
        result["run_ms_mean"] = statistics.mean(durations) * 1000
    if gaps:
        result["gap_ms_median"] = statistics.median(gaps) * 1000
        result["gap_ms_mean"] = statistics.mean(gaps) * 1000
    return result


def percentile(values, fraction):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, int(math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


# -- scenario: throughput -------------------------------------------------------------------

def fjd_throughput_once(opts, n, workers, profile_prefix=None, prewritten=False):
    """One fjd run: daemons idle, submit n jobs, until all n are in done/ or failed/.

    prewritten: the files are written under dot-names before the clock starts, and
    submitting is only the n renames (fjd's own capacity, without the cost of creating files).
    """
    with Scenario(opts, "throughput") as sc:
        sc.dispatcher(profile_prefix + "-dispatcher.prof" if profile_prefix else None)
        for i in range(workers):
            sc.worker(profile_prefix + "-worker%d.prof" % i if profile_prefix else None)
        sc.wait_idle(workers)
        cpu_before = {d.pid: d.cpu_seconds() for d in sc.daemons}
        names = ["job%07d.conf" % i for i in range(n)]
        stage_us = None
        if prewritten:
            staged_at = time.monotonic()
            stage_jobs(sc.path("jobqueue"), names)
            stage_us = (time.monotonic() - staged_at) / max(1, n) * 1e6
            warn_if_slow_create("  ! this run's queue", stage_us)
            time.sleep(opts.settle)
        t0 = time.time()
        if prewritten:
            submit_s = publish_jobs(sc.path("jobqueue"), names)
        else:
            submit_s = write_jobs(sc.path("jobqueue"), names)
        timeout = max(120.0, n / 5.0)
        reached, seen = sc.wait_finished(n, timeout, 0.02 if n <= 5000 else 0.1)
        cpu_after = {d.pid: d.cpu_seconds() for d in sc.daemons}
        done = count_names(sc.path("done"))
        failed = count_names(sc.path("failed"))
        # the last rename into done/ (or failed/) is the folder's mtime; polling is the fallback
        last = max([t for t in (dir_mtime(sc.path("done")) if done else None,
                                dir_mtime(sc.path("failed")) if failed else None)
                    if t is not None] or [seen])
        if not reached or last < t0 or last > seen + 0.001:
            last = seen
        elapsed = last - t0
        cpu = {"dispatcher": 0.0, "dispatcher_sys": 0.0, "workers": 0.0, "workers_sys": 0.0,
               "jobs": 0.0}
        for d in sc.daemons:
            before, after = cpu_before.get(d.pid), cpu_after.get(d.pid)
            if before and after:
                key = "dispatcher" if d.role == "dispatcher" else "workers"
                cpu[key] += after[0] - before[0]
                cpu[key + "_sys"] += after[3] - before[3]
                cpu["jobs"] += after[1] - before[1]
        records = read_records(sc.path("records")) if reached else []
    result = {"jobs": n, "workers": workers, "done": done, "failed": failed,
              "prewritten": prewritten,
              "completed": reached, "seconds": elapsed, "submit_seconds": submit_s,
              "stage_us_per_file": stage_us,
              "jobs_per_s": (done + failed) / elapsed if elapsed > 0 else None,
              "cpu_ms_per_job": {k: v * 1000 / max(1, done + failed) for k, v in cpu.items()},
              "breakdown": record_breakdown(records)}
    if records:
        starts = [r["start_ts"] for r in records if isinstance(r.get("start_ts"), (int, float))]
        if starts:
            result["first_start_after_s"] = min(starts) - t0
    if not reached:
        result["jobs_per_s"] = None
        say("  ! fjd: only %d of %d jobs finished within %.0f s" % (done + failed, n, timeout))
    if failed:
        say("  ! fjd: %d of %d no-op jobs failed (see records/)" % (failed, n))
    return result


def xargs_once(n, workers):
    data = "".join("job%07d.conf\n" % i for i in range(n)).encode()
    started = time.monotonic()
    proc = subprocess.run(["xargs", "-P", str(workers), "-n", "1", "true"], input=data,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise BenchError("xargs exited with %d: %s" % (proc.returncode, proc.stderr[-500:]))
    return {"jobs": n, "seconds": elapsed, "jobs_per_s": n / elapsed}


def memory_folder():
    """A tmpfs folder (/dev/shm) if there is one, else None."""
    fstype, _, _ = filesystem_of("/dev/shm")
    return "/dev/shm" if fstype == "tmpfs" and os.access("/dev/shm", os.W_OK) else None


def parallel_once(n, workers):
    """GNU parallel with its defaults, except that its temporary files (two per job, created
    and deleted at once) go to tmpfs when there is one: deleted on the disk they would slow
    the file creations of the runs after it (see remove_later), and tmpfs costs parallel
    nothing."""
    data = "".join("job%07d.conf\n" % i for i in range(n)).encode()
    env = dict(os.environ)
    shm = memory_folder()
    if shm:
        env["TMPDIR"] = shm
    started = time.monotonic()
    proc = subprocess.run(["parallel", "--will-cite", "-j", str(workers), "true"], input=data,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise BenchError("parallel exited with %d: %s" % (proc.returncode, proc.stderr[-500:]))
    return {"jobs": n, "seconds": elapsed, "jobs_per_s": n / elapsed}


def gnu_parallel_version():
    """The first line of `parallel --version` if it is GNU parallel, else None."""
    if not shutil.which("parallel"):
        return None
    try:
        proc = subprocess.run(["parallel", "--version"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = proc.stdout.decode("utf-8", "replace").strip().splitlines()[:1]
    if proc.returncode == 0 and first and "GNU parallel" in first[0]:
        return first[0]
    return None  # e.g. moreutils' parallel, which is a different program


def ensure_gnu_parallel(opts):
    """GNU parallel's version line, installing the Debian package when missing and allowed."""
    version = gnu_parallel_version()
    if version or opts.no_install:
        return version, (None if version else "not installed (--no-install)")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "not installed; install it with: sudo apt-get install parallel"
    say("GNU parallel is missing: apt-get update && apt-get install -y parallel")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "parallel"]):
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env=env)
        if proc.returncode != 0:
            tail = proc.stdout.decode("utf-8", "replace").strip().splitlines()[-3:]
            return None, "apt-get failed: %s" % " / ".join(tail)
    version = gnu_parallel_version()
    return version, (None if version else "installed, but `parallel` is not GNU parallel")


HYPERQUEUE_VENV = os.path.join(os.environ.get("XDG_CACHE_HOME") or
                               os.path.join(os.path.expanduser("~"), ".cache"),
                               "fjd-bench", "hyperqueue-venv")


def hyperqueue_python():
    """The Python of HYPERQUEUE_VENV if `import hyperqueue` works there, else None."""
    python = os.path.join(HYPERQUEUE_VENV, "bin", "python")
    if not os.path.exists(python):
        return None
    proc = subprocess.run([python, "-c", "import hyperqueue"], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return python if proc.returncode == 0 else None


def ensure_hyperqueue(opts):
    """(python, None) with HyperQueue importable, or (None, why not).

    HyperQueue is not packaged in Debian; its PyPI package `hyperqueue` embeds the server
    and the worker, so it is installed into a virtual environment of its own
    (HYPERQUEUE_VENV, in the user's cache folder) when missing; pip needs to reach PyPI.
    """
    python = hyperqueue_python()
    if python or opts.no_install:
        return python, (None if python else "not installed (--no-install)")
    say("HyperQueue is missing: pip install hyperqueue into %s" % HYPERQUEUE_VENV)
    steps = ([sys.executable, "-m", "venv", HYPERQUEUE_VENV],
             [os.path.join(HYPERQUEUE_VENV, "bin", "python"), "-m", "pip", "install", "-q",
              "--disable-pip-version-check", "--retries", "1", "--timeout", "20",
              "hyperqueue"])
    for argv in steps:
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as error:
            return None, "installing it failed: %s" % error
        if proc.returncode != 0:
            tail = proc.stdout.decode("utf-8", "replace").strip().splitlines()[-2:]
            return None, "installing it failed: %s" % " / ".join(tail)
    python = hyperqueue_python()
    return python, (None if python else "installed, but `import hyperqueue` fails")


def hyperqueue_once(opts, python, n, workers):
    """N no-op tasks through HyperQueue's embedded server and one worker with W cores."""
    with Scenario(opts, "hyperqueue") as sc:
        proc = subprocess.run([python, os.path.join(HERE, "hyperqueue_run.py"), str(n),
                               str(workers), os.path.join(sc.dir, "server")],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, cwd=sc.dir, timeout=max(120, n / 5.0))
    if proc.returncode != 0:
        raise BenchError("HyperQueue run exited with %d: %s"
                         % (proc.returncode, proc.stderr.decode("utf-8", "replace")[-500:]))
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def summarise_runs(runs):
    rates = [r["jobs_per_s"] for r in runs if r.get("jobs_per_s")]
    if not rates:
        return {"runs": runs, "median": None, "best": None}
    return {"runs": runs, "median": statistics.median(rates), "best": max(rates)}


def scenario_throughput(opts, results):
    n, w = opts.jobs, opts.workers
    version, why = ensure_gnu_parallel(opts)
    hq_python, hq_why = ensure_hyperqueue(opts)
    results["tools"] = {"gnu_parallel": version or ("not available: %s" % why),
                        "xargs": first_line(["xargs", "--version"]),
                        "hyperqueue": None if hq_python else "not available: %s" % hq_why}
    say("throughput: %d no-op jobs, %d workers, %d repetition(s); GNU parallel: %s; "
        "HyperQueue: %s" % (n, w, opts.repeat, version or why,
                            "PyPI package" if hq_python else hq_why))
    fjd_runs, xargs_runs, parallel_runs, pre_runs, hq_runs = [], [], [], [], []
    for k in range(opts.repeat):
        fjd_runs.append(fjd_throughput_once(opts, n, w))
        pre_runs.append(fjd_throughput_once(opts, n, w, prewritten=True))
        xargs_runs.append(xargs_once(n, w))
        if version:
            parallel_runs.append(parallel_once(n, w))
        if hq_python:
            try:
                hq_runs.append(hyperqueue_once(opts, hq_python, n, w))
                results["tools"]["hyperqueue"] = "HyperQueue %s (PyPI)" % hq_runs[-1]["version"]
            except (BenchError, ValueError, IndexError, subprocess.TimeoutExpired) as error:
                say("  ! HyperQueue: %s" % error)
                results["tools"]["hyperqueue"] = "failed: %s" % error
                hq_python = None
        say("  run %d: fjd %s jobs/s (submit %.3f s), fjd with pre-written files %s jobs/s, "
            "xargs -P%d %.0f jobs/s%s%s"
            % (k + 1, fmt_num(fjd_runs[-1]["jobs_per_s"]), fjd_runs[-1]["submit_seconds"],
               fmt_num(pre_runs[-1]["jobs_per_s"]), w,
               xargs_runs[-1]["jobs_per_s"],
               ", parallel -j%d %.0f jobs/s" % (w, parallel_runs[-1]["jobs_per_s"])
               if version else "",
               ", HyperQueue %s jobs/s" % fmt_num(hq_runs[-1]["jobs_per_s"])
               if hq_python else ""))
    out = {"jobs": n, "workers": w, "repeat": opts.repeat,
           "fjd": summarise_runs(fjd_runs), "fjd_prewritten": summarise_runs(pre_runs),
           "xargs": summarise_runs(xargs_runs),
           "parallel": summarise_runs(parallel_runs) if version else None,
           "hyperqueue": summarise_runs(hq_runs) if hq_runs else None}
    fjd_median = out["fjd"]["median"]
    out["ratio_vs_xargs"] = ratio(fjd_median, out["xargs"]["median"])
    out["ratio_vs_parallel"] = ratio(fjd_median, out["parallel"]["median"]) if version else None
    out["ratio_vs_hyperqueue"] = (ratio(fjd_median, out["hyperqueue"]["median"])
                                  if hq_runs else None)
    out["submit_seconds_median"] = statistics.median(r["submit_seconds"] for r in fjd_runs)
    results["throughput"] = out


def ratio(a, b):
    return a / b if a and b else None


def first_line(argv, env=None):
    """The first line a command prints, or None when it fails."""
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=30, env=env)
        if proc.returncode != 0:
            return None
        return proc.stdout.decode("utf-8", "replace").strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return None


# -- profile ---------------------------------------------------------------------------------

def scenario_profile(opts, results, stamp):
    """One throughput run with the daemons under cProfile; top functions printed and saved."""
    import pstats
    prefix = os.path.join(opts.results_dir, "%s-profile" % stamp)
    say("profile: one fjd run of %d jobs with the daemons under cProfile" % opts.jobs)
    run = fjd_throughput_once(opts, opts.jobs, opts.workers, profile_prefix=prefix)
    files = {"dispatcher": [prefix + "-dispatcher.prof"],
             "workers": [prefix + "-worker%d.prof" % i for i in range(opts.workers)]}
    header = ("cProfile of one fjd throughput run: %d jobs, %d workers, %s jobs/s under the "
              "profiler (wall-clock times; they include ~%.1f s idle before the submission)\n"
              % (opts.jobs, opts.workers, fmt_num(run["jobs_per_s"]), opts.settle))
    summary, full = io.StringIO(), io.StringIO()
    summary.write(header)
    full.write(header)
    for role, paths in files.items():
        paths = [p for p in paths if os.path.exists(p)]
        if not paths:
            summary.write("\n%s: no profile written (did it exit cleanly on SIGINT?)\n" % role)
            continue
        stats = pstats.Stats(paths[0], stream=full)
        for extra in paths[1:]:
            stats.add(extra)
        stats.strip_dirs()
        total = stats.total_tt or 1e-9
        summary.write("\n%s (%d process(es), %.2f s profiled in all): top %d by own time\n"
                      % (role, len(paths), total, opts.profile_top))
        summary.write("  %9s %6s %8s %9s  %s\n" % ("own s", "own %", "calls", "cum s",
                                                  "function"))
        ranked = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)
        for (filename, line, func), (cc, nc, tt, ct, callers) in ranked[:opts.profile_top]:
            where = short_func((filename, line, func))
            summary.write("  %9.3f %5.1f%% %8d %9.3f  %s\n" % (tt, tt / total * 100, nc, ct,
                                                               where))
        summary.write("  where the top %d are called from (calls, own s):\n" % opts.profile_callers)
        for key, value in ranked[:opts.profile_callers]:
            callers = sorted(value[4].items(), key=lambda kv: kv[1][2], reverse=True)
            summary.write("    %s <- %s\n" % (
                short_func(key), "; ".join("%s (%d, %.3f)" % (short_func(c), v[1], v[2])
                                           for c, v in callers[:4]) or "-"))
        for order in ("tottime", "cumulative"):
            full.write("\n===== %s (%d file(s)), top %d by %s =====\n"
                       % (role, len(paths), max(40, opts.profile_top), order))
            stats.sort_stats(order).print_stats(max(40, opts.profile_top))
    text = summary.getvalue()
    with open(prefix + ".txt", "w") as handle:
        handle.write(text + "\n\n" + full.getvalue())
    text += "\n(full pstats tables: %s; load the .prof files with python -m pstats)\n" % (
        prefix + ".txt")
    results["profile"] = {"run": run, "files": files, "summary": prefix + ".txt"}
    return text


def short_func(key):
    filename, line, func = key
    return func if filename == "~" else "%s:%d(%s)" % (filename, line, func)


# -- scenario: latency -----------------------------------------------------------------------

def scenario_latency(opts, results):
    samples = opts.latency_samples
    say("latency: %d single jobs into an idle system (%d workers), 20-100 ms apart"
        % (samples, opts.workers))
    rng = random.Random(20120101)
    latencies, end_to_end, lost = [], [], 0
    with Scenario(opts, "latency") as sc:
        sc.dispatcher()
        for _ in range(opts.workers):
            sc.worker()
        sc.wait_idle(opts.workers)
        jobqueue = sc.path("jobqueue")
        for i in range(samples):
            time.sleep(rng.uniform(0.020, 0.100))
            name = "lat%05d.conf" % i
            tmp = os.path.join(jobqueue, "." + name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, JOB)
            os.close(fd)
            targets = (sc.path("done", name), sc.path("failed", name))
            before = time.time()
            os.rename(tmp, os.path.join(jobqueue, name))
            deadline = time.monotonic() + 30.0
            while not (os.path.lexists(targets[0]) or os.path.lexists(targets[1])):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.002)
            seen = time.time()
            try:
                with open(sc.path("records", name + ".json"), "rb") as handle:
                    record = json.loads(handle.read().decode())
                latencies.append(record["start_ts"] - before)
                end_to_end.append(seen - before)
            except (OSError, ValueError, KeyError):
                lost += 1
                sc.check_alive()
                say("  ! latency sample %d: no record within 30 s" % i)
    out = {"samples": samples, "measured": len(latencies), "lost": lost,
           "workers": opts.workers}
    if latencies:
        out.update(median=statistics.median(latencies), p99=percentile(latencies, 0.99),
                   min=min(latencies), max=max(latencies),
                   end_to_end_median=statistics.median(end_to_end),
                   end_to_end_p99=percentile(end_to_end, 0.99))
    results["latency"] = out


# -- scenario: idle CPU ----------------------------------------------------------------------

def scenario_idle(opts, results):
    seconds = opts.idle_seconds
    say("idle: CPU of an idle dispatcher and %d idle worker(s) over %g s"
        % (opts.workers, seconds))
    with Scenario(opts, "idle") as sc:
        dispatcher = sc.dispatcher()
        for _ in range(opts.workers):
            sc.worker()
        sc.wait_idle(opts.workers)
        time.sleep(1.0)  # let start-up work (imports, first listings) pass
        before = {d.pid: d.cpu_seconds() for d in sc.daemons}
        started = time.monotonic()
        time.sleep(seconds)
        after = {d.pid: d.cpu_seconds() for d in sc.daemons}
        wall = time.monotonic() - started
        sc.check_alive()
        percent = {}
        for d in sc.daemons:
            percent[d.pid] = (after[d.pid][0] - before[d.pid][0]) / wall * 100.0
        workers = [percent[w.pid] for w in sc.workers()]
        out = {"seconds": wall, "clock_ticks_per_s": CLK_TCK,
               "dispatcher_percent": percent[dispatcher.pid],
               "worker_percent": workers[0] if workers else None,
               "all_workers_percent": workers,
               "queued": count_names(sc.path("jobqueue"))}
    results["idle"] = out


# -- scenario: fjd submit --------------------------------------------------------------------

def fjd_env(opts):
    env = dict(os.environ)
    env.pop("FJD_ROOT", None)
    extra = env.get("PYTHONPATH")
    env["PYTHONPATH"] = opts.fjd + (os.pathsep + extra if extra else "")
    return env


def parse_sweep(text):
    match = re.match(r"^\s*(\d+)\s*[xX*]\s*(\d+)\s*$", text)
    if not match:
        raise argparse.ArgumentTypeError("%r is not a sweep shape such as 100x1000" % text)
    return int(match.group(1)), int(match.group(2))


def submit_argvs(help_text, root, a, b):
    """Candidate `fjd submit` command lines for an a x b sweep, best guess first.

    The documented form is ``fjd submit --exe CMD --param name=v1,v2,...``; a range form
    such as ``name=0..99`` is used when the --help shows one (its end may be inclusive or
    exclusive: the caller checks the job count and tries the next candidate).
    """
    exe_opt = "--exe"
    if "--exe" not in help_text:
        found = re.search(r"(--exec\w*|--executable|--command|--cmd)\b", help_text)
        exe_opt = found.group(1) if found else "--exe"
    root_args = ["--root", root] if "--root" in help_text else []
    base = ["submit"] + root_args + [exe_opt, "true"]
    candidates = []
    if re.search(r"\w=-?\d+\.\.-?\d+", help_text) or re.search(r"\d\.\.\d", help_text):
        candidates.append(("range, inclusive end", base + ["--param", "a=0..%d" % (a - 1),
                                                           "--param", "b=0..%d" % (b - 1)]))
        candidates.append(("range, exclusive end", base + ["--param", "a=0..%d" % a,
                                                           "--param", "b=0..%d" % b]))
    candidates.append(("comma lists", base + ["--param", "a=" + ",".join(map(str, range(a))),
                                              "--param", "b=" + ",".join(map(str, range(b)))]))
    return candidates


def scenario_submit(opts, results):
    a, b = opts.sweep
    total = a * b
    env = fjd_env(opts)
    probe = subprocess.run([opts.python, "-m", "fjd", "submit", "--help"], cwd=opts.fjd, env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    if probe.returncode != 0:
        say("submit: `python -m fjd submit --help` exited with %d: not available"
            % probe.returncode)
        results["submit"] = {"available": False, "sweep": total,
                             "why": "`python -m fjd submit --help` exited with %d"
                                    % probe.returncode}
        return
    help_text = probe.stdout.decode("utf-8", "replace")
    say("submit: fjd submit of a %d x %d = %d-job sweep" % (a, b, total))
    tried = []
    for label, args in submit_argvs(help_text, "ROOT", a, b):
        with Scenario(opts, "submit") as sc:
            args = [sc.root if x == "ROOT" else x for x in args]
            argv = [opts.python, "-m", "fjd"] + args
            env_run = dict(env, FJD_ROOT=sc.root)
            with open(os.path.join(sc.logs, "submit.log"), "wb") as log:
                started = time.monotonic()
                proc = subprocess.run(argv, cwd=sc.root, env=env_run, stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=subprocess.STDOUT,
                                      timeout=max(600.0, total / 100.0))
                elapsed = time.monotonic() - started
            queued = count_names(sc.path("jobqueue"))
            with open(os.path.join(sc.logs, "submit.log"), "rb") as log:
                tail = log.read()[-600:].decode("utf-8", "replace")
        shown = shorten_argv(argv)
        tried.append({"form": label, "argv": shown, "exit": proc.returncode,
                      "seconds": elapsed, "queued": queued})
        if proc.returncode == 0 and queued == total:
            say("  %s: %.2f s for %d jobs" % (label, elapsed, queued))
            results["submit"] = {"available": True, "sweep": total, "shape": [a, b],
                                 "seconds": elapsed, "jobs_per_s": total / elapsed,
                                 "form": label, "argv": shown, "tried": tried,
                                 "raw_write_seconds": raw_write_floor(opts, total)}
            return
        say("  %s: exit %d, %d jobs queued (wanted %d)%s"
            % (label, proc.returncode, queued, total,
               (": " + tail.strip().splitlines()[-1]) if tail.strip() else ""))
    results["submit"] = {"available": True, "sweep": total, "seconds": None, "tried": tried,
                         "why": "no command form made exactly %d jobs" % total}


def raw_write_floor(opts, total):
    """The harness's own safe write of as many job files: what the filesystem allows."""
    with Scenario(opts, "submit-floor") as sc:
        seconds = write_jobs(sc.path("jobqueue"), ["job%07d.conf" % i for i in range(total)])
    say("  the same number of files written by the harness itself: %.2f s" % seconds)
    return seconds


def shorten_argv(argv):
    out = []
    for arg in argv:
        if len(arg) > 60:
            arg = arg[:40] + "...(%d chars)" % len(arg)
        out.append(arg)
    return " ".join(out)


# -- scenario: a million queued jobs ---------------------------------------------------------

def prefilled_run(opts, total, sample, name, max_seconds):
    """Write `total` job files, start the workers, then the dispatcher; run `sample` jobs.

    Returns the dispatcher's peak RSS, the time until the first job started and the
    throughput of the first `sample` jobs from the first start to the sample-th end (from
    the records), with and without the dispatcher's start-up.
    """
    with Scenario(opts, name) as sc:
        jobqueue = sc.path("jobqueue")
        write_s = 0.0
        chunk = 100000
        for first in range(0, total, chunk):
            names = ["job%07d.conf" % i for i in range(first, min(total, first + chunk))]
            write_s += write_jobs(jobqueue, names)
            if total > chunk:
                say("  %d written (%.0f files/s)" % (first + len(names),
                                                     (first + len(names)) / write_s))
        for _ in range(opts.workers):
            sc.worker()
        sc.wait_announced(opts.workers)
        time.sleep(opts.settle)
        t0 = time.time()
        dispatcher = sc.dispatcher()
        peak_rss_seen = 0
        reached = False
        while True:
            rss = proc_status_kb(dispatcher.pid, "VmRSS") or 0
            peak_rss_seen = max(peak_rss_seen, rss)
            finished = sc.finished()
            if finished >= sample:
                reached = True
                break
            waited = time.time() - t0
            if waited > max_seconds + 60 or (finished and waited > max_seconds):
                break
            sc.check_alive()
            time.sleep(0.1 if sample > 5000 else 0.02)
        hwm = proc_status_kb(dispatcher.pid, "VmHWM")
        rss_end = proc_status_kb(dispatcher.pid, "VmRSS")
        cpu = {}
        for d in sc.daemons:
            used = d.cpu_seconds()
            if used:
                key = "dispatcher" if d.role == "dispatcher" else "workers"
                cpu[key] = cpu.get(key, 0.0) + used[0]
                cpu["jobs"] = cpu.get("jobs", 0.0) + used[1]
        sc.stop()
        records = read_records(sc.path("records"))
    starts = sorted(r["start_ts"] for r in records if isinstance(r.get("start_ts"), (int, float)))
    ends = sorted(r["end_ts"] for r in records if isinstance(r.get("end_ts"), (int, float)))
    out = {"queued": total, "write_seconds": write_s, "write_files_per_s": total / write_s,
           "sample_target": sample, "completed_sample": reached, "workers": opts.workers,
           "dispatcher_peak_rss_mb": hwm / 1024.0 if hwm else None,
           "dispatcher_rss_end_mb": rss_end / 1024.0 if rss_end else None,
           "dispatcher_peak_rss_polled_mb": peak_rss_seen / 1024.0,
           "loadavg_after": list(os.getloadavg()), "breakdown": record_breakdown(records),
           "cpu_ms_per_job_incl_startup": {k: v * 1000 / max(1, len(ends))
                                           for k, v in cpu.items()}}
    if starts and ends:
        count = min(sample, len(ends))
        last = ends[count - 1]
        out["jobs_counted"] = count
        out["first_start_after_s"] = starts[0] - t0
        out["seconds_from_first_start"] = last - starts[0]
        out["jobs_per_s"] = count / (last - starts[0]) if last > starts[0] else None
        out["jobs_per_s_incl_startup"] = count / (last - t0) if last > t0 else None
    return out


def scenario_million(opts, results, small_queue_rate):
    """The big pre-filled queue, between two small pre-filled queues run the same way."""
    total, sample = opts.million, min(opts.million_sample, opts.million)
    need_inodes, need_bytes = int(total * 1.05) + 1000, total * 4096 * 2
    vfs = os.statvfs(opts.tmp)
    if vfs.f_favail and vfs.f_favail < need_inodes or vfs.f_bavail * vfs.f_frsize < need_bytes:
        say("million: not enough room in %s for %d files" % (opts.tmp, total))
        results["million"] = {"queued": total, "skipped": "not enough free inodes or space"}
        return
    small = opts.jobs
    controls = []
    say("million: control before: a pre-filled queue of %d jobs, run the same way" % small)
    controls.append(prefilled_run(opts, small, small, "prefilled-small", opts.million_seconds))
    say("million: writing %d job files into jobqueue/ before the dispatcher starts" % total)
    say("  then starting the workers and the dispatcher; running the first %d jobs "
        "(at most %.0f s)" % (sample, opts.million_seconds))
    out = prefilled_run(opts, total, sample, "million", opts.million_seconds)
    say("million: control after: a pre-filled queue of %d jobs" % small)
    controls.append(prefilled_run(opts, small, small, "prefilled-small", opts.million_seconds))
    rates = [c["jobs_per_s"] for c in controls if c.get("jobs_per_s")]
    control_rate = statistics.mean(rates) if rates else None
    out["small_prefilled_runs"] = controls
    out["small_prefilled_jobs_per_s"] = control_rate
    out["ratio_vs_small_prefilled"] = ratio(out.get("jobs_per_s"), control_rate)
    out["small_queue_jobs_per_s"] = small_queue_rate
    out["ratio_vs_small_queue"] = ratio(out.get("jobs_per_s"), small_queue_rate)
    results["million"] = out


# -- machine and report ----------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def filesystem_of(path):
    """(fstype, mount point, device) of the mount holding path, from /proc/self/mounts."""
    path = os.path.realpath(path)
    best = ("unknown", "", "")
    try:
        with open("/proc/self/mounts") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mount = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[1])
                inside = path == mount or path.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best[1]):
                    best = (parts[2], mount, parts[0])
    except OSError:
        pass
    return best


def os_name():
    try:
        with open("/etc/os-release") as handle:
            for line in handle:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def git_revision(repo):
    try:
        rev = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10)
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--", "fjd",
                                "dispatcher.py", "worker.py"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10)
        text = rev.stdout.decode().strip()
        if text and dirty.stdout.strip():
            text += "+uncommitted changes"
        return text or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def create_cost_us(folder, files=1000, rounds=3):
    """Median microseconds to create (open O_CREAT, write, close) one small file in folder.

    Every job costs fjd a few file creations, so this is context for every number.
    """
    costs = []
    base = tempfile.mkdtemp(prefix="fjd-bench-probe-", dir=folder)
    try:
        dir_fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for k in range(rounds):
                started = time.perf_counter()
                for i in range(files):
                    fd = os.open("p%d-%d" % (k, i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644,
                                 dir_fd=dir_fd)
                    os.write(fd, JOB)
                    os.close(fd)
                costs.append((time.perf_counter() - started) / files * 1e6)
        finally:
            os.close(dir_fd)
    finally:
        remove_later(base)
    return statistics.median(costs)


def machine_info(opts):
    fstype, mount, device = filesystem_of(opts.tmp)
    mem_kb = None
    try:
        with open("/proc/meminfo") as handle:
            mem_kb = int(handle.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    py = first_line([opts.python, "-c", "import platform,sys;"
                     "print(platform.python_version(), sys.executable)"])
    return {"cpu": cpu_model(), "cores": os.cpu_count(),
            "memory_gb": round(mem_kb / 1024.0 / 1024.0, 1) if mem_kb else None,
            "kernel": platform.release(), "os": os_name(),
            "python": py.split()[0] if py else None, "python_path": opts.python,
            "harness_python": platform.python_version(),
            "tmp": opts.tmp, "fs": fstype, "fs_mount": mount, "fs_device": device,
            "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "fjd": first_line([opts.python, "-m", "fjd", "--version"], env=fjd_env(opts)),
            "fjd_dir": opts.fjd, "git": git_revision(opts.fjd),
            "loadavg_start": list(os.getloadavg()),
            "file_create_us": create_cost_us(opts.tmp)}


def fmt_num(value, digits=0):
    if value is None:
        return "n/a"
    if digits == 0:
        return "{:,.0f}".format(value)
    return "{:,.{}f}".format(value, digits)


def ms(value):
    return "n/a" if value is None else "%.1f ms" % (value * 1000)


def status(ok, sized=True):
    """PASS or MISS; "small run" where the scenario ran smaller than the target is defined
    for (--quick, say), since start-up then weighs more than the target allows for."""
    if not sized:
        return "small run"
    if ok is None:
        return "n/a"
    return "PASS" if ok else "MISS"


def evaluate(results, opts):
    """Rows of (measure, target, result, status) for the table and the README snippet."""
    rows = []
    tp = results.get("throughput")
    if tp:
        fjd = tp["fjd"]["median"]
        w = tp["workers"]
        shape = "%s no-op jobs, %d workers" % (fmt_num(tp["jobs"]), w)
        rows.append(("fjd throughput (%s, median of %d)" % (shape, tp["repeat"]),
                     ">= 1,000 jobs/s", "%s jobs/s" % fmt_num(fjd),
                     status(None if fjd is None else fjd >= TARGETS["throughput"],
                            sized=tp["jobs"] >= DEFAULTS["jobs"])))
        rows.append(("xargs -P%d throughput" % w, "", "%s jobs/s"
                     % fmt_num(tp["xargs"]["median"]), ""))
        par = tp.get("parallel")
        rows.append(("GNU parallel -j%d throughput" % w, "",
                     ("%s jobs/s" % fmt_num(par["median"])) if par else "not available", ""))
        rows.append(("ratio fjd / xargs -P%d" % w, ">= 0.5", fmt_ratio(tp["ratio_vs_xargs"]),
                     status(None if tp["ratio_vs_xargs"] is None
                            else tp["ratio_vs_xargs"] >= TARGETS["vs_xargs"],
                            sized=tp["jobs"] >= DEFAULTS["jobs"])))
        rows.append(("ratio fjd / GNU parallel -j%d" % w, "",
                     fmt_ratio(tp["ratio_vs_parallel"]) if par else "not available", ""))
        hq = tp.get("hyperqueue")
        hq_tool = results.get("tools", {}).get("hyperqueue") or "HyperQueue"
        rows.append(("%s, %d cores, throughput" % (hq_tool if hq else "HyperQueue", w), "",
                     ("%s jobs/s" % fmt_num(hq["median"])) if hq else hq_tool, ""))
        if hq:
            rows.append(("ratio fjd / HyperQueue", "", fmt_ratio(tp["ratio_vs_hyperqueue"]),
                         ""))
        rows.append(("time to write the %s job files (safe rename)" % fmt_num(tp["jobs"]), "",
                     "%.3f s" % tp["submit_seconds_median"], ""))
        pre = tp.get("fjd_prewritten")
        if pre:
            rows.append(("fjd throughput, files written beforehand (submit = renames only)",
                         "", "%s jobs/s" % fmt_num(pre["median"]), ""))
        last = [r for r in tp["fjd"]["runs"] if r.get("breakdown")]
        if last:
            b, cpu = last[-1]["breakdown"], last[-1]["cpu_ms_per_job"]
            rows.append(("per job: run+file / gap between jobs (median)", "",
                         "%s / %s" % (fmt_ms(b.get("run_ms_median")),
                                      fmt_ms(b.get("gap_ms_median"))), ""))
            rows.append(("per job CPU: dispatcher / workers / job processes", "",
                         "%.2f / %.2f / %.2f ms" % (cpu["dispatcher"], cpu["workers"],
                                                     cpu["jobs"]), ""))
            if "workers_sys" in cpu:
                rows.append(("  of which in the kernel: dispatcher / workers", "",
                             "%.2f / %.2f ms" % (cpu["dispatcher_sys"], cpu["workers_sys"]),
                             ""))
    lat = results.get("latency")
    if lat:
        rows.append(("submit-to-start latency median (%d samples)" % lat["measured"],
                     "<= 20 ms", ms(lat.get("median")),
                     status(None if lat.get("median") is None
                            else lat["median"] <= TARGETS["latency_median"])))
        rows.append(("submit-to-start latency p99", "<= 100 ms", ms(lat.get("p99")),
                     status(None if lat.get("p99") is None
                            else lat["p99"] <= TARGETS["latency_p99"])))
    idle = results.get("idle")
    if idle:
        span = "%.0f s" % idle["seconds"]
        rows.append(("idle dispatcher CPU over %s" % span, "<= 1% of a core",
                     "%.2f%%" % idle["dispatcher_percent"],
                     status(idle["dispatcher_percent"] <= TARGETS["idle_cpu"])))
        wp = idle["worker_percent"]
        rows.append(("idle worker CPU over %s" % span, "<= 1% of a core",
                     "n/a" if wp is None else "%.2f%%" % wp,
                     status(None if wp is None else wp <= TARGETS["idle_cpu"])))
    mil = results.get("million")
    if mil:
        label = "%s queued" % fmt_num(mil["queued"])
        if mil.get("skipped"):
            rows.append((label, "", "skipped: " + mil["skipped"], "n/a"))
        else:
            rss = mil.get("dispatcher_peak_rss_mb")
            rows.append(("%s: dispatcher peak RSS (VmHWM)" % label, "<= 200 MB",
                         "n/a" if rss is None else "%.0f MB" % rss,
                         status(None if rss is None else rss <= TARGETS["million_rss_mb"],
                                sized=mil["queued"] >= DEFAULTS["million"])))
            rows.append(("%s: time until the first job starts" % label, "",
                         fmt_s(mil.get("first_start_after_s")), ""))
            r = mil.get("ratio_vs_small_prefilled")
            rows.append(("%s: throughput of the first %s jobs" % (label,
                                                                  fmt_num(mil.get("jobs_counted"))),
                         ">= 80% of small queue",
                         "%s jobs/s (%s)" % (fmt_num(mil.get("jobs_per_s")),
                                             "n/a" if r is None else "%.0f%%" % (r * 100)),
                         status(None if r is None else r >= TARGETS["million_ratio"],
                                sized=mil["queued"] >= DEFAULTS["million"])))
            runs = mil.get("small_prefilled_runs") or []
            rows.append(("  small queue run the same way: %s pre-filled jobs, before / after"
                         % fmt_num(runs[0]["queued"] if runs else None), "",
                         "%s jobs/s (%s)" % (fmt_num(mil.get("small_prefilled_jobs_per_s")),
                                             " / ".join(fmt_num(c.get("jobs_per_s"))
                                                        for c in runs)), ""))
            r2 = mil.get("ratio_vs_small_queue")
            if r2 is not None:
                rows.append(("  compared with the throughput scenario's figure", "",
                             "%.0f%%" % (r2 * 100), ""))
            rows.append(("%s: writing the files (safe rename)" % label, "",
                         "%.1f s (%s files/s)" % (mil["write_seconds"],
                                                  fmt_num(mil["write_files_per_s"])), ""))
    sub = results.get("submit")
    if sub:
        label = "fjd submit, %s-job sweep" % fmt_num(sub["sweep"])
        if not sub["available"]:
            rows.append((label, "<= 10 s", "not available (no `fjd submit` yet)", "n/a"))
        elif sub.get("seconds") is None:
            rows.append((label, "<= 10 s", "failed: " + sub.get("why", "?"), "MISS"))
        else:
            rows.append((label, "<= 10 s", "%.2f s" % sub["seconds"],
                         status(sub["seconds"] <= TARGETS["submit_s"],
                                sized=sub["sweep"] >= 100000)))
            if sub.get("raw_write_seconds") is not None:
                rows.append(("  the same number of job files written by the harness "
                             "(filesystem floor)", "", "%.2f s" % sub["raw_write_seconds"], ""))
    return rows


def fmt_ratio(value):
    return "n/a" if value is None else "%.2fx" % value


def fmt_ms(value):
    return "n/a" if value is None else "%.1f ms" % value


def fmt_s(value):
    return "n/a" if value is None else "%.2f s" % value


def text_table(rows):
    headers = ("measure", "target", "result", "status")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join("%-*s" % (w, h) for w, h in zip(widths, headers))
    out = [line, "  ".join("-" * w for w in widths)]
    for row in rows:
        out.append("  ".join("%-*s" % (w, c) for w, c in zip(widths, row)).rstrip())
    return "\n".join(out)


def machine_line(m):
    return ("%s, %s cores, %s GB RAM, Linux %s (%s), Python %s, queue root on %s (%s, %s), "
            "%s%s"
            % (m["cpu"], m["cores"], m["memory_gb"], m["kernel"], m["os"], m["python"],
               m["tmp"], m["fs"], "%.0f µs to create a file" % m["file_create_us"]
               if m.get("file_create_us") else "file creation not measured",
               m["date"], fjd_label(m)))


def fjd_label(m):
    """", fjd 0.2.0 (git 67d08ba)", with the checkout's folder when it is not this repo."""
    text = ", %s" % (m.get("fjd") or "fjd")
    if m.get("git"):
        text += " (git %s)" % m["git"]
    if m.get("fjd_dir") and m["fjd_dir"] != REPO:
        text += " from %s" % m["fjd_dir"]
    return text


def markdown(rows, machine, opts):
    out = ["Benchmark (`python bench/run.py%s`) on %s; load average %.2f at the start, "
           "%.2f at the end."
           % ((" " + " ".join(opts.argv)) if opts.argv else "", machine_line(machine),
              machine["loadavg_start"][0], machine["loadavg_end"][0]), "",
           "| Measure | Target | Result | |", "| --- | --- | --- | --- |"]
    for measure, target, result, st in rows:
        out.append("| %s | %s | %s | %s |" % (measure, target.replace(">=", "≥")
                                              .replace("<=", "≤"), result, st))
    return "\n".join(out)


# -- main ------------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python bench/run.py", description=__doc__.split("\n\n")[0],
        epilog="Targets: throughput >= 1,000 jobs/s and >= 0.5 x xargs -P2 (W=2, N=2000); "
               "latency median <= 20 ms, p99 <= 100 ms; idle CPU <= 1% of a core per daemon; "
               "10^6 queued: dispatcher peak RSS <= 200 MB and throughput >= 80% of the small "
               "queue; fjd submit of a 100,000-job sweep <= 10 s.")
    parser.add_argument("--jobs", "-n", type=int, help="jobs per throughput run "
                        "(default %d; --quick: %d)" % (DEFAULTS["jobs"], QUICK["jobs"]))
    parser.add_argument("--workers", "-w", type=int, default=2, help="workers (default 2)")
    parser.add_argument("--repeat", "-k", type=int, help="throughput runs per tool; the "
                        "median is reported (default %d)" % DEFAULTS["repeat"])
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help="comma-separated scenarios: %s (default: all); "
                             "'profile' is the same as --profile" % ",".join(SCENARIOS))
    parser.add_argument("--quick", action="store_true",
                        help="small numbers for a smoke run (about 30 s)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter for the daemons and fjd submit (default: this one)")
    parser.add_argument("--latency-samples", type=int,
                        help="single jobs for the latency scenario (default %d)"
                             % DEFAULTS["latency_samples"])
    parser.add_argument("--idle-seconds", type=float,
                        help="idle CPU window (default %g)" % DEFAULTS["idle_seconds"])
    parser.add_argument("--million", type=int, metavar="N",
                        help="job files in the pre-filled queue (default 1,000,000)")
    parser.add_argument("--million-sample", type=int, metavar="K",
                        help="jobs run from the big queue to measure throughput "
                             "(default %d)" % DEFAULTS["million_sample"])
    parser.add_argument("--million-seconds", type=float, metavar="S",
                        help="stop the big-queue run after this long even if fewer than K "
                             "jobs finished (default %g)" % DEFAULTS["million_seconds"])
    parser.add_argument("--sweep", type=parse_sweep, metavar="AxB",
                        help="fjd submit sweep shape (default 100x1000)")
    parser.add_argument("--fjd", default=REPO, metavar="DIR",
                        help="the fjd checkout to benchmark (default: the one holding bench/, "
                             "%(default)s)")
    parser.add_argument("--tmp", default=None, help="where the fresh queue roots go "
                        "(default: %s; use a local disk, not tmpfs)" % default_tmp())
    parser.add_argument("--results-dir", default=os.path.join(HERE, "results"),
                        help="where the JSON results go (default bench/results)")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="seconds to let the daemons go idle before measuring "
                             "(default 1)")
    parser.add_argument("--stop-timeout", type=float, default=20.0,
                        help="seconds to wait after SIGINT before killing a daemon")
    parser.add_argument("--profile", action="store_true",
                        help="also run fjd once with the daemons under cProfile and print "
                             "the top functions")
    parser.add_argument("--profile-top", type=int, default=15,
                        help="functions shown per profile summary (default 15)")
    parser.add_argument("--profile-callers", type=int, default=4,
                        help="for this many of the top functions, show their callers "
                             "(default 4)")
    parser.add_argument("--no-install", action="store_true",
                        help="do not install GNU parallel (apt-get) or HyperQueue (pip, "
                             "into ~/.cache/fjd-bench/hyperqueue-venv) when missing")
    parser.add_argument("--keep", action="store_true", help="keep the temp queue roots")
    opts = parser.parse_args(argv)
    preset = QUICK if opts.quick else DEFAULTS
    for key, value in preset.items():
        if getattr(opts, key) is None:
            setattr(opts, key, parse_sweep(value) if key == "sweep" else value)
    opts.only = [s.strip() for s in opts.only.split(",") if s.strip()]
    if "profile" in opts.only:
        opts.profile = True
        opts.only.remove("profile")
    unknown = [s for s in opts.only if s not in SCENARIOS]
    if unknown:
        parser.error("unknown scenario(s) %s; choose from %s"
                     % (", ".join(unknown), ",".join(SCENARIOS)))
    if opts.jobs < 1 or opts.workers < 1 or opts.repeat < 1:
        parser.error("--jobs, --workers and --repeat must be at least 1")
    opts.tmp = os.path.abspath(opts.tmp or default_tmp())
    opts.results_dir = os.path.abspath(opts.results_dir)
    opts.fjd = os.path.abspath(opts.fjd)
    if not os.path.isfile(os.path.join(opts.fjd, "dispatcher.py")):
        parser.error("--fjd %s: no dispatcher.py there" % opts.fjd)
    opts.python = os.path.abspath(shutil.which(opts.python) or opts.python)
    opts.argv = list(argv)
    return opts


def default_tmp():
    """bench/tmp in this checkout: where a user's queue lives (a home or project disk). The
    system temp folder may be tmpfs, or, as on some machines, a corner of the disk where
    creating a file costs 30 times as much."""
    path = os.path.join(HERE, "tmp")
    os.makedirs(path, exist_ok=True)
    return path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    opts = parse_args(argv)
    for stream in (sys.stdout, sys.stderr):
        if (getattr(stream, "encoding", None) or "").lower().replace("-", "") != "utf8":
            try:
                stream.reconfigure(errors="backslashreplace")
            except (AttributeError, ValueError):
                pass
    os.makedirs(opts.results_dir, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d_%H%M%S")
    machine = machine_info(opts)
    say("fjd bench: %s" % machine_line(machine))
    if machine["loadavg_start"][0] > 0.5:
        say("note: the machine is busy (load average %.2f %.2f %.2f): numbers will be noisy"
            % tuple(machine["loadavg_start"]))
    warn_if_slow_create("note: %s" % opts.tmp, machine["file_create_us"])
    if machine["fs"] in ("tmpfs", "ramfs"):
        say("note: %s is %s (memory), not a disk; use --tmp DIR for disk numbers"
            % (opts.tmp, machine["fs"]))
    results = {}
    errors = []
    profile_text = None
    started = time.monotonic()
    for name in SCENARIOS:
        if name not in opts.only:
            continue
        try:
            if name == "throughput":
                scenario_throughput(opts, results)
            elif name == "latency":
                scenario_latency(opts, results)
            elif name == "idle":
                scenario_idle(opts, results)
            elif name == "submit":
                scenario_submit(opts, results)
            elif name == "million":
                small = results.get("throughput", {}).get("fjd", {}).get("median")
                if small is None:
                    say("million: measuring the small-queue figure first (%d jobs, 1 run)"
                        % opts.jobs)
                    small = fjd_throughput_once(opts, opts.jobs, opts.workers)["jobs_per_s"]
                scenario_million(opts, results, small)
        except (BenchError, OSError, subprocess.SubprocessError) as error:
            say("%s: FAILED: %s" % (name, error))
            errors.append("%s: %s" % (name, error))
            results.setdefault("errors", {})[name] = str(error)
    if opts.profile:
        try:
            profile_text = scenario_profile(opts, results, stamp)
        except (BenchError, OSError, subprocess.SubprocessError) as error:
            say("profile: FAILED: %s" % error)
            errors.append("profile: %s" % error)

    machine["loadavg_end"] = list(os.getloadavg())
    rows = evaluate(results, opts)
    report = {"machine": machine, "options": {k: v for k, v in vars(opts).items()},
              "targets": TARGETS, "results": results,
              "table": [dict(zip(("measure", "target", "result", "status"), r)) for r in rows],
              "elapsed_seconds": time.monotonic() - started}
    out_path = os.path.join(opts.results_dir, stamp + ".json")
    with open(out_path, "w") as handle:
        json.dump(report, handle, indent=1, sort_keys=True, default=str)
        handle.write("\n")

    print("")
    print("fjd benchmark, %s" % machine_line(machine))
    print("load average (1/5/15 min) at the start %s, at the end %s"
          % (" ".join("%.2f" % x for x in machine["loadavg_start"]),
             " ".join("%.2f" % x for x in machine["loadavg_end"])))
    print("")
    print(text_table(rows) if rows else "(nothing measured)")
    tp = results.get("throughput")
    if tp:
        print("")
        print("jobs per second: fjd %s, xargs -P%d %s, GNU parallel -j%d %s"
              % (fmt_num(tp["fjd"]["median"]), tp["workers"], fmt_num(tp["xargs"]["median"]),
                 tp["workers"], fmt_num(tp["parallel"]["median"]) if tp["parallel"]
                 else "not available"))
        print("ratio fjd / xargs -P%d: %s" % (tp["workers"], fmt_ratio(tp["ratio_vs_xargs"])))
        print("ratio fjd / GNU parallel -j%d: %s"
              % (tp["workers"], fmt_ratio(tp["ratio_vs_parallel"]) if tp["parallel"]
                 else results["tools"]["gnu_parallel"]))
        if tp.get("hyperqueue"):
            print("ratio fjd / HyperQueue: %s (HyperQueue %s jobs/s)"
                  % (fmt_ratio(tp["ratio_vs_hyperqueue"]),
                     fmt_num(tp["hyperqueue"]["median"])))
        else:
            print("HyperQueue: %s" % results["tools"].get("hyperqueue"))
    if "idle" in results or "latency" in results or "million" in results:
        print("queue roots: fresh folders under %s (%s)" % (opts.tmp, machine["fs"]))
    if profile_text:
        print("")
        print(profile_text)
    if errors:
        print("")
        print("errors:")
        for error in errors:
            print("  " + error)
    print("")
    print("results: %s" % out_path)
    print("")
    print("Markdown for the README:")
    print("")
    print(markdown(rows, machine, opts))
    sys.stdout.flush()
    return 1 if errors else 0


def run_and_clean_up(argv=None):
    try:
        return main(argv)
    finally:
        remove_leftovers()


if __name__ == "__main__":
    try:
        sys.exit(run_and_clean_up())
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
