"""``fjd report``: a picture of a queue's runs, as one self-contained HTML page."""
import os
import sys

from .. import report
from ..layout import display
from ..runs import Selection, parse_time
from .common import CommandError, add_command, add_common, open_queue

EPILOG = """The page shows a summary (jobs and tasks by outcome, wall time, throughput, how
much of the workers' time went into running jobs), a timeline with a lane per worker
grouped by host (a bar per run; beyond 20000 runs, each lane's occupancy in time bins),
finished runs and busy workers over time, a histogram of durations, failures by reason
with examples and their parameters, and a table per host. Hover over a bar for its name,
parameters, duration and reason.

The file needs nothing but a browser: no fonts, scripts or images from anywhere.
It is made from the journals in records/ only, while the queue runs too.

examples:
  fjd report                      # writes report.html here
  fjd report -o /tmp/sweep.html --array sweep.conf
  fjd report --since 2h

Exit status: 0 written, 1 no queue root there (or the file cannot be written), 2 bad usage."""


def cmd_report(args):
    layout = open_queue(args.root, "report")
    try:
        since = parse_time(args.since) if args.since else None
    except ValueError as error:
        raise CommandError(str(error), 2)
    output = os.path.abspath(args.output)
    inside = os.path.relpath(output, layout.root).split(os.sep)[0]
    if inside not in (os.pardir, os.path.basename(output)):
        raise CommandError("%s is inside the queue's own folders: write the report "
                           "elsewhere (-o FILE)" % display(output), 2)
    page = report.build(layout, Selection(args.array, None, since))
    size = report.write(output, page)
    sys.stderr.write("fjd report: wrote %s (%d KiB)\n" % (display(output), (size + 1023) // 1024))
    return 0


def register(subparsers):
    parser = add_command(
        subparsers, "report", cmd_report,
        help="a picture of the runs: one self-contained HTML page",
        description="Draw what the journals say about a queue's runs as one HTML page:\n"
                    "summary, timeline per worker, throughput, durations, failures, hosts.",
        epilog=EPILOG)
    parser.add_argument("-o", "--output", metavar="FILE", default="report.html",
                        help="where to write the page (default: report.html in the "
                             "current directory)")
    parser.add_argument("--array", metavar="NAME",
                        help="only the tasks of this array (its name as queued or filed)")
    parser.add_argument("--since", metavar="TIME",
                        help="only runs that ended after TIME: 2h (ago), 2026-12-07T14:00, "
                             "or epoch seconds")
    add_common(parser)
