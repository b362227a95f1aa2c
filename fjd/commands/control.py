"""``fjd retry`` and ``fjd cancel``: change one's mind about jobs (see fjd/control.py)."""
import os
import sys
import time

from .. import defaults, names
from ..control import (Cancel, ControlError, Retry, inbox_matches, job_name,
                       queued_matches, waiting_matches)
from ..hints import hint_cancelled
from ..layout import JOBQUEUE, WAITING
from ..retry_each import EachRestore
from ..layout import display
from ..fsops import list_names
from .common import CommandError, add_command, add_common, ensure_queue, open_queue, plural



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
    layout = open_selection(args, "retry", "name the failed jobs (or arrays) to retry, or use "
                                           "--all (see `fjd status` for the failed jobs)")
    retry = Retry(layout)
    try:
        return retry_selected(layout, retry, args)
    finally:
        retry.close()


def retry_selected(layout, retry, args):
    wanted = sorted(list_names(layout.failed)) if args.all else \
        [job_name(n) for n in args.names]
    arrays_wanted = set()  # names of arrays and tasks, whose failed tasks go back
    moved, status = retry_jobs(layout, retry, args, wanted, arrays_wanted)
    tasks, tasks_status = retry_tasks(retry, args, arrays_wanted)
    status = status or tasks_status
    if not args.all:
        for name in sorted(arrays_wanted):
            sys.stderr.write("fjd retry: there is no failed job called %s in %s (nor an "
                             "array or task of that name with failed tasks)\n"
                             % (display(name), display(layout.failed)))
            status = 1
    sys.stderr.write("fjd retry: %d job%s%s back in the queue\n"
                     % (moved, "" if moved == 1 else "s",
                        " and %d array task%s" % (tasks, "" if tasks == 1 else "s")
                        if tasks else ""))
    return status


def retry_jobs(layout, retry, args, wanted, arrays_wanted):
    """Move the wanted single jobs back; (how many, exit status). Names that are arrays or
    tasks are added to arrays_wanted instead."""
    status = moved = 0
    for name in wanted:
        task = names.parse_task_name(name)
        if task is not None:
            arrays_wanted.add(name)
            continue
        if not os.path.lexists(os.path.join(layout.failed, name)):
            if not args.all:
                arrays_wanted.add(name)  # perhaps an array with failed tasks
            continue
        array = retry.array_named(name)
        if array is not None:  # an array file: its failed tasks go back, not the file
            arrays_wanted.add(array)
            continue
        try:
            new = retry.job(name)
        except ControlError as error:
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
        moved += restore_waiters(retry, names.parse(name).original)
    return moved, status


def restore_waiters(retry, dependency):
    """The jobs cancelled because dependency failed go back to waiting/; how many."""
    restored = retry.restore_waiters(dependency)
    for name in restored:
        print("%s -> waiting/%s (it waits for %s again)"
              % (display(names.parse(name).original), display(name), display(dependency)))
    return len(restored)


def retry_tasks(retry, args, arrays_wanted):
    """Put the failed tasks of the wanted arrays back (all with --all); (how many, exit
    status). What was found is taken out of arrays_wanted."""
    status = tasks = 0
    failed = retry.failed_tasks()
    for uid, (array, indices) in sorted(failed.items(), key=lambda item: item[1][0] or ""):
        if args.all:
            chosen = indices
        else:
            chosen = [i for i in indices if array in arrays_wanted or
                      names.task_name(array, i) in arrays_wanted]
            arrays_wanted.discard(array)
            arrays_wanted -= {names.task_name(array, i) for i in chosen}
        if not chosen:
            continue
        try:
            count = retry.tasks(uid, array, chosen, indices)
        except ControlError as error:
            sys.stderr.write("fjd retry: %s: %s\n" % (display(array), error))
            status = 1
            continue
        tasks += count
        print("%s: %d failed task%s -> jobqueue/" % (display(array), count,
                                                     "" if count == 1 else "s"))
        for dependency in [array] + [names.task_name(array, i) for i in chosen]:
            tasks += restore_waiters(retry, dependency)
        count, trouble = restore_followers(retry, array, chosen)
        tasks += count
        status = status or trouble
    return tasks, status


def restore_followers(retry, array, chosen):
    """The tasks after_each cancelled because the chosen tasks failed go back to waiting/
    (and what followed them); (how many tasks and jobs, exit status)."""
    restore = EachRestore(retry)
    count = 0
    for follower, runs, _ in restore.restore(array, set(chosen)):
        size = sum(last - first + 1 for first, last in runs)
        count += size
        print("%s: %d task%s cancelled by after_each -> waiting/ (%s)"
              % (display(follower), size, "" if size == 1 else "s",
                 ", ".join(span(first, last) for first, last in runs)))
    for name in restore.jobs:
        print("%s -> waiting/%s (what it waits for is back)"
              % (display(names.parse(name).original), display(name)))
    for follower, (first, last) in restore.left:
        sys.stderr.write("fjd retry: %s#%s stays cancelled: %s is still running and those "
                         "tasks were filed together with others\n"
                         % (display(follower), span(first, last), display(follower)))
    for follower, error in restore.errors:
        sys.stderr.write("fjd retry: %s: %s\n" % (display(follower), error))
    return count + len(restore.jobs), 1 if restore.errors else 0


def span(first, last):
    return str(first) if first == last else "%d-%d" % (first, last)


def cmd_cancel(args):
    layout = open_selection(args, "cancel", "name the jobs (or arrays) to cancel, or use "
                                            "--all")
    cancel = Cancel(layout)
    try:
        return cancel_selected(layout, cancel, args)
    finally:
        cancel.close()


def cancel_selected(layout, cancel, args):
    wanted = None if args.all else {job_name(n) for n in args.names}
    hits = set()
    cancelled, requested = Tally(), Tally()
    asked, taken = [], []  # taken: originals of queued and waiting jobs cancelled here
    for _ in range(defaults.CANCEL_PASSES):
        progress = False
        for folder, name in [(WAITING, n) for n in waiting_matches(layout, wanted)] + \
                [(JOBQUEUE, n) for n in queued_matches(layout, wanted)]:
            final = cancel.queued(name, folder)
            if final:
                progress = True
                cancelled.add(name)
                hits.update((name, names.parse(name).original))
                taken.append(names.parse(name).original)
                print("cancelled %s (was %s) -> %s" % (
                    display(names.plain_name(name)), "queued" if folder == JOBQUEUE else folder,
                    display(shown_final(final))))
        if not args.queued_only:
            for worker_id, name in inbox_matches(layout, wanted):
                if (worker_id, name) in asked:
                    continue
                host = cancel.request(worker_id, name)
                if host:
                    progress = True
                    requested.add(name)
                    asked.append((worker_id, name))
                    hits.update((name, names.parse(name).original))
                    print("cancelling %s (with worker %s%s)"
                          % (display(names.plain_name(name)), display(worker_id),
                             " on " + display(host) if isinstance(host, str) else ""))
        if not progress:
            break
        if wanted is not None and wanted <= hits:
            break
    if taken and layout.shared:  # (on a local disk the dispatcher sees cancelled/ change)
        hint_cancelled(layout, layout.identity(), taken)
    if asked:
        report_unanswered(layout, asked)
    status = 0
    if wanted is not None:
        for name in sorted(wanted - hits):
            sys.stderr.write("fjd cancel: no queued%s job or array called %s\n"
                             % ("" if args.queued_only else " or running", display(name)))
            status = 1
    note = " (their workers stop them)" if requested.count else ""
    sys.stderr.write("fjd cancel: %s cancelled, %s more had been handed to a worker%s\n"
                     % (cancelled, requested, note))
    return status


def report_unanswered(layout, asked):
    """Wait for the workers asked to cancel; say which have not done it yet."""
    for worker_id, name in wait_for_workers(layout, asked):
        sys.stderr.write("fjd cancel: worker %s has not cancelled %s yet; it will when it "
                         "next looks (or the dispatcher will, if it is dead)\n"
                         % (display(worker_id), display(names.plain_name(name))))


class Tally:
    """Jobs and an array's tasks, counted apart: `2 jobs and 14 tasks`."""

    def __init__(self):
        self.jobs = self.tasks = 0

    @property
    def count(self):
        return self.jobs + self.tasks

    def add(self, name):
        queue_name = names.parse(name)
        if queue_name.is_tasks:
            self.tasks += queue_name.size
        else:
            self.jobs += 1

    def __str__(self):
        if not self.tasks:
            return plural(self.jobs, "job")
        tasks = plural(self.tasks, "task")
        return "%s and %s" % (plural(self.jobs, "job"), tasks) if self.jobs else tasks


def shown_final(final):
    """Where a cancel put it: a job's folder and final name, or arrays/ for a range (its
    tasks are part of the array's record from there)."""
    folder, _, name = final.rpartition("/")
    return folder + "/" if "@" in name and names.parse(name).is_tasks else final


def wait_for_workers(layout, asked, timeout=defaults.CANCEL_WAIT):
    """Wait until the workers have acted on our requests; the (worker, name) still there."""
    deadline = time.monotonic() + timeout
    pending = list(asked)
    while pending and time.monotonic() < deadline:
        pending = [(w, n) for w, n in pending
                   if os.path.lexists(os.path.join(layout.inbox(w), n))]
        if pending:
            time.sleep(0.1)
    return pending


def register(subparsers):
    retry = add_command(
        subparsers, "retry", cmd_retry, help="put failed jobs and tasks back in the queue",
        description="Move failed jobs (named, or --all) from failed/ back into jobqueue/,\n"
                    "and the failed tasks of arrays (name the array, a task as ARRAY#N, or\n"
                    "--all). Each job gets a new queue name that cannot replace a queued\n"
                    "job; the old records stay in records/ as history.",
        epilog="examples:\n  fjd retry --all\n  fjd retry job3.conf failed/job7.conf\n"
               "  fjd retry sweep.conf            # the failed tasks of an array\n"
               "  fjd retry sweep.conf#17\n\n"
               "Tasks of an array that is still running are retried once it has finished.\n"
               "Exit status: 0 all moved, 1 a named job was not found, 2 bad usage.")
    retry.add_argument("names", nargs="*", metavar="NAME",
                       help="names in failed/, arrays, or tasks (ARRAY#N)")
    retry.add_argument("--all", action="store_true", help="retry every failed job and task")
    add_common(retry)

    cancel = add_command(
        subparsers, "cancel", cmd_cancel, help="take jobs out of the queue and stop running ones",
        description="Move queued jobs into cancelled/ with a record, and have the workers of\n"
                    "jobs already handed out stop them: a worker notices the request within\n"
                    "a beat (a second; a few on a shared mount), kills the job's process group and files it in\n"
                    "cancelled/. Naming an array cancels all its tasks not finished yet.",
        epilog="NAME may be the name in jobqueue/, the job's original name (without the\n"
               "@... suffix fjd adds), or an array's name.\n\n"
               "examples:\n  fjd cancel --all\n  fjd cancel --all --queued-only\n"
               "  fjd cancel job3.conf\n\n"
               "Exit status: 0 all cancelled, 1 a named job was not found, 2 bad usage.")
    cancel.add_argument("names", nargs="*", metavar="NAME", help="jobs or arrays to cancel")
    cancel.add_argument("--all", action="store_true",
                        help="cancel every queued job and every job handed to a worker")
    cancel.add_argument("--queued-only", action="store_true",
                        help="leave jobs that a worker already has alone")
    add_common(cancel)
