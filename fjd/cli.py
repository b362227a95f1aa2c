"""The ``fjd`` command (also ``python -m fjd``): one parser, subcommands from fjd.commands.

Every subcommand module has ``register(subparsers)``, which adds its parser with
``set_defaults(handler=...)``; a handler returns the exit status. Errors from the library
and the subcommands are turned into one line on stderr and an exit status here, and only
here.
"""
import argparse
import difflib
import importlib
import logging
import re
import sys

from . import __version__
from .commands import COMMANDS, module_of
from .commands.common import ROOT_HELP
from .errors import FjdError
from .layout import display

EPILOG = """The queue root is --root, else $FJD_ROOT, else the current directory.
Folders in it: jobqueue/ (waiting), workerqueue/ (idle workers), jobpod/ (inboxes),
done/, failed/, cancelled/, arrays/ (finished parts of arrays) and records/ (what
happened to each job).
`fjd COMMAND --help` explains each command."""


class FjdParser(argparse.ArgumentParser):
    """The top-level parser: a mistyped command gets a "did you mean"."""

    def error(self, message):
        wrong = re.search(r"argument COMMAND: invalid choice: '([^']*)'", message)
        if wrong:
            close = difflib.get_close_matches(wrong.group(1), COMMANDS, n=1)
            message = "unknown command %r%s; `fjd --help` lists them" % (
                wrong.group(1), " (did you mean %s?)" % close[0] if close else "")
        super().error(message)


def build_parser(script=None, argv=None):
    """The parser; script: the 2012 entry point it is run as (`python dispatcher.py`), whose
    command's usage line then names the script. argv: the command line, when only the
    module of its command is to be imported (commands.module_of)."""
    parser = FjdParser(
        prog="fjd", description="fjd: file-based job distribution over a shared folder.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version="fjd " + __version__)
    parser.add_argument("--root", metavar="DIR", help=ROOT_HELP)
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="how much the daemons log to stderr (default: INFO)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    only = module_of(argv) if script is None and argv is not None else None
    for name in [only] if only else COMMANDS:
        importlib.import_module("fjd.commands." + name).register(commands)
    if script is not None:
        name, path = script
        commands.choices[name].prog = "python %s" % path
    return parser


def setup_logging(level, role):
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s " + role + "[%(process)d] %(levelname)s %(message)s",
        datefmt="%H:%M:%S", stream=sys.stderr)


def describe_os_error(error):
    where = " %s:" % display(error.filename) if getattr(error, "filename", None) else ""
    return "%s %s" % (where, error.strerror or error)


def main(argv=None, script=None):
    """script: (command, path) when run as a 2012 entry point (dispatcher.py, worker.py)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(script, argv)
    args, unknown = parser.parse_known_args(argv)
    if args.command is None:
        if unknown:
            parser.error("unrecognized arguments: %s" % " ".join(unknown))
        parser.print_help(sys.stderr)
        return 2
    command_parser = getattr(args, "command_parser", parser)
    if unknown:
        # the subcommand's own usage line, not the top-level one
        command_parser.error("unrecognized arguments: %s" % " ".join(unknown))
    if getattr(args, "daemon", False):
        from .waker import catch_stop_signals_early
        catch_stop_signals_early()
    setup_logging(args.log_level, args.command)
    label = "fjd " + getattr(args, "command_label", args.command)
    try:
        return args.handler(args)
    except FjdError as error:
        sys.stderr.write("%s: %s\n" % (label, error.message))
        return error.status
    except BrokenPipeError:
        return 0  # the reader went away (`fjd status | head`)
    except OSError as error:
        sys.stderr.write("%s:%s\n" % (label, describe_os_error(error)))
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("%s: interrupted\n" % label)
        return 130
