"""``fjd retry`` and ``fjd cancel``: change one's mind about jobs and tasks.

retry   moves ``failed/NAME`` back into ``jobqueue/`` as ``ORIGINAL@r<nonce>~..``, a name
        nobody else can be using, so it never replaces a queued job. For an array whose
        tasks failed, the failed tasks go back to the queue as ranges of the array file, and
        the rest of it waits in arrays/ until they are finished again. The old records stay
        as history; the retry is a record of its own in ``records/retry-*.journal``, which
        takes the retried failures out of the counts.
cancel  moves a queued job into ``cancelled/`` (a range of tasks into arrays/, marked
        cancelled) with a record. A job already handed to a worker is cancelled by that
        worker: ``fjd cancel`` leaves a request in its inbox, the worker notices it within
        a beat, kills the job's process group and files the job in cancelled/ (or,
        if the worker has died, the dispatcher does). A job is first claimed with a rename,
        so a job that somebody else moved first is left alone.
"""
import getpass
import json
import os
import stat
import time

from . import arrays, journal, moves, names, record_kinds, record_search, records
from .jobfile import JobError
from .layout import JOBQUEUE, cancel_request, display, hostname, safe_hostname
from .fsops import list_names, try_rename, write_file_atomic
from .names import nonce
from .liveness import read_heartbeat
from .status import Journals



class ControlError(Exception):
    """This job cannot be retried or cancelled; the message says why."""


def who():
    try:
        user = getpass.getuser()
    except Exception:  # no user name for this uid
        user = "uid %d" % os.getuid()
    return "%s@%s" % (user, hostname())


def job_name(text):
    """Accept 'failed/NAME', 'jobqueue/NAME' or a path as well as NAME (names hold no /)."""
    return os.path.basename(text.rstrip("/")) or text


def command_journal(layout, command):
    """A journal of its own for one run of a command (made when first written to)."""
    writer_id = "%s-%s-%d-%s" % (command, safe_hostname(), os.getpid(), nonce())
    return journal.JournalWriter(layout.records, writer_id, record_kinds.writer_info(
        command, hostname(), os.getpid(), time.time(), by=who()))


# -- retry ------------------------------------------------------------------------------------

class Retry:
    """One `fjd retry` run: its journal, and what it has put back."""

    def __init__(self, layout):
        self.layout = layout
        self.journal = command_journal(layout, "retry")
        self.journals = None

    def close(self):
        self.journal.close()

    def failure_record(self, name):
        """The newest failure record of failed/NAME: (writer, offset) or None (legacy)."""
        for record in reversed(record_search.find_job_records(self.layout, name)):
            if record.get("state") == record_kinds.FAILED and record.get("name") == name and \
                    record.get("_journal"):
                return record
        return None

    def job(self, name):
        """Move failed/NAME back to the queue; returns the new queue name, or None if it is
        gone. ControlError when it is not a job file."""
        source = os.path.join(self.layout.failed, name)
        try:
            mode = os.lstat(source).st_mode
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(mode):
            raise ControlError("it is not a job file, so running it again cannot help")
        record = self.failure_record(name)
        legacy = record_search.legacy_record(self.layout, name) if record is None else None
        original = (record or legacy or {}).get("original") or names.parse(name).original
        target_name = moves.retried_job(original, moves.retry_tag(nonce()))
        refs = [[record["_journal"], record["_offset"]]] if record else []
        entry = record_kinds.jobs_retried(refs, [name], target_name, who(), time.time())
        self.journal.adjust(entry, [0, -1 if record else 0, 0, 0, 0, 0])
        if legacy:
            write_record(self.layout, name, retried_legacy(legacy, target_name))
        if not try_rename(source, os.path.join(self.layout.jobqueue, target_name)):
            # somebody else moved it meanwhile: take our retry back
            self.journal.adjust(record_kinds.retry_undone(entry),
                                [0, 1 if record else 0, 0, 0, 0, 0])
            if legacy:
                write_record(self.layout, name, legacy)
            return None
        return target_name

    def cancelled_waiters(self, dependency):
        """(writer, offset, record) of the jobs a dispatcher cancelled in waiting/ because
        dependency failed or was cancelled, that are still in cancelled/."""
        needle = record_kinds.dependency_pattern(dependency)
        found = []
        for path in journal.journal_paths(self.layout.records):
            if not os.path.basename(path).startswith("dispatcher-"):
                continue
            for offset, record in journal.find(path, [needle]):
                if record.get("cancelled_from") == record_kinds.WAITING_FROM and \
                        record.get("state") == record_kinds.CANCELLED and record.get("name") \
                        and os.path.lexists(os.path.join(self.layout.cancelled,
                                                         record["name"])):
                    found.append((journal.writer_of(path), offset, record))
        return found

    def restore_waiters(self, dependency):
        """Put the jobs cancelled because dependency failed back in waiting/, and those
        cancelled because of them, and so on (a record first, each); their new names."""
        restored = []
        todo = [dependency]
        while todo:
            for writer, offset, record in self.cancelled_waiters(todo.pop()):
                name = record["name"]
                original = record.get("original") or record.get("array") or \
                    names.parse(name).original
                target = moves.retried_job(original, moves.retry_tag(nonce()))
                tasks = record.get("k") == record_kinds.TASKS
                deltas = [0, 0, 0, 0, 0, -record.get("last", 1)] if tasks else \
                    [0, 0, -1, 0, 0, 0]
                entry = record_kinds.jobs_retried([[writer, offset]], [name], target, who(),
                                                  time.time())
                self.journal.adjust(entry, deltas)
                if not try_rename(os.path.join(self.layout.cancelled, name),
                                  os.path.join(self.layout.waiting, target)):
                    self.journal.adjust(record_kinds.retry_undone(entry),
                                        [-d for d in deltas])
                    continue
                restored.append(target)
                todo.append(original)
        return restored

    def array_named(self, final):
        """The original name of the finished array filed as failed/final, or None when
        failed/final is not an array file."""
        if not arrays.declared_kind(head_of(os.path.join(self.layout.failed, final))):
            return None  # (an array of more than one task declares its kind in that head)
        needle = journal.needle("name", final)
        for path in journal.journal_paths(self.layout.records):
            if os.path.basename(path).startswith("dispatcher-"):
                for _, record in journal.find(path, [needle]):
                    if record.get("k") == record_kinds.ARRAY and \
                            record.get("folder") == record_kinds.FAILED:
                        return record.get("original")
        return names.parse(final).original

    def failed_tasks(self, array=None):
        """{array id: (array name, [task, ...])} of failed tasks not retried yet (of the
        arrays called array, or of all)."""
        if self.journals is None:
            self.journals = Journals(self.layout)
        found = {}
        self.failure_refs = {}
        for record in self.journals.failures():
            if record.get("k") not in (record_kinds.TASK, record_kinds.TASKS):
                continue
            if array is not None and record.get("array") != array:
                continue
            uid = record.get("u")
            self.failure_refs.setdefault(uid, []).append([record["_journal"],
                                                          record["_offset"]])
            entry = found.setdefault(uid, (record.get("array"), set()))
            if record.get("k") == record_kinds.TASK:
                entry[1].add(record.get("i"))
            else:
                entry[1].update(range(record.get("first"), record.get("last") + 1))
        return {uid: (name, sorted(tasks)) for uid, (name, tasks) in found.items()}

    def array_file(self, uid, array):
        """Where a finished array is: its path in done/, failed/ or cancelled/. None while
        any of its tasks is still queued or running (ControlError says so)."""
        for folder in (self.layout.jobqueue, self.layout.arrays):
            for name in list_names(folder):
                if names.parse(name).uid == uid:
                    raise ControlError("its array is still being worked on (%s is in %s/); "
                                       "retry its failed tasks once it has finished"
                                       % (display(name), os.path.basename(folder)))
        for worker_id in list_names(self.layout.jobpod):
            for name in self.layout.inbox_jobs(worker_id) or []:
                if names.parse(name).uid == uid:
                    raise ControlError("its array is still being worked on (tasks are with "
                                       "worker %s); retry its failed tasks once it has "
                                       "finished" % display(worker_id))
        needle = journal.needle("u", uid)
        for path in journal.journal_paths(self.layout.records):
            if not os.path.basename(path).startswith("dispatcher-"):
                continue
            for _, record in journal.find(path, [needle]):
                if record.get("k") == record_kinds.ARRAY:
                    candidate = os.path.join(self.layout.folder(record["folder"]),
                                             record["name"])
                    if os.path.lexists(candidate):
                        return candidate
        raise ControlError("the file of array %s is in none of done/, failed/ and "
                           "cancelled/ any more" % display(array))

    def tasks(self, uid, array, failed, all_failed):
        """Put the failed tasks of a finished array back in the queue: the array file is
        split into ranges (hard links): the failed tasks' ranges go to jobqueue/, the others
        to arrays/, where they wait for them. Returns the number of tasks queued."""
        path = self.array_file(uid, array)
        folder, name = os.path.split(path)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            count = arrays.read_spec(fd, 1 << 30).count
        except JobError as error:
            raise ControlError("its array file cannot be read: %s" % error)
        finally:
            os.close(fd)
        pieces = moves.retry_split(array, uid, count, failed, set(all_failed) - set(failed),
                                   moves.retry_tag(nonce()))
        entry = record_kinds.tasks_retried(
            [[uid, first, last] for first, last in moves.retried_runs(pieces)], array, uid,
            who(), time.time(), self.failure_refs.get(uid, []))
        self.journal.adjust(entry, [0, 0, 0, 0, -len(failed), 0])
        made = [os.path.join(self.layout.folder(folder), new) for new, folder in pieces]
        for target in made[:-1]:
            os.link(path, target)
        os.rename(path, made[-1])
        return len(failed)


def write_record(layout, name, record):
    """Replace a fjd 0.2 records/NAME.json atomically (a temporary dot-name, then rename)."""
    write_file_atomic(os.path.join(layout.records, name + record_search.LEGACY_SUFFIX),
                      (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())


def retried_legacy(record, target_name):
    """A fjd 0.2 record as history: when, by whom and as what the job was retried."""
    now = time.time()
    record = dict(record)
    retried = record.get("retried") or []
    record["retried"] = (retried if isinstance(retried, list) else [retried]) + [
        {"at": record_search.iso(now), "at_ts": now, "by": who(),
         "as": os.path.join("jobqueue", target_name)}]
    return record


# -- cancel -----------------------------------------------------------------------------------

class Cancel:
    """One `fjd cancel` run: its journal, and the requests it left for workers."""

    def __init__(self, layout):
        self.layout = layout
        self.journal = command_journal(layout, "cancel")

    def close(self):
        self.journal.close()

    def queued(self, name, folder=JOBQUEUE):
        """Cancel a job (or range) in jobqueue/ (or a job in waiting/); the name it is
        filed under, or None if somebody else took it first."""
        queue_name = names.parse(name)
        source = os.path.join(self.layout.folder(folder), name)
        now = time.time()
        reason = "cancelled by %s" % who()
        if queue_name.is_tasks:
            target = moves.cancelled_range(queue_name)
            if not try_rename(source, os.path.join(self.layout.arrays, target)):
                return None
            self.journal.append(record_kinds.tasks_ended(
                queue_name.original, queue_name.uid, queue_name.first, queue_name.last,
                record_kinds.CANCELLED, reason, now, cancelled_from="jobqueue"),
                size=queue_name.size)
            return "arrays/" + target
        claim = os.path.join(self.layout.cancelled, moves.claim_name(name, nonce()))
        if not try_rename(source, claim):
            return None
        # (the key the dispatcher gives it, should it have to adopt the claim)
        key = record_kinds.claim_key(record_kinds.CANCELLED, os.path.basename(claim))
        size = arrays.task_count(claim)
        if size > 1:  # an array never started: all its tasks are cancelled
            self.journal.append(record_kinds.tasks_ended(
                queue_name.original, None, 1, size, record_kinds.CANCELLED, reason, now,
                cancelled_from=folder, key=key), size=size)
            final = records.first_free_name(self.layout.cancelled, queue_name.original)
            records.move_noreplace(claim, os.path.join(self.layout.cancelled, final))
            return "cancelled/" + final
        record = record_kinds.job_cancelled_queued(name, queue_name.original,
                                                   queue_name.attempts, reason, now, key,
                                                   cancelled_from=folder)
        final = records.Filing(self.layout, self.journal, claim, queue_name.original,
                               record_kinds.CANCELLED, record).advance()
        return "cancelled/" + final if final else None

    def request(self, worker_id, name):
        """Ask the worker that has name in its inbox to cancel it; False if it is gone."""
        inbox = self.layout.inbox(worker_id)
        if not os.path.lexists(os.path.join(inbox, name)):
            return False
        try:
            write_file_atomic(os.path.join(inbox, cancel_request(name)),
                              ("%s\n" % who()).encode())
        except FileNotFoundError:
            return False
        beat = read_heartbeat(inbox)
        return beat.host if beat else True


def head_of(path, size=4096):
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def matches(name, wanted):
    """Whether a queue name stands for one of the wanted names (its own name, its original
    name, or its array's name); wanted None: everything."""
    if wanted is None:
        return True
    return name in wanted or names.parse(name).original in wanted


def queued_matches(layout, wanted):
    """Queue names in jobqueue/ that match wanted (None: all)."""
    return sorted(n for n in list_names(layout.jobqueue) if matches(n, wanted) and
                  not names.parse(n).finished)


def waiting_matches(layout, wanted):
    """Names in waiting/ that match wanted (None: all)."""
    return sorted(n for n in list_names(layout.waiting) if matches(n, wanted))


def inbox_matches(layout, wanted):
    """(worker, name) of jobs in inboxes matching wanted (None: all)."""
    found = []
    for worker_id in sorted(list_names(layout.jobpod)):
        for name in layout.inbox_jobs(worker_id) or []:
            if matches(name, wanted):
                found.append((worker_id, name))
    return found
