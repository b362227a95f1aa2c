"""``fjd wait``: block until named jobs (or all) have finished, for scripts (fjd/job_states.py
says where each stands)."""
import select
import sys
import time

from .. import job_states
from ..defaults import DISPATCHER_INTERVAL, LOCAL, SHARED
from ..layout import display
from ..notify import IN_CREATE, IN_MOVED_TO, DirWatcher
from .common import CommandError, add_command, add_common, nonnegative, open_queue
from .state import task_lookup

TIMED_OUT = 124  # as timeout(1) exits
WAIT_EXAMPLES = """Exit status: 0 every one is done, 1 any failed, was cancelled or is no job
of this queue (each said on stderr), 124 --timeout ran out first.

examples:
  job=$(fjd submit -- ./prepare.sh) && fjd wait "$job" && echo prepared
  fjd wait --all --timeout 3600
"""


SHARED_SLOWEST = 5.0  # seconds between looks on a shared mount after 50 s of waiting


def poll_pause(layout, waited, watched=False):
    """Seconds until the next look, a tenth of the time waited so far: on a local disk
    between the dispatcher's pace while there is work (0.05 s) and its idle pace (2 s), or
    that at once when inotify wakes us (watched); on a shared mount, where a look lists
    the queue's short folders (a few requests to the file server each), never faster than
    an idle dispatcher looks there (0.6 s)."""
    if layout.shared:
        return min(SHARED_SLOWEST, max(SHARED.queue_poll, waited / 10.0))
    if watched:
        return LOCAL.queue_poll
    return min(LOCAL.queue_poll, max(DISPATCHER_INTERVAL, waited / 10.0))


def wait_for(layout, targets, watch_all, timeout):
    """Block until each target has finished (with watch_all: until nothing is left
    unfinished); returns {name: word} of what finished, or None when time ran out."""
    watcher = finish_watcher(layout)
    try:
        return wait_with(layout, targets, watch_all, timeout, watcher)
    finally:
        if watcher is not None:
            watcher.close()


def wait_with(layout, targets, watch_all, timeout, watcher):
    started = time.monotonic()
    pending = list(dict.fromkeys(targets))
    outcome = {}
    while True:
        if watch_all:
            pending = sorted(set(pending) | job_states.unfinished(layout))
        words = job_states.states(layout, pending, task_lookup(pending)) if pending else []
        for name, word in zip(pending, words):
            if word in job_states.FINISHED or word == job_states.UNKNOWN:
                outcome[name] = word
        pending = [name for name in pending if name not in outcome]
        if not pending:
            return outcome
        waited = time.monotonic() - started
        if timeout is not None and waited >= timeout:
            return None
        pause = poll_pause(layout, waited, watcher is not None)
        if timeout is not None:
            pause = min(pause, max(0.0, timeout - waited))
        sleep_until_news(watcher, pause)


def cmd_wait(args):
    if bool(args.names) == bool(args.all):
        raise CommandError("name the jobs to wait for, or give --all (not both)", 2)
    layout = open_queue(args.root, "wait")
    outcome = wait_for(layout, args.names, args.all, args.timeout)
    if outcome is None:
        sys.stderr.write("fjd wait: timed out after %g s\n" % args.timeout)
        return TIMED_OUT
    status = 0
    for name, word in outcome.items():
        if word != job_states.DONE:
            status = 1
            what = "is no job in this queue" if word == job_states.UNKNOWN else word
            sys.stderr.write("fjd wait: %s %s\n" % (display(name), what))
    return status


def finish_watcher(layout):
    """inotify on done/, failed/ and cancelled/ of a queue on a local disk, so that a job
    filed there wakes fjd wait at once; None on a shared mount (other hosts' moves are never
    seen there) or without inotify."""
    if layout.shared:
        return None
    watcher = DirWatcher()
    for word in job_states.FINISHED:
        watcher.watch(layout.folder(word), IN_MOVED_TO | IN_CREATE)
    return watcher if watcher.fileno() is not None else None


def sleep_until_news(watcher, pause):
    """Sleep pause seconds, or less when a job is filed meanwhile (watcher); never less
    than the dispatcher's busy pace, however busy the queue."""
    if watcher is None:
        time.sleep(pause)
        return
    time.sleep(min(pause, DISPATCHER_INTERVAL))
    readable, _, _ = select.select([watcher], [], [], max(0.0, pause - DISPATCHER_INTERVAL))
    if readable:
        watcher.drain()


def register(subparsers):
    parser = add_command(
        subparsers, "wait", cmd_wait, help="wait until jobs have finished",
        description="Block until each NAME (or, with --all, every job in the queue, also those\n"
                    "queued meanwhile) has finished. Prints nothing but what did not succeed.",
        epilog=WAIT_EXAMPLES)
    parser.add_argument("names", nargs="*", metavar="NAME", help="a job or array, or ARRAY#N")
    parser.add_argument("--all", action="store_true",
                        help="wait until nothing is queued, waiting or running")
    parser.add_argument("--timeout", type=nonnegative, metavar="S",
                        help="give up after S seconds (exit status 124)")
    add_common(parser)
