"""The scenarios of single job files: throughput, latency, idle and submit.

Each takes the parsed options and the results dict, runs fjd in fresh queue roots (see
harness.Scenario) and stores what it measured under its own key in the results; the
competitors it is compared with are in competitors.py, the judging in report.py and rows.py.
The other scenarios are in the other scenarios_*.py; table.py lists them all in their order.
"""
import os
import random
import re
import statistics
import subprocess
import time

from competitors import (ensure_gnu_parallel, ensure_hyperqueue, hyperqueue_once,
                         parallel_once, xargs_once)
from harness import (CLK_TCK, JOB, BenchError, Scenario, count_names, dir_mtime, fjd_env, ratio,
                     say, warn_if_slow_create)
from commands import first_line, fjd_help
from jobfiles import publish_jobs, stage_jobs, write_jobs
from journals import job_record, percentile, read_records, record_breakdown
from report import fmt_num
from scenarios_arrays import has_arrays, submit_array


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


# -- scenario: latency ----------------------------------------------------------------------

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
                record = job_record(sc.path(), name)
                latencies.append(record["start"] - before)
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


# -- scenario: idle CPU ---------------------------------------------------------------------

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


# -- scenario: fjd submit -------------------------------------------------------------------

def submit_argvs(help_text, root, a, b):
    """Candidate `fjd submit` command lines for an a x b sweep, best guess first.

    The documented form is ``fjd submit --exe CMD --param name=v1,v2,...``; a range form
    such as ``name=0..99`` is used when the --help shows one (its end may be inclusive or
    exclusive: the caller checks the job count and tries the next candidate). With --split
    in the --help (fjd with array jobs), it is given: one job file per job, as before.
    """
    exe_opt = "--exe"
    if "--exe" not in help_text:
        found = re.search(r"(--exec\w*|--executable|--command|--cmd)\b", help_text)
        exe_opt = found.group(1) if found else "--exe"
    root_args = ["--root", root] if "--root" in help_text else []
    # with array jobs, a sweep is one file unless --split asks for one file per job
    split = ["--split"] if re.search(r"--split\b", help_text) else []
    base = ["submit"] + root_args + split + [exe_opt, "true"]
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
    probe, help_text = fjd_help(opts, "submit")
    if probe != 0:
        say("submit: `python -m fjd submit --help` exited with %d: not available" % probe)
        results["submit"] = {"available": False, "sweep": total,
                             "why": "`python -m fjd submit --help` exited with %d" % probe}
        return
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
            say("  %s%s: %.2f s for %d jobs" % ("--split, " if "--split" in args else "",
                                                label, elapsed, queued))
            results["submit"] = {"available": True, "sweep": total, "shape": [a, b],
                                 "seconds": elapsed, "jobs_per_s": total / elapsed,
                                 "form": label, "argv": shown, "tried": tried,
                                 "split": "--split" in args,
                                 "raw_write_seconds": raw_write_floor(opts, total)}
            if has_arrays(opts):
                a2, b2 = opts.array_sweep
                results["submit"]["array"] = submit_array(opts, a2, b2)
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
