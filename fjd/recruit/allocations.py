"""The Slurm side of `fjd workers auto`: which allocations are ours, what squeue says of
them, and cancelling them. Every call is one command with an argument list (no shell).

Our allocations are found again by their job name, made from the queue root's path
(``fjd-auto-<8 hex>``), with ``squeue --me``: a restarted controller, or one whose state
file is gone, sees exactly what runs, and never doubles it.
"""
import collections
import hashlib
import logging
import subprocess

from ..durations import slurm_seconds
from .local import child_env

log = logging.getLogger("fjd.auto")

SQUEUE_TIMEOUT = 60  # seconds
FIELDS = "%i|%T|%L|%M|%D|%r"  # job id, state, time left, elapsed, nodes, reason
PENDING_STATES = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                  "RESIZING", "SUSPENDED"}
RUNNING_STATES = {"RUNNING"}
# anything else squeue shows (COMPLETING, COMPLETED, TIMEOUT, FAILED, CANCELLED, ...) is on
# its way out: its workers are gone or going


class SlurmError(Exception):
    """A Slurm command failed; the message says which and why."""


class Allocation(collections.namedtuple("Allocation",
                                        "job_id state time_left elapsed nodes reason")):
    """One of our batch jobs as squeue shows it (time_left, elapsed: seconds or None)."""

    @property
    def pending(self):
        return self.state in PENDING_STATES

    @property
    def running(self):
        return self.state in RUNNING_STATES

    @property
    def active(self):
        return self.pending or self.running


def allocation_name(root):
    """The job name of this root's allocations: the same for every controller of it."""
    return "fjd-auto-%s" % hashlib.sha1(root.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def squeue_argv(name):
    return ["squeue", "--me", "--noheader", "--name=%s" % name, "--format=%s" % FIELDS]


def parse_squeue(text):
    """The Allocations in squeue's output (FIELDS); lines that do not parse are skipped."""
    found = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 6 or not parts[0].strip():
            continue
        job_id, state, left, elapsed, nodes, reason = (p.strip() for p in parts)
        found.append(Allocation(job_id, state.upper(), slurm_seconds(left),
                                slurm_seconds(elapsed), nodes, reason))
    return found


def run(argv, timeout=SQUEUE_TIMEOUT):
    """(exit status, stdout, stderr) of a Slurm command; SlurmError when it cannot run."""
    try:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=child_env(), timeout=timeout)
    except FileNotFoundError:
        raise SlurmError("%s not found: is this a Slurm login node?" % argv[0])
    except subprocess.TimeoutExpired:
        raise SlurmError("%s did not answer within %d s" % (argv[0], timeout))
    except OSError as error:
        raise SlurmError("cannot run %s: %s" % (argv[0], error.strerror))
    return (result.returncode, result.stdout.decode("utf-8", "replace"),
            result.stderr.decode("utf-8", "replace").strip())


def list_allocations(name):
    """Our allocations, by one squeue call; SlurmError when squeue fails."""
    status, out, err = run(squeue_argv(name))
    if status != 0:
        raise SlurmError("squeue failed (exit status %d): %s" % (status, err or "no message"))
    return parse_squeue(out)


def cancel(job_ids):
    """scancel these batch jobs (one call); SlurmError when it fails."""
    if not job_ids:
        return
    status, _, err = run(["scancel"] + sorted(job_ids))
    if status != 0:
        raise SlurmError("scancel failed (exit status %d): %s" % (status, err or "no message"))
