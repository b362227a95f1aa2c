"""Running a range of an array's tasks (a hard link of the array file named for the range,
DESIGN.md "Names"): task by task, a record each in the journal, then the range to arrays/.
Stopped in the middle, the finished tasks go to arrays/ and the rest back to jobqueue/.

Ranges is the worker's part that lasts (the array read last, the one-task view file);
TaskRange is one range being run, with its state in one place.
"""
import logging
import os
import shlex
import tempfile
import time

from .. import arrays, folders, moves, names, record_kinds, tickets
from ..execute import Cancelled, Interrupted, JobSignalled, Withdrawn
from ..jobfile import JobError, Settings
from ..layout import SHARE_FILE, cancel_request, display
from ..fsops import try_rename
from ..resources import with_resources
from ..statx import cached_stat
from .done_runs import DoneRun

log = logging.getLogger("fjd.worker")


def local_scratch():
    """A folder on this host for the one-task job files of array tasks (tmpfs if any)."""
    for folder in ("/dev/shm", tempfile.gettempdir()):
        if os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK):
            return folder
    return tempfile.gettempdir()


class Ranges:
    """Runs the ranges of tasks of the inbox; keeps the array read last and the view file."""

    def __init__(self, layout, presence, holder, journals, launcher, inbox, max_job_bytes,
                 ask_near_the_end):
        self.layout = layout
        self.presence = presence
        self.holder = holder
        self.journals = journals
        self.launcher = launcher
        self.inbox = inbox
        self.max_job_bytes = max_job_bytes
        self.ask_near_the_end = ask_near_the_end  # (started, ran, left): the batch's business
        self.specs = {}  # array id -> ArraySpec
        self.view_path = None
        self.view_size = 0

    def adopt_array(self, name, queue_name):
        """A whole array file in our inbox (a dispatcher that could not split it): give it
        an id and run it as one range of all its tasks."""
        path = os.path.join(self.inbox.path, name)
        fd = folders.open_at(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            spec = arrays.read_spec(fd, self.max_job_bytes)
        finally:
            os.close(fd)
        uid = names.nonce()
        self.specs[uid] = spec
        ranged = moves.array_range(queue_name.original, spec.count, uid, spec.data_offset)
        folders.rename(path, os.path.join(self.inbox.path, ranged))
        return self.run_tasks(ranged, names.parse(ranged))

    def array_spec(self, fd, uid):
        spec = self.specs.get(uid)
        if spec is None:
            spec = arrays.read_spec(fd, self.max_job_bytes)
            self.specs = {uid: spec}  # one array at a time, as a rule: keep the newest
        return spec

    def run_tasks(self, name, queue_name):
        path = os.path.join(self.inbox.path, name)
        run = self.presence.batch_run()
        try:
            fd = folders.open_at(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as error:
            return self.fail_range(name, queue_name, run, "cannot open the array file: %s"
                                   % error.strerror)
        try:
            info = cached_stat(fd)  # (the open's lookup brought them: no request for them)
            try:
                self.launcher.check_owner(info.st_uid)
                spec = self.array_spec(fd, queue_name.uid)
                settings = Settings(spec.control)
            except JobError as error:
                return self.fail_range(name, queue_name, run, str(error))
            self.presence.start_job(name)
            if self.layout.fuse:
                # On FUSE every task's start closes the child's copy of each file descriptor
                # we hold: a product's tasks need nothing more from the array file, and the
                # heartbeat is written by name while tasks run (Presence.beat_by_name).
                self.presence.beat_by_name(True)
                if spec.kind == "product":
                    folders.close_quietly(fd)
                    fd = None
            return TaskRange(self, name, queue_name, spec, settings, run).run(fd)
        finally:
            self.presence.beat_by_name(False)
            if fd is not None:
                os.close(fd)

    def fail_range(self, name, queue_name, run, reason):
        """A range that cannot run at all (an unreadable or invalid array file)."""
        record = record_kinds.tasks_ended(
            queue_name.original, queue_name.uid, queue_name.first, queue_name.last,
            record_kinds.FAILED, reason, time.time(), run=run, worker=self.presence.worker_id,
            host=self.presence.host)
        self.holder.retry_until_filed(
            lambda: self.journals.records.append(record, size=queue_name.size),
            "record the failed tasks of %s" % display(name))
        log.warning("%s failed: %s", display(name), reason)
        self.finish_range(name, queue_name, True)
        return None

    def finish_range(self, name, queue_name, failures):
        finished = moves.finished_range(queue_name, moves.range_flags(failures))

        def move():
            if not try_rename(os.path.join(self.inbox.path, name),
                              os.path.join(self.layout.arrays, finished)):
                log.warning("%s left the inbox before it could be filed in arrays/",
                            display(name))
        self.holder.retry_until_filed(move, "move %s to arrays/" % display(name))

    def scratch_path(self):
        if self.view_path is None:
            self.view_path = os.path.join(local_scratch(), "fjd-%s.task.conf"
                                          % self.presence.worker_id)
        return self.view_path

    def write_view(self, spec, task, values, array, argv):
        """A one-task job file ([control] and [params] of this task) on this host's
        scratch disk, for programs that read [params] from their last argument. One file,
        rewritten in place for every task (no file is made or deleted per task)."""
        text = arrays.task_view(spec, task, values, " ".join(shlex.quote(w) for w in argv),
                                array).encode("utf-8", "surrogateescape")
        padded = text + b"\n" * max(0, self.view_size - len(text))
        fd = os.open(self.view_path, os.O_WRONLY | os.O_CREAT, 0o644)  # local scratch
        try:
            os.pwrite(fd, padded, 0)
        finally:
            os.close(fd)
        self.view_size = max(self.view_size, len(text))
        return self.view_path

    def discard_view(self):
        if self.view_path:
            try:
                os.unlink(self.view_path)
            except OSError:
                pass


class TaskRange:
    """One range of tasks being run: what it is, how far it got, whether a task failed."""

    def __init__(self, ranges, name, queue_name, spec, settings, run):
        self.ranges = ranges
        self.name = name
        self.queue_name = queue_name
        self.array = queue_name.original
        self.spec = spec
        self.settings = settings
        self.run_id = run
        self.view = settings.jobfile == "last" or spec.command.uses_jobfile
        self.failures = False
        self.ran = 0
        self.started = None  # on the monotonic clock, as near_the_end measures
        self.current = None  # the task started last
        self.done_run = DoneRun() if settings.python else None  # (recorded together)

    def run(self, fd):
        """Run the tasks in turn (sharing the rest when asked: share_if_asked); stops early
        when cancelled, taken away or stopping."""
        presence = self.ranges.presence
        presence.on_tick = self.share_if_asked
        try:
            self.run_tasks(fd, presence)
        finally:
            presence.on_tick = None
        return None

    def run_tasks(self, fd, presence):
        queue_name = self.queue_name
        last_check = self.started = time.monotonic()
        for task, values, error, row_offset in self.spec.iter_tasks(
                fd, queue_name.first, queue_name.last, queue_name.offset):
            now = time.monotonic()
            if now - last_check >= self.ranges.launcher.runner.tick_every:
                last_check = now
                self.record_done_run()  # (before a cancel or a withdrawal is acted on)
                why = presence.tick()
                if isinstance(why, Cancelled):
                    return self.cancel_rest(task)
                if why is not None:
                    log.warning("%s: %s", display(self.name), why)
                    return None
            if task > self.queue_name.last:
                break  # the rest was shared (share_if_asked)
            if presence.waker.stopping:
                return self.give_back_rest(task, row_offset, interrupted=False)
            self.current = task
            record = self.task_record(task)
            if error is not None:
                record = record_kinds.task_not_run(record, str(error), record["start"])
            else:
                try:
                    record = self.run_task(task, values, record)
                except (Interrupted, JobSignalled) as stop:
                    log.info("%s: %s", display(names.task_name(self.array, task)),
                             stop or "interrupted")
                    signalled = isinstance(stop, JobSignalled)  # (else no attempt: job.py)
                    return self.give_back_rest(task, row_offset, interrupted=signalled,
                                               signalled=signalled)
                except Cancelled:
                    return self.cancel_rest(task)
                except Withdrawn as why:
                    self.record_done_run()
                    log.warning("%s: %s", display(self.name), why)
                    return None
            self.file_task(task, record)
        self.record_done_run()
        self.ranges.finish_range(self.name, self.queue_name, self.failures)
        return None

    def share_if_asked(self):
        """At a tick: the dispatcher asked us (SHARE_FILE, naming this range) to give back
        the tasks not started yet, because workers idle with nothing queued."""
        path = os.path.join(self.ranges.inbox.path, SHARE_FILE)
        try:
            with open(path, "rb") as handle:
                asked = handle.read(512).decode("utf-8", "replace").strip()
            os.unlink(path)
        except OSError:
            return
        if names.parse(asked).uid != self.queue_name.uid or self.current is None:
            return  # a request for a range run before
        if self.current < self.queue_name.last:
            self.share_rest(self.current + 1)

    def share_rest(self, cut):
        """Keep the tasks before cut, and put the rest back in jobqueue/. The heartbeat
        names the range kept first, so that a burial never counts an attempt for the rest."""
        queue_name, inbox, presence = self.queue_name, self.ranges.inbox.path, self.ranges.presence
        pieces = moves.shared_rest(queue_name, cut)
        kept = moves.piece_names(queue_name, pieces)[0]
        presence.job = kept
        presence.beat(force=True)
        try:
            made = tickets.split(inbox, self.name, pieces)
        except OSError as error:
            presence.job = self.name
            log.warning("%s: cannot give back tasks %d to %d: %s", display(self.name), cut,
                        queue_name.last, error.strerror)
            return
        self.name, self.queue_name = made[0], names.parse(made[0])
        if try_rename(os.path.join(inbox, made[1]),
                      os.path.join(self.ranges.layout.jobqueue, made[1])):
            log.info("%s: tasks %d to %d back to jobqueue/ for an idle worker",
                     display(self.array), cut, queue_name.last)

    def task_record(self, task):
        attempt = self.queue_name.attempts + 1 if task == self.queue_name.first else 1
        return record_kinds.task_started(self.array, self.queue_name.uid, task, self.run_id,
                                         attempt, time.time())

    def file_task(self, task, record):
        """The task's record into the journal (until it is there), and ask for more work
        when the batch nears its end. A done Python call's record may wait to be written
        with those of the next ones (done_runs.py)."""
        ranges = self.ranges
        if self.done_run is not None and self.done_run.takes(record):
            self.done_run.add(record)
            if self.done_run.full() or not ranges.launcher.calls.reply_ready():
                self.record_done_run()
        else:
            self.record_done_run()
            self.append_record(task, record, record, 1)
        ranges.holder.count_finished()
        self.ran += 1
        ranges.ask_near_the_end(self.started, self.ran, self.queue_name.last - task)

    def record_done_run(self):
        """Record the done Python calls kept back (before anything that files, splits or
        gives back the range, and before waiting)."""
        if self.done_run is not None and len(self.done_run):
            record, size = self.done_run.take()
            self.append_record(record.get("i", record.get("first")), record, record, size)

    def append_record(self, task, record, held, size):
        shown = display(names.task_name(self.array, task))
        if record["state"] == record_kinds.FAILED:
            self.failures = True
            log.warning("%s failed: %s", shown, record["reason"])
        ranges = self.ranges
        ranges.holder.retry_until_filed(
            lambda: ranges.journals.records.append(record, size=size),
            "record %s in %s" % (shown, display(ranges.journals.records.path)), held=held)

    def run_task(self, task, values, record):
        """Run one task (with its retries); record with its result."""
        ranges, spec, settings = self.ranges, self.spec, self.settings
        launcher = ranges.launcher
        workdir = launcher.workdir_of(settings, values, spec.names) if (
            settings.workdir or settings.logfile) else launcher.cwd
        view_path = ranges.scratch_path() if self.view else None
        argv = spec.command.argv(values, view_path)
        if settings.jobfile == "last" and not spec.command.uses_jobfile:
            argv.append(view_path)
        if self.view:
            ranges.write_view(spec, task, values, self.array, argv)
        extra = {"FJD_ARRAY": self.array, "FJD_TASK": str(task), "FJD_TASKS": str(spec.count)}
        if settings.python:  # (the call runner's environment is the worker's: these only)
            env = dict(extra, FJD_JOB_NAME=names.task_name(self.array, task),
                       FJD_ATTEMPT=str(record["attempt"]))
        else:
            env = launcher.job_env(names.task_name(self.array, task), record["attempt"],
                                   view_path, dict(zip(spec.names, values)), extra)
        result = launcher.run_with_retries(argv, workdir, env, settings)
        ended = time.time()
        reason = launcher.with_path_hint(result.reason, settings, spec.command.uses_jobfile,
                                         ranges.view_path, result.spans.get("stderr"))
        return with_resources(record_kinds.task_ran(
            record, result.exit_status, result.signal, reason, ended, result.spans,
            runs=result.runs, timed_out=result.timed_out), settings.request, launcher.resources)

    def give_back_rest(self, task, row_offset, interrupted, signalled=False):
        """Stopping in the middle of a range: the finished tasks go to arrays/, the one cut
        short (interrupted: it counts an attempt) and the rest back to jobqueue/."""
        self.record_done_run()
        queue_name, layout = self.queue_name, self.ranges.layout
        pieces = moves.given_back(queue_name, task, self.failures, row_offset, interrupted,
                                  self.ranges.inbox.handback_tag(signalled))
        inbox = self.ranges.inbox.path
        made = tickets.split(inbox, self.name, pieces)
        for new, piece in zip(made, pieces):
            try_rename(os.path.join(inbox, new), os.path.join(layout.folder(piece.folder), new))
        log.info("%s: tasks %d to %d back to jobqueue/", display(self.array), task,
                 queue_name.last)
        return None

    def cancel_rest(self, task):
        """`fjd cancel` of a range we are running: tasks not finished are cancelled."""
        self.record_done_run()
        queue_name, name, inbox = self.queue_name, self.name, self.ranges.inbox.path
        if task > queue_name.first:
            made = tickets.split(inbox, name,
                                 moves.cancel_split(queue_name, task, self.failures))
            try_rename(os.path.join(inbox, made[0]),
                       os.path.join(self.ranges.layout.arrays, made[0]))
            folders.rename(os.path.join(inbox, cancel_request(name)),
                           os.path.join(inbox, cancel_request(made[1])))
            name = made[1]
        return self.ranges.inbox.file_cancelled(name)
