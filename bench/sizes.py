"""The sizes of every scenario as one table: the option, a full run's value, --quick's.

bench/run.py makes its size options from this table, the report reads a full run's values
from it to say "small run" where a scenario ran smaller than its target is defined for.
An option given on the command line wins over both. Standard library only.
"""
import argparse
import re
from collections import namedtuple


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


Size = namedtuple("Size", "key full quick type metavar help")
N, S = int, float  # counts and seconds

# (scenario, [sizes]) in the order of `python bench/run.py --help`
SIZES = (
    ("throughput", [
        Size("jobs", 2000, 200, N, "N", "jobs per throughput run"),
        Size("repeat", 3, 1, N, "K", "runs per tool (throughput, arrays); the median is "
                                     "reported"),
    ]),
    ("latency", [Size("latency_samples", 200, 20, N, "K", "single jobs into an idle system")]),
    ("idle", [Size("idle_seconds", 30.0, 3.0, S, "S", "idle CPU window")]),
    ("million", [
        Size("million", 1000000, 5000, N, "N", "job files in the pre-filled queue"),
        Size("million_sample", 20000, 1000, N, "K", "jobs run from the big queue to measure "
                                                    "throughput"),
        Size("million_seconds", 300.0, 8.0, S, "S", "stop the big-queue run after this long "
                                                    "even if fewer than K jobs finished"),
    ]),
    ("runbig", [
        Size("runbig_queue", 90000, 5000, N, "N", "job files in the runbig scenario's "
                                                  "pre-filled queue"),
        Size("runbig_jobs", 5000, 1000, N, "N", "jobs timed from it, under a plain "
                                                "dispatcher and under fjd run"),
    ]),
    ("submit", [
        Size("sweep", "100x1000", "10x100", parse_sweep, "AxB", "fjd submit --split sweep "
                                                                "shape"),
        Size("array_sweep", "1000x1000", "100x100", parse_sweep, "AxB",
             "fjd submit sweep shape written as one array"),
    ]),
    ("arrays", [Size("array_tasks", 20000, 2000, N, "N", "tasks of the arrays scenario's "
                                                         "array")]),
    ("files", [
        Size("files_tasks", 100000, 5000, N, "N", "tasks of the files scenario's arrays"),
        Size("files_sample", 50, 10, N, "K", "random tasks whose output the files scenario "
                                             "reads back with fjd show, besides the first "
                                             "and the last"),
        Size("split_sizes", "1000,2000", "200,400", parse_sizes, "A,B",
             "the two sizes at which the files scenario measures --split, to extrapolate "
             "from"),
    ]),
    ("status", [Size("status_records", 1000000, 50000, N, "N", "finished task records for "
                                                               "the status scenario")]),
    ("bigarray", [
        Size("bigarray_tasks", 10000000, 1000000, N, "N", "tasks of the bigarray scenario's "
                                                          "array"),
        Size("bigarray_seconds", 10.0, 3.0, S, "S", "how long the bigarray scenario's "
                                                    "daemons run"),
    ]),
    ("scale", [
        Size("scale_workers", "50,200", "20,100", parse_sizes, "A,B",
             "worker counts whose idle CPU is measured; the largest also runs `sleep 1` jobs"),
        Size("scale_rounds", 10, 3, N, "R", "`sleep 1` jobs per worker"),
        Size("scale_idle_seconds", 30.0, 10.0, S, "S", "idle CPU window of the scale "
                                                       "scenario"),
    ]),
    ("shared", [
        Size("shared_idle_seconds", 60.0, 10.0, S, "S", "idle request-counting window"),
        Size("shared_jobs", 1000, 200, N, "N", "single-file no-op jobs"),
        Size("shared_tasks", 5000, 1000, N, "N", "tasks of the no-op array"),
        Size("shared_rounds", 3, 1, N, "R", "throughput rounds, each the same 4 workers on a "
                                            "local disk and then on sshfs; the ratios are "
                                            "the median of the rounds'"),
        Size("shared_latency_samples", 10, 3, N, "K", "latency samples with UDP and again "
                                                      "with UDP blocked"),
    ]),
)
ALL = [size for _, sizes in SIZES for size in sizes]


def full(key):
    """A full run's value of a size (parsed: a sweep is (A, B), sizes are (A, B))."""
    size = next(s for s in ALL if s.key == key)
    return size.type(size.full) if isinstance(size.full, str) else size.full


ALIASES = {"jobs": ["-n"], "repeat": ["-k"]}


def add_options(parser, groups):
    """The size options, in groups[scenario] when there is one (else on parser)."""
    for scenario, sizes in SIZES:
        where = groups.get(scenario, parser)
        for size in sizes:
            where.add_argument("--" + size.key.replace("_", "-"), *ALIASES.get(size.key, []),
                               type=size.type,
                               metavar=size.metavar,
                               help="%s (default %s; --quick: %s)"
                                    % (size.help, size.full, size.quick))


def apply_preset(opts):
    """Fill every size not given on the command line from --quick's or a full run's."""
    for size in ALL:
        if getattr(opts, size.key) is None:
            value = size.quick if opts.quick else size.full
            setattr(opts, size.key, size.type(value) if isinstance(value, str) else value)
