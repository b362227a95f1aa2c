"""Dependencies (issue 23): what waiting costs and how fast a dependency frees its waiters.

    python bench/deps.py                 # the issue's sizes (many minutes)
    python bench/deps.py --quick         # a smoke run with small numbers (about a minute)
    python bench/deps.py --only chain,idle

Scenarios, each in a fresh queue root under --tmp, with a plain dispatcher and --workers W
local workers (`python -m fjd dispatcher|worker --log-level WARNING`):

  chain    --chain N (1,000) jobs, each `after` the one before: links per second (first
           start to last end, from the records) and the hop from one job's end to the next
           one's start (median, p90). Target: 100 links/s, median hop 10 ms at most.
  waiting  --independent M (2,000) no-op jobs, alone and with --waiting K (10,000) jobs
           waiting for a job that sleeps on one more worker: the M jobs' throughput (first
           start to last end) with / without, and the dispatcher's CPU per second while
           nothing changes (utime+stime over --idle-seconds, /proc). Target: >= 0.95.
  each     two arrays of --each-tasks T (100,000) no-op tasks, the second `after_each` the
           first, against the same two arrays queued one after the other without a
           dependency: wall time from submission until both are filed. Target: >= 0.8.
  after    one job after an array of --after-tasks T (1,000,000) no-op tasks: its start
           minus the latest end of the array's tasks. Target: within 1 s.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import fjd  # noqa: E402
from fjd import journal, record_kinds  # noqa: E402
from fjd.layout import Layout  # noqa: E402

QUICK = dict(chain=100, independent=300, waiting=1000, each_tasks=2000, after_tasks=10000,
             idle_seconds=3)
FULL = dict(chain=1000, independent=2000, waiting=10000, each_tasks=100000,
            after_tasks=1000000, idle_seconds=10)


class Queue:
    """A fresh queue root with a dispatcher and workers."""

    def __init__(self, tmp, name, workers):
        self.root = tempfile.mkdtemp(prefix=name + "-", dir=tmp)
        self.layout = Layout(self.root)
        self.layout.ensure()
        self.procs = []
        self.dispatcher = self.start("dispatcher")
        self.workers = [self.start("worker") for _ in range(workers)]

    def start(self, role):
        log = open(os.path.join(self.root, "%s-%d.log" % (role, len(self.procs))), "ab")
        proc = subprocess.Popen([sys.executable, "-m", "fjd", role, "--root", self.root,
                                 "--log-level", "WARNING"], cwd=self.root, stdout=log,
                                stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=REPO))
        self.procs.append(proc)
        return proc

    def count(self, folder):
        return len(os.listdir(os.path.join(self.root, folder)))

    def wait(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit("timed out in %s" % self.root)
            time.sleep(0.02)

    def records(self):
        """Every job and task record of the workers' journals."""
        found = []
        for path in journal.journal_paths(self.layout.records):
            if not os.path.basename(path).startswith(("dispatcher-", "cancel-", "retry-")):
                found += [r for _, r in journal.all_records(path)
                          if r.get("k") in (record_kinds.JOB, record_kinds.TASK)]
        return found

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def chain(opts):
    queue = Queue(opts.tmp, "chain", opts.workers)
    try:
        previous, made = None, []
        for _ in range(opts.chain):
            previous = fjd.submit("true", root=queue.root, after=previous and [previous])[0]
            made.append(previous)
        queue.wait(lambda: queue.count("done") >= opts.chain, 60 + opts.chain)
        by_name = {r["name"]: r for r in queue.records()}
        runs = [by_name[name] for name in made]
        hops = [b["start"] - a["end"] for a, b in zip(runs, runs[1:])]
        span = runs[-1]["end"] - runs[0]["start"]
        return {"links": opts.chain, "links_per_second": round(opts.chain / span, 1),
                "hop_median_ms": round(statistics.median(hops) * 1000, 2),
                "hop_p90_ms": round(sorted(hops)[int(len(hops) * 0.9)] * 1000, 2),
                "hop_mean_ms": round(statistics.mean(hops) * 1000, 2),
                "run_mean_ms": round(statistics.mean(r["end"] - r["start"] for r in runs)
                                     * 1000, 2)}
    finally:
        queue.stop()


def independent_run(opts, waiting):
    queue = Queue(opts.tmp, "waiting%d" % waiting, opts.workers + 1)
    try:
        gate = fjd.submit("sleep 100000", root=queue.root, control={"jobfile": "none"})[0]
        if waiting:
            fjd.submit("true", root=queue.root, after=[gate], split=True,
                       params={"i": "1..%d" % waiting})
        queue.wait(lambda: queue.count("waiting") == waiting and queue.count("jobqueue") == 0,
                   120)
        time.sleep(2 + waiting / 1000)  # the dispatcher has read waiting/ and gone idle
        before = cpu_seconds(queue.dispatcher.pid)
        time.sleep(opts.idle_seconds)
        idle = (cpu_seconds(queue.dispatcher.pid) - before) / opts.idle_seconds
        made = fjd.submit("true", root=queue.root, split=True,
                          params={"i": "1..%d" % opts.independent})
        queue.wait(lambda: queue.count("done") >= opts.independent, 300)
        runs = [r for r in queue.records() if r.get("name") in set(made)]
        span = max(r["end"] for r in runs) - min(r["start"] for r in runs)
        return opts.independent / span, idle
    finally:
        queue.stop()


def waiting_cost(opts):
    alone, idle_alone = independent_run(opts, 0)
    loaded, idle_loaded = independent_run(opts, opts.waiting)
    return {"jobs_per_second_alone": round(alone, 1), "jobs_per_second_with_waiting":
            round(loaded, 1), "ratio": round(loaded / alone, 3), "waiting": opts.waiting,
            "idle_cpu_percent_alone": round(idle_alone * 100, 2),
            "idle_cpu_percent_with_waiting": round(idle_loaded * 100, 2)}


def two_arrays(opts, each):
    queue = Queue(opts.tmp, "each" if each else "sequential", opts.workers)
    try:
        started = time.monotonic()
        params = {"i": "1..%d" % opts.each_tasks}
        first = fjd.submit("true", root=queue.root, params=params)[0]
        fjd.submit("true", root=queue.root, params=params,
                   after_each=[first] if each else None)
        queue.wait(lambda: queue.count("done") >= 2, 60 + opts.each_tasks / 100)
        return time.monotonic() - started
    finally:
        queue.stop()


def each_cost(opts):
    plain = two_arrays(opts, False)
    each = two_arrays(opts, True)
    return {"tasks": opts.each_tasks, "seconds_one_after_the_other": round(plain, 2),
            "seconds_after_each": round(each, 2), "speed_ratio": round(plain / each, 3)}


def after_array(opts):
    queue = Queue(opts.tmp, "after", opts.workers)
    try:
        array = fjd.submit("true", root=queue.root, params={"i": "1..%d" % opts.after_tasks})[0]
        job = fjd.submit("true", root=queue.root, after=[array])[0]
        queue.wait(lambda: os.path.exists(os.path.join(queue.root, "done", job)),
                   120 + opts.after_tasks / 100)
        records = queue.records()
        last_task = max(r["end"] for r in records if r.get("array") == array)
        start = [r for r in records if r.get("name") == job][0]["start"]
        return {"tasks": opts.after_tasks, "start_delay_seconds": round(start - last_task, 3)}
    finally:
        queue.stop()


SCENARIOS = {"chain": chain, "waiting": waiting_cost, "each": each_cost, "after": after_array}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tmp", default=os.path.join(REPO, "bench", "tmp"))
    for key, value in FULL.items():
        parser.add_argument("--" + key.replace("_", "-"), type=type(value), default=None)
    opts = parser.parse_args()
    sizes = QUICK if opts.quick else FULL
    for key, value in sizes.items():
        if getattr(opts, key) is None:
            setattr(opts, key, value)
    os.makedirs(opts.tmp, exist_ok=True)
    results = {}
    for name in opts.only.split(","):
        results[name] = SCENARIOS[name](opts)
        print("%-8s %s" % (name, json.dumps(results[name])), flush=True)
    for folder in os.listdir(opts.tmp):
        if folder.startswith(tuple(SCENARIOS) + ("sequential", "waiting")):
            shutil.rmtree(os.path.join(opts.tmp, folder), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
