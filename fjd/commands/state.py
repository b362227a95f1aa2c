"""``fjd state`` and ``fjd wait``: where named jobs stand, for scripts and workflow managers
(fjd/job_states.py finds out)."""
import sys
import time

from .. import job_states
from ..defaults import DISPATCHER_INTERVAL, LOCAL, SHARED
from ..layout import display
from .common import CommandError, add_command, add_common, nonnegative, open_queue

TIMED_OUT = 124  # as timeout(1) exits
STATE_EXAMPLES = """Words: queued, waiting (for other jobs: --after), running (handed to a
worker), done, failed, cancelled, unknown (no such job in this queue). --format snakemake
prints running for the first three, success for done and failed for the rest (Snakemake's
cluster status command). Names are what `fjd submit` printed, or ARRAY#N for a task.

examples:
  fjd state 20261207-101500.123456-3f9c2a-000001s-run.sh
  fjd state --format snakemake "$jobid"
"""
WAIT_EXAMPLES = """Exit status: 0 every one is done, 1 any failed, was cancelled or is no job
of this queue (each said on stderr), 124 --timeout ran out first.

examples:
  job=$(fjd submit -- ./prepare.sh) && fjd wait "$job" && echo prepared
  fjd wait --all --timeout 3600
"""


def task_lookup(targets):
    """dependency_state.task_state when one of targets is a task of an array, else None:
    what it imports (the records' readers) would cost every call of a workflow manager,
    which names jobs only."""
    if not job_states.has_tasks(targets):
        return None
    from ..dependency_state import task_state  # (lazily: see the docstring)
    return task_state


def cmd_state(args):
    layout = open_queue(args.root, "state")
    words = job_states.states(layout, args.names, task_lookup(args.names))
    if args.format == "snakemake":
        words = [job_states.SNAKEMAKE[word] for word in words]
    sys.stdout.write("".join(word + "\n" for word in words))
    return 0


SHARED_SLOWEST = 5.0  # seconds between looks on a shared mount after 50 s of waiting


def poll_pause(layout, waited):
    """Seconds until the next look, a tenth of the time waited so far: on a local disk
    from the dispatcher's pace while there is work (0.05 s) up to its idle pace (2 s); on
    a shared mount, where a look lists the queue's short folders (a few requests to the
    file server each), never faster than an idle dispatcher looks there (0.6 s)."""
    if layout.shared:
        return min(SHARED_SLOWEST, max(SHARED.queue_poll, waited / 10.0))
    return min(LOCAL.queue_poll, max(DISPATCHER_INTERVAL, waited / 10.0))


def wait_for(layout, targets, watch_all, timeout):
    """Block until each target has finished (with watch_all: until nothing is left
    unfinished); returns {name: word} of what finished, or None when time ran out."""
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
        pause = poll_pause(layout, waited)
        if timeout is not None:
            pause = min(pause, max(0.0, timeout - waited))
        time.sleep(pause)


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


def register(subparsers):
    parser = add_command(
        subparsers, "state", cmd_state, help="one word per job: queued, running, done, ...",
        description="Print one word per NAME, one per line, in order: where each job stands.\n"
                    "Fast whatever the queue's size (done/ is never listed).",
        epilog=STATE_EXAMPLES)
    parser.add_argument("names", nargs="+", metavar="NAME", help="a job or array, or ARRAY#N")
    parser.add_argument("--format", choices=["words", "snakemake"], default="words",
                        help="words (default) or snakemake (running, success, failed)")
    add_common(parser)
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
