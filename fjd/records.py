"""Per-job records: what happened to each finished job, in ``records/``.

For a job that ended as ``done/NAME`` or ``failed/NAME`` there is ``records/NAME.json`` (exit
status or signal, reason, worker, host, times, attempts), and for jobs that ran,
``records/NAME.out`` and ``records/NAME.err`` with its output. ``records/NAME.json`` is
created with O_EXCL before the job moves, so it is also what keeps finished names unique:
a second job called NAME ends as ``NAME~2`` and never overwrites the first.
"""
import errno
import json
import os
import time

from . import names
from .layout import RECORDS, display, log, try_rename

STATES = ("done", "failed", "cancelled")


def iso(timestamp):
    if timestamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(timestamp)) + (
        ".%03d" % int((timestamp % 1) * 1000))


def reserve(layout, original, identity=None):
    """Claim a unique finished name; returns (name, open fd of its record).

    identity ([inode, original name] of the job file) lets a job reclaim the name that an
    earlier attempt of the very same file reserved before its worker was killed, so a job
    that crashed at the last moment still ends under its own name.
    """
    for candidate in names.final_names(original):
        path = os.path.join(layout.records, candidate + ".json")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if identity is not None and is_orphan_of(layout, candidate, identity):
                log.info("reclaiming the name %s reserved by an earlier attempt of the job",
                         display(candidate))
                return candidate, os.open(path, os.O_WRONLY | os.O_TRUNC)
            continue
        return candidate, fd
    raise OSError(errno.EEXIST, "no free name for %s in records/" % display(original))


def is_orphan_of(layout, final_name, identity):
    """A record left by a crashed attempt of the same job file, whose job never arrived."""
    previous = read(layout, final_name)
    if not previous or previous.get("retried") or previous.get("identity") != list(identity):
        return False  # a retried job's old record is history, never taken over
    return not any(os.path.lexists(os.path.join(layout.folder(state), final_name))
                   for state in STATES)


def finish(layout, job_path, original, state, record, outputs=None):
    """Record the outcome, then move the job into done/, failed/ or cancelled/ (the commit point).

    outputs maps "stdout"/"stderr" to files that are moved beside the record. Returns the
    final name, or None when the job was no longer there (somebody else moved it).
    """
    assert state in STATES
    identity = record.get("identity")
    final, fd = reserve(layout, original, identity)
    record = dict(record, name=final, state=state, job=os.path.join(state, final),
                  stdout=None, stderr=None)
    moves = []
    for kind, path in sorted((outputs or {}).items()):
        relative = os.path.join(RECORDS, final + (".out" if kind == "stdout" else ".err"))
        record[kind] = relative
        moves.append((kind, path, os.path.join(layout.root, relative)))
    try:
        # one line: the C encoder (indent= would use the pure-Python one, 10x slower)
        os.write(fd, (json.dumps(record, sort_keys=True) + "\n").encode())
    finally:
        os.close(fd)
    for kind, source, target in moves:
        try:
            os.rename(source, target)
        except OSError as error:
            log.warning("could not keep the %s of %s: %s", kind, display(final), error.strerror)
    moved = try_rename(job_path, os.path.join(layout.folder(state), final))
    if not moved:
        log.warning("%s was moved away by somebody else (cancelled or requeued) before it "
                    "could be filed in %s/; its result is dropped", display(original), state)
        for path in [os.path.join(layout.records, final + ".json")] + [m[2] for m in moves]:
            try:
                os.unlink(path)  # our own record of a job that is not ours to file any more
            except OSError:
                pass
        return None
    return final


def read(layout, final_name):
    """The record of a finished job, or None."""
    try:
        with open(os.path.join(layout.records, final_name + ".json"), "rb") as handle:
            return json.loads(handle.read().decode())
    except (OSError, ValueError):
        return None
