"""The scenarios of array jobs: arrays, files, bigarray, and the one-array half of the
submit scenario (submit_array); the status scenario is in scenarios_status.py.

Like scenarios.py, each takes the parsed options and the results dict and stores what it
measured under its own key. Everything goes through fjd's command line (`python -m fjd run`,
`submit`, `status`, `show`) or its daemons, in fresh queue roots (harness.Scenario).
"""
import json
import os
import random
import signal
import statistics
import time

from competitors import xargs_once
from harness import (BenchError, Scenario, count_entries, count_names, finished_arrays,
                     proc_status_kb, ratio, say)
from commands import fjd_help, run_fjd
from journals import read_records, record_breakdown, span
from report import fmt_num, fmt_ratio, outputs_text

# tasks that print one line to stdout and one to stderr; `$$` is fjd's literal `$`, so sh
# gets `$0`, which is the task's value (the word after the script)
PRINT_EXE = "sh -c 'echo out $$0; echo err $$0 >&2' $i"


def has_arrays(opts):
    """Whether the fjd benchmarked has array jobs (its `fjd submit --help` offers --split,
    the option that asks for the old one-file-per-job behaviour)."""
    status, text = fjd_help(opts, "submit")
    return status == 0 and "--split" in text


def not_available(results, name, what):
    say("%s: not available: this fjd has no array jobs (no --split in `fjd submit --help`)"
        % name)
    results[name] = dict(what, available=False, why="no array jobs in this fjd")


def run_args(n, workers, root, exe="true", extra=()):
    """`fjd run` of one array of n tasks (i=1..n) with W local workers, as a user types it."""
    return (["run", "--exe", exe, "--param", "i=1..%d" % n, "--workers", str(workers)] +
            list(extra) + ["--root", root, "--quiet", "--log-level", "WARNING"])


def status_counts(opts, sc):
    """The counts of `fjd status --json` on the scenario's root ({} when it fails)."""
    status = run_fjd(opts, ["status", "--json", "--root", sc.root], sc.dir)
    try:
        return json.loads(status["stdout"].decode())["counts"]
    except (ValueError, KeyError):
        return {}


def median_of(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


# -- scenario: arrays -----------------------------------------------------------------------

def array_run_once(opts, n, workers):
    """`fjd run --exe true --param i=1..N --workers W` in a fresh root, timed as a whole; the
    tasks/s from the journals (first task start to last task end) and around it."""
    with Scenario(opts, "arrays") as sc:
        t0 = time.time()
        run = run_fjd(opts, run_args(n, workers, sc.root), sc.dir,
                      timeout=max(600.0, n / 20.0),
                      log_path=os.path.join(sc.logs, "fjd-run.log"))
        t_end = time.time()
        records = [r for r in read_records(sc.path("records")) if r.get("k") == "task"]
        filed = finished_arrays(sc.root)
        with open(os.path.join(sc.logs, "fjd-run.log"), "rb") as log:
            tail = log.read()[-400:]
    states = [r.get("state") for r in records]
    out = {"tasks": n, "workers": workers, "exit_status": run["status"],
           "wall_seconds": run["seconds"], "wall_tasks_per_s": n / run["seconds"],
           "cpu_ms_per_task_all_processes": run["cpu_s"] * 1000 / n if run["cpu_s"] else None,
           "records": len(records), "done": states.count("done"),
           "failed": states.count("failed"), "filed_as": filed,
           "breakdown": record_breakdown(records)}
    first, last = span(records)
    if first is not None:
        out["seconds_from_first_start"] = last - first
        out["tasks_per_s"] = len(records) / out["seconds_from_first_start"]
        out["first_start_after_s"] = first - t0
        out["exit_after_last_end_s"] = t_end - last
    if run["status"] != 0 or len(records) != n or out["done"] != n:
        say("  ! fjd run exited with %s, %d task records (%d done) for %d tasks: %s"
            % (run["status"], len(records), out["done"], n,
               tail.decode("utf-8", "replace").strip().replace("\n", " | ")))
        out["tasks_per_s"] = out["wall_tasks_per_s"] = None
    return out


def xargs_with_cpu(n, workers):
    """xargs_once, and the CPU it and its commands used (RUSAGE_CHILDREN before/after)."""
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = xargs_once(n, workers)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out["cpu_ms_per_job_all_processes"] = used * 1000 / n
    return out


def scenario_arrays(opts, results):
    """One array of N no-op tasks under `fjd run` against `xargs -P W -n 1 true` on N
    arguments (each `true` gets one argument in both: fjd appends the path of the task's
    job file), alternating, --repeat times; medians and the ratio."""
    n, w = opts.array_tasks, opts.workers
    if not has_arrays(opts):
        return not_available(results, "arrays", {"tasks": n, "workers": w})
    say("arrays: one array of %d no-op tasks through `fjd run --workers %d` and the same "
        "number of commands through xargs -P%d, %d time(s)" % (n, w, w, opts.repeat))
    fjd_runs, xargs_runs = [], []
    for k in range(opts.repeat):
        fjd_runs.append(array_run_once(opts, n, w))
        xargs_runs.append(xargs_with_cpu(n, w))
        f, x = fjd_runs[-1], xargs_runs[-1]
        say("  run %d: fjd %s tasks/s from the journals, %s with start-up and exit (fjd run "
            "%.2f s); xargs -P%d %s jobs/s (%.2f s); ratio %s"
            % (k + 1, fmt_num(f.get("tasks_per_s")), fmt_num(f.get("wall_tasks_per_s")),
               f["wall_seconds"], w, fmt_num(x["jobs_per_s"]), x["seconds"],
               fmt_ratio(ratio(f.get("tasks_per_s"), x["jobs_per_s"]))))
    out = {"tasks": n, "workers": w, "repeat": opts.repeat, "available": True,
           "fjd": {"runs": fjd_runs, "median": median_of(fjd_runs, "tasks_per_s"),
                   "wall_median_s": median_of(fjd_runs, "wall_seconds"),
                   "wall_tasks_per_s_median": median_of(fjd_runs, "wall_tasks_per_s"),
                   "cpu_ms_per_task_median": median_of(fjd_runs,
                                                       "cpu_ms_per_task_all_processes")},
           "xargs": {"runs": xargs_runs, "median": median_of(xargs_runs, "jobs_per_s"),
                     "cpu_ms_per_job_median": median_of(xargs_runs,
                                                        "cpu_ms_per_job_all_processes")}}
    out["ratio_vs_xargs"] = ratio(out["fjd"]["median"], out["xargs"]["median"])
    out["ratio_wall_vs_xargs"] = ratio(out["fjd"]["wall_tasks_per_s_median"],
                                       out["xargs"]["median"])
    out["ratio_per_run"] = [ratio(f.get("tasks_per_s"), x["jobs_per_s"])
                            for f, x in zip(fjd_runs, xargs_runs)]
    tp = results.get("throughput")
    out["single_file_ratio_vs_xargs"] = tp.get("ratio_vs_xargs") if tp else None
    say("arrays: ratio fjd array tasks / xargs -P%d %s (with fjd run's start-up and exit %s)"
        "%s" % (w, fmt_ratio(out["ratio_vs_xargs"]), fmt_ratio(out["ratio_wall_vs_xargs"]),
                "; single job files (throughput scenario) %s"
                % fmt_ratio(out["single_file_ratio_vs_xargs"]) if tp else ""))
    results["arrays"] = out


# -- scenario: files ------------------------------------------------------------------------

def files_once(opts, n, printing, split=False, sample=0, seed=20121124):
    """`fjd run` of n tasks (no-op, or printing a line to stdout and one to stderr), then
    the entries left under the root (logs/ aside) and, for `sample`, the output of that
    many random tasks plus the first and the last, read back with `fjd show`."""
    kind = "printing" if printing else "no-op"
    extra = (["--no-jobfile"] if printing else []) + (["--split"] if split else [])
    with Scenario(opts, "files-split" if split else "files") as sc:
        run = run_fjd(opts, run_args(n, opts.workers, sc.root, PRINT_EXE if printing
                                     else "true", extra), sc.dir,
                      timeout=max(900.0, n / 10.0), log_path=os.path.join(sc.logs, "run.log"))
        entries, per_top = count_entries(sc.root)
        with_logs, _ = count_entries(sc.root, skip=())
        counts = status_counts(opts, sc)
        filed = finished_arrays(sc.root)
        out = {"tasks": n, "kind": kind, "split": split, "workers": opts.workers,
               "exit_status": run["status"], "wall_seconds": run["seconds"],
               "tasks_per_s_wall": n / run["seconds"], "entries": entries,
               "entries_with_logs": with_logs, "entries_per_top_folder": per_top,
               "done": counts.get("done"), "failed": counts.get("failed"),
               "filed_as": filed if not split else len(filed)}
        if run["status"] != 0 or counts.get("done") != n:
            say("  ! %s run of %d tasks: exit %s, fjd status counts %s"
                % (kind, n, run["status"], counts))
        if sample and not split:
            out["outputs"] = check_outputs(opts, sc, filed, n, sample, seed)
    return out


def check_outputs(opts, sc, filed, n, sample, seed):
    """`fjd show ARRAY#i --stdout` and `--stderr` of `sample` random tasks plus the first
    and the last, compared with what PRINT_EXE prints."""
    if len(filed) != 1:
        return {"checked": 0, "mismatches": [{"problem": "expected one array file in done/ "
                                                         "or failed/, found %r" % filed}]}
    name = filed[0]
    rng = random.Random(seed)
    indices = sorted(set([1, n] + rng.sample(range(1, n + 1), min(sample, n))))
    mismatches, seconds = [], []
    for index in indices:
        for stream, word in (("stdout", "out"), ("stderr", "err")):
            shown = run_fjd(opts, ["show", "%s#%d" % (name, index), "--" + stream, "--root",
                                   sc.root], sc.dir, timeout=300.0)
            seconds.append(shown["seconds"])
            expected = "%s %d\n" % (word, index)
            got = shown["stdout"].decode("utf-8", "replace")
            if shown["status"] != 0 or got != expected:
                mismatches.append({"task": index, "stream": stream, "expected": expected,
                                   "got": got[:200], "exit_status": shown["status"],
                                   "stderr": shown["stderr"][-200:].decode("utf-8",
                                                                           "replace")})
    out = {"array": name, "tasks_checked": len(indices), "checked": 2 * len(indices),
           "indices": indices, "mismatches": mismatches,
           "show_seconds_median": statistics.median(seconds),
           "show_seconds_max": max(seconds)}
    return out


def split_estimate(opts, n, printing, sizes):
    """Entries left by `fjd run --split` at two sizes, and the straight line through them
    taken to n tasks."""
    runs = [files_once(opts, size, printing, split=True) for size in sizes]
    (s1, c1), (s2, c2) = [(r["tasks"], r["entries"]) for r in runs]
    slope = (c2 - c1) / float(s2 - s1)
    return {"sizes": list(sizes), "entries": [c1, c2], "per_task": slope,
            "fixed": c1 - slope * s1, "extrapolated": int(round(c1 + slope * (n - s1))),
            "runs": runs}


def scenario_files(opts, results):
    """Entries left in the queue root by one array of N tasks under `fjd run`, no-op and
    printing; the printed lines read back; --split and fjd 0.2 for comparison."""
    n = opts.files_tasks
    if not has_arrays(opts):
        return not_available(results, "files", {"tasks": n})
    sizes = opts.split_sizes
    say("files: `fjd run` of an array of %d tasks, %d workers: entries left under the root "
        "(logs/ aside), no-op tasks and tasks printing a line to stdout and to stderr"
        % (n, opts.workers))
    out = {"tasks": n, "workers": opts.workers, "available": True}
    out["noop"] = files_once(opts, n, printing=False)
    say("  no-op: %d entries (%.1f s, %s tasks/s)" % (out["noop"]["entries"],
                                                      out["noop"]["wall_seconds"],
                                                      fmt_num(out["noop"]["tasks_per_s_wall"])))
    out["printing"] = files_once(opts, n, printing=True, sample=opts.files_sample)
    say("  printing: %d entries (%.1f s, %s tasks/s)"
        % (out["printing"]["entries"], out["printing"]["wall_seconds"],
           fmt_num(out["printing"]["tasks_per_s_wall"])))
    shown = out["printing"].get("outputs")
    if shown:
        say("  outputs: %s (fjd show: %.2f s median, %.2f s max per call)"
            % (outputs_text(shown), shown.get("show_seconds_median", 0),
               shown.get("show_seconds_max", 0)))
    say("  --split for comparison: measured at %d and %d tasks, extrapolated to %d"
        % (sizes[0], sizes[1], n))
    out["split_noop"] = split_estimate(opts, n, False, sizes)
    out["split_printing"] = split_estimate(opts, n, True, sizes)
    # fjd 0.2: one job file in done/ and one records/NAME.json per job, plus NAME.out and
    # NAME.err for a job that printed (its folders not counted)
    out["fjd02_noop"], out["fjd02_printing"] = 2 * n, 4 * n
    say("  --split: %s entries (no-op), %s (printing); fjd 0.2's layout: %s and %s"
        % (fmt_num(out["split_noop"]["extrapolated"]),
           fmt_num(out["split_printing"]["extrapolated"]), fmt_num(2 * n), fmt_num(4 * n)))
    results["files"] = out


# -- scenario: submit (its array half) ------------------------------------------------------

def submit_array(opts, a, b, runs=3):
    """`fjd submit --exe true --param a=1..A --param b=1..B`: one array file of A x B
    tasks; the command's wall time (median of runs, each in a fresh root), checked with
    `fjd status --json` (its queued count reads the array's size)."""
    total = a * b
    tried = []
    for _ in range(runs):
        with Scenario(opts, "submit-array") as sc:
            run = run_fjd(opts, ["submit", "--root", sc.root, "--exe", "true", "--param",
                                 "a=1..%d" % a, "--param", "b=1..%d" % b], sc.dir)
            files = count_names(sc.path("jobqueue"))
            queued = status_counts(opts, sc).get("queued")
        tried.append({"seconds": run["seconds"], "exit_status": run["status"],
                      "files": files, "queued_tasks": queued,
                      "ok": run["status"] == 0 and files == 1 and queued == total})
    good = [t["seconds"] for t in tried if t["ok"]]
    out = {"tasks": total, "shape": [a, b], "runs": tried,
           "seconds": statistics.median(good) if len(good) == len(tried) else None,
           "argv": "fjd submit --exe true --param a=1..%d --param b=1..%d" % (a, b)}
    if out["seconds"] is None:
        say("  ! one array of %d tasks: %r" % (total, tried))
    else:
        say("  one array of %d tasks (%d x %d): %.2f s (median of %d), 1 file, %s tasks "
            "queued by fjd status" % (total, a, b, out["seconds"], runs, fmt_num(total)))
    return out


# -- scenario: bigarray ---------------------------------------------------------------------

def scenario_bigarray(opts, results):
    """A dispatcher and W workers on one array of N no-op tasks for a few seconds; the
    peak RSS (VmHWM) of each; then SIGTERM, and what fjd status says is left."""
    n, seconds, w = opts.bigarray_tasks, opts.bigarray_seconds, opts.workers
    if not has_arrays(opts):
        return not_available(results, "bigarray", {"tasks": n})
    say("bigarray: one array of %d no-op tasks, a dispatcher and %d workers for %g s; their "
        "peak RSS; then SIGTERM" % (n, w, seconds))
    with Scenario(opts, "bigarray") as sc:
        sub = run_fjd(opts, ["submit", "-q", "--root", sc.root, "--exe", "true", "--param",
                             "i=1..%d" % n], sc.dir)
        if sub["status"] != 0:
            raise BenchError("fjd submit of %d tasks exited with %d: %s"
                             % (n, sub["status"], sub["stderr"][-300:]))
        t0 = time.time()
        dispatcher = sc.dispatcher()
        workers = [sc.worker() for _ in range(w)]
        polled = {d.pid: 0 for d in sc.daemons}
        while time.time() - t0 < seconds:
            sc.check_alive()
            for d in sc.daemons:
                polled[d.pid] = max(polled[d.pid], proc_status_kb(d.pid, "VmRSS") or 0)
            time.sleep(0.2)
        hwm = {d.pid: proc_status_kb(d.pid, "VmHWM") for d in sc.daemons}
        rss = {d.pid: proc_status_kb(d.pid, "VmRSS") for d in sc.daemons}
        for d in sc.daemons:
            d.signal(signal.SIGTERM)
        stops = {d.pid: d.wait_or_kill(opts.stop_timeout) for d in sc.daemons}
        stopped_at = time.time()
        counts = status_counts(opts, sc)
        left = {folder: count_names(sc.path(folder)) for folder in ("jobqueue", "arrays")}
        records = [r for r in read_records(sc.path("records")) if r.get("k") == "task"]

    def daemon(d):
        return {"pid": d.pid, "peak_rss_mb": hwm[d.pid] / 1024.0 if hwm[d.pid] else None,
                "rss_end_mb": rss[d.pid] / 1024.0 if rss[d.pid] else None,
                "peak_rss_polled_mb": polled[d.pid] / 1024.0, "exit_status": stops[d.pid],
                "killed": d.hung}
    first, last = span(records)
    accounted = sum(counts.get(k, 0) for k in ("queued", "running", "assigned", "done",
                                               "failed", "cancelled"))
    out = {"tasks": n, "workers": w, "seconds": seconds, "available": True,
           "submit_seconds": sub["seconds"], "dispatcher": daemon(dispatcher),
           "workers_rss": [daemon(d) for d in workers], "tasks_finished": len(records),
           "status_after_stop": counts, "tasks_accounted": accounted,
           "names_left": left, "stop_seconds": stopped_at - t0 - seconds}
    if first is not None:
        out["first_start_after_s"] = first - t0
        out["tasks_per_s"] = len(records) / (last - first)
    if accounted != n:
        say("  ! after SIGTERM fjd status accounts for %d of the %d tasks: %s"
            % (accounted, n, counts))
    say("  peak RSS: dispatcher %s MB, workers %s MB; %s tasks finished (%s tasks/s), "
        "exit statuses after SIGTERM %s"
        % (fmt_num(out["dispatcher"]["peak_rss_mb"], 1),
           " / ".join(fmt_num(x["peak_rss_mb"], 1) for x in out["workers_rss"]),
           fmt_num(len(records)), fmt_num(out.get("tasks_per_s")),
           [stops[d.pid] for d in [dispatcher] + workers]))
    results["bigarray"] = out
