"""What `fjd status` says about resources (DESIGN.md, "Resources"): how many queued jobs
ask for what, and which of them no live worker can run, and why (`3 jobs need 2 GPUs; no
live worker has more than 1`). Read from what status lists anyway: the queue's names (the
requests of submitted jobs) and the inboxes' names (the workers' shapes); the heads of a few
hand-written jobs."""
import os

from . import arrays, defaults, folders, names
from .job_request import request_of_bytes
from .resources import DEFAULT, Shape, parse_text, stuck, worker_shape


def read_head(path):
    """The first bytes of a queued job file, as the dispatcher reads them."""
    return folders.read_head(path, defaults.PRIORITY_HEAD)


def request_of_name(layout, name, reads):
    """(request, tasks) of a queued name; reads: a one-item list, the heads still to read."""
    queue_name = names.parse(name) if "@" in name else None
    tasks = 1
    if queue_name is not None:
        if queue_name.is_tasks:
            if queue_name.finished:
                return None, 0
            tasks = queue_name.size
    path = os.path.join(layout.jobqueue, name)
    submitted, text = names.submitted_request(name)
    if submitted:
        request = (parse_text(text) or DEFAULT) if text else DEFAULT
        if request != DEFAULT and queue_name is None and not names.plain_submitted(name) \
                and reads[0] > 0:
            reads[0] -= 1
            tasks = arrays.task_count(path)  # a new array asks for each of its tasks
        return request, tasks
    if reads[0] <= 0:
        return DEFAULT, tasks
    reads[0] -= 1
    head = read_head(path)
    request = request_of_bytes(head)
    if request != DEFAULT and queue_name is None and arrays.declared_kind(head):
        tasks = arrays.task_count(path)
    return request, tasks


def summary(layout, queued_names, worker_ids):
    """{"requests": [{request, count}], "stuck": [{request, count, reason}]}: the queued
    jobs (and tasks) by request, and those no worker of worker_ids (the inboxes) covers."""
    counts = {}
    reads = [defaults.STATUS_HEAD_READS]
    for name in queued_names:
        request, tasks = request_of_name(layout, name, reads)
        if request is not None and tasks:
            counts[request] = counts.get(request, 0) + tasks
    shapes = {worker_shape(worker_id) for worker_id in worker_ids}
    return {
        "requests": [{"request": r.as_json(), "count": counts[r]}
                     for r in sorted(counts, key=lambda r: r.need_key) if r != DEFAULT],
        "stuck": [{"request": r.as_json(), "count": count, "reason": reason}
                  for r, count, reason in stuck(counts, shapes)],
        "workers": [{"shape": s.as_json(), "count": sum(
            1 for w in worker_ids if worker_shape(w) == s)}
            for s in sorted(shapes, key=lambda s: s.size_key)],
    }


def lines(state):
    """The lines `fjd status` adds: what the workers own (when any owns more than the
    default), and why jobs wait that no live worker can run."""
    found = []
    shapes = state.get("worker_shapes") or []
    if any(Shape(**s["shape"]) != DEFAULT for s in shapes):
        found.append("  resources  " + "; ".join(
            "%d x %s" % (s["count"], Shape(**s["shape"]).describe()) for s in shapes))
    found += ["  ! " + s["reason"] for s in state.get("waiting_for_resources") or ()]
    return found
