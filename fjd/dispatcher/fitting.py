"""Which idle worker gets which job when workers own resources and jobs ask for them
(DESIGN.md, "Resources"): a job goes only to a worker whose shape covers its request, and to
the smallest idle one that does; a big worker takes a small job only when no job that needs
its size waits; a job that nobody live can run holds back nobody.

Shapes and requests are read from names (resources.py), never from files, but for the
jobs whose names cannot say (hand-written files: their head, read where the hand-out reads
it anyway; ranges of hand-written arrays: the array's head, once per array). The queued
names that need more than the default wait here in one deque per request, taken out of the
listing's order: a worker looks at the few requests it covers, largest first, and then at
the listing, so a job that no idle worker can run costs nothing per hand-out. With every
worker and every job of the default shape none of this is used: the hand-out is what it
was."""
import collections
import logging
import os

from .. import names
from ..job_request import request_of_bytes
from ..names import REQUEST_MARK
from ..resources import DEFAULT, parse_text, waiting_reason, worker_shape
from .listing import read_head
from .timers import due

log = logging.getLogger("fjd.dispatcher")

REPORT_EVERY = 60.0  # seconds between log lines about jobs that no live worker can run


class Fitting:
    """The jobs held back for workers big enough, by request, and who may take them."""

    def __init__(self, layout, listing):
        self.layout = layout
        self.listing = listing
        self.held = {}  # request Shape -> deque of queued names waiting for a worker that fits
        self.held_total = 0  # (what the deques hold; a job taken out is counted off)
        self.classified = None  # the listing's deque whose names were sorted by request
        self.active = False  # a worker with resources, or a job asking for them, was seen
        self.arrays = {}  # array id -> request, for ranges whose names cannot say
        self.covering = {}  # worker shape -> the held requests it covers, largest first
        self.reported_at = None
        self.texts = {}  # request text in names -> its Shape

    # -- the idle workers -------------------------------------------------------------------

    def order(self, idle):
        """The idle workers smallest first (stable: name order within a shape)."""
        shapes = [worker_shape(worker_id) for worker_id in idle]
        if all(shape == DEFAULT for shape in shapes):
            return idle
        self.active = True
        self.sync()
        return [w for _, w in sorted(zip((s.size_key for s in shapes), idle),
                                     key=lambda pair: pair[0])]

    # -- the jobs ---------------------------------------------------------------------------

    def sync(self):
        """After a new listing: forget what was held (the listing has it again) and, once
        resources are in play, hold every name whose name says it needs more than the
        default (a pass over the names, per listing, not per hand-out)."""
        pending = self.listing.pending
        if pending is self.classified:
            return
        self.held, self.held_total, self.covering = {}, 0, {}
        self.classified = pending
        if not self.active:
            return
        keep = []
        requests, arrays = self.listing.requests, self.arrays
        for name in pending:
            if REQUEST_MARK not in name and not (arrays and "@" in name) and \
                    not (requests and name in requests):
                keep.append(name)  # (most names: no request, nothing to parse)
                continue
            request = self.request_by_name(name) or requests.get(name)
            if request is None or request == DEFAULT:
                keep.append(name)
            else:
                self.hold(name, request)
        if len(keep) != len(pending):
            pending.clear()  # (the same deque: the listing keeps it)
            pending.extend(keep)

    def request_by_name(self, name, queue_name=None):
        """The request a queued name says (None: only its file can say). queue_name: its
        parse, when the caller has it."""
        submitted, text = names.submitted_request(name)
        if submitted:
            if text is None:
                return DEFAULT
            request = self.texts.get(text)
            if request is None:
                request = self.texts[text] = parse_text(text) or DEFAULT
            return request
        if "@" in name:
            queue_name = queue_name or names.parse(name)
            if queue_name.is_tasks:
                return self.arrays.get(queue_name.uid)
        return None

    def request_of(self, name, queue_name, head):
        """A ready job's request: from its name, else from the head read for readiness,
        else from the listing's reading of its head (hand-written jobs)."""
        request = self.request_by_name(name, queue_name)
        if request is not None:
            return request
        if queue_name is not None and queue_name.is_tasks:
            # a range of a hand-written array this dispatcher did not start: its head, once
            request = request_of_bytes(read_head(os.path.join(self.layout.jobqueue, name)))
            self.arrays[queue_name.uid] = request
            return request
        if isinstance(head, bytes):
            return request_of_bytes(head)
        return self.listing.requests.get(name, DEFAULT)

    def admits(self, shape, name, queue_name, head):
        """Whether a worker of shape may take this ready job; if not, it is held for a
        bigger one."""
        if head is None and REQUEST_MARK not in name and "@" not in name:
            requests = self.listing.requests
            if not requests or name not in requests:
                return True  # a plain submitted job of the default request: the hot path
        request = self.request_of(name, queue_name, head)
        if request is DEFAULT or shape.covers(request):
            return True
        self.active = True
        self.hold(name, request)
        return False

    def runnable(self, live_ids):
        """Whether a live worker could run a held job."""
        if not self.held_total:
            return False
        shapes = {worker_shape(worker_id) for worker_id in live_ids}
        return any(queue and any(shape.covers(request) for shape in shapes)
                   for request, queue in self.held.items())

    def could_run(self, worker_id, name):
        """Whether the worker could run a range handed out before (for sharing it)."""
        request = self.request_by_name(name)
        return request is None or worker_shape(worker_id).covers(request)

    def started_array(self, range_name, head):
        """A hand-written array was given its id: its ranges ask what its head asks."""
        queue_name = names.parse(range_name)
        if queue_name.is_tasks and isinstance(head, bytes):
            self.arrays[queue_name.uid] = request_of_bytes(head)

    def hold(self, name, request):
        queue = self.held.get(request)
        if queue is None:
            queue = self.held[request] = collections.deque()
            self.covering = {}
        queue.append(name)
        self.held_total += 1

    def take(self, shape):
        """The next held name a worker of shape should run: of the largest request it
        covers. (A worker looks at the few requests it covers, not at the jobs.)"""
        order = self.covering.get(shape)
        if order is None:
            order = sorted((r for r in self.held if shape.covers(r)),
                           key=lambda r: r.need_key, reverse=True)
            self.covering[shape] = order
        for request in order:
            queue = self.held[request]
            if queue:
                self.held_total -= 1
                return queue.popleft()
        return None

    def put_back(self, name):
        """A held name that could not be given after all goes back to the listing."""
        self.listing.pending.appendleft(name)

    # -- what waits for what ----------------------------------------------------------------

    def report(self, now, live_ids):
        """Now and then, a log line for each request that no live worker covers."""
        if not self.held_total or not due(self.reported_at, now, REPORT_EVERY):
            return
        self.reported_at = now
        shapes = {worker_shape(worker_id) for worker_id in live_ids}
        for request, queue in sorted(self.held.items(), key=lambda item: item[0].need_key):
            if queue and not any(shape.covers(request) for shape in shapes):
                log.warning("%s", waiting_reason(len(queue), request, shapes))
