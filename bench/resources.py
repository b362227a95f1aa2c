"""Resources (issue 24): the dispatcher's hand-out with workers of three shapes and a queue of
mixed requests, against the same queue with one shape.

    python bench/resources.py                     # 200 workers, 100,000 jobs (the target)
    python bench/resources.py --quick             # smoke: 20 workers, 2,000 jobs

The real dispatcher (`python -m fjd dispatcher`) serves fake workers: processes of this
script that each play many workers the way a worker does it on disk (an inbox with a beating
heart, an announcement in workerqueue/, the parked announcement moved back after the batch),
but run nothing: each job handed to them is renamed into done/ at once. So what is measured
is the hand-out itself, jobs per second from the dispatcher's start to the last job in done/:

  one     every worker and every job of the default shape (the hand-out as before)
  mixed   workers of three shapes (default, c4, c4g1) and jobs asking for each (default,
          c4, g1) in proportion to the workers that can run them
  stuck   mixed, plus 10% more jobs that no worker can run (g8): they must cost nothing per
          hand-out

The ratios mixed/one and stuck/one are the figures (target: at least 0.9), with the
dispatcher's CPU per job. Names are those `fjd submit` gives (the request after the
sequence number), so nothing is read to hand a job out. Standard library only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")

PROFILE = os.environ.get("FJD_BENCH_PROFILE")  # a folder: the dispatcher runs under cProfile
SHAPES = {"one": [("", 1.0)], "mixed": [("", 0.6), ("c4", 0.25), ("c4g1", 0.15)]}
REQUESTS = {"one": [("", 1.0)], "mixed": [("", 0.6), ("c4", 0.25), ("g1", 0.15)]}


def say(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def job_names(count, requests, stuck=0):
    """Names as `fjd submit` gives them, requests spread evenly through the queue."""
    prefix = "20261124-171800.123456-3f9c2a"
    made, weights = [], [(text, weight) for text, weight in requests]
    for number in range(1, count + 1):
        text = weights[0][0]
        spot = (number * 0.6180339887) % 1.0  # spread, not clustered
        for candidate, weight in weights:
            if spot < weight:
                text = candidate
                break
            spot -= weight
        made.append("%s-%07ds%s-job.conf" % (prefix, number, "_" + text if text else ""))
    for number in range(count + 1, count + stuck + 1):
        made.append("%s-%07ds_g8-job.conf" % (prefix, number))
    return made


def worker_ids(count, shapes):
    ids = []
    for number in range(count):
        spot, text = (number + 0.5) / count, shapes[-1][0]
        for candidate, weight in shapes:
            if spot < weight:
                text = candidate
                break
            spot -= weight
        ids.append("fake-%d-%06x%s" % (number, number, "_" + text if text else ""))
    return ids


# -- the fake workers (run as processes of this script) ------------------------------------------

def serve_fakes(root, ids, stop_file):
    """Play the workers ids until stop_file exists: beat every second, announce, and take
    each batch handed over straight to done/."""
    jobpod, workerqueue, done = (os.path.join(root, f) for f in ("jobpod", "workerqueue",
                                                                  "done"))
    for worker_id in ids:
        os.mkdir(os.path.join(jobpod, worker_id))
    beat, last_beat = 0, 0.0
    announced = set()
    while not os.path.exists(stop_file):
        now = time.monotonic()
        if now - last_beat >= 1.0:
            beat += 1
            last_beat = now
            for worker_id in ids:
                payload = json.dumps({"beat": beat, "worker": worker_id, "host": "fake",
                                      "pid": os.getpid(), "job": None, "run": None})
                with open(os.path.join(jobpod, worker_id, ".heartbeat"), "w") as handle:
                    handle.write(payload.ljust(256) + "\n")
        busy = False
        for worker_id in ids:
            inbox = os.path.join(jobpod, worker_id)
            parked = os.path.join(inbox, ".announcement")
            if worker_id not in announced:
                with open(os.path.join(workerqueue, worker_id), "w") as handle:
                    handle.write("fake %d\n" % os.getpid())
                announced.add(worker_id)
                continue
            if not os.path.exists(parked):
                continue
            busy = True
            for name in os.listdir(inbox):
                if not name.startswith("."):
                    os.rename(os.path.join(inbox, name), os.path.join(done, name))
            os.rename(parked, os.path.join(workerqueue, worker_id))
        if not busy:
            time.sleep(0.002)


# -- one run ----------------------------------------------------------------------------------

def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def start_fakes(root, ids, processes, stop_file, env):
    """The fake workers, in processes; returns once all announced themselves."""
    fakes = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--fake", root,
                               stop_file] + ids[part::processes], env=env)
             for part in range(processes)]
    deadline = time.monotonic() + 60
    while len(os.listdir(os.path.join(root, "workerqueue"))) < len(ids):
        if time.monotonic() > deadline:
            raise SystemExit("the fake workers did not announce themselves")
        time.sleep(0.05)
    return fakes


def one_run(label, workers, jobs, shapes, requests, stuck, fake_processes, tmp):
    root = tempfile.mkdtemp(prefix="fjd-resources-%s-" % label, dir=tmp)
    for folder in ("jobqueue", "workerqueue", "jobpod", "done", "failed", "records",
                   "cancelled", "arrays", "waiting"):
        os.makedirs(os.path.join(root, folder))
    queue = os.path.join(root, "jobqueue")
    for name in job_names(jobs, requests, stuck):
        with open(os.path.join(queue, name), "wb") as handle:
            handle.write(b"[control]\nexecutable: true\n")
    stop_file = os.path.join(root, ".stop-fakes")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    fakes = start_fakes(root, worker_ids(workers, shapes), fake_processes, stop_file, env)
    started = time.monotonic()
    profile = ["-m", "cProfile", "-o", os.path.join(PROFILE, label + ".prof")] \
        if PROFILE else []
    dispatcher = subprocess.Popen([sys.executable] + profile + [
        "-m", "fjd", "dispatcher", "--root", root, "--log-level", "WARNING"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done_dir = os.path.join(root, "done")
    try:
        while len(os.listdir(done_dir)) < jobs:
            if dispatcher.poll() is not None:
                raise SystemExit("the dispatcher exited: %s" % dispatcher.stderr.read()[-2000:])
            if time.monotonic() - started > 60 + jobs / 50.0:
                raise SystemExit("%s: %d of %d jobs done in time"
                                 % (label, len(os.listdir(done_dir)), jobs))
            time.sleep(0.02)
        wall = time.monotonic() - started
        cpu = cpu_seconds(dispatcher.pid)
    finally:
        dispatcher.terminate()
        dispatcher.wait(30)
        open(stop_file, "w").close()
        for fake in fakes:
            fake.wait(30)
    left = len(os.listdir(queue))
    shutil.rmtree(root, ignore_errors=True)
    out = {"label": label, "jobs": jobs, "stuck": stuck, "left_queued": left,
           "seconds": round(wall, 3), "jobs_per_second": round(jobs / wall, 1),
           "dispatcher_cpu_us_per_job": round(cpu / jobs * 1e6, 1) if cpu else None}
    say("  %-6s %d jobs (+%d nobody can run): %.0f jobs/s, dispatcher %s us CPU per job"
        % (label, jobs, stuck, out["jobs_per_second"], out["dispatcher_cpu_us_per_job"]))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=100000)
    parser.add_argument("--fake-processes", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="20 workers, 2,000 jobs")
    parser.add_argument("--tmp", default=None, help="where the queue roots go")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.workers, args.jobs, args.fake_processes = 20, 2000, 2
    say("resources: %d fake workers, %d jobs" % (args.workers, args.jobs))
    runs = [one_run("one", args.workers, args.jobs, SHAPES["one"], REQUESTS["one"], 0,
                    args.fake_processes, args.tmp),
            one_run("mixed", args.workers, args.jobs, SHAPES["mixed"], REQUESTS["mixed"], 0,
                    args.fake_processes, args.tmp),
            one_run("stuck", args.workers, args.jobs, SHAPES["mixed"], REQUESTS["mixed"],
                    args.jobs // 10, args.fake_processes, args.tmp)]
    one = runs[0]["jobs_per_second"]
    result = {"runs": runs, "mixed_over_one": round(runs[1]["jobs_per_second"] / one, 3),
              "stuck_over_one": round(runs[2]["jobs_per_second"] / one, 3), "target": 0.9}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print("mixed shapes / one shape: %.2f   with jobs nobody can run / one shape: %.2f  "
              "(target: at least 0.9)" % (result["mixed_over_one"], result["stuck_over_one"]))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--fake":
        serve_fakes(sys.argv[2], sys.argv[4:], sys.argv[3])
    else:
        sys.exit(main())
