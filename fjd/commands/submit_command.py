"""``fjd submit [job options] -- COMMAND [ARG ...]``: the command-line side (fjd/command_job.py
writes the job). Workflow managers call it once per job and read the job's name, alone, on
stdout; that name is what ``fjd state``, ``fjd wait``, ``fjd cancel`` and ``fjd show`` take.
"""
import os
import sys

from .. import dependencies
from ..command_job import CommandJob
from ..errors import SubmitError
from ..layout import display
from ..submit import write_jobs
from .common import CommandError, open_queue

DASHES = "--"
NOT_WITH_COMMAND = (("files", "job files"), ("exe", "--exe"), ("param", "--param"),
                    ("split", "--split"))  # (--no-jobfile is taken: it is so anyway)


def take_command_after_dashes(parser):
    """Make parser keep everything after the first ``--`` as args.command_words (None when
    there is no ``--``), word for word: argparse alone would mix those words with the job
    files and drop a second ``--``."""
    parse_known_args = parser.parse_known_args

    def split_then_parse(args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        words = None
        if DASHES in args:
            at = args.index(DASHES)
            args, words = args[:at], args[at + 1:]
        namespace, unknown = parse_known_args(args, namespace)
        namespace.command_words = words
        return namespace, unknown
    parser.parse_known_args = split_then_parse


def command_job(args, template_from_args):
    """The CommandJob of `fjd submit [options] -- COMMAND ...`; SubmitError for options that
    make no sense with a command given this way. template_from_args checks the job options
    as for --exe and gives the [control] keys they make (resources included)."""
    for attribute, option in NOT_WITH_COMMAND:
        if getattr(args, attribute, None):
            raise SubmitError("%s and a command after -- do not go together" % option)
    if args.repeat != 1:
        raise SubmitError("--repeat and a command after -- do not go together (submit it "
                          "once per job)")
    args.exe = "true"  # (a stand-in: only the options are looked at)
    options = template_from_args(args)
    args.exe = None
    control = [(key, value) for key, value in options.control
               if key not in ("workdir", "jobfile")]
    return CommandJob(args.command_words, os.getcwd(), name=args.name,
                      workdir=args.workdir, control=control)


def submit_command(args, template_from_args):
    """Queue the job and print its name alone (nothing on stderr unless something is
    wrong: this runs once per job of a workflow)."""
    job = command_job(args, template_from_args)
    layout = open_queue(args.root, "submit", existing_folder=True)
    after = dependencies.make(args.after, args.after_finished, args.after_each)
    try:
        names = write_jobs(layout, job, after=after)
    except OSError as error:
        where = display(error.filename) if error.filename else display(layout.jobqueue)
        raise CommandError("cannot write %s: %s (nothing was queued)"
                           % (where, error.strerror or error))
    if not args.quiet:
        sys.stdout.write(names[0] + "\n")
    return 0
