#!/usr/bin/env python3
"""fjd benchmark harness: one command that measures fjd against its targets.

    python bench/run.py                      # everything, default sizes
    python bench/run.py --quick              # a smoke run with small numbers (~1 min)
    python bench/run.py --only throughput,latency --jobs 5000 --workers 2
    python bench/run.py --million 200000     # a smaller pre-filled queue
    python bench/run.py --only throughput --profile   # plus cProfile of the daemons
    python bench/run.py --list               # the scenarios, their sizes and targets
    python bench/run.py --compare REV --only throughput,arrays   # before and after

The scenarios, what each is compared with and its targets are the table in table.py (and
bench/README.md); their sizes are the table in sizes.py. Each runs in fresh queue roots
under --tmp with the daemons started as ``python dispatcher.py --root R --log-level
WARNING`` and ``python worker.py ...`` of the --fjd checkout, with their default settings,
stopped with SIGINT (killed if they hang). It prints a table with PASS/MISS per target,
writes bench/results/<date>.json and prints a Markdown snippet for docs/speed.md. --compare
runs the chosen scenarios on a checkout of REV and on this working tree (compare.py).

The harness drives fjd through its public contract only: the daemons' and ``python -m
fjd``'s command lines, ``fjd.submit``, the folders of a queue root and the journals'
on-disk format (journals.py). Standard library only; Python 3.8+.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import sizes
from compare import MEASURES, compare
from harness import HERE, REPO, BenchError, remove_leftovers, say, warn_if_slow_create
from machine import machine_info
from report import TARGETS, machine_line, markdown, text_table
from sharedfs_figures import SHARED_CASES
from profiling import scenario_profile
from table import NAMES, TABLE, listing, report_rows, summary_lines


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python bench/run.py", description=__doc__.split("\n\n")[0],
        epilog="The scenarios and their targets: python bench/run.py --list.")
    parser.add_argument("--only", default=",".join(NAMES),
                        help="comma-separated scenarios: %s (default: all); "
                             "'profile' is the same as --profile" % ",".join(NAMES))
    parser.add_argument("--list", action="store_true",
                        help="print the scenarios with their sizes and targets, and exit")
    parser.add_argument("--quick", action="store_true",
                        help="small numbers for a smoke run (about 1 min)")
    parser.add_argument("--workers", "-w", type=int, default=2, help="workers (default 2)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter for the daemons and fjd submit (default: this one)")
    shared = parser.add_argument_group(
        "the shared scenario (fjd on sshfs; also: python bench/shared.py)")
    scale = parser.add_argument_group("the scale scenario (many workers on this machine)")
    sizes.add_options(parser, {"shared": shared, "scale": scale})
    shared.add_argument("--shared-options", choices=("recommended", "defaults", "both"),
                        default="both", help="which sshfs mount options to measure: fjd's "
                        "recommended dir_cache=no,attr_timeout=0,entry_timeout=0, sshfs's "
                        "defaults, or both one after the other (default both)")
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
    shared.add_argument("--shared-cases", default=",".join(SHARED_CASES), metavar="LIST",
                        help="which parts of the shared scenario to run, comma-separated, "
                             "of %s (default all). udp-blocked drops UDP on loopback "
                             "machine-wide with iptables: leave it out on a machine others "
                             "use" % ",".join(SHARED_CASES))
    shared.add_argument("--shared-keep-logs", metavar="DIR",
                        help="keep the sftp-server's log lines of the jobs and the array "
                             "windows in DIR, one file per variant, window and host "
                             "(every request with its path: where the requests go)")
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
    if opts.list:
        print(listing())
        sys.exit(0)
    sizes.apply_preset(opts)
    check_options(parser, opts)
    opts.tmp = os.path.abspath(opts.tmp or default_tmp())
    opts.results_dir = os.path.abspath(opts.results_dir)
    opts.fjd = os.path.abspath(opts.fjd)
    if not os.path.isfile(os.path.join(opts.fjd, "dispatcher.py")):
        parser.error("--fjd %s: no dispatcher.py there" % opts.fjd)
    opts.python = os.path.abspath(shutil.which(opts.python) or opts.python)
    opts.argv = list(argv)
    return opts


def check_options(parser, opts):
    opts.only = [s.strip() for s in opts.only.split(",") if s.strip()]
    if "profile" in opts.only:
        opts.profile = True
        opts.only.remove("profile")
    unknown = [s for s in opts.only if s not in NAMES]
    if unknown:
        parser.error("unknown scenario(s) %s; choose from %s"
                     % (", ".join(unknown), ",".join(NAMES)))
    if opts.compare and not set(opts.only) <= set(MEASURES):
        parser.error("--compare compares %s: give them with --only" % ",".join(MEASURES))
    counts = ("jobs", "workers", "repeat", "shared_jobs", "shared_tasks",
              "shared_latency_samples", "shared_rounds", "runbig_queue", "runbig_jobs",
              "array_tasks", "files_tasks", "status_records", "bigarray_tasks", "rounds")
    small = ["--" + key.replace("_", "-") for key in counts if getattr(opts, key) < 1]
    if small:
        parser.error("%s must be at least 1" % ", ".join(small))
    if opts.files_sample < 0 or opts.bigarray_seconds <= 0:
        parser.error("--files-sample must be at least 0 and --bigarray-seconds above 0")


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
        try:
            return compare(opts)
        except (BenchError, OSError, subprocess.SubprocessError) as error:
            say("compare: FAILED: %s" % error)
            return 1
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
    started = time.monotonic()
    results, errors = {}, []
    for entry in TABLE:
        if entry.name in opts.only:
            attempt(entry.name, lambda: entry.run(opts, results), results, errors)
    profile_text = None
    if opts.profile:
        profile_text = attempt("profile", lambda: scenario_profile(opts, results, stamp),
                               results, errors)
    machine["loadavg_end"] = list(os.getloadavg())
    rows = report_rows(results)
    report = {"machine": machine, "options": {k: v for k, v in vars(opts).items()},
              "targets": TARGETS, "results": results,
              "table": [dict(zip(("measure", "target", "result", "status"), r)) for r in rows],
              "elapsed_seconds": time.monotonic() - started}
    out_path = os.path.join(opts.results_dir, stamp + ".json")
    with open(out_path, "w") as handle:
        json.dump(report, handle, indent=1, sort_keys=True, default=str)
        handle.write("\n")
    print_report(opts, machine, results, rows, profile_text, errors, out_path)
    return 1 if errors else 0


def attempt(name, run, results, errors):
    """run(); a scenario that fails is reported and the next one runs."""
    try:
        return run()
    except (BenchError, OSError, subprocess.SubprocessError) as error:
        say("%s: FAILED: %s" % (name, error))
        errors.append("%s: %s" % (name, error))
        if name != "profile":
            results.setdefault("errors", {})[name] = str(error)
        return None


def print_report(opts, machine, results, rows, profile_text, errors, out_path):
    print("")
    print("fjd benchmark, %s" % machine_line(machine))
    print("load average (1/5/15 min) at the start %s, at the end %s"
          % (" ".join("%.2f" % x for x in machine["loadavg_start"]),
             " ".join("%.2f" % x for x in machine["loadavg_end"])))
    print("")
    print(text_table(rows) if rows else "(nothing measured)")
    lines = summary_lines(results)
    if lines:
        print("")
        print("\n".join(lines))
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
    print("Markdown for docs/speed.md:")
    print("")
    print(markdown(rows, machine, opts))
    sys.stdout.flush()


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
