"""What a journal line says, kind by kind: the one place where records are built.

Readers do not parse every line of a journal: they search the bytes for patterns such as
``"k":"tasks"`` or ``"state":"cancelled"`` and parse only the lines that hold one
(journal.find, record_search.scan_array_lines). A pattern that spans two keys, such as the start
of an array's task line ``{"k":"task","array":"sweep.conf",``, matches only when every
writer puts the keys in the same order. So every record is built here, with its keys in a
fixed order, and every pattern is made here by encode(), the serialisation journal.frame()
writes: a writer that changes the order changes it for the readers too.

Kinds (the ``k`` key):

    journal        the first line of a journal: who writes it
    job            a single job's result (filed under "name" in the "state" folder)
    task           one task of an array; tasks: a range of them (failed or cancelled whole,
                   or a run of done Python calls)
    array          an array whose tasks all ended, filed by the dispatcher
    moved, output  a job filed under another name than first recorded / its output file
    retried, retry-undone   `fjd retry`, and its retraction when the job moved meanwhile

A job cancelled because of a dependency has the key ``dependency`` (the name it waited for)
and ``cancelled_from`` ``waiting``.

The dispatcher's and `fjd cancel`'s records carry a ``key`` that says what they stand
for, so that a record is never written twice when its writer died between recording and
doing (dispatcher/keyed_journal.py).
"""
import json

HEADER, JOB, TASK, TASKS, ARRAY = "journal", "job", "task", "tasks", "array"
MOVED, OUTPUT, RETRIED, RETRY_UNDONE = "moved", "output", "retried", "retry-undone"
DONE, FAILED, CANCELLED = "done", "failed", "cancelled"
STATES = (DONE, FAILED, CANCELLED)
FORMAT_VERSION = 1
FILED_BY_DISPATCHER = "dispatcher"
WAITING_FROM = "waiting"  # cancelled_from of a job cancelled while it waited (dependencies)


def encode(record):
    """A record's JSON as it is written in a journal line (before the checksum)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogateescape")


def decode(payload):
    """encode()'s inverse: ValueError for a payload that is not JSON."""
    return json.loads(payload.decode("utf-8", "surrogateescape"))


def pattern(key, value):
    """The bytes a journal line holds for "key":value."""
    return encode(key) + b":" + encode(value)


def key_pattern(key):
    """The bytes that start key's entry in a line, whatever its value."""
    return encode(key) + b":"


# What readers search journals for, made by the writers' own encoding.
KIND_MOVED = pattern("k", MOVED)
KIND_TASKS = pattern("k", TASKS)
STATE_DONE = pattern("state", DONE)
STATE_CANCELLED = pattern("state", CANCELLED)
HAS_KEY = key_pattern("key")


def task_index_pattern(index):
    """What a task record of task index holds ("i" is never a task record's last key, so
    the comma after it tells i=1 from i=12)."""
    return pattern("i", index) + b","


def task_line_prefix(array):
    """How every task record of the array called array begins: kind, then array name."""
    return b"{" + pattern("k", TASK) + b"," + pattern("array", array) + b","


# -- keys of the dispatcher's and `fjd cancel`'s records ---------------------------------------

def claim_key(state, claim):
    return "claim:%s:%s" % (state, claim)


def exhausted_key(name):
    return "exhausted:" + name


def held_key(worker_id, run, index=None):
    if index is None:
        return "held:%s:%s" % (worker_id, run)
    return "held:%s:%s:%s" % (worker_id, run, index)


def cancel_key(worker_id, name):
    return "cancel:%s:%s" % (worker_id, name)


def array_key(uid, final):
    return "array:%s:%s" % (uid, final)


# -- the journal's own lines ------------------------------------------------------------------

def writer_info(role, host, pid, started, root=None, by=None):
    """What a journal's header says of its writer (root: a daemon's queue; by: the user of
    a command)."""
    info = {"role": role, "host": host, "pid": pid}
    if by is not None:
        info["by"] = by
    info["started"] = started
    if root is not None:
        info["root"] = root
    return info


def header(info, writer_id):
    """A journal's first line."""
    return dict(info, k=HEADER, v=FORMAT_VERSION, writer=writer_id)


def with_totals(record, totals, last_failure):
    """The line written for record: the writer's running totals after it, and the offset
    of its previous failure record (journal.py)."""
    line = dict(record)
    line["tot"] = totals
    if last_failure is not None:
        line["pf"] = last_failure
    return line


# -- a single job -----------------------------------------------------------------------------

def job_started(queue, original, run, worker, host, worker_pid, attempt, start):
    """The first keys of a job's record, as its worker starts it."""
    return {"queue": queue, "original": original, "run": run, "worker": worker,
            "host": host, "worker_pid": worker_pid, "attempt": attempt, "start": start}


def job_command(record, command, cwd, timeout, retries):
    """What the worker is about to run."""
    return dict(record, command=command, cwd=cwd, timeout=timeout, retries=retries)


def job_not_run(record, reason):
    """A job that could not start (an invalid file, say)."""
    return dict(record, reason=reason, exit_status=None, signal=None)


def run_summary(exit_status, signal, reason):
    """One run of a job or task that was retried ([control] retries): the "runs" list."""
    return {"exit_status": exit_status, "signal": signal, "reason": reason}


def job_ran(record, exit_status, signal, reason, timed_out=False, spans=None, runs=None):
    """How the job's (last) run ended. spans: {"stdout": span, "stderr": span} of its
    output in the worker's output journals (None when its output went to files); runs:
    run_summary of each run, when there was more than one."""
    record = dict(record, exit_status=exit_status, signal=signal)
    if timed_out:
        record["timed_out"] = True
    record["reason"] = reason
    record.update(spans or {})
    if runs:
        record["runs"] = runs
    return record


def job_ended(record, end, started):
    return dict(record, end=end, duration=round(end - started, 6))


def job_noted(record, note):
    """Something the worker saw about the job file itself, added to the reason."""
    reason = record.get("reason")
    return dict(record, note=note, reason="%s (%s)" % (reason, note) if reason else note)


def job_filed(record, name, state):
    """The record as it is appended: filed under name in the folder state."""
    return dict(record, k=JOB, name=name, state=state)


def job_output_files(record, paths):
    """A files-mode job's output files: {"stdout": path, "stderr": path} (paths relative to
    the root), each as a whole-file span."""
    record = dict(record)
    for kind, path in paths.items():
        record[kind] = [path, 0, None]
    return record


def held_result(record, state):
    """A result the worker could not file yet, as its heartbeat carries it."""
    return dict(record, state=state, queue=record.get("queue"))


def held_job(held, key):
    """A dead worker's held job result, recorded by the dispatcher (key: held_key)."""
    return dict(held, k=JOB, key=key, filed_by=FILED_BY_DISPATCHER)


def held_task(held, key):
    """A dead worker's held task result, recorded by the dispatcher (key: held_key)."""
    return dict(held, key=key, filed_by=FILED_BY_DISPATCHER)


def job_cancelled_in_inbox(queue, original, worker, host, worker_pid, attempt, reason, end,
                           cancelled_from):
    """A job its worker cancelled before or while it ran (cancelled_from: its inbox)."""
    return dict(job_started(queue, original, None, worker, host, worker_pid, attempt, None),
                reason=reason, exit_status=None, signal=None, end=end,
                cancelled_from=cancelled_from)


def job_cancelled_queued(queue, original, attempt, reason, end, key, cancelled_from="jobqueue"):
    """A job `fjd cancel` took from jobqueue/ (or waiting/) (key: claim_key)."""
    return {"queue": queue, "original": original, "attempt": attempt, "reason": reason,
            "cancelled_from": cancelled_from, "start": None, "end": end, "exit_status": None,
            "signal": None, "key": key}


def job_cancelled_for_dead_worker(queue, original, reason, end, key):
    """A job whose cancel request its worker died before honouring (key: cancel_key)."""
    return {"queue": queue, "original": original, "reason": reason, "exit_status": None,
            "signal": None, "end": end, "key": key}


def job_cancelled_by_dependency(queue, original, dependency, reason, end, key):
    """A waiting job the dispatcher cancelled because what it waits for failed or was
    cancelled (dependency: that name; `fjd retry` of it finds this record)."""
    return {"queue": queue, "original": original, "reason": reason, "dependency": dependency,
            "cancelled_from": WAITING_FROM, "start": None, "end": end, "exit_status": None,
            "signal": None, "key": key}


def dependency_key(name):
    """The key of the record of a waiting job filed because of its dependencies: a
    dispatcher killed between the record and the move finds the job waiting again and
    redoes the move without a second record."""
    return "dependency:%s" % name


def dependency_pattern(name):
    """What the record of a job cancelled because of name holds."""
    return pattern("dependency", name)


def job_rejected(queue, original, reason, host, attempt, end, key):
    """A file the dispatcher moved from jobqueue/ to failed/ without running it."""
    return {"queue": queue, "original": original, "reason": reason,
            "rejected_by": FILED_BY_DISPATCHER, "host": host, "attempt": attempt,
            "start": None, "end": end, "exit_status": None, "signal": None, "key": key}


def orphan_claim(original, state, end, reason, key):
    """A claimed file whose claimer died before filing it, filed by the dispatcher."""
    return {"original": original, "state": state, "end": end, "reason": reason, "key": key}


# -- array tasks ------------------------------------------------------------------------------

def task_started(array, uid, index, run, attempt, start):
    return {"k": TASK, "array": array, "u": uid, "i": index, "run": run,
            "attempt": attempt, "start": start}


def task_not_run(record, reason, end):
    """A task whose row could not be read (a bad value, say)."""
    return dict(record, state=FAILED, reason=reason, exit_status=None, signal=None, end=end)


def task_ran(record, exit_status, signal, reason, end, spans, runs=None, timed_out=False):
    record = dict(record, state=DONE if exit_status == 0 else FAILED,
                  exit_status=exit_status, signal=signal, reason=reason, end=end,
                  stdout=spans["stdout"], stderr=spans["stderr"])
    if runs:
        record["runs"] = runs
    if timed_out:
        record["timed_out"] = True
    return record


def tasks_done(record, last, end, spans):
    """A run of done tasks recorded as one line (Python calls, DESIGN.md "Python calls"):
    the first task's record (attempt 1) standing for tasks i..last, their output spans
    joined."""
    done = {"k": TASKS, "array": record["array"], "u": record["u"], "first": record["i"],
            "last": last, "state": DONE, "reason": None}
    done.update((key, value) for key, value in record.items()
                if key not in ("k", "array", "u", "i", "state", "reason", "end", "stdout",
                               "stderr"))
    done.update(end=end, stdout=spans["stdout"], stderr=spans["stderr"])
    return done


def end_times(record):
    """The end times a record stands for: a job's or task's end; for a run of done Python
    calls recorded as one (worker/done_runs.py), one per call, spread over the run."""
    end, kind = record.get("end"), record.get("k")
    if not isinstance(end, (int, float)):
        return []
    if kind in (JOB, TASK):
        return [end]
    start, first, last = record.get("start"), record.get("first"), record.get("last")
    if kind != TASKS or record.get("state") != DONE or \
            not isinstance(start, (int, float)) or not isinstance(first, int) or \
            not isinstance(last, int) or not 0 < last - first + 1 <= 4096:
        return []
    count = last - first + 1
    return [start + (end - start) * (n + 1) / count for n in range(count)]


def task_exhausted(array, uid, index, reason, attempt, end, key):
    """A task cut short --max-attempts times, failed by the dispatcher (key:
    exhausted_key)."""
    return {"k": TASK, "array": array, "u": uid, "i": index, "state": FAILED,
            "reason": reason, "attempt": attempt, "exit_status": None, "signal": None,
            "end": end, "key": key}


def tasks_ended(array, uid, first, last, state, reason, end, run=None, worker=None,
                host=None, cancelled_from=None, key=None):
    """A range of tasks that ended together (failed or cancelled, none of them run).
    The optional keys are left out when None; uid is always there (None: an array
    cancelled before it had an id)."""
    record = {"k": TASKS, "array": array, "u": uid, "first": first, "last": last,
              "state": state, "reason": reason}
    for key_name, value in (("run", run), ("worker", worker), ("host", host)):
        if value is not None:
            record[key_name] = value
    record["end"] = end
    if cancelled_from is not None:
        record["cancelled_from"] = cancelled_from
    if key is not None:
        record["key"] = key
    return record


def array_filed(name, state, original, uid, tasks, end, key):
    """An array whose tasks all ended, filed as name in the folder state."""
    return {"k": ARRAY, "name": name, "folder": state, "original": original, "u": uid,
            "state": state, "tasks": tasks, "end": end, "key": key}


# -- after the fact ---------------------------------------------------------------------------

def moved(ref, was, name, folder, queue, ref_writer):
    """The job recorded at offset ref (by ref_writer) was filed as name, not as was."""
    return {"k": MOVED, "ref": ref, "was": was, "name": name, "folder": folder,
            "queue": queue, "ref_writer": ref_writer}


def output_moved(ref, kind, path):
    """The output file (kind: stdout, stderr) of the job at ref went to path instead."""
    return {"k": OUTPUT, "ref": ref, "kind": kind, "file": path}


def jobs_retried(refs, jobs, as_name, by, at):
    """`fjd retry` of failed jobs: refs [[writer, offset]] of their failure records."""
    return {"k": RETRIED, "refs": refs, "jobs": jobs, "as": as_name, "by": by, "at": at}


def tasks_retried(ranges, array, uid, by, at, refs):
    """`fjd retry` of an array's failed tasks: ranges [[uid, first, last]]."""
    return {"k": RETRIED, "tasks": ranges, "array": array, "u": uid, "by": by, "at": at,
            "refs": refs}


def retry_undone(retried):
    """A retry taken back (the job moved meanwhile): its failures count again."""
    return dict(retried, k=RETRY_UNDONE, refs=[])
