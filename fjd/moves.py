"""Every change of a queue name, as pure functions (DESIGN.md, "Names" and "Array jobs").

A job changes state by one rename; which name it gets is decided here and nowhere else, so
the worker, the dispatcher, a burial, `fjd retry` and `fjd cancel` cannot drift apart.
Nothing here touches the filesystem: each function takes a parsed name (names.QueueName)
and the facts, and returns the new name, or, for a split, the pieces (fields for
tickets.split and the folder each piece goes to).

The rules they keep:

* a name that goes back to ``jobqueue/`` after a cut-short run counts the attempt and gets
  a tag of whoever put it back (``d..`` a dispatcher's burial, ``w..`` a worker, ``r..``
  `fjd retry`), so that it cannot replace a queued name;
* a finished range (in ``arrays/``) carries only its range, its array id and its flags
  (``F`` some task failed, ``C`` some cancelled): no attempts, no row offset, no tag.
  Two finished names of one range are the same name, whoever filed it, and merges and
  repairs (tickets.py) compare nothing else.
"""
import collections
import os

from . import names
from .layout import ARRAYS, JOBQUEUE, RECORDS
from .resources import bare_worker_id

FAILED_FLAG = "F"  # in a finished range's s<FLAGS>: some of its tasks failed
CANCELLED_FLAG = "C"  # ... some were cancelled
CRASH_TAG = "d"  # a dispatcher requeued it from a dead worker's inbox
WORKER_TAG = "w"  # its worker handed it back
RETRY_TAG = "r"  # `fjd retry` put it back
SIGNAL_MARK = "-sig"  # ... because the job sent its own worker a stop signal
CLAIM_SUFFIX = ".part"  # a job claimed into failed/ or cancelled/, not filed yet


class Piece(collections.namedtuple("Piece", "fields folder")):
    """One part of a split range: its QueueName fields (for tickets.split) and the queue
    folder it moves to afterwards (layout.ARRAYS or layout.JOBQUEUE; None: it stays)."""


# -- tags ---------------------------------------------------------------------------------------

def worker_tag(worker_id, handbacks, signalled=False):
    """The tag of a name a worker hands back: the random end of its id, how many it has
    handed back so far, and -sig when the job sent the worker a stop signal."""
    return "%s%s-%d%s" % (WORKER_TAG, bare_worker_id(worker_id).rsplit("-", 1)[-1], handbacks,
                          SIGNAL_MARK if signalled else "")


def dispatcher_tag(seconds, counter):
    """The tag of a name a dispatcher requeues: its clock in hex and a counter of its own."""
    return "%s%x%d" % (CRASH_TAG, int(seconds), counter)


def retry_tag(token):
    """The tag of the names one `fjd retry` puts back (token: names.nonce())."""
    return RETRY_TAG + token


def died_with_worker(queue_name):
    """Whether the last cut-short run of a requeued name ended with its worker's death."""
    return (queue_name.tag or "").startswith(CRASH_TAG)


def sent_stop_signal(queue_name):
    """Whether the last cut-short run ended because the job signalled its own worker."""
    return (queue_name.tag or "").endswith(SIGNAL_MARK)


# -- a whole name moving ------------------------------------------------------------------------

def requeued(queue_name, attempts, tag, retag=True):
    """The name under which a job, or a range, goes back to jobqueue/ with attempts cut-short
    runs counted. A single job always takes the new tag; a range takes it only when retag
    (its run was cut short) and keeps its own tag otherwise (it never started)."""
    if queue_name.is_tasks:
        return names.with_fields(queue_name, attempts=attempts,
                                 tag=tag if retag else queue_name.tag)
    return names.requeue_name(queue_name.original, attempts, tag, queue_name.released)


def retried_job(original, tag):
    """The name under which `fjd retry` puts failed/NAME back in jobqueue/: attempts start
    again, and the tag makes the name one nobody else uses."""
    return names.requeue_name(original, 0, tag)


def range_flags(failed):
    return FAILED_FLAG if failed else ""


def finished_range(queue_name, flags):
    """The name of a range whose tasks all ended (flags: "", F or C) in arrays/."""
    return names.with_fields(queue_name, flags=flags, attempts=0, offset=None, tag=None)


def cancelled_range(queue_name):
    """A range cancelled before (or while) it ran, as it is filed in arrays/."""
    return finished_range(queue_name, CANCELLED_FLAG)


def exhausted_range(queue_name):
    """A one-task range cut short --max-attempts times, failed into arrays/."""
    return finished_range(queue_name, FAILED_FLAG)


def array_range(original, count, uid, data_offset):
    """The name of a new array's one range of all its tasks, once it has its id uid."""
    return names.compose(original, first=1, last=count, uid=uid, offset=data_offset)


def array_state(flags):
    """The folder (and state) of an array whose finished ranges carry flags."""
    flags = flags or ""
    if FAILED_FLAG in flags:
        return "failed"
    return "cancelled" if CANCELLED_FLAG in flags else "done"


def merged(first, second):
    """The union of two adjacent finished ranges (QueueNames) of one array."""
    flags = "".join(sorted(set(first.flags or "") | set(second.flags or "")))
    return names.with_fields(first, last=second.last, flags=flags, attempts=0, offset=None,
                             tag=None)


def repaired_rest(shorter, longer):
    """What is left of longer, an unfinished range that starts where shorter does (a split
    cut short): the tasks after shorter's."""
    return names.with_fields(longer, first=shorter.last + 1, attempts=0, offset=None)


def first_final_name(original):
    """The name a finished job is filed under as a rule (names.final_names gives the rest)."""
    return next(names.final_names(original))


# -- splitting a range --------------------------------------------------------------------------

def piece_names(queue_name, pieces):
    """The names tickets.split gives the Pieces of queue_name."""
    return [names.with_fields(queue_name, **piece.fields) for piece in pieces]


def _finished_part(queue_name, last, failed):
    return Piece(dict(first=queue_name.first, last=last, attempts=0,
                      flags=range_flags(failed), offset=None), ARRAYS)


def given_back(queue_name, task, failed, row_offset, interrupted, tag):
    """A worker stopping in the middle of a range, at task: the finished tasks go to
    arrays/; interrupted, task counts an attempt (tag: worker_tag) and goes back alone,
    followed by the rest; otherwise task and the rest go back together (row_offset: where
    task's row starts in a table array)."""
    pieces = []
    if task > queue_name.first:
        pieces.append(_finished_part(queue_name, task - 1, failed))
    attempts = queue_name.attempts if task == queue_name.first else 0
    if interrupted:
        pieces.append(Piece(dict(first=task, last=task, attempts=attempts + 1,
                                 offset=row_offset, tag=tag), JOBQUEUE))
        if task < queue_name.last:
            pieces.append(Piece(dict(first=task + 1, last=queue_name.last, attempts=0,
                                     offset=None), JOBQUEUE))
    else:
        pieces.append(Piece(dict(first=task, last=queue_name.last, attempts=attempts,
                                 offset=row_offset), JOBQUEUE))
    return pieces


def cancel_split(queue_name, task, failed):
    """`fjd cancel` of a range while its worker is at task (> first): the finished tasks
    go to arrays/, the rest stays in the inbox to be filed as cancelled."""
    return [_finished_part(queue_name, task - 1, failed),
            Piece(dict(first=task, last=queue_name.last, attempts=0, offset=None), None)]


def shared_rest(queue_name, cut):
    """A worker asked to share its range (the dispatcher has idle workers and nothing
    queued) before task cut: it keeps the tasks before cut in its inbox, and the rest goes
    back to jobqueue/ unstarted, for an idle worker."""
    return [Piece(dict(first=queue_name.first, last=cut - 1), None),
            Piece(dict(first=cut, last=queue_name.last, attempts=0, offset=None, tag=None),
                  JOBQUEUE)]


def taken_over(queue_name, last_done, failed, tag):
    """A dead worker's range, whose tasks up to last_done have records: those go to
    arrays/, the next one counts a crashed attempt (tag: dispatcher_tag) and goes back
    alone, the rest goes back unstarted."""
    pieces = []
    if last_done >= queue_name.first:
        pieces.append(_finished_part(queue_name, last_done, failed))
    if last_done < queue_name.last:
        crashed = last_done + 1
        first = crashed == queue_name.first
        pieces.append(Piece(dict(first=crashed, last=crashed,
                                 attempts=(queue_name.attempts if first else 0) + 1,
                                 offset=queue_name.offset if first else None, tag=tag),
                            JOBQUEUE))
        if crashed < queue_name.last:
            pieces.append(Piece(dict(first=crashed + 1, last=queue_name.last, attempts=0,
                                     offset=None, tag=None), JOBQUEUE))
    return pieces


def handed_out(queue_name, cut, rest_offset):
    """The dispatcher cutting a range in jobqueue/ before task cut: the piece it hands out
    and the rest (rest_offset: where the row of task cut starts), both in jobqueue/."""
    return [Piece(dict(first=queue_name.first, last=cut - 1), JOBQUEUE),
            Piece(dict(first=cut, last=queue_name.last, attempts=0, offset=rest_offset,
                       tag=None), JOBQUEUE)]


def retry_split(array, uid, count, failed, still_failed, tag):
    """`fjd retry` of the failed tasks of a finished array of count tasks: (name, folder)
    for each run of tasks, in order. The runs of failed tasks go to jobqueue/ (tag:
    retry_tag); the others wait in arrays/, flagged F when they hold still_failed tasks
    (failures not retried this time)."""
    failed, still_failed = set(failed), set(still_failed)
    runs = []  # [first, last, retried?]
    for task in range(1, count + 1):
        again = task in failed
        if runs and runs[-1][2] == again and runs[-1][1] == task - 1:
            runs[-1][1] = task
        else:
            runs.append([task, task, again])
    made = []
    for first, last, again in runs:
        if again:
            made.append((names.compose(array, first=first, last=last, uid=uid, tag=tag),
                         JOBQUEUE))
        else:
            flags = range_flags(any(first <= t <= last for t in still_failed))
            made.append((names.compose(array, first=first, last=last, uid=uid, flags=flags),
                         ARRAYS))
    return made


def retried_runs(made):
    """[first, last] of the runs of retry_split that go back to the queue."""
    found = []
    for name, folder in made:
        if folder == JOBQUEUE:
            queue_name = names.parse(name)
            found.append([queue_name.first, queue_name.last])
    return found


# -- claims and output files ------------------------------------------------------------------

def claim_name(name, token):
    """The private name under which a job in jobqueue/ is claimed into failed/ or
    cancelled/ before it is filed (token: names.nonce(3) or longer)."""
    return ".%s.%s%s" % (names.fit(name, 200), token, CLAIM_SUFFIX)


def is_claim(name):
    return name.startswith(".") and name.endswith(CLAIM_SUFFIX)


def claimed_original(claim):
    """The original name of the job claimed as claim (claim_name's inverse, as far as it
    goes: a name shortened to fit stays shortened)."""
    return names.parse(claim[1:].rsplit(".", 2)[0]).original


def output_file(final, kind):
    """Where a files-mode job's stdout or stderr is filed: records/FINAL.out or .err."""
    return os.path.join(RECORDS, final + "." + kind[3:])


def spare_output_file(taken, token):
    """Another name for an output file whose name was taken: a token before .out/.err."""
    return "%s.%s%s" % (taken[:-4], token, taken[-4:])
