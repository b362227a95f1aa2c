"""How a job's name changes on its way through the folders, and back.

A job dropped in as ``job0.conf`` keeps that name in ``jobqueue/``, in its worker's inbox and
in ``done/``. A job that comes back to the queue because its run did not finish carries its
history in a suffix, ``job0.conf@a1`` (one crashed attempt) or ``job0.conf@a0.w3f9c-2`` (handed
back by a stopping worker), so that the rename which requeues it also records the count, and
the name is one nobody else uses. ``done/`` and ``failed/`` get the original name again,
or ``job0~2.conf`` when an earlier finished job already has it.
"""
import hashlib
import os
import re

MAX_NAME_BYTES = 255
RECORD_ROOM = len(".json")  # records/NAME.json must fit too

_HISTORY = re.compile(r"@a(\d{1,6})(?:\.([0-9A-Za-z-]{1,40}))?\Z")


def parse(queue_name):
    """(original name, crashed attempts so far) of a name in jobqueue/ or an inbox."""
    match = _HISTORY.search(queue_name)
    if not match or match.start() == 0:
        return queue_name, 0
    return queue_name[: match.start()], int(match.group(1))


def requeue_name(original, attempts, tag=""):
    """The name under which a job goes back to jobqueue/ with its attempt count."""
    suffix = "@a%d" % attempts + ("." + tag if tag else "")
    return fit(original, MAX_NAME_BYTES - len(suffix)) + suffix


def final_names(original):
    """Candidate names in done/ or failed/: the original first, then job0~2.conf, ..."""
    limit = MAX_NAME_BYTES - RECORD_ROOM
    yield fit(original, limit)
    stem, ext = split_ext(original)
    marks = ["~%d" % number for number in range(2, 100)] + ["~" + os.urandom(6).hex()]
    for mark in marks:
        tail = mark + ext
        yield fit(stem, limit - len(os.fsencode(tail))) + tail


def split_ext(name):
    stem, ext = os.path.splitext(name)
    if not stem or len(ext) > 16:
        return name, ""
    return stem, ext


def fit(name, limit=MAX_NAME_BYTES - RECORD_ROOM):
    """Shorten a name to limit bytes, keeping its extension and a hash of the whole.

    Only names close to the 255-byte limit of most filesystems are touched; the hash keeps
    shortened names unique and the start keeps them recognisable.
    """
    raw = os.fsencode(name)
    if len(raw) <= limit:
        return name
    digest = hashlib.sha1(raw).hexdigest()[:8]
    stem, ext = split_ext(name)
    keep = limit - len(os.fsencode(ext)) - len(digest) - 1
    text = stem
    while len(os.fsencode(text)) > keep:
        text = text[:-1]
    return "%s~%s%s" % (text, digest, ext)
