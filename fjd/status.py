"""``fjd status``: what is queued, running, done and failed, and how fast it goes.

The counts come from the journals (records/*.journal): the last line of each holds its
writer's running totals, so the cost does not grow with the number of finished jobs; the
newest failures are found by following each journal's chain of failure records back from
its end; the throughput comes from the end times in the journals' last lines. Queued and
running jobs come from the folders and the workers' heartbeats. Roots written by fjd 0.2
(one records/NAME.json per job) are read too.

Nothing is asked of the workers, so the command is as cheap as a few directory listings.
Elapsed times of running jobs count since the job file came into its worker's inbox (its
ctime, on this host's clock: approximate where the file server's clock differs).
"""
import os
import time

from . import (arrays, defaults, journal, names, record_kinds, record_search, resource_status,
               serving)
from .dependency_state import waiting_summary
from .recruit.roster import host_from_id
from .recruit import auto_state
from .serving import running_jobs  # noqa: F401 (fjd run reads it here too)
from .layout import display
from .fsops import list_names
from .task_lines import add_details, detail_lines

RUNNING_NAME_WIDTH = 64  # the running table's job names are cut to this from the left
RETRY_PREFIX = "retry-"  # journals of `fjd retry`, which say which failures were retried


class Journals:
    """What the journals in records/ say, read from their ends."""

    def __init__(self, layout):
        self.layout = layout
        self.paths = journal.journal_paths(layout.records)
        self.totals = [0] * len(journal.TOTALS)
        self.last = {}  # writer id -> its last record
        self.last_offset = {}  # writer id -> where that record starts
        self.ends = []  # end times of the newest records
        for path in self.paths:
            lines, _ = journal.tail(path, 16384)
            if not lines:
                lines, _ = journal.tail(path, 1 << 24)
            if not lines:
                continue
            writer = journal.writer_of(path)
            self.last_offset[writer], self.last[writer] = lines[-1]
            tot = lines[-1][1].get("tot") or []
            for index, value in enumerate(tot[:len(self.totals)]):
                if isinstance(value, int):
                    self.totals[index] += value
            for _, record in lines:
                self.ends += record_kinds.end_times(record)

    def retried(self):
        """(writer, offset) of every failure record that `fjd retry` put back in the queue,
        and the array tasks it did: {(uid, index)}."""
        refs, tasks = set(), set()
        for path in self.paths:
            if not os.path.basename(path).startswith(RETRY_PREFIX):
                continue
            for _, record in journal.all_records(path):
                for ref in record.get("refs") or []:
                    refs.add(tuple(ref))
                for uid, first, last in record.get("tasks") or []:
                    tasks.update((uid, i) for i in range(first, last + 1))
        return refs, tasks

    def failures(self, limit=None):
        """The newest failure records (newest first), following each journal's chain of
        failures back from its last record; retried ones are left out."""
        refs, tasks = self.retried()
        found = []
        for path in self.paths:
            writer = journal.writer_of(path)
            if writer not in self.last:
                continue
            offset, record = self.last_offset[writer], self.last[writer]
            start = offset if is_failure(record) else record.get("pf")
            fd = journal.open_journal(path)
            if fd is None:
                continue
            try:
                found.extend(self._chain(path, fd, writer, start, refs, tasks, limit))
            finally:
                os.close(fd)
        found.sort(key=lambda r: r.get("end") or 0, reverse=True)
        return found if limit is None else found[:limit]

    def _chain(self, path, fd, writer, offset, refs, tasks, limit):
        found = []
        while offset is not None and (limit is None or len(found) < limit):
            record = journal.record_at(path, offset, fd)
            if record is None:
                break
            if (writer, offset) not in refs and is_failure(record) and not (
                    record.get("k") == record_kinds.TASK and
                    (record.get("u"), record.get("i")) in tasks):
                found.append(dict(record, _journal=writer, _offset=offset))
            offset = record.get("pf")
        return found


def is_failure(record):
    """A record of a job or task that failed (not, say, an array's completion)."""
    return record.get("state") == record_kinds.FAILED and journal.count_slot(
        record.get("k"), record_kinds.FAILED) is not None


def legacy_summary(layout):
    """Counts, failures and end times of a root written by fjd 0.2 (records/NAME.json)."""
    counts = {"done": 0, "failed": 0, "cancelled": 0}
    failures, ends = [], []
    for name in record_search.legacy_names(layout):
        record = record_search.legacy_record(layout, name) or {}
        state = record.get("state")
        folder = state if state in record_kinds.STATES else None
        if folder is None or not os.path.lexists(os.path.join(layout.folder(folder), name)):
            continue  # retried, or moved by hand: not where the record says any more
        counts[state] += 1
        end = record.get("end_ts")
        if isinstance(end, (int, float)):
            ends.append(end)
        if state == "failed":
            failures.append(dict(record, name=name, end=end))
    return counts, failures, ends


def queued_count(layout, queued_names=None):
    """Jobs and tasks waiting in jobqueue/: a range counts its tasks, a new array file the
    tasks it declares (for the first STATUS_HEAD_READS new files; the rest count one each)."""
    count = 0
    reads = 0
    for name in list_names(layout.jobqueue) if queued_names is None else queued_names:
        queue_name = names.parse(name) if "@" in name else None
        if queue_name is not None and queue_name.is_tasks:
            count += 0 if queue_name.finished else queue_name.size
            continue
        count += 1
        if reads < defaults.STATUS_HEAD_READS:
            reads += 1
            count += arrays.task_count(os.path.join(layout.jobqueue, name)) - 1
    return count


def failure_entry(record):
    if record.get("k") in (record_kinds.TASK, record_kinds.TASKS):
        if record.get("k") == record_kinds.TASK:
            name = names.task_name(record.get("array"), record.get("i"))
        else:
            name = "%s#%s-%s" % (record.get("array"), record.get("first"), record.get("last"))
    else:
        name = record.get("name") or record.get("queue")
    worker = record.get("worker") or worker_of_journal(record.get("_journal"))
    return {"name": name, "original": record.get("original", record.get("array")),
            "reason": record.get("reason") or "(no reason recorded)",
            "exit_status": record.get("exit_status"), "signal": record.get("signal"),
            "host": record.get("host") or (worker and host_from_id(worker)), "worker": worker,
            "end": record_search.iso(record.get("end")) if isinstance(record.get("end"), (
                int, float)) else record.get("end"),
            "end_ts": record.get("end") if isinstance(record.get("end"), (int, float))
            else record.get("end_ts")}


def worker_of_journal(writer):
    """The worker whose journal a record came from (a task's record names no worker: the
    journal's writer is it), or None for the journals of dispatchers and commands."""
    if not writer or writer.startswith(("dispatcher-", "retry-", "cancel-")) or \
            host_from_id(writer) is None:
        return None
    return writer


def rate_of(ends, sample=defaults.STATUS_RATE_SAMPLE):
    ends = sorted(ends)[-sample:]
    if len(ends) < 2 or ends[-1] <= ends[0]:
        return None
    return (len(ends) - 1) / (ends[-1] - ends[0])


def newest_failures(layout, journals, legacy_failures, failed_limit):
    """The newest failure entries, with each one's params and command (all: a limit < 0)."""
    limit = None if failed_limit is None or failed_limit < 0 else failed_limit
    found = journals.failures(limit) + [dict(r, k=record_kinds.JOB) for r in legacy_failures]
    failed = [failure_entry(r) for r in found]
    add_details(layout, found, failed)
    failed.sort(key=lambda r: (r["end_ts"] or 0, r["name"] or ""), reverse=True)
    return failed if limit is None else failed[:limit]


def snapshot(layout, failed_limit=10, with_rate=True):
    """The whole status as a dict (what --json prints)."""
    now = time.time()
    journals = Journals(layout)
    legacy_counts, legacy_failures, legacy_ends = legacy_summary(layout)
    totals = journals.totals
    running = running_jobs(layout, journals, now)
    queued_names = list_names(layout.jobqueue)
    queued = queued_count(layout, queued_names)
    waiting = waiting_summary(layout)
    inboxes = list_names(layout.jobpod)
    resources = resource_status.summary(layout, queued_names, inboxes)
    idle = list_names(layout.workerqueue)
    failed = newest_failures(layout, journals, legacy_failures, failed_limit)
    rate = rate_of(journals.ends + legacy_ends) if with_rate else None
    in_flight = sum(r["tasks"] for r in running)
    remaining = queued + in_flight
    eta = round(remaining / rate, 1) if rate and remaining and inboxes else None
    counts = {
        "queued": queued,
        "waiting": waiting["tasks"],
        "running": sum(1 for r in running if r["state"] in ("running", "blocked")),
        "assigned": in_flight - sum(1 for r in running if r["state"] in ("running", "blocked")),
        "done": totals[0] + totals[3] + legacy_counts["done"],
        "failed": max(0, totals[1] + totals[4]) + legacy_counts["failed"],
        "cancelled": totals[2] + totals[5] + legacy_counts["cancelled"],
    }
    return {
        "root": layout.root,
        "time": record_search.iso(now),
        "counts": counts,
        "tasks": {"done": totals[3], "failed": max(0, totals[4]), "cancelled": totals[5]},
        "workers": {"inboxes": len(inboxes), "idle": len(idle)},
        "serving": serving.state(layout, inboxes),
        "blocked": [{"worker": r["worker"], "host": r["host"], "why": r["blocked"]}
                    for r in running if r["blocked"]],
        "running": running,
        "waiting": waiting,
        "failed": failed,
        "throughput": None if rate is None else {"jobs_per_second": round(rate, 4),
                                                 "source": "records"},
        "eta_seconds": eta,
        "requests": resources["requests"],  # queued jobs asking for more than the default
        "waiting_for_resources": resources["stuck"],  # ... that no live worker can run
        "worker_shapes": resources["workers"],
        "allocations": auto_state.for_status(layout),  # fjd workers auto (None: never ran)
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


def keep_the_end(text, width):
    """A job's name cut to width from the left: its end (label, task numbers) tells jobs
    apart, its start (the date) seldom does."""
    return text if len(text) <= width else "~" + text[len(text) - width + 1:]


def render(state, failed_total=None):
    counts = state["counts"]
    workers = state["workers"]
    lines = ["queue %s" % display(state["root"])]
    rows = [("queued", counts["queued"], ""),
            ("waiting", counts.get("waiting", 0), "(for other jobs: see below)"
             if counts.get("waiting") else ""),
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
    remaining = counts["queued"] + counts["running"] + counts["assigned"] + \
        counts.get("waiting", 0)
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
    lines += ["  ! " + problem for problem in serving.problems(state.get("serving"), remaining)]
    lines += ["  ! worker %s on %s cannot go on: %s" % (display(b["worker"]), display(b["host"]),
                                                      display(b["why"]))
              for b in state.get("blocked") or ()]
    lines += resource_status.lines(state)
    lines += running_lines(state["running"])
    lines += waiting_lines(state.get("waiting"))
    lines += auto_state.status_lines(state["allocations"]) if state.get("allocations") \
        else []
    lines += failed_lines(state["failed"], counts["failed"] if failed_total is None
                          else failed_total)
    return "\n".join(line.rstrip() for line in lines)


def running_lines(running):
    """The table of what runs where, each job by its plain name (ARRAY#5-6)."""
    if not running:
        return []
    shown = [display(names.plain_name(job["job"])) for job in running]
    width = max(3, min(RUNNING_NAME_WIDTH, max(len(text) for text in shown)))
    lines = ["", "running:", "  %-*s %-8s %-28s %-16s %9s"
             % (width, "JOB", "STATE", "WORKER", "HOST", "ELAPSED")]
    for job, text in zip(running, shown):
        lines.append("  %-*s %-8s %-28s %-16s %9s"
                     % (width, keep_the_end(text, width), job["state"],
                        shorten(job["worker"], 28), shorten(job["host"], 16),
                        duration(job["elapsed"])))
    return lines


def failed_lines(failed, total):
    """The newest failures and their reasons (total: how many failed in all)."""
    if not failed:
        return []
    shown = len(failed)
    lines = ["", "failed (%s):" % ("newest %d of %d; --failed N shows more" % (shown, total)
                                   if shown < total else total)]
    for job in failed:
        lines.append("  %s: %s" % (display(job["name"]), display(job["reason"])))
        lines += detail_lines(job)
    lines.append("  (fjd retry NAME... or fjd retry --all puts them back in the queue)")
    return lines


def waiting_lines(waiting):
    """The first waiting jobs, and what each waits for (with its state)."""
    if not waiting or not waiting["first"]:
        return []
    lines = ["", "waiting (%s):" % ("first %d of %d jobs" % (len(waiting["first"]),
                                                             waiting["jobs"])
                                    if len(waiting["first"]) < waiting["jobs"]
                                    else waiting["jobs"])]
    for job in waiting["first"]:
        lines.append("  %s: %s" % (display(job["name"]), ", ".join(
            "%s %s (%s)" % (dep["key"], display(dep["name"]), dep["state"] or "not finished")
            for dep in job["waits_for"]) or "nothing (about to be released)"))
    return lines


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
