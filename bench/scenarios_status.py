"""The status scenario: `fjd status` (text and --json) and `fjd show` on a root that holds
N finished task records, written beforehand by bench/fill_journals.py with the benchmarked
fjd's JournalWriter (a million records through `fjd run` would take hours).

Like the other scenarios it takes the parsed options and the results dict and stores what
it measured under its own key.
"""
import json
import os
import re
import statistics
import subprocess

from harness import HERE, BenchError, Scenario, fjd_env, say
from commands import run_fjd
from report import fmt_num
from scenarios_arrays import has_arrays, not_available

SHOW_INDEX = 0.777777  # the status scenario looks up task N * this (#777777 of 10^6)


def timed(opts, sc, args, runs=3, timeout=600.0):
    """run_fjd `runs` times; (median seconds, every run's result)."""
    done = [run_fjd(opts, args + ["--root", sc.root], sc.dir, timeout=timeout)
            for _ in range(runs)]
    return statistics.median(r["seconds"] for r in done), done


def scenario_status(opts, results):
    """`fjd status` (text and --json) and `fjd show` on a root holding N finished task
    records, written beforehand by bench/fill_journals.py with fjd's JournalWriter."""
    n = opts.status_records
    if not has_arrays(opts):
        return not_available(results, "status", {"records": n})
    say("status: %d finished task records (2 worker journals, 1%% failed), written with "
        "fjd's JournalWriter; then fjd status, fjd status --json and fjd show" % n)
    out = {"records": n, "available": True}
    with Scenario(opts, "status") as sc:
        fill = subprocess.run([opts.python, os.path.join(HERE, "fill_journals.py"), sc.root,
                               str(n), "--workers", "2"], cwd=sc.dir, env=fjd_env(opts),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=max(600.0, n / 1000.0))
        if fill.returncode != 0:
            raise BenchError("fill_journals.py exited with %d: %s"
                             % (fill.returncode, fill.stderr.decode("utf-8", "replace")[-500:]))
        filled = json.loads(fill.stdout.decode().strip().splitlines()[-1])
        out["filled"] = filled
        say("  wrote %s task records (%.0f MB of journals and output) in %.1f s"
            % (fmt_num(n), filled["records_bytes"] / 1e6, filled["seconds"]))
        out["startup_s"], _ = timed(opts, sc, ["status", "--help"])
        out["status_s"], runs = timed(opts, sc, ["status"])
        out["status_max_rss_mb"] = max(r["max_rss_kb"] or 0 for r in runs) / 1024.0
        out["status_ok"] = all(r["status"] == 0 for r in runs) and bool(re.search(
            r"^\s*done\s+%d\b" % filled["done"], runs[-1]["stdout"].decode("utf-8", "replace"),
            re.M))
        out["status_json_s"], runs = timed(opts, sc, ["status", "--json"])
        out["status_json_max_rss_mb"] = max(r["max_rss_kb"] or 0 for r in runs) / 1024.0
        try:
            state = json.loads(runs[-1]["stdout"].decode())
            counts = state["counts"]
            out["status_json_counts"] = counts
            out["status_json_failures_listed"] = len(state["failed"])
            out["status_json_ok"] = (counts["done"] == filled["done"] and
                                     counts["failed"] == filled["failed"])
        except (ValueError, KeyError) as error:
            out["status_json_ok"] = False
            out["status_json_error"] = str(error)
        if not (out["status_ok"] and out["status_json_ok"]):
            say("  ! fjd status did not report %d done and %d failed"
                % (filled["done"], filled["failed"]))
        name = filled["array"]
        index = max(1, int(round(n * SHOW_INDEX)))
        shows = {}
        for label, args, expected in (
                ("task_stdout", ["show", "%s#%d" % (name, index), "--stdout"],
                 "out %d\n" % index),
                ("task_record", ["show", "%s#%d" % (name, index)], "task: %s#%d" % (name, index)),
                ("array_summary", ["show", name], "done: %d" % filled["done"])):
            seconds, runs = timed(opts, sc, args, runs=1)
            text = runs[0]["stdout"].decode("utf-8", "replace")
            shows[label] = {"argv": "fjd " + " ".join(args), "seconds": seconds,
                            "max_rss_mb": (runs[0]["max_rss_kb"] or 0) / 1024.0,
                            "exit_status": runs[0]["status"], "correct": expected in text}
            if not shows[label]["correct"]:
                say("  ! `fjd %s` printed %r, not %r" % (" ".join(args), text[:200], expected))
        out["show_index"] = index
        out["show"] = shows
    say("  fjd status %.2f s, --json %.2f s (python + import alone: %.2f s); fjd show "
        "#%d --stdout %.2f s (%.0f MB), fjd show ARRAY %.2f s (%.0f MB)"
        % (out["status_s"], out["status_json_s"], out["startup_s"], index,
           shows["task_stdout"]["seconds"], shows["task_stdout"]["max_rss_mb"],
           shows["array_summary"]["seconds"], shows["array_summary"]["max_rss_mb"]))
    results["status"] = out
