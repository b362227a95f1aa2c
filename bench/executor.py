#!/usr/bin/env python3
"""fjd.Executor against concurrent.futures.ProcessPoolExecutor (issue 29), in one run.

    python bench/executor.py                 # full sizes: 100,000 calls, a 1,000,000-call map
    python bench/executor.py --quick         # a smoke run of a few seconds
    python bench/executor.py --root /mnt/q   # round trips on a root whose daemons run
                                             # already (e.g. over sshfs: target 150 ms)

Prints, each with its target (and the load average before and after: the ratios mean
something only on a quiet machine):
  * ex.map(f, range(N)) with 2 local workers vs ProcessPoolExecutor(2).map(f, ...,
    chunksize=1): calls per second and their ratio (target >= 1.0); the same with
    chunksize=100 for both (target >= 0.5);
  * the median round trip of ex.submit(f).result() with the daemons running (<= 20 ms);
  * files a BIG-call map adds under the queue root (<= 20) and the caller's peak memory
    during it (< 200 MB), measured in a child process of its own.
"""
import argparse
import concurrent.futures
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fjd  # noqa: E402


def trivial(x):
    return x


def rate(seconds, count):
    return count / seconds if seconds > 0 else float("inf")


def timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def pool_rate(calls, chunksize, workers):
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        list(pool.map(trivial, range(10)))  # (the pool's processes started)
        return rate(timed(lambda: list(pool.map(trivial, range(calls),
                                                chunksize=chunksize))), calls)


def fjd_rates(root, calls, workers, samples):
    with fjd.Executor(root=root, workers=workers) as ex:
        ex.submit(trivial, 0).result()  # (the call runners started)
        list(ex.map(trivial, range(10)))
        one = rate(timed(lambda: list(ex.map(trivial, range(calls)))), calls)
        hundred = rate(timed(lambda: list(ex.map(trivial, range(calls), chunksize=100))),
                       calls)
        trips = []
        for _ in range(samples):
            started = time.perf_counter()
            ex.submit(trivial, 1).result()
            trips.append(time.perf_counter() - started)
    return one, hundred, statistics.median(trips)


def count_files(root):
    return sum(len(files) for _, _, files in os.walk(root))


def settled(root, patience=30.0):
    """Until the dispatcher has merged the finished ranges in arrays/ into their arrays
    (they are transient: a few files while a map runs)."""
    deadline = time.monotonic() + patience
    while os.listdir(os.path.join(root, "arrays")) and time.monotonic() < deadline:
        time.sleep(0.1)


def big_map_child(root, calls, workers):
    """In a process of its own: files added and peak memory of a big map."""
    ex = fjd.Executor(root=root, workers=workers)
    ex.submit(trivial, 0).result()
    before = count_files(root) - count_files(os.path.join(root, "logs"))
    started = time.perf_counter()
    total = 0
    for value in ex.map(trivial, range(calls)):
        total += 1
    seconds = time.perf_counter() - started
    settled(root)
    after = count_files(root) - count_files(os.path.join(root, "logs"))
    ex.shutdown()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"files": after - before, "peak_mb": peak, "results": total,
                      "seconds": seconds}))


def round_trips(root, samples):
    """The median round trip of a call on a root whose daemons run already."""
    with fjd.Executor(root=root) as ex:
        ex.submit(trivial, 0).result()
        trips = []
        for _ in range(samples):
            started = time.perf_counter()
            ex.submit(trivial, 1).result()
            trips.append(time.perf_counter() - started)
    print("round trip of one call on %s: median %.1f ms of %d" % (root, statistics.median(
        trips) * 1000, samples))
    return 0


def verdict(ok):
    return "PASS" if ok else "MISS"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100000)
    parser.add_argument("--big", type=int, default=1000000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2,000 calls, a 20,000-call "
                        "big map, 10 round trips")
    parser.add_argument("--tmp", default=None, help="where the queue roots go")
    parser.add_argument("--root", help="only the round trip, on this root with its daemons "
                        "already running (an sshfs mount with hints: target 150 ms)")
    parser.add_argument("--child-big", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.root:
        return round_trips(args.root, args.samples)
    if args.child_big:
        root, calls, workers = args.child_big
        return big_map_child(root, int(calls), int(workers))
    if args.quick:
        args.calls, args.big, args.samples = 2000, 20000, 10
    base = tempfile.mkdtemp(prefix="fjd-bench-executor-", dir=args.tmp)
    try:
        report(args, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


def load_average():
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average unknown"


def report(args, base):
    print("%d cores, %s at the start" % (os.cpu_count() or 0, load_average()))
    pool_one = pool_rate(args.calls, 1, args.workers)
    pool_hundred = pool_rate(args.calls, 100, args.workers)
    one, hundred, trip = fjd_rates(os.path.join(base, "q"), args.calls, args.workers,
                                   args.samples)
    print("map of %d calls, chunksize=1:   fjd %.0f/s, ProcessPoolExecutor %.0f/s: ratio "
          "%.2f (target >= 1.0) %s" % (args.calls, one, pool_one, one / pool_one,
                                        verdict(one >= pool_one)))
    print("map of %d calls, chunksize=100: fjd %.0f/s, ProcessPoolExecutor %.0f/s: ratio "
          "%.2f (target >= 0.5) %s" % (args.calls, hundred, pool_hundred,
                                        hundred / pool_hundred,
                                        verdict(hundred >= 0.5 * pool_hundred)))
    print("round trip of one call: median %.1f ms of %d (target <= 20 ms) %s"
          % (trip * 1000, args.samples, verdict(trip <= 0.020)))
    child = subprocess.run([sys.executable, os.path.abspath(__file__), "--child-big",
                            os.path.join(base, "big"), str(args.big), str(args.workers)],
                           stdout=subprocess.PIPE, check=True)
    big = json.loads(child.stdout.decode().strip().splitlines()[-1])
    print("map of %d calls: %d files added under the root (target <= 20) %s; caller's peak "
          "memory %.0f MB (target < 200 MB) %s; %.0f calls/s"
          % (args.big, big["files"], verdict(big["files"] <= 20), big["peak_mb"],
             verdict(big["peak_mb"] < 200), rate(big["seconds"], big["results"])))
    print("%s at the end" % load_average())


if __name__ == "__main__":
    sys.exit(main())
