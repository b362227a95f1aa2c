"""The workers of a queue, on every host: who is alive, and asking them to stop.

Liveness never compares clocks (DESIGN.md, "Liveness"): each inbox's heartbeat counter is
read, then read again until it changes (a worker beats every 2 s, 5 s on a shared mount) or a wait has passed
on this host's monotonic clock; a worker of this host is asked of the process table instead. A counter that did not change means a dead, stopped or stuck
worker. A stop request is a file ``jobpod/<worker>/.stop``, which a worker on any host
notices within a beat (a second, 5 s on a shared mount); a worker on this host also gets SIGTERM, which is faster.
"""
import os
import signal
import time

from ..layout import STOP_FILE, hostname
from ..fsops import list_names
from ..liveness import read_heartbeat


def host_from_id(worker_id):
    """The host part of a worker id made by fjd (host-pid-random)."""
    parts = worker_id.rsplit("-", 2)
    return parts[0] if len(parts) == 3 and parts[1].isdigit() else None


def running_here(beat):
    """Whether the heartbeat is of a worker process running on this host right now (not
    stopped): then no beat need be waited for. Asked of this host's own process table."""
    if beat is None or beat.host != hostname() or not isinstance(beat.pid, int):
        return False
    try:
        with open("/proc/%d/stat" % beat.pid, "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
        with open("/proc/%d/cmdline" % beat.pid, "rb") as handle:
            command = handle.read()
    except (OSError, IndexError):
        return False
    return state not in (b"T", b"t", b"Z", b"X") and b"worker" in command


def survey(layout, wait=2.5, interval=0.2):
    """Every inbox with its heartbeat, and whether the beat changed within wait seconds.

    Returns a list of dicts: worker, host, pid, alive, state, jobs.
    """
    first = {}
    for worker_id in list_names(layout.jobpod):
        if os.path.isdir(layout.inbox(worker_id)):
            first[worker_id] = read_heartbeat(layout.inbox(worker_id))
    alive = {w for w, beat in first.items() if running_here(beat)}
    last = dict(first)
    deadline = time.monotonic() + wait
    pending = set(first) - alive
    while pending and time.monotonic() < deadline:
        time.sleep(interval)
        for worker_id in list(pending):
            beat = read_heartbeat(layout.inbox(worker_id))
            if beat is not None:
                last[worker_id] = beat
            before = first[worker_id]
            if beat is not None and (before is None or (beat.count, beat.pid) !=
                                     (before.count, before.pid)):
                alive.add(worker_id)
                pending.discard(worker_id)
            elif not os.path.isdir(layout.inbox(worker_id)):
                pending.discard(worker_id)  # it left meanwhile
    idle = set(list_names(layout.workerqueue))
    found = []
    for worker_id in sorted(first):
        beat = last.get(worker_id)
        inbox = layout.inbox(worker_id)
        jobs = layout.inbox_jobs(worker_id)
        if jobs is None:
            state, jobs = "gone", []
        elif os.path.lexists(os.path.join(inbox, STOP_FILE)):
            state = "stopping"
        elif jobs:
            state = "busy"
        elif worker_id in idle:
            state = "idle"
        else:
            state = "starting"
        found.append({"worker": worker_id,
                      "host": beat.host if beat else host_from_id(worker_id),
                      "pid": beat.pid if beat else None,
                      "alive": worker_id in alive, "state": state, "jobs": jobs})
    return found


def select_workers(layout, ids=(), hosts=()):
    """Worker ids with an inbox, all or those of the given ids or hosts."""
    selected = []
    for worker_id in sorted(list_names(layout.jobpod)):
        inbox = layout.inbox(worker_id)
        if not os.path.isdir(inbox):
            continue
        if ids and worker_id not in ids:
            continue
        if hosts:
            beat = read_heartbeat(inbox)
            if (beat.host if beat else host_from_id(worker_id)) not in hosts:
                continue
        selected.append(worker_id)
    return selected


def is_local_worker(pid):
    """Whether pid on this host is an fjd worker (before we send it SIGTERM)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            words = [w for w in handle.read().split(b"\0") if w]
    except OSError:
        return False
    script = any(w.endswith(b"worker.py") for w in words)
    module = b"worker" in words and any(b"fjd" in w for w in words)
    return script or module


def request_stop(layout, worker_id, signal_local=True):
    """Create the worker's stop file (and SIGTERM it if it runs here); False if it is gone."""
    inbox = layout.inbox(worker_id)
    try:
        fd = os.open(os.path.join(inbox, STOP_FILE), os.O_WRONLY | os.O_CREAT, 0o644)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        os.write(fd, ("stop requested from %s pid %d\n" % (hostname(), os.getpid())).encode())
    finally:
        os.close(fd)
    beat = read_heartbeat(inbox)
    if signal_local and beat and beat.host == hostname() and is_local_worker(beat.pid):
        try:
            os.kill(beat.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    return True


def wait_until_stopped(layout, worker_ids, timeout, silent_after, on_stopped):
    """Wait until the workers' inboxes are gone; give up early on those whose heartbeat stands
    still for silent_after seconds. Returns (silent ids, ids still running at the timeout)."""
    pending = {w: (read_heartbeat(layout.inbox(w)), time.monotonic()) for w in worker_ids}
    deadline = time.monotonic() + timeout
    silent = []
    while pending and time.monotonic() < deadline:
        time.sleep(0.1)
        now = time.monotonic()
        for worker_id, (beat, since) in list(pending.items()):
            if not os.path.isdir(layout.inbox(worker_id)):
                del pending[worker_id]
                on_stopped(worker_id)
                continue
            current = read_heartbeat(layout.inbox(worker_id))
            if current != beat:
                pending[worker_id] = (current, now)
            elif now - since > silent_after:
                del pending[worker_id]
                silent.append(worker_id)
    return silent, sorted(pending)
