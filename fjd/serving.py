"""Who serves a queue root, for `fjd status` (and `fjd run`): whether a dispatcher holds its
lock, which workers are alive, and what their inboxes hold. Decided at once for this host's processes, from the
process table (a lock or heartbeat of this host whose process is gone is a dead one), and
left open for other hosts' (telling those would take waiting a beat: `fjd workers list`)."""
import os
import time

from . import names, record_kinds
from .fsops import list_names
from .layout import display, hostname
from .liveness import decode_beat, read_beat, read_heartbeat
from .lock import LOCK_NAME, holder_process_gone
from .recruit.roster import host_from_id, running_here


def dispatcher_state(layout):
    """{"state": "none" | "gone" | "here" | "elsewhere", "host", "pid"} of the lock."""
    holder = decode_beat(read_beat(os.path.join(layout.root, LOCK_NAME)))
    if not holder:
        return {"state": "none", "host": None, "pid": None}
    host, pid = holder.get("host"), holder.get("pid")
    if host != hostname():
        state = "elsewhere"
    else:
        state = "gone" if holder_process_gone(holder) else "here"
    return {"state": state, "host": host, "pid": pid}


def workers_state(layout, inboxes):
    """How many of the inboxes' workers run on this host, are gone from it, or are of
    other hosts (not looked at)."""
    here = gone = elsewhere = 0
    for worker_id in inboxes:
        beat = read_heartbeat(layout.inbox(worker_id))
        if beat is None or beat.host != hostname():
            elsewhere += 1
        elif running_here(beat):
            here += 1
        else:
            gone += 1
    return {"alive_here": here, "gone_here": gone, "elsewhere": elsewhere}


def state(layout, inboxes):
    return {"dispatcher": dispatcher_state(layout), "workers": workers_state(layout, inboxes)}


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
    workers = serving["workers"]
    if workers["gone_here"] and not workers["alive_here"] and not workers["elsewhere"]:
        found.append("no worker is alive: the %d worker%s of this host in jobpod/ %s gone "
                     "(start some: fjd workers start N)"
                     % (workers["gone_here"], "" if workers["gone_here"] == 1 else "s",
                        "is" if workers["gone_here"] == 1 else "are"))
    return found


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
