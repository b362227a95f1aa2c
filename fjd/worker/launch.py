"""Launching a job's command for the worker: whose files it runs, its environment and
working directory, where its output goes, and running it (with its retries) through
execute.Runner."""
import json
import logging
import os
import pwd

from .. import folders, placeholders, record_search
from ..jobfile import JobError
from ..layout import display, user_name
from ..errors import QueueError
from ..resources import Resources
from .calls import CallHost
from .outcomes import RunResult, with_runs

log = logging.getLogger("fjd.worker")

STDOUT_FILE, STDERR_FILE = ".stdout", ".stderr"  # outputs of jobs with [control] output: files
APPENDED_HINT = (" (fjd added the job file's path as the last argument; for a command that "
                 "takes none, set [control] jobfile: none (fjd submit --no-jobfile), or place "
                 "it with {jobfile})")


def uid_of(user):
    if str(user).isdigit():
        return int(user)
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise QueueError("--allow-user %s: no such user" % user, 2)


def json_text(params):
    return json.dumps(params, ensure_ascii=False)


def touch_logfile(path, shown):
    """Create the job's logfile (and its folder) before the run, as the 2012 worker did."""
    try:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        fd = folders.open_at(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY, 0o644)
        os.close(fd)
    except OSError as error:
        raise JobError("cannot create logfile %s: %s" % (shown, error.strerror))


class Launcher:
    """Starts commands for the worker (one at a time) and says how each run went."""

    def __init__(self, layout, presence, journals, allow_users=()):
        self.layout = layout
        self.presence = presence  # (for the worker's id and inbox)
        self.journals = journals
        self.allowed_uids = {os.geteuid()} | {uid_of(u) for u in allow_users}
        self.cwd = os.getcwd()
        self.base_env = dict(os.environ)
        self.runner = None  # an execute.Runner, made when the worker starts
        self.resources = Resources()  # what the worker owns (the worker sets it)
        self.calls = CallHost(self)  # ([control] python: calls; its runner starts lazily)

    def check_owner(self, uid):
        if uid not in self.allowed_uids:
            raise JobError("the job file belongs to %s; this worker runs only files of %s "
                           "(see --allow-user)" % (user_name(uid), ", ".join(
                               sorted(user_name(u) for u in self.allowed_uids))))

    def job_env(self, name, attempt, path, params, extra=None):
        env = dict(self.base_env)
        env.update(FJD_JOB_NAME=name, FJD_WORKER_ID=self.presence.worker_id,
                   FJD_ATTEMPT=str(attempt), FJD_ROOT=self.layout.root, FJD_JOB_FILE=path or "",
                   FJD_PARAMS=json_text(params))
        for key, value in params.items():
            if key.isidentifier():
                env["FJD_PARAM_" + key] = value
        if extra:
            env.update(extra)
        return env

    def workdir_of(self, settings, values=None, names_=()):
        workdir = settings.workdir
        if workdir and values is not None:
            workdir = placeholders.fill_text(workdir, names_, values)
        path = os.path.join(self.cwd, workdir) if workdir else self.cwd
        # (our own directory is not looked at for every job: on a shared mount that is a
        # request to the file server, and a command started there needs no chdir)
        if workdir and not os.path.isdir(path):
            raise JobError("[control] workdir %s is not a directory" % workdir)
        if settings.logfile:
            logfile = settings.logfile
            if values is not None:
                logfile = placeholders.fill_text(logfile, names_, values)
            touch_logfile(os.path.join(path, logfile), logfile)
        return path

    def run_with_retries(self, argv, workdir, env, settings, files=False, name=None):
        """Run argv, again up to [control] retries times while it fails (and can start);
        the last RunResult, with the summaries of all runs when there were several. name:
        the job's, to log each retry."""
        if settings.python:
            return self.run_calls(argv, env, settings)
        results = []
        env = self.resources.environment(env, settings.request)
        for number in range(1, settings.retries + 2):
            result = self.execute(argv, workdir, env, settings.timeout, files,
                                  settings.request.memory)
            results.append(result)
            if result.final:
                break
            if name is not None and number <= settings.retries:
                log.info("%s: %s; retry %d of %d", display(name), result.reason, number,
                         settings.retries)
        return with_runs(results)

    def run_calls(self, argv, env, settings):
        """A Python call ([control] python: calls), by the worker's call runner."""
        out, err = self.journals.out, self.journals.err
        out.fileno(), err.fileno()
        results = []
        for number in range(1, settings.retries + 2):
            out_start, err_start = out.size, err.size
            outcome = self.calls.run(argv, env, settings.timeout, number > settings.retries,
                                     ahead=not settings.retries)
            results.append(RunResult.of(outcome, {"stdout": out.span(out_start),
                                                  "stderr": err.span(err_start)}))
            if outcome["exit_status"] == 0:
                break
        return with_runs(results)

    def execute(self, argv, workdir, env, timeout, files, memory=None):
        """Run argv once, its output in the output journals (or, files: in .stdout and
        .stderr in the inbox); a RunResult."""
        if files:
            inbox = self.presence.inbox
            out = folders.open_at(os.path.join(inbox, STDOUT_FILE),
                                  os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            err = folders.open_at(os.path.join(inbox, STDERR_FILE),
                                  os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                outcome = self.runner.run(argv, workdir, env, workdir == self.cwd, timeout,
                                          out, err, memory)
            finally:
                os.close(out)
                os.close(err)
            return RunResult.of(outcome, {})
        out, err = self.journals.out, self.journals.err
        out_fd, err_fd = out.fileno(), err.fileno()
        out_start, err_start = out.size, err.size
        outcome = self.runner.run(argv, workdir, env, workdir == self.cwd, timeout, out_fd,
                                  err_fd, memory)
        spans = {"stdout": out.span(out_start), "stderr": err.span(err_start)}
        if outcome.get("lingering"):
            # a process of the job lives on and may still write: its output is everything
            # from where it began to the end of these files, and later jobs get new ones
            spans = {"stdout": [out.name, out_start, None],
                     "stderr": [err.name, err_start, None]}
            out.rotate()
            err.rotate()
        return RunResult.of(outcome, spans)

    def output_files(self):
        return {"stdout": os.path.join(self.presence.inbox, STDOUT_FILE),
                "stderr": os.path.join(self.presence.inbox, STDERR_FILE)}

    def discard_output_files(self):
        for leftover in (STDOUT_FILE, STDERR_FILE):
            try:
                folders.unlink(os.path.join(self.presence.inbox, leftover))
            except OSError:
                pass

    def sender_is_our_job(self, pid):
        """What a stop signal's sender is, when it is a process of the running job."""
        job = self.runner.current_pid if self.runner else None
        if not job:
            return None
        try:
            if pid == job or os.getpgid(pid) == job or os.getsid(pid) == job:
                return "a process of its own job (pid %d)" % pid
        except OSError:
            pass
        return None

    def with_path_hint(self, reason, settings, placed, path, stderr_span):
        """reason, with APPENDED_HINT when a failed command complained about the job file
        path fjd appended (a command that takes no job file, such as `sleep 0.5`, rejects
        the extra argument)."""
        if reason and settings.jobfile == "last" and not placed and path and \
                self.mentions(stderr_span, path):
            return reason + APPENDED_HINT
        return reason

    def mentions(self, span, text):
        """Whether the last part of a job's stderr mentions text (a path, say)."""
        if not span:
            return False
        try:
            tail = record_search.read_output(self.layout, [span[0], max(span[1], span[1] + (
                span[2] or 0) - 8192), min(span[2] or 8192, 8192)])
        except OSError:
            return False
        return os.fsencode(text) in tail
