"""``fjd retry`` and ``fjd cancel``: change one's mind about jobs, one rename per job.

retry   moves ``failed/NAME`` back into ``jobqueue/`` as ``ORIGINAL@a0.r<nonce>``, a name
        nobody else can be using, so it never replaces a queued job. The record
        ``records/NAME.json`` stays as history, marked with ``retried``; the new run gets a
        record of its own (``ORIGINAL~2`` when the original name is taken).
cancel  moves a queued job, or one assigned to or running on a worker, into ``cancelled/``
        with a record. A worker whose running job disappears from its inbox kills the job's
        process group within about a second. The job is first claimed with a rename to a
        private name in ``cancelled/`` and only then filed, so a job that a worker or the
        dispatcher moved first is left alone (and nothing is recorded for it).
"""
import argparse
import getpass
import json
import os
import stat
import sys
import time

from . import names, records
from .cli import open_queue
from .layout import display, hostname, list_names, try_rename
from .status import handle_os_errors, inbox_jobs, read_heartbeat

PASSES = 5  # cancel --all: list again while jobs keep moving under our feet


def nonce():
    return os.urandom(4).hex()


def who():
    try:
        user = getpass.getuser()
    except Exception:  # no user name for this uid
        user = "uid %d" % os.getuid()
    return "%s@%s" % (user, hostname())


def job_name(text):
    """Accept 'failed/NAME', 'jobqueue/NAME' or a path as well as NAME (names hold no /)."""
    return os.path.basename(text.rstrip("/")) or text


# -- retry ------------------------------------------------------------------------------------

def retry_one(layout, name):
    """Move failed/NAME back to the queue; returns the new queue name, or None if gone.

    The old record is marked as retried first (and loses its "identity", so the new run can
    never take over its name: it gets a record of its own), then the job is moved.
    """
    source = os.path.join(layout.failed, name)
    try:
        mode = os.lstat(source).st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(mode):
        raise ValueError("it is not a job file, so running it again cannot help")
    record = records.read(layout, name)
    original = (record or {}).get("original") or names.parse(name)[0]
    for _ in range(10):
        target_name = names.requeue_name(original, 0, "r" + nonce())
        target = os.path.join(layout.jobqueue, target_name)
        if not os.path.lexists(target):
            break
    else:
        raise OSError("no free name in jobqueue/ for %s" % display(original))
    if record:
        write_record(layout, name, retried_record(record, target_name))
    if not try_rename(source, target):
        if record:
            write_record(layout, name, record)  # somebody else moved it: undo our note
        return None
    return target_name


def retried_record(record, target_name):
    """The record as history: when, by whom and as what the job was retried."""
    now = time.time()
    record = dict(record)
    retried = record.get("retried") or []
    record["retried"] = (retried if isinstance(retried, list) else [retried]) + [
        {"at": records.iso(now), "at_ts": now, "by": who(),
         "as": os.path.join("jobqueue", target_name)}]
    if "identity" in record:
        # the identity lets a crashed attempt reclaim its record; a retry is a new run
        record["retired_identity"] = record.pop("identity")
    return record


def write_record(layout, name, record):
    """Replace records/NAME.json atomically (a temporary dot-name, then rename)."""
    path = os.path.join(layout.records, name + ".json")
    tmp = os.path.join(layout.records, ".%s.%s.tmp" % (name[:200], nonce()))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError as error:
        sys.stderr.write("fjd retry: could not update records/%s.json: %s\n"
                         % (display(name), error.strerror))


def open_selection(args, command, no_selection):
    """(layout, None) when args.root is a queue root and args give job names or --all (not
    both); else (None, exit status 1 or 2) after saying on stderr what is wrong."""
    layout = open_queue(args.root, command)
    if layout is None:
        return None, 1
    if not args.names and not args.all:
        problem = no_selection
    elif args.names and args.all:
        problem = "give job names or --all, not both"
    else:
        return layout, None
    sys.stderr.write("fjd %s: %s\n" % (command, problem))
    return None, 2


def cmd_retry(args):
    layout, status = open_selection(args, "retry", "name the failed jobs to retry, or use "
                                    "--all (see `fjd status` for the failed jobs)")
    if layout is None:
        return status
    layout.ensure()
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


# -- cancel -----------------------------------------------------------------------------------

def cancel_path(layout, path, queue_name, where, extra=None):
    """Claim path into cancelled/ and file it with a record; the final name or None."""
    original, attempts = names.parse(queue_name)
    claim = os.path.join(layout.cancelled, "%s.%s.part" % (names.fit(queue_name), nonce()))
    os.makedirs(layout.cancelled, exist_ok=True)
    if not try_rename(path, claim):
        return None
    now = time.time()
    record = {"original": original, "attempt": attempts, "reason": "cancelled by %s" % who(),
              "cancelled_from": where, "start": None, "end": records.iso(now), "end_ts": now}
    record.update(extra or {})
    return records.finish(layout, claim, original, "cancelled", record)


def queued_matches(layout, wanted):
    """Queue names in jobqueue/ whose name or original name is in wanted (None: all)."""
    found = []
    for name in list_names(layout.jobqueue):
        if wanted is None or name in wanted or names.parse(name)[0] in wanted:
            found.append(name)
    return sorted(found)


def inbox_matches(layout, wanted):
    """(worker, name) of jobs in inboxes matching wanted (None: all)."""
    found = []
    for worker_id in sorted(list_names(layout.jobpod)):
        for name in inbox_jobs(layout, worker_id):
            if wanted is None or name in wanted or names.parse(name)[0] in wanted:
                found.append((worker_id, name))
    return found


def cmd_cancel(args):
    layout, status = open_selection(args, "cancel", "name the jobs to cancel, or use --all")
    if layout is None:
        return status
    layout.ensure()
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
                extra = {"worker": worker_id, "host": beat[1] if beat else None}
                final = cancel_path(layout, os.path.join(inbox, name), name,
                                    "jobpod/%s" % worker_id, extra)
                if final:
                    progress = True
                    cancelled += 1
                    running += 1
                    hits.update((name, names.parse(name)[0]))
                    print("cancelled %s (was with worker %s%s) -> cancelled/%s"
                          % (display(name), display(worker_id),
                             " on " + display(beat[1]) if beat else "", display(final)))
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


def register(subparsers, add_common):
    retry = subparsers.add_parser(
        "retry", help="put failed jobs back in the queue",
        description="Move failed jobs (named, or --all) from failed/ back into jobqueue/.\n"
                    "Each gets a new queue name (ORIGINAL@a0.r<nonce>) that cannot replace a\n"
                    "queued job; its old record stays in records/ as history, marked as\n"
                    "retried.",
        epilog="examples:\n  fjd retry --all\n  fjd retry job3.conf failed/job7.conf\n\n"
               "Exit status: 0 all moved, 1 a named job was not in failed/, 2 bad usage.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    retry.add_argument("names", nargs="*", metavar="NAME", help="names in failed/")
    retry.add_argument("--all", action="store_true", help="retry every failed job")
    add_common(retry)
    retry.set_defaults(func=handle_os_errors("retry", cmd_retry))

    cancel = subparsers.add_parser(
        "cancel", help="take jobs out of the queue and stop running ones",
        description="Move queued jobs, and jobs already handed to a worker, into cancelled/\n"
                    "with a record in records/. A worker notices within about a second that\n"
                    "its running job was cancelled and kills the job's process group.",
        epilog="NAME may be the name in jobqueue/ or the job's original name (without\n"
               "the @a... suffix a requeued job carries).\n\n"
               "examples:\n  fjd cancel --all\n  fjd cancel --all --queued-only\n"
               "  fjd cancel job3.conf\n\n"
               "Exit status: 0 all cancelled, 1 a named job was not found, 2 bad usage.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    cancel.add_argument("names", nargs="*", metavar="NAME", help="jobs to cancel")
    cancel.add_argument("--all", action="store_true",
                        help="cancel every queued job and every job handed to a worker")
    cancel.add_argument("--queued-only", action="store_true",
                        help="leave jobs that a worker already has alone")
    add_common(cancel)
    cancel.set_defaults(func=handle_os_errors("cancel", cmd_cancel))
