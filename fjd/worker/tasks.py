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
from ..layout import cancel_request, display
from ..fsops import try_rename
from ..statx import cached_stat

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

    def run(self, fd):
        """Run the tasks in turn; stops early when cancelled, taken away or stopping."""
        queue_name, presence = self.queue_name, self.ranges.presence
        last_check = self.started = time.monotonic()
        for task, values, error, row_offset in self.spec.iter_tasks(
                fd, queue_name.first, queue_name.last, queue_name.offset):
            now = time.monotonic()
            if now - last_check >= self.ranges.launcher.runner.tick_every:
                last_check = now
                why = presence.tick()
                if isinstance(why, Cancelled):
                    return self.cancel_rest(task)
                if why is not None:
                    log.warning("%s: %s", display(self.name), why)
                    return None
            if presence.waker.stopping:
                return self.give_back_rest(task, row_offset, interrupted=False)
            record = self.task_record(task)
            if error is not None:
                record = record_kinds.task_not_run(record, str(error), record["start"])
            else:
                try:
                    record = self.run_task(task, values, record)
                except (Interrupted, JobSignalled) as stop:
                    log.info("%s: %s", display(names.task_name(self.array, task)),
                             stop or "interrupted")
                    return self.give_back_rest(task, row_offset, interrupted=True,
                                               signalled=isinstance(stop, JobSignalled))
                except Cancelled:
                    return self.cancel_rest(task)
                except Withdrawn as why:
                    log.warning("%s: %s", display(self.name), why)
                    return None
            self.file_task(task, record)
        self.ranges.finish_range(self.name, queue_name, self.failures)
        return None

    def task_record(self, task):
        attempt = self.queue_name.attempts + 1 if task == self.queue_name.first else 1
        return record_kinds.task_started(self.array, self.queue_name.uid, task, self.run_id,
                                         attempt, time.time())

    def file_task(self, task, record):
        """The task's record into the journal (until it is there), and ask for more work
        when the batch nears its end."""
        shown = display(names.task_name(self.array, task))
        if record["state"] == record_kinds.FAILED:
            self.failures = True
            log.warning("%s failed: %s", shown, record["reason"])
        ranges = self.ranges
        ranges.holder.retry_until_filed(
            lambda: ranges.journals.records.append(record),
            "record %s in %s" % (shown, display(ranges.journals.records.path)), held=record)
        ranges.holder.count_finished()
        self.ran += 1
        ranges.ask_near_the_end(self.started, self.ran, self.queue_name.last - task)

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
        env = launcher.job_env(names.task_name(self.array, task), record["attempt"], view_path,
                               dict(zip(spec.names, values)),
                               {"FJD_ARRAY": self.array, "FJD_TASK": str(task),
                                "FJD_TASKS": str(spec.count)})
        result = launcher.run_with_retries(argv, workdir, env, settings)
        ended = time.time()
        reason = launcher.with_path_hint(result.reason, settings, spec.command.uses_jobfile,
                                         ranges.view_path, result.spans.get("stderr"))
        return record_kinds.task_ran(record, result.exit_status, result.signal, reason, ended,
                                     result.spans, runs=result.runs,
                                     timed_out=result.timed_out)

    def give_back_rest(self, task, row_offset, interrupted, signalled=False):
        """Stopping in the middle of a range: the finished tasks go to arrays/, the one cut
        short (interrupted: it counts an attempt) and the rest back to jobqueue/."""
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
