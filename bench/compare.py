"""Before and after: the same scenarios on a checkout of REV and on the working tree.

    python bench/run.py --compare REV [--rounds N] --only throughput,arrays[,shared]

REV is checked out in a temporary `git worktree` (removed at the end). Each round runs
every chosen scenario once on each side, in a fresh `bench/run.py --fjd SIDE` process of
this checkout's bench, so the daemons and every `python -m fjd` of a side come from that
side's tree and nothing of one side's fjd stays loaded for the other. The sides take turns
first (before, after; then after, before; ...), so that a machine that speeds up or slows
down during the run favours neither. Per measure: the median of each side over the
rounds, the ratio after / before and PASS when the after side is no more than 3% slower
(issue 28, "nothing slower"; a side more than 3% faster is marked so). For throughput, the
fjd / xargs -P W ratio of each side too, against its target of 0.75.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from harness import HERE, REPO, BenchError, say
from report import TARGETS, fmt_num, fmt_ratio, text_table

TOLERANCE = 0.03  # after / before may be this much below 1

# scenario -> (label, how to read the measure from a run's results); higher is better
MEASURES = {
    "throughput": [("single-file jobs/s", lambda r: r["throughput"]["fjd"]["median"])],
    "arrays": [("array tasks/s", lambda r: r["arrays"]["fjd"]["median"])],
    "shared": [("sshfs single-file jobs/s", lambda r: shared_rate(r, "jobs")),
               ("sshfs array tasks/s", lambda r: shared_rate(r, "array"))],
}
# options of bench/run.py that this mode sets for each side's run, and its own
OWN_OPTIONS = ("--compare", "--rounds", "--fjd", "--results-dir")
# one run per side per round unless asked otherwise: the rounds are the repetitions
ONE_RUN = (("--repeat", "1"), ("--shared-rounds", "1"), ("--shared-options", "recommended"))


def shared_rate(results, kind):
    """The sshfs jobs/s or tasks/s (recommended options), the median of the scenario's own
    rounds."""
    rounds = results["shared"]["variants"]["recommended"].get("rounds") or []
    values = [r[kind] for r in rounds if r.get(kind)]
    return statistics.median(values) if values else None


def strip_options(argv, names):
    """argv without the options in names (as `--name value` or `--name=value`)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in names:
            skip = True
        elif not any(arg.startswith(name + "=") for name in names):
            out.append(arg)
    return out


def side_argv(opts, fjd_dir, results_dir):
    """bench/run.py's command line for one side's run."""
    argv = strip_options(opts.argv, OWN_OPTIONS)
    for option, value in ONE_RUN:
        if not any(a == option or a.startswith(option + "=") for a in argv):
            argv += [option, value]
    return ([sys.executable, os.path.join(HERE, "run.py")] + argv +
            ["--fjd", fjd_dir, "--results-dir", results_dir])


class Checkout:
    """A temporary `git worktree` of rev, removed when the block ends."""

    def __init__(self, rev, parent):
        self.rev = rev
        self.path = os.path.join(tempfile.mkdtemp(prefix="fjd-bench-compare-", dir=parent),
                                 "before")

    def __enter__(self):
        proc = subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", self.path,
                               self.rev], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)
            raise BenchError("git worktree add %s: %s"
                             % (self.rev, proc.stdout.decode("utf-8", "replace").strip()))
        return self.path

    def __exit__(self, *exc):
        subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", self.path],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)
        subprocess.run(["git", "-C", REPO, "worktree", "prune"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return False


def run_side(opts, side, fjd_dir, round_number):
    """One bench/run.py process on one side; its results dict (raises BenchError)."""
    results_dir = tempfile.mkdtemp(prefix="fjd-bench-compare-results-", dir=opts.tmp)
    try:
        argv = side_argv(opts, fjd_dir, results_dir)
        say("compare: round %d, %s (%s)" % (round_number, side, fjd_dir))
        proc = subprocess.run(argv, cwd=REPO, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=None)
        names = [n for n in os.listdir(results_dir) if n.endswith(".json")]
        if not names:
            raise BenchError("%s: bench/run.py exited with %d and wrote no results:\n%s"
                             % (side, proc.returncode,
                                proc.stdout.decode("utf-8", "replace")[-2000:]))
        with open(os.path.join(results_dir, names[0])) as handle:
            return json.load(handle)["results"]
    finally:
        shutil.rmtree(results_dir, ignore_errors=True)


def measure(results, read):
    try:
        return read(results)
    except (KeyError, TypeError, AttributeError):
        return None


def verdict(after_over_before):
    if after_over_before is None:
        return "n/a"
    if after_over_before < 1.0 - TOLERANCE:
        return "MISS"
    return "PASS (faster)" if after_over_before > 1.0 + TOLERANCE else "PASS"


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def xargs_ratio(results):
    return results["throughput"]["ratio_vs_xargs"]


def per_round(rounds, names):
    """{label: {"before": [value per round], "after": [...]}} of every measure, and of the
    fjd / xargs ratio when throughput is compared."""
    readers = [m for name in names for m in MEASURES[name]]
    if "throughput" in names:
        readers.append(("fjd / xargs -P%d" % rounds[0]["workers"], xargs_ratio))
    return {label: {side: [measure(r[side], read) for r in rounds]
                    for side in ("before", "after")} for label, read in readers}


def compare_rows(values):
    """(measure, before, after, after / before, status) per measure; the fjd / xargs ratio
    of each side judged against its target."""
    rows = []
    for label, sides in values.items():
        before, after = (median_or_none(sides[s]) for s in ("before", "after"))
        if label.startswith("fjd / xargs"):
            for side, value in (("before", before), ("after", after)):
                rows.append(("  %s, %s (>= %.2f)" % (label, side, TARGETS["vs_xargs"]), "",
                             "", fmt_ratio(value), "n/a" if value is None else
                             "PASS" if value >= TARGETS["vs_xargs"] else "MISS"))
            continue
        change = after / before if before and after else None
        rows.append((label, fmt_num(before), fmt_num(after), fmt_ratio(change),
                     verdict(change)))
    return rows


def round_lines(values):
    return ["  %s: before %s; after %s" % (
        label, ", ".join(fmt_value(v) for v in sides["before"]),
        ", ".join(fmt_value(v) for v in sides["after"])) for label, sides in values.items()]


def fmt_value(value):
    return fmt_ratio(value) if value is not None and value < 10 else fmt_num(value)


def compare(opts):
    """Run the rounds, print the table and save it with every round's figures; the exit
    status (1 when a side's run had a failed scenario)."""
    rounds = []
    with Checkout(opts.compare, opts.tmp) as before_dir:
        sides = [("before", before_dir), ("after", REPO)]
        for number in range(1, opts.rounds + 1):
            got = {"workers": opts.workers}
            for side, path in sides if number % 2 else sides[::-1]:
                got[side] = run_side(opts, side, path, number)
            rounds.append(got)
    values = per_round(rounds, opts.only)
    rows = compare_rows(values)
    print("")
    print("before: %s (git worktree of %s); after: the working tree %s; %d round(s), "
          "alternating which side runs first" % (opts.compare, opts.compare, REPO,
                                                 opts.rounds))
    print("")
    print(text_table(rows, ("measure", "before (median)", "after (median)", "after / before",
                            "within 3%")))
    print("")
    print("rounds (in order):")
    print("\n".join(round_lines(values)))
    os.makedirs(opts.results_dir, exist_ok=True)
    out_path = os.path.join(opts.results_dir, time.strftime("%Y-%m-%d_%H%M%S") + "-compare.json")
    with open(out_path, "w") as handle:
        json.dump({"rev": opts.compare, "rounds": opts.rounds, "only": opts.only,
                   "per_round": values, "table": rows, "results": rounds}, handle, indent=1,
                  sort_keys=True, default=str)
    print("")
    print("results: %s" % out_path)
    sys.stdout.flush()
    failed = [r for r in rounds for s in ("before", "after") if r[s].get("errors")]
    return 1 if failed else 0
