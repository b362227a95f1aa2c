"""``fjd state``: one word for where each named job stands, for scripts and workflow managers
(fjd/job_states.py finds out). Snakemake runs it once per job and check: it imports little."""
import sys

from .. import job_states
from .common import add_command, add_common, open_queue

STATE_EXAMPLES = """Words: queued, waiting (for other jobs: --after), running (handed to a
worker), done, failed, cancelled, unknown (no such job in this queue). --format snakemake
prints running for the first three, success for done and failed for the rest (Snakemake's
cluster status command). Names are what `fjd submit` printed, or ARRAY#N for a task.

examples:
  fjd state 20261207-101500.123456-3f9c2a-000001s-run.sh
  fjd state --format snakemake "$jobid"
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
