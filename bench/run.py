#!/usr/bin/env python3
"""fjd benchmark harness: one command that measures fjd against its targets.

    python bench/run.py                      # everything, default sizes
    python bench/run.py --quick              # a smoke run with small numbers (~1 min)
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
submit      ``fjd submit --split`` of a 100 x 1000 = 100,000-job sweep (reported as not
            available when ``python -m fjd submit --help`` fails), and the 1000 x 1000 =
            1,000,000-task sweep written as one array file.
runbig      a pre-filled queue of --runbig-queue job files: the throughput of its first
            --runbig-jobs jobs under a plain dispatcher and under ``fjd run`` (whose
            dispatcher has --exit-when-done), each on a fresh copy; the ratio.
arrays      one array of --array-tasks no-op tasks through ``fjd run --exe true --param
            i=1..N``: tasks/s from the journals and the command's wall time, against
            ``xargs -P W -n 1 true`` in the same run; the ratio.
files       entries left in the queue root (logs/ aside) after ``fjd run`` of an array of
            --files-tasks tasks, no-op and printing to stdout and stderr; sampled outputs
            read back with ``fjd show``; --split measured small and extrapolated.
status      ``fjd status`` (text, --json) and ``fjd show`` on a root with --status-records
            finished task records (written with fjd's JournalWriter, bench/fill_journals.py).
bigarray    a dispatcher and W workers on an array of --bigarray-tasks tasks for
            --bigarray-seconds: their peak RSS; stopped with SIGTERM.

It prints a table with PASS/MISS per target, writes bench/results/<date>.json and prints a
Markdown snippet for the README. Standard library only; Python 3.8+.

The harness relies on fjd's public contract: the folders (jobqueue/, workerqueue/,
jobpod/, done/, failed/, records/), the journals records/*.journal (read with fjd's own
fjd/journal.py), the daemon command lines, and ``python -m fjd`` (submit, run, status,
show) when it exists.

This file is the entry point only (options, main, clean-up); the rest is in harness.py
(shared helpers), scenarios.py and scenarios_arrays.py (the fjd scenarios; fill_journals.py
writes the status scenario's records), competitors.py (xargs, GNU parallel, HyperQueue) and
report.py (targets, table, Markdown), next to it.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

from compare import compare
from harness import (DEFAULTS, HERE, QUICK, REPO, BenchError, machine_info, remove_leftovers,
                     say, warn_if_slow_create)
from report import (TARGETS, evaluate, fmt_num, fmt_ratio, machine_line, markdown,
                    outputs_text, shared_text, text_table)
from scenarios import (SCENARIOS, fjd_throughput_once, runbig_line, scenario_idle,
                       scenario_latency, scenario_million, scenario_profile, scenario_runbig,
                       scenario_submit, scenario_throughput)
from scenarios_arrays import scenario_arrays, scenario_bigarray, scenario_files, scenario_status


# -- main ------------------------------------------------------------------------------------

def parse_sweep(text):
    match = re.match(r"^\s*(\d+)\s*[xX*]\s*(\d+)\s*$", text)
    if not match:
        raise argparse.ArgumentTypeError("%r is not a sweep shape such as 100x1000" % text)
    return int(match.group(1)), int(match.group(2))


def parse_sizes(text):
    match = re.match(r"^\s*(\d+)\s*,\s*(\d+)\s*$", text)
    if not match or not 0 < int(match.group(1)) < int(match.group(2)):
        raise argparse.ArgumentTypeError("%r is not two growing sizes such as 1000,2000"
                                         % text)
    return int(match.group(1)), int(match.group(2))


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python bench/run.py", description=__doc__.split("\n\n")[0],
        epilog="Targets: throughput >= 1,000 jobs/s and >= 0.75 x xargs -P2 (W=2, "
               "N=2000); an array of 20,000 tasks >= 0.9 x xargs -P2; latency median <= 20 "
               "ms, p99 <= 100 ms; idle CPU <= 1% of a core per daemon; 10^6 queued: "
               "dispatcher peak RSS <= 200 MB and throughput >= 80% of the small queue; fjd "
               "submit --split of a 100,000-job sweep <= 10 s, of a 1,000,000-task array <= 1 "
               "s; 90,000 queued: fjd run >= 0.9 x a plain dispatcher; <= 200 entries left "
               "after fjd run of 100,000 tasks; fjd status on 10^6 task records <= 2 s; a "
               "10^7-task array: peak RSS <= 50 MB per daemon.")
    parser.add_argument("--jobs", "-n", type=int, help="jobs per throughput run "
                        "(default %d; --quick: %d)" % (DEFAULTS["jobs"], QUICK["jobs"]))
    parser.add_argument("--workers", "-w", type=int, default=2, help="workers (default 2)")
    parser.add_argument("--repeat", "-k", type=int, help="throughput runs per tool; the "
                        "median is reported (default %d)" % DEFAULTS["repeat"])
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help="comma-separated scenarios: %s (default: all); "
                             "'profile' is the same as --profile" % ",".join(SCENARIOS))
    parser.add_argument("--quick", action="store_true",
                        help="small numbers for a smoke run (about 1 min)")
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
    parser.add_argument("--runbig-queue", type=int, metavar="N",
                        help="job files in the runbig scenario's pre-filled queue (default "
                             "%d; --quick: %d)" % (DEFAULTS["runbig_queue"],
                                                   QUICK["runbig_queue"]))
    parser.add_argument("--runbig-jobs", type=int, metavar="N",
                        help="jobs timed from it, under a plain dispatcher and under fjd run "
                             "(default %d; --quick: %d)" % (DEFAULTS["runbig_jobs"],
                                                            QUICK["runbig_jobs"]))
    shared = parser.add_argument_group(
        "the shared scenario (fjd on sshfs; also: python bench/shared.py)")
    shared.add_argument("--shared-options", choices=("recommended", "defaults", "both"),
                        default="both", help="which sshfs mount options to measure: fjd's "
                        "recommended dir_cache=no,attr_timeout=0,entry_timeout=0, sshfs's "
                        "defaults, or both one after the other (default both)")
    shared.add_argument("--shared-idle-seconds", type=float, metavar="S",
                        help="idle request-counting window (default %g; --quick: %g)"
                             % (DEFAULTS["shared_idle_seconds"], QUICK["shared_idle_seconds"]))
    shared.add_argument("--shared-jobs", type=int, metavar="N",
                        help="single-file no-op jobs (default %d; --quick: %d)"
                             % (DEFAULTS["shared_jobs"], QUICK["shared_jobs"]))
    shared.add_argument("--shared-tasks", type=int, metavar="N",
                        help="tasks of the no-op array (default %d; --quick: %d)"
                             % (DEFAULTS["shared_tasks"], QUICK["shared_tasks"]))
    shared.add_argument("--shared-rounds", type=int, metavar="R",
                        help="throughput rounds, each the same 4 workers on a local disk "
                             "and then on sshfs; the ratios are the median of the rounds' "
                             "(default %d; --quick: %d)" % (DEFAULTS["shared_rounds"],
                                                             QUICK["shared_rounds"]))
    shared.add_argument("--shared-latency-samples", type=int, metavar="K",
                        help="latency samples with UDP and again with UDP blocked (default "
                             "%d; --quick: %d)" % (DEFAULTS["shared_latency_samples"],
                                                   QUICK["shared_latency_samples"]))
    shared.add_argument("--shared-latency-idle", type=float, default=10.0, metavar="S",
                        help="seconds every daemon is left idle before each latency sample "
                             "(default 10)")
    shared.add_argument("--shared-settle", type=float, default=10.0, metavar="S",
                        help="seconds the daemons are left to settle after they start, "
                             "before the idle window (default 10)")
    shared.add_argument("--shared-latency-timeout", type=float, default=60.0, metavar="S",
                        help="give up on a latency sample after this long (default 60)")
    shared.add_argument("--shared-timeout", type=float, default=300.0, metavar="S",
                        help="give up on the jobs or the array after this long (default 300)")
    shared.add_argument("--shared-keep-logs", metavar="DIR",
                        help="keep the sftp-server's log lines of the jobs and the array "
                             "windows in DIR, one file per variant, window and host "
                             "(every request with its path: where the requests go)")
    parser.add_argument("--sweep", type=parse_sweep, metavar="AxB",
                        help="fjd submit --split sweep shape (default 100x1000)")
    parser.add_argument("--array-sweep", type=parse_sweep, metavar="AxB",
                        help="fjd submit sweep shape written as one array (default %s; "
                             "--quick: %s)" % (DEFAULTS["array_sweep"], QUICK["array_sweep"]))
    parser.add_argument("--array-tasks", type=int, metavar="N",
                        help="tasks of the arrays scenario's array (default %d; --quick: %d)"
                             % (DEFAULTS["array_tasks"], QUICK["array_tasks"]))
    parser.add_argument("--files-tasks", type=int, metavar="N",
                        help="tasks of the files scenario's arrays (default %d; --quick: %d)"
                             % (DEFAULTS["files_tasks"], QUICK["files_tasks"]))
    parser.add_argument("--files-sample", type=int, metavar="K",
                        help="random tasks whose output the files scenario reads back with "
                             "fjd show, besides the first and the last (default %d; --quick: "
                             "%d)" % (DEFAULTS["files_sample"], QUICK["files_sample"]))
    parser.add_argument("--split-sizes", type=parse_sizes, metavar="A,B",
                        help="the two sizes at which the files scenario measures --split, "
                             "to extrapolate from (default %s; --quick: %s)"
                             % (DEFAULTS["split_sizes"], QUICK["split_sizes"]))
    parser.add_argument("--status-records", type=int, metavar="N",
                        help="finished task records for the status scenario (default %d; "
                             "--quick: %d)" % (DEFAULTS["status_records"],
                                               QUICK["status_records"]))
    parser.add_argument("--bigarray-tasks", type=int, metavar="N",
                        help="tasks of the bigarray scenario's array (default %d; --quick: "
                             "%d)" % (DEFAULTS["bigarray_tasks"], QUICK["bigarray_tasks"]))
    parser.add_argument("--bigarray-seconds", type=float, metavar="S",
                        help="how long the bigarray scenario's daemons run (default %g; "
                             "--quick: %g)" % (DEFAULTS["bigarray_seconds"],
                                               QUICK["bigarray_seconds"]))
    scale = parser.add_argument_group("the scale scenario (many workers on this machine)")
    scale.add_argument("--scale-workers", type=parse_sizes, metavar="A,B",
                       help="worker counts whose idle CPU is measured; the largest also runs "
                            "`sleep 1` jobs (default %s; --quick: %s)"
                            % (DEFAULTS["scale_workers"], QUICK["scale_workers"]))
    scale.add_argument("--scale-rounds", type=int, metavar="R",
                       help="`sleep 1` jobs per worker (default %d; --quick: %d)"
                            % (DEFAULTS["scale_rounds"], QUICK["scale_rounds"]))
    scale.add_argument("--scale-idle-seconds", type=float, metavar="S",
                       help="idle CPU window (default %g; --quick: %g)"
                            % (DEFAULTS["scale_idle_seconds"], QUICK["scale_idle_seconds"]))
    scale.add_argument("--scale-settle", type=float, default=10.0, metavar="S",
                       help="seconds the workers are left to settle after all announced "
                            "(default 10)")
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
    parser.add_argument("--compare", metavar="REV",
                        help="before and after: run the --only scenarios (throughput, arrays, "
                             "shared) alternately on a temporary git worktree of REV and on "
                             "this working tree, --rounds times, and compare the medians")
    parser.add_argument("--rounds", type=int, default=3, metavar="N",
                        help="rounds of --compare (default 3)")
    opts = parser.parse_args(argv)
    preset = QUICK if opts.quick else DEFAULTS
    for key, value in preset.items():
        if getattr(opts, key) is None:
            if key in ("sweep", "array_sweep"):
                value = parse_sweep(value)
            elif key in ("split_sizes", "scale_workers"):
                value = parse_sizes(value)
            setattr(opts, key, value)
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
    if min(opts.shared_jobs, opts.shared_tasks, opts.shared_latency_samples,
           opts.shared_rounds) < 1:
        parser.error("--shared-jobs, --shared-tasks, --shared-latency-samples and "
                     "--shared-rounds must be at least 1")
    if opts.runbig_queue < 1 or opts.runbig_jobs < 1:
        parser.error("--runbig-queue and --runbig-jobs must be at least 1")
    if min(opts.array_tasks, opts.files_tasks, opts.status_records, opts.bigarray_tasks) < 1:
        parser.error("--array-tasks, --files-tasks, --status-records and --bigarray-tasks "
                     "must be at least 1")
    if opts.files_sample < 0 or opts.bigarray_seconds <= 0:
        parser.error("--files-sample must be at least 0 and --bigarray-seconds above 0")
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
    if opts.compare:
        return compare(opts)
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
            elif name == "runbig":
                scenario_runbig(opts, results)
            elif name == "arrays":
                scenario_arrays(opts, results)
            elif name == "files":
                scenario_files(opts, results)
            elif name == "status":
                scenario_status(opts, results)
            elif name == "bigarray":
                scenario_bigarray(opts, results)
            elif name == "scale":
                from scenarios_scale import scenario_scale
                scenario_scale(opts, results)
            elif name == "shared":
                from sharedfs import scenario_shared  # imports the test infrastructure
                scenario_shared(opts, results)
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
    if results.get("runbig", {}).get("plain"):
        print(runbig_line(results["runbig"]))
    arr = results.get("arrays")
    if arr and arr.get("available"):
        print("array tasks per second: fjd %s (%s with fjd run's start-up and exit), xargs -P%d "
              "%s; ratio %s (per run: %s)%s"
              % (fmt_num(arr["fjd"]["median"]), fmt_num(arr["fjd"]["wall_tasks_per_s_median"]),
                 arr["workers"], fmt_num(arr["xargs"]["median"]),
                 fmt_ratio(arr["ratio_vs_xargs"]),
                 ", ".join(fmt_ratio(r) for r in arr["ratio_per_run"]),
                 "; single job files %s" % fmt_ratio(arr["single_file_ratio_vs_xargs"])
                 if arr.get("single_file_ratio_vs_xargs") is not None else ""))
    fil = results.get("files")
    if fil and fil.get("available") and fil["printing"].get("outputs"):
        print("files: %s" % outputs_text(fil["printing"]["outputs"]))
    shared_details = shared_text(results.get("shared"))
    if shared_details:
        print("")
        print(shared_details)
    if any(name in results for name in ("idle", "latency", "million", "runbig")):
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
