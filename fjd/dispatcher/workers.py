"""The workers as the dispatcher sees them: who asks for work (announcements in
workerqueue/, and "idle <id>" hints on shared mounts), and who is alive (heartbeats; a
worker whose heart stopped is buried, burial.py)."""
import logging
import os

from .. import defaults, folders
from ..layout import HEARTBEAT_FILE, PARKED_ANNOUNCEMENT, display
from ..fsops import list_names, refresh_listing
from ..liveness import HeartbeatWatch, decode_beat, read_beat
from .burial import Burial, DeathTags
from .proving import TAKE_UP, Proofs
from .timers import due

log = logging.getLogger("fjd.dispatcher")


class IdleWorkers:
    """workerqueue/: the announcements of idle workers, and on a shared mount the hints
    that say which worker went idle, so that the folder is listed only where needed."""

    def __init__(self, layout):
        self.layout = layout
        self.hints = None  # a HintListener on shared mounts
        self.woken = False  # a hint woke us: make the next listing of workerqueue/ fresh
        self.fresh_at = None  # when workerqueue/ was last listed fresh
        self.spare = (None, set())  # (when, idle workers last seen and given nothing)

    def hints_trusted(self, now):
        """Whether workers' hints got through lately (then an idle worker says so)."""
        return self.hints is not None and self.hints.heard_within(
            defaults.HINTS_TRUSTED_FOR, now)

    def wake(self):
        """We were woken (inotify, a hint, a signal): the next look here is fresh. True
        when the news may be of jobs: a worker's "idle" is news of workerqueue/ only; jobs,
        or anything else (a signal, a hint of an older fjd), makes both listings fresh."""
        news = self.hints.take_news() if self.hints is not None else None
        self.woken = True
        return news is None or news != {b"idle"}

    def find(self, now):
        """The names in workerqueue/. On a shared mount a listing (a dozen requests to the
        file server when it is made fresh) is made only where it is needed:

        * while hints get through, a worker that goes idle says so by name ("idle <id>"):
          its announcement is looked up (one request) instead of listing the folder, and
          between such hints nothing is asked at all, but for a fresh listing once in
          FRESH_LISTING_EVERY that finds those whose hint was lost;
        * otherwise (no hints heard lately, or a hint without a name) the folder is listed,
          fresh when a hint woke us or once in FRESH_LISTING_EVERY."""
        path = self.layout.workerqueue
        if not self.layout.shared:
            return list_names(path)
        woken, self.woken = self.woken, False
        named = self.hints.take_named() if self.hints is not None else set()
        hinted = self.hints_trusted(now)
        spare_at, spare = self.spare
        spare = spare if spare_at is not None and \
            now - spare_at < defaults.FRESH_LISTING_EVERY else set()
        if due(self.fresh_at, now, defaults.FRESH_LISTING_EVERY) or (woken and not named) \
                or len(named - spare) > defaults.NAMED_LOOKUPS:
            refresh_listing(path)
            self.fresh_at = now
            return list_names(path)
        if named:
            return [w for w in named - spare if folders.lexists(os.path.join(path, w))] + \
                list(spare)
        if hinted:
            return list(spare)  # idle workers listed lately but given nothing; others hint
        return list_names(path)

    def remember_spare(self, now, idle):
        """The idle workers about to be served; those left in the set got nothing."""
        self.spare = (now, set(idle))
        return self.spare[1]

    def take(self, worker_id):
        """The worker has jobs now: park its announcement in its inbox, where the worker
        moves it back from when idle (renames: deleted files slow later creations, see
        layout.PARKED_ANNOUNCEMENT)."""
        try:
            folders.rename(os.path.join(self.layout.workerqueue, worker_id),
                           os.path.join(self.layout.inbox(worker_id), PARKED_ANNOUNCEMENT))
        except OSError:
            self.drop(worker_id)  # gone already, or its inbox is

    def drop(self, worker_id, why=None):
        try:
            folders.unlink(os.path.join(self.layout.workerqueue, worker_id))
        except FileNotFoundError:
            pass
        if why:
            log.info("forgot worker %s: %s", display(worker_id), why)


class LiveWorkers:
    """The workers' heartbeats (read every Timings.liveness seconds), how many look alive,
    where each takes hints, and the burial of those whose heart stopped."""

    def __init__(self, layout, timings, idle, batches, rejects, journal):
        self.layout = layout
        self.timings = timings
        self.idle = idle  # a dead worker's announcement is dropped
        self.batches = batches  # ... and what was learnt of its batches forgotten
        self.rejects = rejects  # what its burial needs: rejects, the journal, tags
        self.journal = journal
        self.tags = DeathTags()
        self.observer = HeartbeatWatch(timings.worker_timeout)
        self.proofs = Proofs(min(TAKE_UP, timings.worker_timeout))  # proving.py
        self.sender = None  # a HintSender on shared mounts
        self.addresses = {}  # worker id -> where it takes hints (from its heartbeat)
        self.count = 0  # workers with a beating heart at the last check, idle or busy
        self.requeued = 0  # jobs and ranges put back in the queue by burials

    def check(self):
        present = set()
        for worker_id in self.layout.list_names(self.layout.jobpod):
            inbox = self.layout.inbox(worker_id)
            raw = self.beat_of(worker_id)
            if raw is None and not os.path.isdir(inbox):
                continue
            present.add(worker_id)
            self.proofs.beat(worker_id, raw)
            if self.sender is not None:
                self.addresses[worker_id] = decode_beat(raw).get("hints")
            if self.observer.is_dead(worker_id, raw):
                self.bury(worker_id, raw)
        for worker_id in self.observer.keys():
            if worker_id not in present:
                self.observer.forget(worker_id)
                self.proofs.forget(worker_id)
                self.addresses.pop(worker_id, None)
        self.count = sum(1 for worker_id in present if self.looks_alive(worker_id))

    def bury(self, worker_id, raw, untouched=(), why=None):
        """Take over a dead worker's inbox (burial.py); untouched: names it never started."""
        burial = Burial(self.layout, self.journal, self.rejects, self.tags, worker_id, raw,
                        untouched)
        beat = burial.beat
        log.warning("worker %s (host %s, pid %s) %s: presumed dead", display(worker_id),
                    display(str(beat.get("host", "?"))), beat.get("pid", "?"),
                    why or "has not renewed its heartbeat for %g s"
                    % self.timings.worker_timeout)
        self.idle.drop(worker_id)
        self.requeued += burial.bury()
        self.observer.forget(worker_id)
        self.batches.forget(worker_id)
        self.proofs.forget(worker_id)

    def handed(self, worker_id, given, now):
        """A batch went to the worker (proving.py)."""
        self.proofs.handed(worker_id, given, now)

    def check_unproven(self, now):
        """Workers never seen alive that have not taken up their batch in time (proving.py)
        are buried now, their batch back in the queue: a heartbeat read (and a lookup of
        the announcement) each, only when one is due."""
        proofs = self.proofs
        for worker_id, awaited in proofs.overdue(now):
            raw = self.beat_of(worker_id)
            proofs.beat(worker_id, raw)
            if not proofs.unproven(worker_id):
                continue
            if awaited.beat is None and raw is not None:
                proofs.extend(worker_id, now, raw)  # first reading: the baseline
                continue
            if folders.lexists(os.path.join(self.layout.workerqueue, worker_id)):
                proofs.prove(worker_id)  # its announcement came back: only it moves that
                continue
            self.bury(worker_id, raw, untouched=awaited.names,
                      why="did not take up its batch within %g s, and this dispatcher never "
                      "saw its heartbeat change" % proofs.take_up)

    def hint_addresses(self, worker_id):
        """Where the worker takes hints. Heartbeats are read every 10 s on a shared mount:
        a worker that started since is asked once, through its heartbeat, rather than
        left to find its first batches by polling for up to that long."""
        if worker_id not in self.addresses:
            raw = self.beat_of(worker_id)
            self.proofs.beat(worker_id, raw)
            self.addresses[worker_id] = decode_beat(raw).get("hints")
        return self.addresses[worker_id]

    def tell_jobs(self, worker_id):
        """Wake a worker that was given jobs (shared mounts: it would poll for them)."""
        if self.sender is not None:
            self.sender.send(self.hint_addresses(worker_id), b"jobs")

    def beat_of(self, worker_id):
        """A worker's raw heartbeat (None when missing or unreadable)."""
        return read_beat(os.path.join(self.layout.inbox(worker_id), HEARTBEAT_FILE),
                         splice=self.layout.fuse)

    def looks_alive(self, worker_id):
        """False for a worker whose heartbeat has stalled for a few beats: give it nothing."""
        stalled = min(3 * self.timings.heartbeat + self.timings.liveness,
                      self.timings.worker_timeout / 2)
        return self.observer.unchanged_for(worker_id) < stalled
