"""How a job's name changes on its way through the folders, and back (DESIGN.md, "Names").

A job dropped in as ``job0.conf`` keeps that name in ``jobqueue/``, in its worker's inbox and
in ``done/``. When fjd has to say more about a job than its name, it adds a suffix that
carries the job's history or, for an array job, the range of tasks that one file name
stands for::

    job0.conf@a1.d5f3e2c3~4fdc1a         went back to the queue after one crashed attempt
    sweep.conf@t101-200.u3f9c2a71~4d6c7b  tasks 101 to 200 of the array 3f9c2a71

The suffix is ``@`` + fields separated by ``.`` + ``~`` + a checksum of everything before it
(six hex digits of CRC-32). Only a suffix whose checksum matches is read as fjd's: a user's
own ``sample@a7`` is an ordinary name and starts as attempt 1. Fields:

    a<N>          runs of the job that were cut short so far (crash or stop); the next run
                  is attempt N+1. In a task range it counts for the first task only.
    t<S>-<E>      tasks S to E (1-based, inclusive) of an array job
    u<ID>         the array's id, given when its first tasks were handed out
    o<N>          byte offset of task S's row in a table array (saves reading up to it)
    s<FLAGS>      a finished range of tasks (in arrays/): F some failed, C some cancelled
    d.. w.. r..   tags that keep a requeued name unique (dispatcher, worker, retry)
    e             released: the dependencies of the job were met (dependencies.py); the
                  dispatcher hands it out without looking at its [control] after keys

``done/`` and ``failed/`` get the original name again, or ``job0~2.conf`` when a finished
job already has it.

Names that ``fjd submit`` gives (submit.py) are ``<time>.<µs>-<nonce>-<seq>-<label>``; the
sequence number ends in ``s`` (``000001s``) when the job is a single job of default priority
(no ``[control] tasks``, no ``[control] priority``), so that the dispatcher can hand it out
without reading it first (``plain_submitted``).
"""
import collections
import hashlib
import os
import re
import zlib

MAX_NAME_BYTES = 255
SUFFIX_ROOM = 96  # longest suffix fjd adds; original names are shortened to leave it
OUTPUT_ROOM = len(".out")  # records/NAME.out of a job whose output goes to files

_SUFFIX = re.compile(r"@((?:[a-z][0-9A-Za-z-]*)(?:\.[a-z][0-9A-Za-z-]*)*)~([0-9a-f]{6})\Z")
_RANGE = re.compile(r"t([0-9]{1,12})-([0-9]{1,12})\Z")
_DIGITS = re.compile(r"[0-9]{1,18}\Z")
RELEASED_FIELD = "e"  # the job's dependencies were met (the dispatcher released it)
PLAIN_MARK = "s"  # ends the sequence number of a submitted single job of default priority
REQUEST_MARK = "_"  # after the sequence number: the job's request (resources.py), e.g. _g1
_SUBMITTED = re.compile(r"[0-9]{8}-[0-9]{6}\.[0-9]{6}-[0-9a-f]{6}-[0-9]{6,}(%s?)"
                        r"(?:%s([0-9A-Za-z]+))?-" % (PLAIN_MARK, REQUEST_MARK))


class QueueName(collections.namedtuple(
        "QueueName", "original attempts first last uid offset flags tag released",
        defaults=(False,))):
    """What a name in a queue folder says. first/last/uid are None for a single job."""

    @property
    def is_tasks(self):
        return self.uid is not None and self.first is not None

    @property
    def finished(self):
        return self.flags is not None

    @property
    def size(self):
        return self.last - self.first + 1 if self.is_tasks else 1


def submitted(name):
    """Whether name (or the original name it carries) is one `fjd submit` gives. Such a file
    is renamed into jobqueue/ complete, and no other writer makes the same name."""
    return bool(_SUBMITTED.match(name))


def plain_submitted(name):
    """Whether `fjd submit` marked name as a single job of default priority: nothing in it
    is needed to hand it out. (A hand-made file of that shape that is an array after all
    is still run right: its worker finds out and runs the tasks itself.)"""
    match = _SUBMITTED.match(name)
    return match is not None and match.group(1) == PLAIN_MARK


def submitted_request(name):
    """(True, the request text after the sequence number or None) of a name `fjd submit`
    gave (the request lives in the original name, so it goes wherever the job goes);
    (False, None) for other names, whose request only their file says."""
    match = _SUBMITTED.match(name)
    return (False, None) if match is None else (True, match.group(2))


def nonce(size=4):
    """size random bytes in hex: what keeps a made-up name (a tag, an array id, a claim, a
    writer id) unique without asking anybody."""
    return os.urandom(size).hex()


def checksum(text):
    return "%06x" % (zlib.crc32(os.fsencode(text)) & 0xFFFFFF)


def parse(name):
    """The QueueName of a name in jobqueue/, an inbox or arrays/."""
    at = name.rfind("@")
    while at > 0:
        match = _SUFFIX.match(name, at)
        if match and checksum(name[:match.start(2) - 1]) == match.group(2):
            return _fields(name[:at], match.group(1).split("."))
        at = name.rfind("@", 0, at)
    return QueueName(name, 0, None, None, None, None, None, None)


def _fields(original, fields):
    attempts, first, last, uid, offset, flags, tag = 0, None, None, None, None, None, None
    released = False
    for field in fields:
        kind, value = field[0], field[1:]
        if kind == "a" and value.isdigit():
            attempts = int(value)
        elif kind == "t":
            found = _RANGE.match(field)
            if found:
                first, last = int(found.group(1)), int(found.group(2))
        elif kind == "u" and value:
            uid = value
        elif kind == "o" and value.isdigit():
            offset = int(value)
        elif kind == "s":
            flags = value
        elif kind in "dwr":
            tag = field
        elif field == RELEASED_FIELD:
            released = True
    if first is None or last is None or last < first:
        first = last = None
    return QueueName(original, attempts, first, last, uid, offset, flags, tag, released)


def compose(original, attempts=0, first=None, last=None, uid=None, offset=None, flags=None,
            tag=None, released=False):
    """The name for a job or task range with these fields (the inverse of parse)."""
    fields = []
    if attempts:
        fields.append("a%d" % attempts)
    if first is not None:
        fields.append("t%d-%d" % (first, last))
    if uid:
        fields.append("u" + uid)
    if offset is not None:
        fields.append("o%d" % offset)
    if flags is not None:
        fields.append("s" + flags)
    if tag:
        fields.append(tag)
    if released:
        fields.append(RELEASED_FIELD)
    if not fields:
        return original
    original = fit(original, MAX_NAME_BYTES - SUFFIX_ROOM)
    head = original + "@" + ".".join(fields)
    return head + "~" + checksum(head)


def with_fields(queue_name, **changes):
    """compose() of a parsed name with some fields changed."""
    return compose(*queue_name._replace(**changes))


def requeue_name(original, attempts, tag="", released=False):
    """The name under which a single job goes back to jobqueue/ with its attempt count
    (the syntax only: moves.py decides when and with which tag)."""
    return compose(original, attempts=attempts, tag=tag or None, released=released)


def final_names(original):
    """Candidate names in done/ or failed/: the original first, then job0~2.conf, ..."""
    limit = MAX_NAME_BYTES - OUTPUT_ROOM
    yield fit(original, limit)
    stem, ext = split_ext(original)
    marks = ["~%d" % number for number in range(2, 100)] + ["~" + nonce(6)]
    for mark in marks:
        tail = mark + ext
        yield fit(stem, limit - len(os.fsencode(tail))) + tail


def split_ext(name):
    stem, ext = os.path.splitext(name)
    if not stem or len(ext) > 16:
        return name, ""
    return stem, ext


def fit(name, limit=MAX_NAME_BYTES):
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


def task_name(array, index):
    """How people and `fjd show` name one task of an array: ``sweep.conf#17``."""
    return "%s#%d" % (array, index)


def plain_name(name):
    """How people name what a queue name stands for: the job's own name, or ``ARRAY#5`` and
    ``ARRAY#5-6`` for a range of an array's tasks (never the suffix fjd adds)."""
    queue_name = parse(name)
    if not queue_name.is_tasks:
        return queue_name.original
    first, last = queue_name.first, queue_name.last
    return task_name(queue_name.original, first) + ("" if first == last else "-%d" % last)


def parse_task_name(text):
    """(array name, task index) of ``NAME#17``, or None for a plain job name."""
    array, sep, index = text.rpartition("#")
    if sep and array and _DIGITS.match(index) and int(index) >= 1:
        return array, int(index)
    return None


def is_ignored(name):
    """Files still being written by a careful writer: never touched (DESIGN.md)."""
    return name.startswith(".") or name.endswith((".tmp", ".part"))
