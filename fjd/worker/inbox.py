"""The worker's inbox, ``jobpod/<worker id>/``: listing what the dispatcher put there,
`fjd cancel`'s requests, handing jobs back to ``jobqueue/``, and leaving (DESIGN.md,
"The worker")."""
import logging
import os
import time

from .. import folders, moves, names, record_kinds, records
from ..layout import CANCEL_PREFIX, cancel_request, display, inbox_jobs_of
from ..fsops import try_rename

log = logging.getLogger("fjd.worker")


class Inbox:
    def __init__(self, layout, presence, holder, journals, timings):
        self.layout = layout
        self.presence = presence  # (for the worker's id and inbox)
        self.holder = holder
        self.journals = journals
        self.timings = timings
        self.requests_listed = (None, frozenset())  # (when, cancel requests) of the last listing
        self.handbacks = 0

    @property
    def path(self):
        return self.presence.inbox

    def jobs(self):
        """The jobs and ranges in the inbox, in name order; [] and buried when it is gone."""
        listing = self.layout.inbox_listing(self.presence.worker_id, fresh=True)
        if listing is None:
            self.presence.mark_buried()
            return []
        self.requests_listed = (time.monotonic(), frozenset(
            name for name in listing if name.startswith(CANCEL_PREFIX)))
        return inbox_jobs_of(listing)

    def cancel_requested(self, name):
        """Whether `fjd cancel` asked for name before it starts. The inbox listing says so
        while it is younger than job_check (a running job is checked no more often); an
        older one costs a look (one request on a shared mount)."""
        request = cancel_request(name)
        listed_at, requests = self.requests_listed
        if listed_at is not None and time.monotonic() - listed_at < self.timings.job_check:
            return request in requests
        return folders.lexists(os.path.join(self.path, request))

    def handback_tag(self, signalled=False):
        """The tag that makes a handed-back name unique: w<id part>-<hand-backs so far>."""
        return moves.worker_tag(self.presence.worker_id, self.handbacks, signalled)

    def hand_back(self, name, why, attempts=None, signalled=False):
        """Put a job (or a range) back in the queue; attempts: the new count of cut-short
        runs (default: as it was, for a job that did not start). signalled: the job sent
        its worker a stop signal (the tag says so, for the reason it fails with)."""
        queue_name = names.parse(name)
        self.handbacks += 1
        if attempts is None:
            attempts = queue_name.attempts
        target = moves.requeued(queue_name, attempts, self.handback_tag(signalled),
                                retag=signalled)
        if try_rename(os.path.join(self.path, name),
                      os.path.join(self.layout.jobqueue, target)):
            log.info("%s back to jobqueue/ (%s)", display(name), why)

    def move_to_arrays(self, name, finished):
        """A finished range from the inbox to arrays/ (as finished), until it is there."""
        self.holder.retry_until_filed(
            lambda: try_rename(os.path.join(self.path, name),
                               os.path.join(self.layout.arrays, finished)),
            "move %s to arrays/" % display(name))

    def file_cancelled(self, name, ran=False):
        """File a job (or the rest of a range) cancelled with `fjd cancel`, as asked (ran:
        while it ran, so its record counts the attempt it was on)."""
        queue_name = names.parse(name)
        request = os.path.join(self.path, cancel_request(name))
        try:
            with open(request, "rb") as handle:
                by = handle.read(400).decode("utf-8", "replace").strip().splitlines()
        except OSError:
            by = []
        now = time.time()
        reason = "cancelled by %s" % (by[-1] if by else "fjd cancel")
        if queue_name.is_tasks:
            self.cancel_range(name, queue_name, reason, now)
        else:
            presence = self.presence
            record = record_kinds.job_cancelled_in_inbox(
                name, queue_name.original, presence.worker_id, presence.host, presence.pid,
                queue_name.attempts + ran, reason, now, "jobpod/%s" % presence.worker_id)
            filing = records.Filing(self.layout, self.journals.records,
                                    os.path.join(self.path, name), queue_name.original,
                                    record_kinds.CANCELLED, record)
            self.holder.file(filing, 0)
        try:
            folders.unlink(request)
        except OSError:
            pass
        log.info("%s cancelled (%s)", display(name), reason)

    def cancel_range(self, name, queue_name, reason, now):
        """Record a range's tasks as cancelled, then move it to arrays/ with the C flag
        (as every finished range is named: without attempts, offset or tag)."""
        record = record_kinds.tasks_ended(
            queue_name.original, queue_name.uid, queue_name.first, queue_name.last,
            record_kinds.CANCELLED, reason, now, worker=self.presence.worker_id,
            host=self.presence.host)
        self.holder.retry_until_filed(
            lambda: self.journals.records.append(record, size=queue_name.size),
            "record the cancelled tasks of %s" % display(name))
        self.move_to_arrays(name, moves.cancelled_range(queue_name))

    def leave(self):
        """Withdraw the announcement, hand back unstarted jobs, remove the inbox. (Files
        still open would be kept as .fuse_hidden* names by sshfs, and the inbox would stay:
        the heartbeat is closed first.)"""
        self.presence.close_heartbeat()
        self.presence.withdraw_announcement()
        for _ in range(100):
            for name in self.layout.inbox_jobs(self.presence.worker_id, fresh=True) or []:
                if folders.lexists(os.path.join(self.path, cancel_request(name))):
                    self.file_cancelled(name)
                else:
                    self.hand_back(name, "not started")
            self.remove_dot_files()
            try:
                os.rmdir(self.path)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)  # the dispatcher slipped a job in: hand it back too
        else:
            log.warning("could not empty inbox %s", display(self.path))

    def remove_dot_files(self):
        try:
            leftovers = [n for n in folders.listdir(self.path) if n.startswith(".")]
        except OSError:
            leftovers = []
        for leftover in leftovers:
            try:
                folders.unlink(os.path.join(self.path, leftover))
            except OSError:
                pass
