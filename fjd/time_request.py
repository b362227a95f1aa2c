"""A job's time request and a worker's end, where the dispatcher sees them without opening
a file (DESIGN.md, "Time requests"): both ride in the short text that names carry after
``_`` for resources (resources.py), as a last part:

    20261124-171800.123456-3f9c2a-000001s_t1200-job.conf    asks for 20 minutes
    node1-4242-3f9c2a_c4e1765150000                          a worker that stops at that
                                                             Unix time (its --lifetime)

A worker takes a job only if the job's request ends before the worker does. The worker's
end is a wall-clock time (a worker's --lifetime, counted from its start); comparing it with
the dispatcher's clock needs the hosts' clocks to agree within the margin the allocation
leaves (NTP does far better), which is why it is a margin and never a liveness decision
(rule 5).
"""
import time

from . import names
from .durations import parse_duration
from .jobfile import JobError, parse_config

TIME_MARK = "t"  # a job's request in seconds
END_MARK = "e"  # a worker's end, Unix seconds
ID_MARK = "_"  # (resources.ID_MARK: where a worker's shape text starts)


def control_seconds(control):
    """The seconds [control] time_request asks for (None: none); ValueError."""
    raw = (control.get("time_request") or "").strip()
    if not raw:
        return None
    try:
        return parse_duration(raw)
    except ValueError as error:
        raise ValueError("[control] time_request: %s" % error)


def seconds_of_bytes(data):
    """The time a job file's bytes ask for, None when none (or the file is no valid job:
    its worker says why)."""
    if b"time_request" not in data.lower():
        return None
    try:
        parser = parse_config(data)
        if not parser.has_section("control"):
            return None
        control = {key.lower(): value for key, value in parser["control"].items()}
        return control_seconds(control)
    except (JobError, ValueError):
        return None


def request_text(seconds):
    """The part of a submitted name's request text for a time request ("" for none)."""
    return "" if seconds is None else "%s%d" % (TIME_MARK, seconds)


def _trailing_number(text, mark):
    """The number after mark at the end of text (a request text or a worker's shape)."""
    if not text:
        return None
    at = text.rfind(mark)
    if at < 0 or not text[at + 1:].isdigit():
        return None
    return int(text[at + 1:])


_job_seconds = {}


def job_seconds(name):
    """The seconds a queued name says its job asks for (None: no request, or a name that
    is not one `fjd submit` gave: a hand-written job's head says, dispatcher/time_fit.py)."""
    found = _job_seconds.get(name)
    if found is None:
        submitted, text = names.submitted_request(name)
        found = _trailing_number(text, TIME_MARK) if submitted else None
        found = -1 if found is None else found
        if len(_job_seconds) > 100000:
            _job_seconds.clear()
        _job_seconds[name] = found
    return None if found < 0 else found


_worker_ends = {}


def worker_end(worker_id):
    """The Unix time a worker's id says it stops at (None: it does not say)."""
    found = _worker_ends.get(worker_id)
    if found is None:
        _, mark, text = worker_id.rpartition(ID_MARK)
        found = _trailing_number(text, END_MARK) if mark else None
        found = -1 if found is None else found
        if len(_worker_ends) > 100000:
            _worker_ends.clear()
        _worker_ends[worker_id] = found
    return None if found < 0 else found


def worker_id_with_end(worker_id, end):
    """A worker's id (with its shape, if any) that also says when it stops."""
    if end is None:
        return worker_id
    _, mark, text = worker_id.rpartition(ID_MARK)
    if mark and text and not text.startswith(END_MARK):
        return "%s%s%d" % (worker_id, END_MARK, int(end))
    return "%s%s%s%d" % (worker_id, ID_MARK, END_MARK, int(end))


def fits(worker_id, name, now=None, asked=None):
    """Whether the worker has the time the queued job asks for (what the hand-out asks;
    True whenever either says nothing). asked: the seconds a hand-written job's head asks
    for (its name cannot say)."""
    end = worker_end(worker_id)
    if end is None:
        return True
    seconds = job_seconds(name) if asked is None else asked
    return seconds is None or (time.time() if now is None else now) + seconds <= end
