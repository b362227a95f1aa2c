"""A worker's presence in the queue: who it is (its id and inbox), that it is alive (the
heartbeat, at the pace following.py says), that it is idle (the announcement), and whether
it must stop (a stop file, --lifetime).

Everything the heartbeat shows lives here (the job being run, its run id, a result that
cannot be filed yet and why); the other parts of the worker set it through this object.
"""
import errno
import logging
import os
import time

from .. import allocation_marks, defaults, faults, folders, names
from ..execute import Cancelled, Withdrawn
from ..layout import (HEARTBEAT_FILE, PARKED_ANNOUNCEMENT, STOP_FILE, cancel_request, display,
                      hostname, safe_hostname)
from ..errors import QueueError
from ..fsops import write_file_atomic
from ..liveness import write_beat, write_beat_fd
from ..resources import DEFAULT, worker_id_with_shape
from ..time_request import worker_id_with_end
from .outcomes import Heartbeat

log = logging.getLogger("fjd.worker")

BURIED = "this worker was presumed dead and its jobs were handed back"


def new_worker_id():
    """host-pid-random: unique even when two hosts share a hostname."""
    return "%s-%d-%s" % (safe_hostname(), os.getpid(), names.nonce(3))


class HeartbeatFile:
    """Writing the heartbeat file. Locally it is opened by name at each beat (which notices
    at once when our inbox was taken away). On a shared mount that costs the file server
    four requests: there it stays open (one write a beat), and its name is checked every
    VERIFY_BEATS beats, and at once after a pause (we may have been stopped)."""

    def __init__(self, shared):
        self.shared = shared
        self.fd = None  # on shared mounts the heartbeat stays open: one write a beat
        self.by_name = False  # ... but not while a range of tasks runs on FUSE
        self.checked = None
        self.size = 0

    def write(self, path, payload, create, beats, interval):
        if not self.shared or create:
            self.size = write_beat(path, payload, self.size, create=create,
                                   size=defaults.HEARTBEAT_SIZE)
            return
        now = time.monotonic()
        if self.by_name:
            self.close()
            fd = folders.open_at(path, os.O_WRONLY | os.O_CLOEXEC)  # gone: we were buried
            try:
                self.size = write_beat_fd(fd, payload, self.size, size=defaults.HEARTBEAT_SIZE)
            finally:
                os.close(fd)
            self.checked = now
            return
        stalled = self.checked is not None and now - self.checked > 2 * interval
        if self.fd is None or stalled or beats % defaults.VERIFY_BEATS == 0:
            folders.must_exist(path)  # FileNotFoundError: our inbox is gone, or the beat taken
            if self.fd is None:
                self.fd = folders.open_at(path, os.O_WRONLY | os.O_CLOEXEC)
        self.checked = now
        self.size = write_beat_fd(self.fd, payload, self.size, size=defaults.HEARTBEAT_SIZE)

    def close(self):
        if self.fd is not None:
            folders.close_quietly(self.fd)
            self.fd = None


class Presence:
    """The worker as the queue sees it: inbox, heartbeat, announcement, stop requests."""

    def __init__(self, layout, timings, faults_, following, lifetime=None, requested_id=None,
                 idle_exit=None):
        self.layout = layout
        self.timings = timings
        self.faults = faults_  # (the worker's, shared with its main loop)
        self.following = following  # the dispatcher's lock: how often to beat; hints
        self.lifetime = lifetime
        self.exit_with = None  # an exit_with.ExitWith (--exit-with PID)
        self.started = time.monotonic()
        # when --lifetime ends, by the wall clock: in our id, so the dispatcher hands us no
        # job that asks for more time than we have (time_request.py)
        self.ends_at = None if lifetime is None else time.time() + lifetime
        self.idle_exit = idle_exit  # stop after this long idle (an elastic allocation's)
        self.requested_id = requested_id
        self.shape = DEFAULT  # what the worker owns: said in its id (resources.py)
        self.worker_id = self.inbox = self.root_id = None
        self.root_state = {}
        self.host = hostname()
        self.pid = os.getpid()  # (a worker never forks: its jobs start with posix_spawn)
        self.heartbeat = HeartbeatFile(layout.shared)
        self.beats = 0
        self.last_beat = None
        self.announced_at = None
        self.idle_since = None
        self.buried = False  # the dispatcher took our inbox: we were presumed dead
        self.runs = 0  # run ids: which journal records belong to which run
        self.job = self.run_id = None  # the inbox name being run, and its run id
        self.on_tick = None  # called at every tick while a range of tasks runs (sharing it)
        self.blocked = self.held = None  # a result that cannot be filed yet, and why
        self.waker = None  # made when the worker starts

    def attach(self, waker):
        self.waker = waker

    # -- joining the queue ----------------------------------------------------------------

    def join(self):
        """Make the queue's folders, learn its identity, listen for hints on shared mounts."""
        self.layout.ensure()
        self.root_id = self.layout.identity()
        if self.following.listen(self.root_id):
            folders.use(self.layout)

    def register(self):
        """Make our inbox under a new id (the asked one, or a fresh one) and beat in it."""
        while True:
            self.worker_id = worker_id_with_end(
                worker_id_with_shape(self.requested_id or new_worker_id(), self.shape),
                self.ends_at)
            self.inbox = self.layout.inbox(self.worker_id)
            try:
                os.mkdir(self.inbox, 0o755)
                break
            except FileExistsError:
                if self.requested_id:
                    raise QueueError("a worker called %s already exists (its inbox is %s)"
                                     % (display(self.requested_id), display(self.inbox)))
        self.buried = False
        self.announced_at = None  # (announced in the new inbox's name once registered)
        self.heartbeat.size = 0
        self.close_heartbeat()
        self.beat(force=True, create=True)
        allocation_marks.mark_registered()

    def forget_id(self):
        """Registering again after a burial takes a fresh id."""
        self.requested_id = None

    def root_present(self):
        return self.layout.present(self.root_id)

    def waiting_for_root(self, error):
        """When error says the queue root is gone: wait (saying so once) until it is back
        or we are asked to stop; whether it was gone."""
        return faults.root_gone(error) and faults.waiting_for_root(
            self.layout, self.root_id, log, self.waker, self.root_state)

    def root_came_back(self):
        """After the root was gone and an action worked again: say it is back."""
        if not self.root_state.get("gone"):
            return False
        faults.waiting_for_root(self.layout, self.root_id, log, self.waker, self.root_state)
        return True

    # -- run ids --------------------------------------------------------------------------

    def start_batch(self, first):
        """One run id for a batch, in the heartbeat once: the records of the batch carry it,
        and the dispatcher can tell from them, should we die, which jobs finished, which
        one was running (the first without a record) and which never started."""
        self.runs += 1
        self.job, self.run_id = first, self.runs
        self.beat(force=True)

    def end_batch(self):
        self.job = self.run_id = None

    def batch_run(self):
        """The run id of the batch being run (a new one outside a batch)."""
        if self.run_id is None:
            self.runs += 1
            self.run_id = self.runs
        return self.run_id

    def start_job(self, name):
        """Name the job (or range) being run in the heartbeat; locally a beat per job costs
        nothing, so it is written at once."""
        self.job = name
        self.beat(force=not self.layout.shared)

    def mark_buried(self):
        """Our inbox is gone: the dispatcher took it (we were presumed dead)."""
        self.buried = True

    def show_held(self, blocked, held):
        """Say in the heartbeat that a result cannot be filed (None, None: it was)."""
        self.blocked, self.held = blocked, held

    # -- idle and busy --------------------------------------------------------------------

    def become_busy(self):
        self.idle_since = None
        self.announced_at = None  # the dispatcher took (or will take) our announcement

    def become_idle(self, now):
        """Announce, and renew the announcement now and then; True at the first idle pass.
        (Asking the shared folder whether it is still there would be answered from stale
        caches.)"""
        first = self.idle_since is None
        if first:
            self.idle_since = now
        if self.announced_at is None or now - self.announced_at >= self.timings.reannounce:
            self.announce()
            if first:
                self.following.hint_idle(self.worker_id)
        if not self.following.seen:
            self.following.read(now)  # (a dispatcher may have started since)
        return first

    def announcement_path(self):
        return os.path.join(self.layout.workerqueue, self.worker_id)

    def announce(self):
        """Tell the dispatcher we are idle, by renames only: move back the announcement the
        dispatcher parked in our inbox when it gave us jobs. Renewing it (in case it was lost)
        moves it in and out again on a shared mount, because the file server answers a
        rename truthfully where a cached listing might not; on a local disk a look is the
        truth, and renames would wake the dispatcher (inotify) for nothing, 200 workers'
        worth of wake-ups. Only a lost announcement is written anew (temp name and rename),
        so idle workers delete no files (see PARKED_ANNOUNCEMENT)."""
        parked = os.path.join(self.inbox, PARKED_ANNOUNCEMENT)
        token = self.announcement_path()
        if self.announced_at is not None:
            if not self.layout.shared and os.path.lexists(token):
                self.announced_at = time.monotonic()
                return
            try:
                folders.rename(token, parked)
            except OSError:
                pass  # lost (or taken just now with jobs: we will see them next)
        try:
            folders.rename(parked, token)
        except OSError:
            write_file_atomic(token, ("%s %d\n" % (self.host, self.pid)).encode())
        self.announced_at = time.monotonic()

    def withdraw_announcement(self):
        try:
            folders.unlink(self.announcement_path())
        except OSError:
            pass

    def parked_announcement_seen(self):
        """One cheap look: the dispatcher parks our announcement in the inbox when it hands
        us jobs."""
        return folders.lexists(os.path.join(self.inbox, PARKED_ANNOUNCEMENT))

    # -- the heartbeat --------------------------------------------------------------------

    def beat(self, force=False, create=False):
        """Show we are alive: a counter that changes (observers never read our clock).

        The beat also names the job being run and its run id, so that if we die the
        dispatcher knows which job crashed with us, and which of its results are in our
        journal; and a result we could not file yet, so that it is not lost with us."""
        now = time.monotonic()
        if not force and self.last_beat is not None and \
                now - self.last_beat < self.following.interval:
            return False
        self.last_beat = now
        self.beats += 1
        self.check_stop_requests(now, force)
        beat = Heartbeat(self.beats, self.worker_id, self.host, self.pid, self.job,
                         self.run_id, self.blocked, self.held, self.following.own_addresses())
        try:
            self.heartbeat.write(os.path.join(self.inbox, HEARTBEAT_FILE), beat.payload(),
                                 create, self.beats, self.following.interval)
            if self.faults:
                self.faults.cleared("write the heartbeat")
        except FileNotFoundError:
            self.close_heartbeat()
            if self.root_present():
                self.buried = True  # the dispatcher took our inbox (we were presumed dead)
        except OSError as error:
            if create:
                raise
            self.close_heartbeat()
            self.faults.failed("write the heartbeat", error)
        return True

    def beat_by_name(self, by_name):
        """On FUSE, while a range of tasks runs: every task's start closes the child's copy
        of each descriptor we hold, a request to the FUSE daemon each, so the heartbeat is
        written by name meanwhile (one beat in several seconds, where tasks come hundreds a
        second)."""
        self.heartbeat.by_name = by_name
        if by_name:
            self.close_heartbeat()

    def close_heartbeat(self):
        self.heartbeat.close()

    def wait_beating(self, seconds):
        """Sleep, beating on time: a worker that waits is not a dead one."""
        deadline = time.monotonic() + seconds
        while not self.waker.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.waker.sleep(min(left, self.following.interval / 2.0))
            self.beat()

    def check_stop_requests(self, now, forced=False):
        """A stop file in our inbox, or the end of --lifetime, stops us as SIGTERM would.
        The stop file is looked for at every beat; on a shared mount (a request to the file
        server each) at every other one while idle, and not at the extra beats of a new
        batch (forced): the timed beats come every few seconds anyway."""
        if self.waker is None or self.waker.stopping:
            return
        if self.lifetime is not None and now - self.started >= self.lifetime:
            log.info("lifetime of %g s is over: stopping", self.lifetime)
            self.waker.request_stop()
        elif self.idle_exit is not None and self.idle_since is not None and \
                now - self.idle_since >= self.idle_exit:
            log.info("idle for %g s (--idle-exit): stopping", self.idle_exit)
            self.waker.request_stop()
        elif self.exit_with is not None and self.exit_with.gone(now):
            log.info("process %d (--exit-with) is gone: stopping", self.exit_with.pid)
            self.waker.request_stop()
        elif self.layout.shared and (forced or self.idle_since is not None and self.beats % 2):
            return
        elif folders.lexists(os.path.join(self.inbox, STOP_FILE)):
            log.info("found a stop request: stopping")
            self.waker.request_stop()

    def tick(self):
        """Called every job_check seconds while a job runs (a second locally): beat when
        due, and say whether the job must stop here: a Withdrawn (Cancelled when cancelled,
        else our inbox was taken away), or None."""
        self.beat()
        if self.buried:
            return Withdrawn(BURIED)
        if self.on_tick is not None:
            self.on_tick()
        if self.job and folders.lexists(os.path.join(self.inbox, cancel_request(self.job))):
            return Cancelled()
        return None

    def raise_if_root_gone(self):
        """FileNotFoundError when the whole root is gone (an unmounted share): nothing may
        be made there, not even a new inbox."""
        if not self.root_present():
            raise FileNotFoundError(errno.ENOENT, "the queue root is gone", self.layout.root)
