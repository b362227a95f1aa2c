"""What the queue asks of `fjd workers auto`: how many queued jobs (and tasks) an
allocation's workers could run, and why the others cannot start one.

Only jobqueue/ counts: a job that waits for others is in waiting/ (dependencies) and starts
no allocation until it is released. A job counts when the allocation's shape covers its
request (resources.py) and its time request (time_request.py) fits in what each worker
has (the allocation's --time less its margin). Requests come from names, as the
dispatcher reads them; the heads of hand-written jobs are read once per name and
remembered, as are the task counts of arrays not yet started.
"""
import collections
import os

from .. import arrays, names, resources
from ..durations import words
from ..fsops import list_names
from ..job_request import request_of_bytes
from ..resource_status import read_head
from ..time_request import job_seconds, seconds_of_bytes

MAX_REMEMBERED = 100000


class Demand(collections.namedtuple("Demand", "runnable reasons queued")):
    """runnable: jobs and tasks the allocation could run; reasons: [(count, text)] of the
    others; queued: every job and task in jobqueue/."""


class DemandCounter:
    """Counts the queue once a cycle against one allocation shape and time."""

    def __init__(self, layout, shape, seconds, margin):
        self.layout = layout
        self.shape = shape  # resources.Shape of each worker
        self.seconds = seconds  # the allocation's --time
        self.margin = margin  # ... of which the workers keep this much unused
        self.heads = {}  # name -> (request Shape, seconds or None, tasks): hand-written

    @property
    def usable(self):
        """Seconds a worker of a new allocation has for jobs."""
        return self.seconds - self.margin

    def count(self):
        queued = list_names(self.layout.jobqueue)
        runnable, total = 0, 0
        too_big, too_long = collections.Counter(), collections.Counter()
        for name in queued:
            request, seconds, tasks = self.read(name)
            total += tasks
            if not self.shape.covers(request):
                too_big[request] += tasks
            elif seconds is not None and seconds > self.usable:
                too_long[seconds] += tasks
            else:
                runnable += tasks
        if len(self.heads) > MAX_REMEMBERED:
            live = set(queued)
            self.heads = {k: v for k, v in self.heads.items() if k in live}
        return Demand(runnable, self.reasons(too_big, too_long), total)

    def read(self, name):
        """(request, seconds or None, tasks) of a queued name."""
        queue_name = names.parse(name) if "@" in name else None
        tasks = 1
        if queue_name is not None and queue_name.is_tasks:
            tasks = 0 if queue_name.finished else queue_name.size
        submitted, text = names.submitted_request(name)
        if submitted and (queue_name is not None and queue_name.is_tasks or
                          names.plain_submitted(name)):
            return (resources.parse_text(text) or resources.DEFAULT) if text else \
                resources.DEFAULT, job_seconds(name), tasks
        known = self.heads.get(name)
        if known is None:
            known = self.heads[name] = self.read_head(name, submitted, text)
        request, seconds, head_tasks = known
        return request, seconds, tasks if queue_name is not None and queue_name.is_tasks \
            else head_tasks

    def read_head(self, name, submitted, text):
        """What a name cannot say: the tasks of an array not started yet, and a
        hand-written job's request."""
        path = os.path.join(self.layout.jobqueue, name)
        head = read_head(path)
        tasks = arrays.task_count(path) if arrays.declared_kind(head) else 1
        if submitted:
            request = (resources.parse_text(text) or resources.DEFAULT) if text else \
                resources.DEFAULT
            return request, job_seconds(name), tasks
        return request_of_bytes(head), seconds_of_bytes(head), tasks

    def reasons(self, too_big, too_long):
        found = []
        for request, count in sorted(too_big.items(), key=lambda item: item[0].need_key):
            found.append((count, "%s %s; an allocation's workers have %s"
                          % (jobs(count), request.describe(), self.shape.describe())))
        for seconds, count in sorted(too_long.items()):
            found.append((count, "%s %s each; an allocation's workers have %s (--time %s less "
                                 "a %s margin): no allocation is submitted for them"
                          % (jobs(count), words(seconds), words(self.usable),
                             words(self.seconds), words(self.margin))))
        return found


def jobs(count):
    return "%d job%s ask%s for" % (count, "" if count == 1 else "s", "s" if count == 1 else "")
