"""``fjd records``: every run of a job or task as a table (TSV, CSV or JSON lines)."""
import io
import sys

from .. import record_kinds
from ..records_fast import FastTsv
from ..records_table import COLUMNS, FORMATS, RowMaker, write_rows
from ..runs import RunReader, Selection, parse_time
from .common import CommandError, add_command, add_common, open_queue

EPILOG = """One row per run: a job or task that ran twice (retried, or run again after its
worker died) has two rows, each with its attempt. Columns: %s, with
each parameter of an array in a column of its own after "task". start and end are
seconds since the epoch (--iso: local time); stdout and stderr say where the output is,
as FILE:OFFSET+LENGTH from the queue root (`fjd show NAME` prints it too).

Reads the journals in records/ only, while the queue runs too; writes nothing there.

examples:
  fjd records > runs.tsv
  fjd records --format csv --state failed
  fjd records --array sweep.conf --format jsonl | head

Exit status: 0 written, 1 no queue root there, 2 bad usage.""" % ", ".join(COLUMNS)


def cmd_records(args):
    layout = open_queue(args.root, "records")
    try:
        since = parse_time(args.since) if args.since else None
    except ValueError as error:
        raise CommandError(str(error), 2)
    reader = RunReader(layout, Selection(args.array, args.state, since))
    try:
        maker = RowMaker(reader, iso=args.iso)
        out = io.BufferedWriter(sys.stdout.buffer.raw, 1 << 20) \
            if hasattr(sys.stdout.buffer, "raw") else sys.stdout.buffer
        try:
            if args.format == "tsv" and not args.iso:
                FastTsv(maker, out).write()
            else:
                write_rows(out, maker, args.format)
        finally:
            out.flush()
    finally:
        reader.close()
    return 0


def register(subparsers):
    parser = add_command(
        subparsers, "records", cmd_records,
        help="every run of a job or task as a table (tsv, csv, jsonl)",
        description="Print one row per run of a job or an array's task, read from the\n"
                    "journals: name, parameters, state, exit status, reason, worker, host,\n"
                    "attempt, times and where its output is.",
        epilog=EPILOG)
    parser.add_argument("--format", choices=FORMATS, default="tsv",
                        help="tsv (default; a header line first), csv, or jsonl (a JSON "
                             "object per line)")
    parser.add_argument("--array", metavar="NAME",
                        help="only the tasks of this array (its name as queued or filed)")
    parser.add_argument("--state", choices=record_kinds.STATES,
                        help="only runs that ended in this state")
    parser.add_argument("--since", metavar="TIME",
                        help="only runs that ended after TIME: 2h (ago), 2026-12-07T14:00, "
                             "or epoch seconds")
    parser.add_argument("--iso", action="store_true",
                        help="start and end as local ISO times, not epoch seconds")
    add_common(parser)
