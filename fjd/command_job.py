"""``fjd submit [options] -- COMMAND [ARG ...]``: one job that runs a command exactly as given.

Workflow managers and scripts hand fjd a ready argument list (Snakemake: the path of a job
script). Nothing in it is fjd's: no placeholders are filled in, no job file is appended, and
the words reach the program as they were given. The job file says so in ``[control]``::

    executable: /home/me/wf/.snakemake/tmp.x1/snakejob.a.3.sh
    jobfile: none
    workdir: /home/me/wf

``executable`` is the argument list quoted with shlex (the worker splits it back into the
same words). Two things cannot come back whole that way: a line break inside a word (a job
file's value is one line) and ``{jobfile}`` inside a word (the worker fills in the job file's
path there). Then ``[control] argv`` holds the words as a JSON list, which the worker runs
instead, and ``executable`` is only there for people to read.
"""
import json
import os
import shlex

from .errors import SubmitError
from .job_template import JobTemplate, check_value, clean_label
from .jobfile import ARGV_KEY, JOBFILE_PLACEHOLDER

_NEEDS_ARGV = ("\n", "\r", JOBFILE_PLACEHOLDER)


def command_words(argv, cwd):
    """The words to run: a COMMAND that names a file in cwd (``./run.sh``, ``sub/x.sh``,
    ``run.sh`` when such a file is there) becomes its absolute path, so that it is run where
    it lies whatever the job's working directory; anything else is found in PATH by the
    worker, as a shell would."""
    if not argv or argv[0] == "":
        raise SubmitError("no command after --: give the program to run and its arguments")
    for word in argv:
        if "\0" in word:
            raise SubmitError("an argument cannot contain a NUL byte")
    program = argv[0]
    if not os.path.isabs(program):
        candidate = os.path.join(cwd, program)
        if os.sep in program or os.path.isfile(candidate):
            program = os.path.normpath(candidate)
    return [program] + list(argv[1:])


def control_lines(words):
    """[(key, value)] of the [control] keys that make a worker run exactly words."""
    shown = shlex.join(words)
    lines = []
    if any(mark in word for word in words for mark in _NEEDS_ARGV):
        lines.append((ARGV_KEY, json.dumps(words)))
        shown = shown.replace("\n", "\\n").replace("\r", "\\r")
    return [("executable", shown)] + lines + [("jobfile", "none")]


class CommandJob(JobTemplate):
    """A JobTemplate for one job running an argument list as it is: the [control] options
    (timeout, retries, after ..., resources) are checked as for --exe, the executable is
    written here (never parsed for placeholders)."""

    def __init__(self, argv, cwd, name=None, workdir=None, **options):
        self.words = command_words(argv, cwd)
        self.workdir = os.path.normpath(os.path.join(cwd, workdir)) if workdir else cwd
        check_value(self.workdir, "the working directory")  # (taken as it is: no placeholders)
        super().__init__(executable="true", name=name, **options)
        self.control.append(("workdir", self.workdir))

    def label(self):
        return clean_label(self.name or os.path.basename(self.words[0]))

    def control_head(self):
        return self._ini("-", self.control, []).encode("utf-8", "surrogateescape")

    def contents(self):
        lines = ["[control]"] + ["%s: %s" % kv for kv in control_lines(self.words)]
        lines += ["%s: %s" % kv for kv in self.control]
        yield self.label(), ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
