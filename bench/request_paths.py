#!/usr/bin/env python3
"""Where an sshfs file server's requests go: a table of request types by folder, from the
logs bench/shared.py keeps (--shared-keep-logs DIR).

    python bench/shared.py --quick --options recommended --shared-keep-logs /tmp/req
    python bench/request_paths.py /tmp/req --per 1000 --only jobs

Each log is one host's sftp connection during one window (jobs or array); every request is
counted once, by its type and the folder of the path it names, with names of jobs, workers
and probes folded into a placeholder (jobqueue/JOB, jobpod/W/.announcement, ...).
"""
import argparse
import collections
import os
import re
import sys

REQUEST = re.compile(rb"^debug\d: request (\d+): (?!sent )(%?[a-z@.-]+)(.*)$")
QUOTED = re.compile(rb'"([^"]*)"')
FOLDINGS = [  # (pattern, replacement), applied in order to the path below the shared folder
    (r".*?/shared(?=/|$)", ""),
    (r"/jobpod/[^/]+", "/jobpod/W"),
    (r"/workerqueue/[^/]+", "/workerqueue/W"),
    (r"/(jobqueue|done|failed|cancelled|arrays)/[^/.][^/]*", r"/\1/JOB"),
    (r"/jobpod/W/[^./][^/]*", "/jobpod/W/JOB"),
    (r"/records/[^/]+", "/records/FILE"),
    (r"\.fjd-refresh-[^/]*", ".fjd-refresh"),
]


def requests_of(path):
    """(type, path named) of every request in one sftp-server log, each id once."""
    seen = set()
    lines = open(path, "rb").read().split(b"\n")
    for number, line in enumerate(lines):
        match = REQUEST.match(line)
        if not match or match.group(1) in seen:
            continue
        seen.add(match.group(1))
        named = QUOTED.search(match.group(3)) or (
            QUOTED.search(lines[number + 1]) if number + 1 < len(lines) else None)
        yield (match.group(2).decode("ascii", "replace"),
               named.group(1).decode("utf-8", "replace") if named else "")


def fold(path):
    for pattern, replacement in FOLDINGS:
        path = re.sub(pattern, replacement, path)
    return path or "/"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python bench/request_paths.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="the folder given to --shared-keep-logs")
    parser.add_argument("--per", type=float, default=1.0,
                        help="divide the counts by this (the jobs or tasks of the window)")
    parser.add_argument("--only", default="", help="only logs whose name holds this")
    parser.add_argument("--top", type=int, default=25, help="rows per log (default 25)")
    opts = parser.parse_args(argv)
    for name in sorted(os.listdir(opts.folder)):
        if not name.endswith(".log") or opts.only not in name:
            continue
        counts = collections.Counter((kind, fold(path)) for kind, path in
                                     requests_of(os.path.join(opts.folder, name)))
        print("%s: %.2f requests%s" % (name, sum(counts.values()) / opts.per,
                                       " per unit" if opts.per != 1 else ""))
        for (kind, path), number in counts.most_common(opts.top):
            print("  %8.3f  %-13s %s" % (number / opts.per, kind, path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
