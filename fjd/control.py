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
import getpass
import json
import os
import stat
import time

from . import names, records
from .layout import display, hostname, list_names, try_rename, write_file_atomic

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
    write_file_atomic(os.path.join(layout.records, name + ".json"),
                      (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())


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
        for name in layout.inbox_jobs(worker_id) or []:
            if wanted is None or name in wanted or names.parse(name)[0] in wanted:
                found.append((worker_id, name))
    return found


