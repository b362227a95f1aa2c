"""``fjd retry`` and ``fjd cancel``: change one's mind about jobs (see fjd/control.py)."""
import os
import sys

from .. import names
from ..control import (PASSES, cancel_path, inbox_matches, job_name, queued_matches,
                       retry_one)
from ..layout import display, list_names
from ..liveness import read_heartbeat
from .common import CommandError, add_command, add_common, ensure_queue, open_queue


def open_selection(args, command, no_selection):
    """The Layout, when args give job names or --all (not both) and the root is a queue."""
    if not args.names and not args.all:
        raise CommandError(no_selection, 2)
    if args.names and args.all:
        raise CommandError("give job names or --all, not both", 2)
    layout = open_queue(args.root, command)
    ensure_queue(layout)
    return layout


def cmd_retry(args):
    layout = open_selection(args, "retry", "name the failed jobs to retry, or use --all "
                                           "(see `fjd status` for the failed jobs)")
    if args.all:
        wanted = sorted(list_names(layout.failed))
    else:
        wanted = [job_name(n) for n in args.names]
    status = 0
    moved = 0
    for name in wanted:
        if not os.path.lexists(os.path.join(layout.failed, name)):
            if not args.all:
                sys.stderr.write("fjd retry: there is no failed job called %s in %s\n"
                                 % (display(name), display(layout.failed)))
                status = 1
            continue
        try:
            new = retry_one(layout, name)
        except (ValueError, OSError) as error:
            sys.stderr.write("fjd retry: %s: %s\n" % (display(name), error))
            status = 1
            continue
        if new is None:
            if not args.all:
                sys.stderr.write("fjd retry: %s was moved by somebody else meanwhile\n"
                                 % display(name))
                status = 1
            continue
        moved += 1
        print("%s -> jobqueue/%s" % (display(name), display(new)))
    sys.stderr.write("fjd retry: %d job%s back in the queue\n"
                     % (moved, "" if moved == 1 else "s"))
    return status


def cmd_cancel(args):
    layout = open_selection(args, "cancel", "name the jobs to cancel, or use --all")
    wanted = None if args.all else {job_name(n) for n in args.names}
    hits = set()
    cancelled = running = 0
    for _ in range(PASSES):
        progress = False
        for name in queued_matches(layout, wanted):
            final = cancel_path(layout, os.path.join(layout.jobqueue, name), name, "jobqueue")
            if final:
                progress = True
                cancelled += 1
                hits.update((name, names.parse(name)[0]))
                print("cancelled %s (was queued) -> cancelled/%s" % (display(name),
                                                                       display(final)))
        if not args.queued_only:
            for worker_id, name in inbox_matches(layout, wanted):
                inbox = layout.inbox(worker_id)
                beat = read_heartbeat(inbox)
                extra = {"worker": worker_id, "host": beat.host if beat else None}
                final = cancel_path(layout, os.path.join(inbox, name), name,
                                    "jobpod/%s" % worker_id, extra)
                if final:
                    progress = True
                    cancelled += 1
                    running += 1
                    hits.update((name, names.parse(name)[0]))
                    print("cancelled %s (was with worker %s%s) -> cancelled/%s"
                          % (display(name), display(worker_id),
                             " on " + display(beat.host) if beat else "", display(final)))
        if not progress:
            break
        if wanted is not None and wanted <= hits:
            break
    status = 0
    if wanted is not None:
        for name in sorted(wanted - hits):
            sys.stderr.write("fjd cancel: no queued%s job called %s\n"
                             % ("" if args.queued_only else " or running", display(name)))
            status = 1
    note = (" (their workers stop them within a second or so)" if running else "")
    sys.stderr.write("fjd cancel: %d job%s cancelled, %d of them had been handed to a "
                     "worker%s\n" % (cancelled, "" if cancelled == 1 else "s", running, note))
    return status


def register(subparsers):
    retry = add_command(
        subparsers, "retry", cmd_retry, help="put failed jobs back in the queue",
        description="Move failed jobs (named, or --all) from failed/ back into jobqueue/.\n"
                    "Each gets a new queue name (ORIGINAL@a0.r<nonce>) that cannot replace a\n"
                    "queued job; its old record stays in records/ as history, marked as\n"
                    "retried.",
        epilog="examples:\n  fjd retry --all\n  fjd retry job3.conf failed/job7.conf\n\n"
               "Exit status: 0 all moved, 1 a named job was not in failed/, 2 bad usage.")
    retry.add_argument("names", nargs="*", metavar="NAME", help="names in failed/")
    retry.add_argument("--all", action="store_true", help="retry every failed job")
    add_common(retry)

    cancel = add_command(
        subparsers, "cancel", cmd_cancel, help="take jobs out of the queue and stop running ones",
        description="Move queued jobs, and jobs already handed to a worker, into cancelled/\n"
                    "with a record in records/. A worker notices within about a second that\n"
                    "its running job was cancelled and kills the job's process group.",
        epilog="NAME may be the name in jobqueue/ or the job's original name (without\n"
               "the @a... suffix a requeued job carries).\n\n"
               "examples:\n  fjd cancel --all\n  fjd cancel --all --queued-only\n"
               "  fjd cancel job3.conf\n\n"
               "Exit status: 0 all cancelled, 1 a named job was not found, 2 bad usage.")
    cancel.add_argument("names", nargs="*", metavar="NAME", help="jobs to cancel")
    cancel.add_argument("--all", action="store_true",
                        help="cancel every queued job and every job handed to a worker")
    cancel.add_argument("--queued-only", action="store_true",
                        help="leave jobs that a worker already has alone")
    add_common(cancel)
