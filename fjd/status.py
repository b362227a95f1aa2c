"""``fjd status``: what is queued, running, done and failed, and how fast it goes.

Everything comes from the folders and ``records/``; nothing is asked of the workers, so the
command is as cheap as a few directory listings. Elapsed times of running jobs count
since the job file was renamed into its worker's inbox (its ctime), read with this host's
clock: on a shared file system whose server clock differs, they are approximate.
"""
import os
import time

from . import names, records
from .layout import display, list_names
from .liveness import read_heartbeat

RATE_SAMPLE = 200  # finished jobs whose records give the recent throughput


def host_from_id(worker_id):
    """The host part of a worker id made by fjd (host-pid-random)."""
    parts = worker_id.rsplit("-", 2)
    return parts[0] if len(parts) == 3 and parts[1].isdigit() else None


def running_jobs(layout, now=None):
    """One dict per job in an inbox: job, original, worker, host, pid, state, elapsed."""
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
        for name in jobs:
            try:
                ctime = os.lstat(os.path.join(inbox, name)).st_ctime
            except OSError:
                continue  # finished or cancelled meanwhile
            original, attempts = names.parse(name)
            found.append({
                "job": name, "original": original, "attempts": attempts,
                "worker": worker_id, "host": host, "pid": beat.pid if beat else None,
                "state": "running" if name == current else "assigned",
                "elapsed": round(max(0.0, now - ctime), 1),
            })
    return found


def failed_jobs(layout, limit=None):
    """The failed jobs with their reasons, newest first (at most limit of them)."""
    failed = sorted(list_names(layout.failed))
    if limit is not None and limit >= 0 and len(failed) > max(limit, 2000):
        failed = failed[-limit:] if limit else []  # too many to read: the last by name
    result = []
    for name in failed:
        record = records.read(layout, name) or {}
        result.append({
            "name": name,
            "original": record.get("original", names.parse(name)[0]),
            "reason": record.get("reason") or "(no record)",
            "exit_status": record.get("exit_status"),
            "signal": record.get("signal"),
            "host": record.get("host"),
            "worker": record.get("worker"),
            "end": record.get("end"),
            "end_ts": record.get("end_ts"),
        })
    result.sort(key=lambda r: (r["end_ts"] or 0, r["name"]), reverse=True)
    if limit is not None and limit >= 0:
        result = result[:limit]
    return result


def recent_rate(layout, done_names, failed_names, sample=RATE_SAMPLE):
    """Jobs per second over the most recently finished jobs, from their records' end times.

    The sample is the last names in sorted order (fjd submit's names sort by submission, and
    the dispatcher hands jobs out in that order). None when it cannot be told.
    """
    finished = sorted(done_names + failed_names)[-sample:]
    if len(finished) < 2:
        return None
    ends = []
    for name in finished:
        record = records.read(layout, name)
        if record and isinstance(record.get("end_ts"), (int, float)):
            ends.append(record["end_ts"])
    if len(ends) < 2:
        return None
    span = max(ends) - min(ends)
    if span <= 0:
        return None
    return (len(ends) - 1) / span


def snapshot(layout, failed_limit=10, with_rate=True):
    """The whole status as a dict (what --json prints)."""
    now = time.time()
    queued = list_names(layout.jobqueue)
    done = list_names(layout.done)
    failed = list_names(layout.failed)
    cancelled = list_names(layout.cancelled)
    inboxes = list_names(layout.jobpod)
    idle = list_names(layout.workerqueue)
    running = running_jobs(layout, now)
    rate = recent_rate(layout, done, failed) if with_rate else None
    remaining = len(queued) + len(running)
    eta = None
    if rate and remaining and inboxes:
        eta = round(remaining / rate, 1)
    return {
        "root": layout.root,
        "time": records.iso(now),
        "counts": {
            "queued": len(queued),
            "running": sum(1 for r in running if r["state"] == "running"),
            "assigned": sum(1 for r in running if r["state"] == "assigned"),
            "done": len(done),
            "failed": len(failed),
            "cancelled": len(cancelled),
        },
        "workers": {"inboxes": len(inboxes), "idle": len(idle)},
        "running": running,
        "failed": failed_jobs(layout, failed_limit),
        "throughput": None if rate is None else {"jobs_per_second": round(rate, 4),
                                                 "source": "records"},
        "eta_seconds": eta,
    }


# -- text -------------------------------------------------------------------------------------

def duration(seconds, tenths=False):
    """H:MM:SS (or 12.3 s with tenths, for short spans)."""
    if seconds is None:
        return "-"
    if tenths and seconds < 60:
        return "%.1f s" % seconds
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        return "%dd%02dh" % divmod(hours, 24)
    return "%d:%02d:%02d" % (hours, minutes, secs)


def rate_text(rate):
    if rate is None:
        return "unknown (not enough finished jobs)"
    if rate >= 1:
        return "%.1f jobs/s" % rate
    if rate * 60 >= 1:
        return "%.1f jobs/min" % (rate * 60)
    return "%.1f jobs/h" % (rate * 3600)


def shorten(text, width):
    text = display(text) if text is not None else "-"
    return text if len(text) <= width else text[: width - 1] + "~"


def render(state, failed_total=None):
    counts = state["counts"]
    workers = state["workers"]
    lines = ["queue %s" % display(state["root"])]
    rows = [("queued", counts["queued"], ""),
            ("running", counts["running"] + counts["assigned"],
             "(%d running, %d assigned)" % (counts["running"], counts["assigned"])
             if counts["assigned"] else ""),
            ("done", counts["done"], ""),
            ("failed", counts["failed"], ""),
            ("cancelled", counts["cancelled"], "")]
    for label, value, note in rows:
        lines.append("  %-10s %8d  %s" % (label, value, note))
    lines.append("  %-10s %8d  (%d idle; `fjd workers list` checks which are alive)"
                 % ("workers", workers["inboxes"], workers["idle"]))
    rate = state["throughput"]["jobs_per_second"] if state["throughput"] else None
    remaining = counts["queued"] + counts["running"] + counts["assigned"]
    if not remaining:
        eta = "nothing left to do"
    elif not workers["inboxes"]:
        eta = "no workers (start some: fjd workers start N)"
    elif state["eta_seconds"] is None:
        eta = "unknown"
    else:
        eta = duration(state["eta_seconds"])
    source = (" (observed)" if state["throughput"] and
              state["throughput"]["source"] == "observed" else "")
    lines.append("  throughput %s%s, ETA %s" % (rate_text(rate), source, eta))
    if state["running"]:
        lines.append("")
        lines.append("running:")
        lines.append("  %-46s %-8s %-28s %-16s %9s" % ("JOB", "STATE", "WORKER", "HOST",
                                                      "ELAPSED"))
        for job in state["running"]:
            lines.append("  %-46s %-8s %-28s %-16s %9s"
                         % (shorten(job["job"], 46), job["state"], shorten(job["worker"], 28),
                            shorten(job["host"], 16), duration(job["elapsed"])))
    if state["failed"]:
        total = counts["failed"] if failed_total is None else failed_total
        shown = len(state["failed"])
        lines.append("")
        lines.append("failed (%s):" % ("newest %d of %d; --failed N shows more" % (shown, total)
                                       if shown < total else total))
        for job in state["failed"]:
            lines.append("  %s: %s" % (display(job["name"]), display(job["reason"])))
        lines.append("  (fjd retry NAME... or fjd retry --all puts them back in the queue)")
    return "\n".join(line.rstrip() for line in lines)


class ThroughputWindow:
    """Throughput seen between redraws of --watch, on our own monotonic clock."""

    WINDOW = 60.0

    def __init__(self):
        self.samples = []

    def add(self, finished):
        now = time.monotonic()
        self.samples.append((now, finished))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.WINDOW:
            self.samples.pop(0)

    def rate(self):
        if len(self.samples) < 2:
            return None
        (t0, n0), (t1, n1) = self.samples[0], self.samples[-1]
        if t1 - t0 < 3.0 or n1 <= n0:
            return None
        return (n1 - n0) / (t1 - t0)


def apply_observed(state, window):
    counts = state["counts"]
    window.add(counts["done"] + counts["failed"] + counts["cancelled"])
    rate = window.rate()
    if rate is not None:
        state["throughput"] = {"jobs_per_second": round(rate, 4), "source": "observed"}
        remaining = counts["queued"] + counts["running"] + counts["assigned"]
        state["eta_seconds"] = (round(remaining / rate, 1)
                                if remaining and state["workers"]["inboxes"] else None)
