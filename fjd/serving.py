"""Who serves a queue root, for `fjd status` (and `fjd run`): whether a dispatcher holds its
lock, which workers are alive, and what their inboxes hold. Decided at once for this host's
processes, from the process table (a lock or heartbeat of this host whose process is gone is
a dead one). Other hosts' are judged by the age of their last beat on the file server's own
clock: the mtime of a file made there just now (DESIGN.md rule 5: no two hosts' clocks are
compared); a beat older than a worker timeout is a silent one."""
import os
import time

from . import defaults, names, record_kinds
from .fsops import list_names
from .layout import HEARTBEAT_FILE, display, hostname
from .liveness import decode_beat, read_beat, read_heartbeat
from .lock import LOCK_NAME, holder_process_gone
from .recruit.roster import host_from_id, running_here


CLOCK_PREFIX = ".clock-"  # the file made to read the file server's clock (a dot-name)


def server_now(layout):
    """The file server's time now: the mtime of a file made in the root and removed at once
    (three requests on a shared mount); None where the root cannot be written."""
    path = os.path.join(layout.root, CLOCK_PREFIX + names.nonce())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        return os.fstat(fd).st_mtime
    except OSError:
        return None
    finally:
        os.close(fd)
        try:
            os.unlink(path)
        except OSError:
            pass


class BeatAge:
    """How long ago other hosts' lock and heartbeats were last written, on the file server's
    clock, read the first time one is asked about (None: cannot tell)."""

    def __init__(self, layout):
        self.layout = layout
        self.now = False  # not read yet
        self.timeout = defaults.timings(layout.shared).worker_timeout

    def silent_for(self, path):
        """Seconds since path was written, when longer than a worker timeout; else None."""
        if self.now is False:
            self.now = server_now(self.layout)
        if self.now is None:
            return None
        try:
            age = self.now - os.stat(path).st_mtime
        except OSError:
            return None
        return round(age) if age > self.timeout else None


def dispatcher_state(layout, ages=None):
    """{"state": "none" | "gone" | "here" | "elsewhere" | "silent", "host", "pid",
    "silent_for"} of the lock ("silent": another host's, not renewed for a worker
    timeout)."""
    path = os.path.join(layout.root, LOCK_NAME)
    holder = decode_beat(read_beat(path))
    if not holder:
        return {"state": "none", "host": None, "pid": None}
    host, pid = holder.get("host"), holder.get("pid")
    silent = None
    if host != hostname():
        silent = (ages or BeatAge(layout)).silent_for(path)
        state = "elsewhere" if silent is None else "silent"
    else:
        state = "gone" if holder_process_gone(holder) else "here"
    return {"state": state, "host": host, "pid": pid, "silent_for": silent}


def workers_state(layout, inboxes, ages=None):
    """How many of the inboxes' workers run on this host, are gone from it, are of other
    hosts and beat, or are of other hosts and silent for a worker timeout."""
    here = gone = elsewhere = silent = 0
    ages = ages or BeatAge(layout)
    for worker_id in inboxes:
        inbox = layout.inbox(worker_id)
        beat = read_heartbeat(inbox)
        if beat is None or beat.host != hostname():
            if beat is not None and ages.silent_for(os.path.join(inbox, HEARTBEAT_FILE)):
                silent += 1
            else:
                elsewhere += 1
        elif running_here(beat):
            here += 1
        else:
            gone += 1
    return {"alive_here": here, "gone_here": gone, "elsewhere": elsewhere,
            "silent_elsewhere": silent}


def state(layout, inboxes):
    ages = BeatAge(layout)
    return {"dispatcher": dispatcher_state(layout, ages),
            "workers": workers_state(layout, inboxes, ages)}


def problems(serving, work_left):
    """Sentences that say why nothing can make progress (none when all is well, or when
    there is no work left)."""
    if not serving or not work_left:
        return []
    found = []
    dispatcher = serving["dispatcher"]
    if dispatcher["state"] == "none":
        found.append("no dispatcher serves this root: queued jobs stay queued (start one: "
                     "fjd dispatcher, or fjd run)")
    elif dispatcher["state"] == "gone":
        found.append("the dispatcher that served this root (pid %s on this host) is gone: "
                     "queued jobs stay queued (start one: fjd dispatcher, or fjd run)"
                     % dispatcher["pid"])
    elif dispatcher["state"] == "silent":
        found.append("the dispatcher on %s (pid %s) has not renewed its lock for %s s: it is "
                     "probably gone, and queued jobs stay queued (start one: fjd dispatcher, "
                     "or fjd run; it takes the lock over)"
                     % (display(str(dispatcher["host"])), dispatcher["pid"],
                        dispatcher["silent_for"]))
    workers = serving["workers"]
    dead = workers["gone_here"] + workers.get("silent_elsewhere", 0)
    if dead and not workers["alive_here"] and not workers["elsewhere"]:
        found.append("no worker is alive: the %d worker%s in jobpod/ %s gone (%s; start "
                     "some: fjd workers start N)"
                     % (dead, "" if dead == 1 else "s", "is" if dead == 1 else "are",
                        dead_workers_text(workers)))
    return found


def dead_workers_text(workers):
    parts = []
    if workers["gone_here"]:
        parts.append("%d of this host, whose process is gone" % workers["gone_here"])
    if workers.get("silent_elsewhere"):
        parts.append("%d of other hosts, silent for more than a worker timeout"
                     % workers["silent_elsewhere"])
    return "; ".join(parts)


def running_jobs(layout, journals, now=None):
    """One dict per job or range in an inbox: job, original, worker, host, pid, state
    (running, assigned, blocked, or gone: its worker, of this host, is), elapsed, and tasks
    (how many of a range are left)."""
    now = time.time() if now is None else now
    found = []
    for worker_id in sorted(list_names(layout.jobpod)):
        inbox = layout.inbox(worker_id)
        jobs = layout.inbox_jobs(worker_id)
        if not jobs:
            continue
        beat = read_heartbeat(inbox)
        host = beat.host if beat else host_from_id(worker_id)
        current = beat.job if beat else None
        if current not in jobs:
            current = jobs[0]  # between two jobs, or the heartbeat names its batch's first
        blocked = beat.info.get("blocked") if beat else None
        gone = beat is not None and beat.host == hostname() and not running_here(beat)
        for name in jobs:
            try:
                ctime = os.lstat(os.path.join(inbox, name)).st_ctime
            except OSError:
                continue  # finished or cancelled meanwhile
            queue_name = names.parse(name)
            tasks = queue_name.size
            if queue_name.is_tasks and name == current:
                last = journals.last.get(worker_id) or {}
                if last.get("run") == beat.info.get("run") and \
                        last.get("k") == record_kinds.TASK:
                    tasks = max(0, queue_name.last - last.get("i", queue_name.first - 1))
            state = "running" if name == current else "assigned"
            if blocked and name == current:
                state = "blocked"
            if gone:
                state = "gone"  # its worker is: the dispatcher takes the inbox back
            found.append({
                "job": name, "original": queue_name.original,
                "attempts": queue_name.attempts, "worker": worker_id, "host": host,
                "pid": beat.pid if beat else None, "state": state, "tasks": tasks,
                "blocked": blocked if name == current else None,
                "elapsed": round(max(0.0, now - ctime), 1),
            })
    return found


def holder_line(dispatcher):
    """The dispatcher, in a few words, for the status table."""
    if dispatcher["state"] in ("here", "elsewhere"):
        return "pid %s on %s" % (dispatcher["pid"], display(str(dispatcher["host"])))
    return dispatcher["state"]
