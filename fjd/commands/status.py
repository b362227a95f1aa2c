"""``fjd status``: counts, running and failed jobs, throughput and ETA."""
import json
import sys
import time

from .. import defaults
from ..status import ThroughputWindow, apply_observed, render, snapshot
from .common import CommandError, add_command, add_common, open_queue

EPILOG = """Throughput comes from the end times in the records of the last %d finished
jobs; with --watch it is measured between redraws instead. Elapsed times count from when
the job entered its worker's inbox, by this host's clock (approximate when the file
server's clock differs). Liveness of workers is not checked here: `fjd workers list`
does that.

Exit status: 0 shown, 1 the queue root does not exist, is not a queue root (no
jobqueue/) or cannot be read, 2 bad usage.

examples:
  fjd status
  fjd status --json | python3 -m json.tool
  fjd status --watch 5""" % defaults.STATUS_RATE_SAMPLE


def cmd_status(args):
    if args.watch is not None and not args.watch >= 0.1:
        raise CommandError("--watch needs at least 0.1 seconds between redraws", 2)
    if args.frames and args.watch is None:
        raise CommandError("--frames counts the redraws of --watch: give --watch too", 2)
    layout = open_queue(args.root, "status")
    limit = args.failed
    if limit is None:
        limit = -1 if args.json else 10
    window = ThroughputWindow()
    tty = sys.stdout.isatty()
    frames = 0
    try:
        while True:
            state = snapshot(layout, failed_limit=None if limit < 0 else limit)
            if args.watch is not None:
                apply_observed(state, window)
            text = json.dumps(state, indent=1, sort_keys=True) if args.json else render(state)
            if args.watch is not None and tty:
                sys.stdout.write("\x1b[H\x1b[2J")
            elif args.watch is not None and frames:
                sys.stdout.write("\n")
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
            frames += 1
            if args.watch is None or (args.frames and frames >= args.frames):
                return 0
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        sys.stdout = None  # nobody reads any more; say nothing at exit either
        return 0


def register(subparsers):
    parser = add_command(
        subparsers, "status", cmd_status,
        help="counts, running and failed jobs, throughput and ETA",
        description="Show how many jobs are queued, running, done, failed and cancelled,\n"
                    "which jobs run on which worker and host and for how long, the failed\n"
                    "jobs with their reasons, the recent throughput and the time left.",
        epilog=EPILOG)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (all failed jobs unless --failed N)")
    parser.add_argument("--watch", nargs="?", const=2.0, type=float, metavar="SECONDS",
                        help="redraw every SECONDS (default 2) until Ctrl-C")
    parser.add_argument("--frames", type=int, default=0, metavar="N",
                        help="with --watch: stop after N redraws")
    parser.add_argument("--failed", type=int, metavar="N",
                        help="show the N newest failed jobs (default 10; all with --json)")
    add_common(parser)
