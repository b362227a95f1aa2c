"""Running one job file: read it, run its command (with its retries), file the result in
done/ or failed/ (records.Filing, retried until filed). A job that deletes or renames its
own job file is filed anyway, never run again for it."""
import logging
import os
import time

from .. import arrays, folders, record_kinds, records
from ..execute import Cancelled, Interrupted, JobSignalled, Withdrawn
from ..jobfile import JobError, command_line, load
from ..layout import display
from ..resources import with_resources
from ..fsops import write_file_atomic

log = logging.getLogger("fjd.worker")


def with_result(record, result, reason, files):
    """A job's record with a run's result (a RunResult; files: its output went to files,
    so the record has no spans of the output journals)."""
    return record_kinds.job_ran(record, result.exit_status, result.signal, reason,
                                timed_out=result.timed_out,
                                spans=None if files else result.spans, runs=result.runs)


class SingleJobs:
    """Runs the single jobs of the inbox (an array file found among them goes to ranges)."""

    def __init__(self, layout, presence, holder, journals, launcher, inbox, ranges,
                 max_job_bytes):
        self.layout = layout
        self.presence = presence
        self.holder = holder
        self.journals = journals
        self.launcher = launcher
        self.inbox = inbox
        self.ranges = ranges
        self.max_job_bytes = max_job_bytes

    def run_job(self, name, queue_name):
        """Run a single job file and file it. On a shared mount the job file stays open
        between its read and its filing, which links it by its descriptor
        (records.OpenSource: one lookup less on the file server)."""
        opened = records.OpenSource(None)
        try:
            return self.run_opened_job(name, queue_name, opened)
        finally:
            opened.close()

    def run_opened_job(self, name, queue_name, opened):
        path = os.path.join(self.inbox.path, name)
        original = queue_name.original
        started = time.time()
        presence = self.presence
        record = record_kinds.job_started(name, original, presence.batch_run(),
                                          presence.worker_id, presence.host, presence.pid,
                                          queue_name.attempts + 1, started)
        spec = None
        try:
            spec = load(path, self.max_job_bytes, keep_open=self.layout.shared,
                        splice=self.layout.fuse)
            opened.fd = spec.fd
            self.launcher.check_owner(spec.owner_uid)
            if arrays.declared_kind(spec.data[:arrays.MAX_HEADER]):
                opened.close()
                return self.ranges.adopt_array(name, queue_name)
            workdir = self.launcher.workdir_of(spec.settings)
        except JobError as error:
            if not folders.lexists(path):
                return None  # taken away before it started: nothing ran
            record = record_kinds.job_not_run(record, str(error))
            return self.finish_job(path, name, original, record_kinds.FAILED, record, started,
                                   spec, opened=opened)
        except FileNotFoundError:
            return None
        return self.run_loaded(name, queue_name, path, spec, workdir, record, opened)

    def run_loaded(self, name, queue_name, path, spec, workdir, record, opened):
        """Run a job file read and checked, and file its result."""
        settings = spec.settings
        original = queue_name.original
        argv = command_line(spec.argv, path, settings.jobfile)
        env = self.launcher.job_env(original, record["attempt"], path, spec.params)
        record = record_kinds.job_command(record, argv, workdir, settings.timeout,
                                          settings.retries)
        record = with_resources(record, settings.request, self.launcher.resources)
        files = settings.output == "files"
        self.presence.start_job(name)
        if self.presence.waker.stopping:  # asked to stop before it started: it did not run
            self.inbox.hand_back(name, "not started")
            return None
        try:
            result = self.launcher.run_with_retries(argv, workdir, env, settings, files,
                                                    original)
        except (Interrupted, JobSignalled) as stop:
            # a deliberate stop (Ctrl-C, `fjd workers stop`, the end of an allocation) is
            # no attempt of the job's; a job that signalled its own worker made one
            signalled = isinstance(stop, JobSignalled)
            self.launcher.discard_output_files()
            self.inbox.hand_back(name, str(stop) or "worker stopping; its run was interrupted",
                                 attempts=queue_name.attempts + signalled, signalled=signalled)
            return None
        except Cancelled:
            self.launcher.discard_output_files()
            return self.inbox.file_cancelled(name, ran=True)
        except Withdrawn as why:
            self.launcher.discard_output_files()
            log.warning("%s: %s; its process group was killed", display(original), why)
            return None
        reason = self.launcher.with_path_hint(result.reason, settings,
                                              "{jobfile}" in spec.executable, path,
                                              result.spans.get("stderr"))
        record = with_result(record, result, reason, files)
        state = record_kinds.DONE if result.succeeded else record_kinds.FAILED
        outputs = self.launcher.output_files() if files else None
        return self.finish_job(path, name, original, state, record, record["start"], spec,
                               outputs, opened)

    def finish_job(self, path, name, original, state, record, started, spec, outputs=None,
                   opened=None):
        ended = time.time()
        record = record_kinds.job_ended(record, ended, started)
        filing = records.Filing(self.layout, self.journals.records, path, original, state,
                                record, outputs, opened=opened)
        final = self.holder.file(filing, ended - started)
        if filing.vanished and spec is not None:
            return self.file_vanished(name, original, state, record, started, spec)
        return final

    def file_vanished(self, name, original, state, record, started, spec):
        """The job file left the inbox while the job ran, and nobody in fjd moved it (a
        cancel goes through the worker; the dispatcher takes whole inboxes only): the job
        itself deleted or renamed it. It is filed anyway, never run again for it."""
        self.presence.beat(force=True)
        if self.presence.buried:
            log.warning("%s: this worker was presumed dead and the job handed back; its "
                        "result is dropped", display(original))
            return None
        renamed = self.find_renamed(spec.inode, spec.data)
        if renamed is not None:
            note = "the job renamed its own job file to %s while running" % display(renamed)
            path = os.path.join(self.inbox.path, renamed)
        else:
            note = ("the job deleted (or moved away) its own job file while running; fjd "
                    "filed the copy it had read")
            path = os.path.join(self.inbox.path, ".restored-%d" % self.presence.runs)
            self.holder.retry_until_filed(lambda: write_file_atomic(path, spec.data),
                                          "restore the job file of %s" % display(original))
        record = record_kinds.job_noted(record, note)
        log.warning("%s: %s", display(original), note)
        filing = records.Filing(self.layout, self.journals.records, path, original, state,
                                record)
        return self.holder.file(filing, time.time() - started)

    def find_renamed(self, inode, data):
        """A name in our inbox that is the job file we ran (its inode, and its content)."""
        for other in self.layout.inbox_jobs(self.presence.worker_id, fresh=True) or []:
            path = os.path.join(self.inbox.path, other)
            try:
                info = os.lstat(path)
                if info.st_ino == inode and info.st_size == len(data):
                    with open(path, "rb") as handle:
                        if handle.read() == data:
                            return other
            except OSError:
                continue
        return None
