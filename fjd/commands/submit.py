"""``fjd submit``: put jobs in the queue. The job options are shared with ``fjd run``."""
import argparse
import os
import sys
import time

from .. import dependencies, serving
from .submit_command import submit_command, take_command_after_dashes
from ..durations import parse_duration
from ..layout import display
from ..job_template import CONTROL_KEYS_WITH_OPTIONS, JobTemplate, parse_param
from ..submit import write_jobs
from .common import CommandError, add_command, add_common, open_queue, positive_int
from .resource_options import add_job_requests, request_control

EXAMPLES = """examples:
  fjd submit job0.conf job1.conf          queue copies of job files
  fjd submit --exe "python3 sim.py" -n 10 ten identical jobs
  fjd submit --exe 'python3 sim.py --alpha $alpha --seed {seed}' \\
             --param alpha=0.1,0.2 --param seed=1..5     ten jobs, one per combination
  (single quotes keep your shell from expanding $alpha itself)
  fjd submit --timeout 600 -- ./step.sh "a b" '$x'   one job running that command exactly

Job names sort in submission order: <UTC time>.<usec>-<nonce>-<number>-<label>. They are
printed one per line (the count goes to stderr). The queue root must exist (fjd run and the
daemons create one). Exit status: 0 queued, 1 the queue root is missing or could not be
written, 2 bad options (nothing queued)."""


def duration(text):
    try:
        parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error))
    return text.strip()


def key_value(text):
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError("%r is not KEY=VALUE" % text)
    return key.strip(), value


def add_job_options(parser, files_help):
    """The options that describe jobs: shared by `fjd submit` and `fjd run`."""
    group = parser.add_argument_group("jobs")
    group.add_argument("files", nargs="*", metavar="FILE", help=files_help)
    group.add_argument("--exe", "-e", metavar="CMD",
                       help="queue jobs that run CMD (no shell: it is split into words like "
                            "a shell would; the job file's path is added as last argument "
                            "unless CMD holds {jobfile} or --no-jobfile is given); it runs in "
                            "this directory unless --workdir says otherwise")
    group.add_argument("--repeat", "-n", type=positive_int, default=1, metavar="N",
                       help="queue each job (or parameter combination) N times (default: 1)")
    group.add_argument("--param", "-p", action="append", default=[], metavar="NAME=V1,V2,...",
                       help="one job per value; repeat the option for the cartesian product. "
                            "Values go under [params]; $NAME, ${NAME}, {NAME} and $1, $2 ... "
                            "(the 1st, 2nd ... --param) in CMD are replaced by them, "
                            "shell-quoted. 'a\\,b' is a literal comma, '1..10' a range, "
                            "'0..1:0.25' a range with a step")
    group.add_argument("--name", metavar="LABEL",
                       help="label at the end of the job names (default: job, or the file "
                            "name)")
    group.add_argument("--logfile", metavar="PATH",
                       help="[control] logfile: created before the run (placeholders allowed)")
    group.add_argument("--timeout", metavar="SECONDS",
                       help="[control] timeout: kill a run after this long")
    group.add_argument("--retries", metavar="N", help="[control] retries after a failed run")
    group.add_argument("--workdir", metavar="DIR",
                       help="[control] workdir: the job's working directory (default: the "
                            "directory this command runs in; a relative DIR is taken from "
                            "there; placeholders allowed)")
    group.add_argument("--no-jobfile", action="store_true",
                       help="do not add the job file's path to the command ([control] "
                            "jobfile: none), for programs that take no job file")
    group.add_argument("--control", action="append", default=[], type=key_value,
                       metavar="KEY=VALUE", help="any other [control] key (repeatable)")
    group.add_argument("--split", action="store_true",
                       help="one job file per task instead of one array file for the sweep")
    group.add_argument("--after", action="append", default=[], metavar="NAME",
                       help="start only once NAME (a job or array as fjd submit printed it, "
                            "or a task NAME#N) is done; if it fails or is cancelled, these "
                            "jobs are cancelled (repeatable; [control] after)")
    group.add_argument("--after-finished", action="append", default=[], metavar="NAME",
                       help="start once NAME has finished, whatever the outcome (repeatable; "
                            "[control] after_finished)")
    group.add_argument("--after-each", action="append", default=[], metavar="ARRAY",
                       help="(an array) task N starts once task N of ARRAY is done; it is "
                            "cancelled if that one fails ([control] after_each)")
    add_job_requests(parser).add_argument(
        "--time-request", type=duration, metavar="DURATION",
        help="how long each job (or task) may take, e.g. 20m, 1h30m, 1-00:00:00 ([control] "
             "time_request): it goes only to a worker with that much time left")


def has_job_options(args):
    return bool(args.files or args.exe is not None or args.param or args.control or
                args.repeat != 1 or args.name or args.no_jobfile or args.split or
                args.after or args.after_finished or args.after_each or
                bool(request_control(args)) or args.time_request is not None or
                any(getattr(args, k) is not None for k in CONTROL_KEYS_WITH_OPTIONS))


def template_from_args(args):
    """The JobTemplate of a command line; SubmitError (exit status 2) for bad options."""
    params = [parse_param(text, position) for position, text in enumerate(args.param, 1)]
    control = list(args.control) + request_control(args)
    if args.time_request is not None:
        control.append(("time_request", args.time_request))
    if args.no_jobfile:
        control.append(("jobfile", "none"))
    return JobTemplate(executable=args.exe, files=args.files, repeat=args.repeat,
                       params=params, name=args.name, logfile=args.logfile,
                       timeout=args.timeout, retries=args.retries, workdir=args.workdir,
                       control=control, split=args.split, submitted_from=os.getcwd())


def check_unused_params(template, command, no_jobfile):
    """A --param that no placeholder names reaches the program only through the job file's
    [params] and $FJD_PARAM_<name> (most often a shell replaced "$alpha"): with the job
    file appended, a warning; with --no-jobfile, refused (every task would run the same
    command), unless the command reads fjd's variables where one can see it ($$FJD_...)."""
    unused = template.unused_params()
    if unused and no_jobfile and "FJD_" not in (template.executable or ""):
        raise CommandError("no placeholder in the command uses --param %s, and --no-jobfile "
                           "gives the program no job file: every task would run the same "
                           "command (in double quotes, your shell replaces $%s before fjd "
                           "sees it: use single quotes; or pass it as an argument, {%s})"
                           % (unused[0], unused[0], unused[0]), 2)
    for name in unused:
        where = "$FJD_PARAM_%s" % name if no_jobfile else \
            "the job file's [params] and $FJD_PARAM_%s" % name
        sys.stderr.write("fjd %s: warning: no placeholder in the command uses --param %s, so "
                         "the program gets it only from %s (in double quotes, your shell "
                         "replaces $%s before fjd sees it: use single quotes)\n"
                         % (command, name, where, name))


def queue_from_args(args, command, layout, echo, announce=True):
    """Build and write the jobs of a submit/run command line; returns their names.

    The template is checked before anything is written (bad options queue nothing). When
    writing fails part-way, CommandError says how many jobs were queued."""
    template = template_from_args(args)
    check_unused_params(template, command, args.no_jobfile)
    out = sys.stdout
    on_name = (lambda n: out.write(n + "\n")) if echo else None
    started = time.monotonic()
    try:
        names = write_jobs(layout, template, on_name, after=dependencies.make(
            args.after, args.after_finished, args.after_each))
    except OSError as error:
        written = getattr(error, "written", [])
        where = display(error.filename) if error.filename else display(layout.jobqueue)
        raise CommandError("cannot write %s: %s (%d of %d files were queued)"
                           % (where, error.strerror or error, len(written),
                              template.file_count()))
    except KeyboardInterrupt as error:
        written = getattr(error, "written", [])
        raise CommandError("interrupted: %d of %d files were queued"
                           % (len(written), template.file_count()), 130)
    finally:
        if echo:
            out.flush()
    elapsed = time.monotonic() - started
    if announce:
        if template.is_array:
            what = "an array of %d tasks (%s#1 to #%d)" % (template.count(), names[0],
                                                           template.count())
        else:
            what = "%d job%s" % (len(names), "" if len(names) == 1 else "s")
        waits = dependencies.make(args.after, args.after_finished, args.after_each)
        where = "%s (waiting for %s)" % (display(layout.waiting), ", ".join(
            waits.targets())) if waits else display(layout.jobqueue)
        sys.stderr.write("fjd %s: queued %s in %s (%.2f s)\n"
                         % (command, what, where, elapsed))
    return names


def cmd_submit(args):
    if args.command_words is not None:  # fjd submit [options] -- COMMAND [ARG ...]
        return submit_command(args, template_from_args)
    template_from_args(args)  # bad options are reported before the root is looked at
    layout = open_queue(args.root, "submit", existing_folder=True)
    queue_from_args(args, "submit", layout, echo=not args.quiet, announce=not args.quiet)
    if not args.quiet:
        for problem in serving.problems({"dispatcher": serving.dispatcher_state(layout),
                                         "workers": {"gone_here": 0}}, True):
            sys.stderr.write("fjd submit: note: %s\n" % problem)
    return 0


def register(subparsers):
    parser = add_command(
        subparsers, "submit", cmd_submit, help="put jobs in the queue",
        description="Queue job files, or jobs that run a command (--exe): once, --repeat N\n"
                    "times, or once per combination of --param values. Each job is written\n"
                    "under a temporary dot-name and renamed into jobqueue/, so no half-written\n"
                    "job is ever taken.",
        epilog=EXAMPLES)
    add_job_options(parser, "job files (INI with a [control] section) to queue copies of")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="print nothing: neither the job names nor what was queued "
                             "(errors are still reported)")
    add_common(parser)
    take_command_after_dashes(parser)
