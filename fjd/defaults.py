"""The daemons' tunable defaults, in one place: the library uses them and `--help` shows them.

On a shared mount (NFS, sshfs, ...) every file operation is a request to a file server that
a whole cluster shares, so there the daemons beat, check and poll less often (Timings): an
idle cluster stays quiet, and UDP wake-up hints (hints.py) keep it quick to start work.
"""
import collections
import os


def knob_for_tests(name, default):
    """For the tests only: the float in the environment variable name, else default.
    Outside the tests these variables are unset and every default below stands."""
    value = os.environ.get(name)
    return float(value) if value else default


# FJD_TEST_RETRY_MAX (tests only): a cap in seconds for the back-off after a failing file
# operation (FAULT_MAX_DELAY) and between attempts to file a held result (RETRY_MAX), so
# that a fault test sees several retries within a second instead of waiting out 4 s ones.
TEST_RETRY_MAX = "FJD_TEST_RETRY_MAX"

DISPATCHER_INTERVAL = 0.05  # seconds between polls while there is work about
WORKER_INTERVAL = 0.05
MAX_ATTEMPTS = 3  # runs of a job cut short (crash or stop) before it fails instead
SETTLE = 1.0  # where leases cannot tell, a job file unchanged this long is complete
GRACE = 3.0  # seconds between SIGTERM and SIGKILL when a job is stopped
MAX_JOB_BYTES = 16 * 1024 * 1024  # larger job files fail unread
PROGRAM_PATH_SECONDS = 1.0  # a program found in PATH is remembered this long (spawn.py)
IDLE_AFTER = 3.0  # seconds with nothing to do before polling slows down
# On a shared mount a daemon waiting for news that comes with a hint (a worker for its
# next jobs, the dispatcher for an idle worker) polls at most this often while hints got
# through in the last HINTS_TRUSTED_FOR seconds: a poll there is a request to the server
# (the worker's, one look for its parked announcement; the dispatcher's, a listing of
# workerqueue/, half a dozen, which a lost hint delays by at most this long).
HINTED_WAIT = 0.25
DISPATCHER_HINTED_WAIT = 1.0
HINTS_TRUSTED_FOR = 60.0

# On a shared mount a worker running a batch of jobs or a range of array tasks asks for
# more (announces itself idle) when, at the batch's pace so far, at most this much of it
# is left once its next job or task begins (so always before the last one, and never
# before half of it is done): the dispatcher's hand-out, a dozen requests and tens of
# milliseconds there (a few per job of a batch), then overlaps the last jobs instead of
# following them. Two workers may end a queue this much farther apart. On a local disk a
# hand-out takes a millisecond: workers ask when done.
SHARED_ASK_LEAD = 0.15

Timings = collections.namedtuple("Timings", [
    "heartbeat",      # seconds between a worker's beats
    "job_check",      # seconds between a running job's checks for a cancel request
    "worker_timeout",  # a heartbeat unchanged this long (observer's clock) means dead
    "idle_poll",      # the slowest an idle worker looks for jobs (hints and inotify wake it)
    "queue_poll",     # the slowest an idle dispatcher looks for jobs (likewise)
    "reannounce",     # seconds between renewals of an idle worker's announcement
    "lock_renew",     # seconds between renewals of dispatcher.lock
    "liveness",       # seconds between the dispatcher's readings of the heartbeats
    "backstop",       # seconds between full listings of an idle worker's inbox
])

# Locally an idle worker wakes only to beat (inotify tells it of new jobs), so its beat
# sets what 200 idle workers cost: 2 s, four beats within the timeout.
# On a shared mount, where hints may be blocked, a job dropped into an idle cluster waits
# for the dispatcher's poll (one stat of jobqueue/, the same whatever the number of
# workers) plus a worker's (one look for its parked announcement, per worker): the sum
# keeps that wait under 3 s, and the split puts the faster polling where it costs once.
LOCAL = Timings(heartbeat=2.0, job_check=1.0, worker_timeout=8.0, idle_poll=2.0,
                queue_poll=2.0, reannounce=5.0, lock_renew=1.0, liveness=1.0, backstop=10.0)
SHARED = Timings(heartbeat=5.0, job_check=5.0, worker_timeout=30.0, idle_poll=1.8,
                 queue_poll=0.6, reannounce=60.0, lock_renew=5.0, liveness=10.0,
                 backstop=120.0)

# A worker beats at least this many times within the dispatcher's --worker-timeout (which
# the dispatcher writes into its lock): a beat that comes late, a tick of a running job that
# falls just short of the beat, still leaves a beat's worth of slack. The defaults already
# keep it (8 s / 2 s, 30 s / 5 s); a shorter --worker-timeout speeds the beat up, to no
# faster than MIN_BEAT (a forged lock can cost a worker at most that).
BEATS_PER_TIMEOUT = 4
MIN_BEAT = 0.2
# a worker reads the dispatcher lock again before a batch when its last reading is older
# than this (and, while it has found no lock, at every idle pass; idle with a dispatcher it
# reads nothing more: the idle cluster stays as quiet as it was)
DISPATCHER_REREAD = 60.0


def worker_beat(shared, worker_timeout):
    """A worker's heartbeat interval under a dispatcher whose --worker-timeout is this
    (None: not known, the default beat)."""
    base = (SHARED if shared else LOCAL).heartbeat
    if worker_timeout is None:
        return base
    return min(base, max(MIN_BEAT, worker_timeout / float(BEATS_PER_TIMEOUT)))


# kept for the options' help texts
HEARTBEAT_INTERVAL = LOCAL.heartbeat
WORKER_TIMEOUT = LOCAL.worker_timeout


def timings(shared, worker_timeout=None):
    """The Timings for a local disk or a shared mount; worker_timeout overrides the timeout
    (and the lock's), and the dispatcher's own beats and checks then come at least three
    times within it (workers read it from the lock and follow: worker_beat)."""
    base = SHARED if shared else LOCAL
    if worker_timeout is None:
        return base
    return base._replace(worker_timeout=worker_timeout,
                         heartbeat=min(base.heartbeat, max(0.2, worker_timeout / 3.0)),
                         liveness=min(base.liveness, max(0.2, worker_timeout / 3.0)),
                         lock_renew=min(base.lock_renew, max(0.2, worker_timeout / 3.0)))


# -- the dispatcher ---------------------------------------------------------------------------

MAINTENANCE_EVERY = 1.0  # seconds between looks at arrays/ while arrays are finishing
COMPLETION_BACKSTOP = 30.0  # seconds between looks at arrays/ when nothing suggests one
# ... and for this long after a range was handed out, arrays/ is looked at as if finishing:
# a range of short tasks lands there within seconds (a look that came first, while it ran,
# must not end the watch)
RANGES_WATCHED_FOR = 10.0
UNMOVABLE_RETRY = 5.0  # seconds before a file that could not be moved is tried again
CLAIM_PATIENCE = 30.0  # seconds a claim in failed/ or cancelled/ waits before it is adopted
MERGE_PIECES = 32  # finished ranges of one array in arrays/ that are merged before it ends
JOURNAL_TAIL = 1 << 22  # bytes of a dead worker's journal read for its last run's records

# on a shared mount, a listing is made fresh (layout.refresh_listing: two file creations'
# worth of requests) when a hint woke us, and otherwise at most this often: where the
# mount caches listings (sshfs's defaults, NFS), other hosts' new files show this late at
# worst when no hint gets through
FRESH_LISTING_EVERY = 1.0
# on a shared mount, an empty jobqueue/ is looked at again (a stat, changes.py) at most
# this often unless a hint (fjd submit sends one) woke the dispatcher; where that stat is
# not trusted (a mount that caches it), each look is a fresh listing, and less frequent
EMPTY_RELIST_EVERY = 0.5
# on a shared mount, a queue whose listed names are not all handed out yet is listed again
# this often, unless a hint said new jobs were queued
SHARED_RELIST_WHILE_PENDING = 5.0
DISTRUSTED_RELIST_EVERY = 1.25
# on a shared mount, workers that said by name that they are idle are looked up one by one
# (a request each) up to this many at a time; more cost less as one fresh listing
NAMED_LOOKUPS = 8

# Short jobs travel in batches: a worker gets as many jobs as it ran in about
# BATCH_SECONDS last time (at most MAX_BATCH, and never more than its fair share of the
# queue: guided self-scheduling, so the last batches shrink and the workers end together),
# so no-op jobs cost one round trip per batch while long jobs still go one at a time.
# On a shared mount a round trip (a listing on each side, the announcement's renames)
# costs the file server about 25 requests, so batches there are sized for a longer time.
BATCH_SECONDS = 0.25
SHARED_BATCH_SECONDS = 1.0
# A worker's batch grows at most this many times from one batch to the next (its first is
# a single job, which measures how long jobs take): on a shared mount, where every batch
# costs requests on both sides, faster, so that short jobs reach full batches in fewer
# round trips. Long jobs stay one at a time either way (BATCH_SECONDS / their duration).
BATCH_GROWTH = 2
SHARED_BATCH_GROWTH = 8
# On a shared mount the fair share does not cut a batch below this much work (as the
# worker's last batch measured it): the queue's last jobs would otherwise go out in
# batches of a few short jobs, each costing a round trip of requests and more time than its
# jobs; the workers finish at most this much apart.
SHARED_MIN_BATCH_SECONDS = 0.25
MAX_BATCH = 100
# Array tasks travel in ranges: a range costs a few renames whatever its size, so they are
# sized for a longer time and may be much larger.
RANGE_SECONDS = 1.0
SHARE_AFTER = 1.0  # seconds a range is held, while workers idle with nothing queued, before
SHARE_CHECK = 0.25  # ... its worker is asked to give back what it has not started; looked
SHARED_SHARE_CHECK = 1.0  # at this often (a listing of workerqueue/ each time)
MAX_RANGE = 100000

SAFETY_RELIST = 60.0  # seconds between listings of a long queue when inotify saw nothing new
PRIORITY_WINDOW = 10000  # [control] priority reorders the next this many queued jobs
PRIORITY_HEAD = 65536  # bytes of a job file read for its priority


class Backoff:
    """Polling that stays fast while there is work, and slows down to the idle interval
    after IDLE_AFTER seconds without any (the first seconds stay fast)."""

    def __init__(self, fast, slowest, clock):
        self.fast = fast
        self.slowest = max(fast, slowest)
        self.clock = clock
        self.quiet_since = None
        self.current = fast

    def busy(self):
        self.quiet_since = None
        self.current = self.fast

    def next(self):
        """The time to sleep before the next poll."""
        now = self.clock()
        if self.quiet_since is None:
            self.quiet_since = now
        if now - self.quiet_since < IDLE_AFTER:
            return self.fast
        self.current = min(self.slowest, max(self.current * 1.5, 0.1))
        return self.current


# -- the worker --------------------------------------------------------------------------------

VERIFY_BEATS = 6  # on a shared mount, beats between checks that our heartbeat is there
HEARTBEAT_SIZE = 4096  # the heartbeat file's size from the start: room for a held record
# seconds between attempts to file a held result (the cap: see TEST_RETRY_MAX)
RETRY_FIRST, RETRY_MAX = 0.5, knob_for_tests(TEST_RETRY_MAX, 4.0)


# -- the rest of the library --------------------------------------------------------------------

# An idle dispatcher's empty jobqueue/ on a shared mount (changes.py): two listings this far
# apart that saw the same stat confirm it (whole-second mtimes, plus a margin); a full fresh
# listing every CHANGE_BACKSTOP seconds all the same; a stat that missed an arrival is not
# trusted for CHANGE_DISTRUST seconds.
CHANGE_SETTLE = 1.05
CHANGE_BACKSTOP = 10.0
CHANGE_DISTRUST = 600.0
# A failing file operation is tried again after FAULT_FIRST_DELAY seconds, doubling up to
# FAULT_MAX_DELAY (faults.py): a daemon carries on within seconds once the fault clears.
FAULT_FIRST_DELAY = 0.25
FAULT_MAX_DELAY = knob_for_tests(TEST_RETRY_MAX, 4.0)
OPEN_FOLDER_MAX_AGE = 120.0  # seconds an open folder is trusted before it is opened again by its path
OPEN_FOLDERS_KEPT = 128  # open folders kept at most (inboxes of the most recently used workers)
HINTS_NAMED_KEPT = 4096  # named idle workers remembered between two looks (a flood costs no more)
STATUS_RATE_SAMPLE = 200  # finished jobs whose end times give `fjd status`'s recent throughput
STATUS_HEAD_READS = 2000  # queued files whose first bytes `fjd status` reads to count tasks
CANCEL_PASSES = 5  # cancel --all: list again while jobs keep moving under our feet
CANCEL_WAIT = 5.0  # seconds `fjd cancel` waits for workers to act on its requests
JOURNAL_TAIL_CHUNK = 65536  # bytes read at a time when a journal is read from its end
