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


def reserve(layout, original):
    """Claim a unique finished name; returns (name, open fd of its record)."""
    for candidate in names.final_names(original):
        path = os.path.join(layout.records, candidate + ".json")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        return candidate, fd
    raise OSError(errno.EEXIST, "no free name for %s in records/" % display(original))


def finish(layout, job_path, original, state, record, outputs=None):
    """Record the outcome, then move the job into done/, failed/ or cancelled/ (the commit point).

    outputs maps "stdout"/"stderr" to files that are moved beside the record. Returns the
    final name, or None when the job was no longer there (somebody else moved it).
    """
    assert state in STATES
    final, fd = reserve(layout, original)
    record = dict(record)
    record["name"] = final
    record["state"] = state
    for kind, path in sorted((outputs or {}).items()):
        target = os.path.join(layout.records, final + (".out" if kind == "stdout" else ".err"))
        try:
            os.rename(path, target)
            record[kind] = os.path.join(RECORDS, final + (".out" if kind == "stdout" else ".err"))
        except OSError as error:
            record[kind] = None
            log.warning("could not keep the %s of %s: %s", kind, display(final), error.strerror)
    record["job"] = os.path.join(state, final)
    try:
        os.write(fd, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
    finally:
        os.close(fd)
    moved = try_rename(job_path, os.path.join(layout.folder(state), final))
    if not moved:
        log.warning("%s was moved away by somebody else before it could be filed in %s/",
                    display(original), state)
        return None
    return final


def read(layout, final_name):
    """The record of a finished job, or None."""
    try:
        with open(os.path.join(layout.records, final_name + ".json"), "rb") as handle:
            return json.loads(handle.read().decode())
    except (OSError, ValueError):
        return None
