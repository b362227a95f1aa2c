"""What every subcommand shares: argument types, the queue root, worker options, one error.

Library modules raise (``QueueError``, ``SubmitError``, ``OSError``); a subcommand raises
``CommandError`` for anything else it wants to refuse. ``fjd.cli.main`` catches all of them in
one place and turns them into a one-line message and an exit status.
"""
import argparse
import os
import pwd
import sys

from .. import defaults
from ..errors import FjdError
from ..layout import Layout, display
from ..errors import QueueError


class CommandError(FjdError):
    """A command cannot go on; message is for a person, status is the exit status."""


# -- argument types -----------------------------------------------------------------------

def nonnegative(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text)
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError("%r must not be negative" % text)
    return value


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    if value < 1:
        raise argparse.ArgumentTypeError("%r must be at least 1" % text)
    return value


def size(text):
    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    raw = text.strip().lower().rstrip("b")
    factor = units.get(raw[-1:], 1)
    try:
        return int(float(raw.rstrip("kmg")) * factor)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a size such as 16M" % text)


def user(text):
    """A user name or uid that exists on this host (kept as given)."""
    if not text.isdigit():
        try:
            pwd.getpwnam(text)
        except KeyError:
            raise argparse.ArgumentTypeError("%r: no such user on this host" % text)
    return text


# -- options every command has -------------------------------------------------------------

ROOT_HELP = "queue root (default: $FJD_ROOT, else the current directory)"


def add_common(parser):
    """--root and --log-level. SUPPRESS keeps a value given before the subcommand
    (`fjd --root DIR status`) from being reset by the subcommand's default."""
    parser.add_argument("--root", metavar="DIR", default=argparse.SUPPRESS, help=ROOT_HELP)
    parser.add_argument("--log-level", default=argparse.SUPPRESS,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="how much to log to stderr (default: INFO)")


def add_command(subparsers, name, handler, help, description, epilog=None, label=None,
                daemon=False):
    """A subcommand's parser, set up the same way for every command: its handler, its own
    usage line for errors, the common options."""
    parser = subparsers.add_parser(name, help=help, description=description, epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=handler, command_parser=parser,
                        command_label=label or name, daemon=daemon)
    return parser


def open_queue(root, command, create=False, existing_folder=False):
    """The Layout of the queue root; CommandError (status 1) when it cannot be one.

    By default the root must be a queue already (it has jobqueue/). existing_folder: an
    existing folder will do too, its queue folders are made (`fjd submit` into a new
    folder), but not a folder of other files named with --root or FJD_ROOT (a mistyped
    root); the current directory is made a queue, as the 2012 dispatcher made it.
    create (the daemons and `fjd run`): a missing root is made, and said so on stderr.
    A mistyped --root thus never silently becomes a new queue for a command that only
    reads a queue or adds to one.
    """
    layout = Layout(root)
    if not os.path.isdir(layout.root):
        if os.path.lexists(layout.root):
            raise CommandError("the queue root %s is not a folder" % display(layout.root))
        if not create:
            raise CommandError("the queue root %s does not exist (use --root DIR or set "
                               "FJD_ROOT; `fjd run` and the daemons create a new one)"
                               % display(layout.root))
        os.makedirs(layout.root, 0o755, exist_ok=True)
        sys.stderr.write("fjd %s: created the queue root %s\n" % (command, display(layout.root)))
    if existing_folder:
        named = root is not None or bool(os.environ.get("FJD_ROOT"))
        if named and not os.path.isdir(layout.jobqueue) and other_entries(layout):
            raise CommandError(
                "%s is not a queue root: it has no jobqueue/ folder, and other files (give "
                "a new or empty folder with --root, or start `fjd dispatcher --root DIR` "
                "there to make it a queue)" % display(layout.root))
        ensure_queue(layout)  # (the daemons make their folders themselves, waiting out
        # a full disk or a missing mount; fjd run's daemons and its submit do too)
    elif not create and not os.path.isdir(layout.jobqueue):
        raise CommandError("%s is not a queue root: it has no jobqueue/ folder (use --root "
                           "DIR or set FJD_ROOT)" % display(layout.root))
    return layout


def other_entries(layout):
    """Whether the root holds anything but dot-files and the queue's own folders."""
    try:
        return any(not name.startswith(".") and name not in layout.folder_names
                   for name in os.listdir(layout.root))
    except OSError:
        return False


def ensure_queue(layout):
    """Make the queue's folders; a QueueError (a file where a folder belongs, say) becomes a
    CommandError."""
    try:
        layout.ensure()
    except QueueError as error:
        raise CommandError(str(error))


# -- worker options: one definition for `fjd worker`, `fjd run` and `fjd workers start` ------

def add_worker_options(parser, forwarded=False):
    """The options a worker takes. forwarded: for commands that start workers, where a
    missing option means "the worker's default" rather than a value of ours."""
    def default(value):
        return None if forwarded else value
    group = parser.add_argument_group("worker options")
    group.add_argument("--grace", type=nonnegative, default=default(defaults.GRACE),
                       metavar="SECONDS",
                       help="on stop, seconds between SIGTERM and SIGKILL for a running job "
                            "(default: %g)" % defaults.GRACE)
    group.add_argument("--allow-user", action="append", default=[], metavar="USER",
                       type=user,
                       help="also run job files owned by USER (repeatable; by default only "
                            "files owned by the worker's own user run)")
    group.add_argument("--lifetime", type=nonnegative, metavar="SECONDS",
                       help="stop (as on SIGTERM) after this many seconds, e.g. before a "
                            "batch allocation ends")
    group.add_argument("--max-job-size", type=size, default=default(defaults.MAX_JOB_BYTES),
                       metavar="SIZE",
                       help="larger job files fail unread (default: %dM)"
                            % (defaults.MAX_JOB_BYTES // 2 ** 20))
    return group


def worker_option_argv(args):
    """The `fjd worker` arguments for the worker options given to a starting command."""
    argv = []
    if getattr(args, "lifetime", None) is not None:
        argv += ["--lifetime", "%g" % args.lifetime]
    if getattr(args, "grace", None) is not None:
        argv += ["--grace", "%g" % args.grace]
    if getattr(args, "max_job_size", None) is not None:
        argv += ["--max-job-size", str(args.max_job_size)]
    for name in getattr(args, "allow_user", None) or []:
        argv += ["--allow-user", name]
    return argv


def plural(count, word, suffix="s"):
    return "%d %s%s" % (count, word, "" if count == 1 else suffix)
