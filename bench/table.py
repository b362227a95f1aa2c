"""The scenarios as one table, in the order they run: run.py walks it, and nothing else
lists them.

Each row: the scenario's name; what fjd is compared with and its targets (as the report
prints them; the limits are report.TARGETS, the sizes sizes.SIZES under the same name);
run(opts, results), which stores what it measured under results[name]; rows(res, results),
its rows in the report's table; summary(res, results), the lines printed under the table.
`python bench/run.py --list` prints the table with its sizes.
"""
import importlib
from collections import namedtuple

import rows
import rows_shared
import scenarios
import scenarios_arrays
import scenarios_queues
import scenarios_scale
import scenarios_status
from sizes import SIZES

Entry = namedtuple("Entry", "name against targets run rows summary")


def no_summary(res, results):
    return []


def later(module, function):
    """run() of a scenario whose module is imported only when it runs: the shared scenario
    imports the test suite's infrastructure (test/hosts.py: the private sshd and the hosts),
    which a run of the other scenarios does not need."""
    def run(opts, results):
        return getattr(importlib.import_module(module), function)(opts, results)
    return run


TABLE = (
    Entry("throughput", "xargs -P W, GNU parallel -j W, HyperQueue",
          ">= 1,000 jobs/s; >= 0.75 x xargs -P2", scenarios.scenario_throughput,
          rows.throughput_rows, rows.throughput_summary),
    Entry("arrays", "xargs -P W (same run); the throughput scenario's ratio",
          ">= 0.9 x xargs -P2", scenarios_arrays.scenario_arrays, rows.array_rows,
          rows.arrays_summary),
    Entry("latency", "-", "median <= 20 ms, p99 <= 100 ms", scenarios.scenario_latency,
          rows.latency_rows, no_summary),
    Entry("idle", "-", "<= 1% of a core per daemon", scenarios.scenario_idle, rows.idle_rows,
          no_summary),
    Entry("submit", "the harness's own write of as many files",
          "--split of 100,000 jobs <= 10 s; 1,000,000 tasks as one array <= 1 s",
          scenarios.scenario_submit, rows.submit_rows, no_summary),
    Entry("files", "--split (extrapolated), fjd 0.2's layout",
          "<= 200 entries after 100,000 tasks; outputs read back right",
          scenarios_arrays.scenario_files, rows.files_rows, rows.files_summary),
    Entry("status", "`fjd status --help` (start-up alone)", "<= 2 s on 10^6 task records",
          scenarios_status.scenario_status, rows.status_rows, no_summary),
    Entry("bigarray", "-", "peak RSS <= 50 MB per daemon on 10^7 tasks",
          scenarios_arrays.scenario_bigarray, rows.bigarray_rows, no_summary),
    Entry("million", "a small pre-filled queue run the same way, before and after",
          "dispatcher peak RSS <= 200 MB; >= 80% of the small queue's jobs/s",
          scenarios_queues.scenario_million, rows.million_rows, no_summary),
    Entry("runbig", "a plain dispatcher on the same queue", "fjd run >= 0.9 x plain",
          scenarios_queues.scenario_runbig, rows.runbig_rows, rows.runbig_summary),
    Entry("scale", "-", "200 idle workers <= 5% of a core; busy >= 95% in steady state",
          scenarios_scale.scenario_scale, rows.scale_rows, no_summary),
    Entry("shared", "the same daemons on a local disk",
          "see bench/README.md, \"The shared scenario\"",
          later("sharedfs", "scenario_shared"), rows_shared.shared_rows,
          rows_shared.shared_summary),
)
NAMES = tuple(entry.name for entry in TABLE)


def report_rows(results):
    """Every measured scenario's rows, in the table's order."""
    found = []
    for entry in TABLE:
        if results.get(entry.name):
            found += entry.rows(results[entry.name], results)
    return found


def summary_lines(results):
    found = []
    for entry in TABLE:
        if results.get(entry.name):
            found += entry.summary(results[entry.name], results)
    return found


def listing():
    """The table as text, with each scenario's sizes: a full run's and --quick's."""
    sizes = dict(SIZES)
    out = []
    for entry in TABLE:
        out.append("%-10s against: %s\n%-10s target:  %s" % (entry.name, entry.against, "",
                                                             entry.targets))
        for size in sizes.get(entry.name, []):
            out.append("%-10s --%s %s (--quick: %s)" % ("", size.key.replace("_", "-"),
                                                        size.full, size.quick))
    return "\n".join(out)
