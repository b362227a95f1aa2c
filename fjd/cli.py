"""The ``fjd`` command: ``fjd dispatcher``, ``fjd worker`` (and ``python -m fjd``)."""
import argparse
import importlib
import logging
import sys

from . import __version__

EPILOG = """The queue root is --root, else $FJD_ROOT, else the current directory.
Folders in it: jobqueue/ (waiting), workerqueue/ (idle workers), jobpod/ (inboxes),
done/, failed/ and records/ (one NAME.json, NAME.out, NAME.err per finished job)."""


# Modules that add subcommands: each has register(subparsers, add_common), which adds its
# parser(s) with set_defaults(func=handler); handler(args) returns the exit status.
EXTRA_COMMANDS = ["submit", "status", "control", "run", "recruit"]


# Argument types and helpers that the command modules import from here (this module imports
# them only inside build_parser(), so there is no import cycle).

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


def open_queue(root, command):
    """The Layout of root, or None after saying on stderr why root is not a queue root
    (the command then exits with status 1)."""
    from .layout import Layout
    from .status import check_queue
    layout = Layout(root)
    problem = check_queue(layout, command)
    if problem:
        sys.stderr.write(problem + "\n")
        return None
    return layout


def add_common(parser):
    parser.add_argument("--root", metavar="DIR",
                        help="queue root (default: $FJD_ROOT, else the current directory)")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="how much to log to stderr (default: INFO)")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fjd", description="fjd: file-based job distribution over a shared folder.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version="fjd " + __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    dispatcher = commands.add_parser(
        "dispatcher", help="hand queued jobs to idle workers",
        description="Poll jobqueue/ and workerqueue/ and move each job into an idle worker's "
                    "inbox with an atomic rename. Stop with Ctrl-C or SIGTERM.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(dispatcher)
    dispatcher.add_argument("--interval", type=nonnegative, default=0.05, metavar="SECONDS",
                            help="seconds between polls when idle (default: 0.05)")
    dispatcher.add_argument("--settle", type=nonnegative, default=1.0, metavar="SECONDS",
                            help="where the kernel cannot tell whether a job file is still "
                                 "open for writing (NFS, sshfs), take it once unchanged this "
                                 "long (default: 1)")
    dispatcher.add_argument("--worker-timeout", type=nonnegative, default=8.0,
                            metavar="SECONDS",
                            help="a worker (or dispatcher lock) whose heartbeat has not changed "
                                 "for this long, on this dispatcher's own clock, is dead; its "
                                 "jobs go back to jobqueue/ (default: 8)")
    dispatcher.add_argument("--max-attempts", type=int, default=3, metavar="N",
                            help="a job whose worker died while running it N times goes to "
                                 "failed/ (default: 3)")
    dispatcher.add_argument("--exit-when-done", action="store_true",
                            help="exit once jobqueue/ and all inboxes are empty")

    worker = commands.add_parser(
        "worker", help="run jobs handed to this worker",
        description="Announce in workerqueue/, run each job that arrives in jobpod/<id>/ "
                    "and file it in done/ or failed/. On Ctrl-C or SIGTERM a running job's "
                    "process group is terminated and the job goes back to jobqueue/.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(worker)
    worker.add_argument("--interval", type=nonnegative, default=0.05, metavar="SECONDS",
                        help="seconds between polls of the inbox when idle (default: 0.05)")
    worker.add_argument("--grace", type=nonnegative, default=3.0, metavar="SECONDS",
                        help="on stop, seconds between SIGTERM and SIGKILL for a running job "
                             "(default: 3)")
    worker.add_argument("--max-job-size", type=size, default="16M", metavar="SIZE",
                        help="larger job files fail unread (default: 16M)")
    worker.add_argument("--allow-user", action="append", default=[], metavar="USER",
                        help="also run job files owned by USER (repeatable; by default only "
                             "files owned by the worker's own user run)")
    worker.add_argument("--lifetime", type=nonnegative, metavar="SECONDS",
                        help="stop (as on SIGTERM) after this many seconds, e.g. before a "
                             "batch allocation ends")
    worker.add_argument("--id", dest="worker_id", metavar="ID",
                        help="worker id (default: host-pid-random)")
    for module_name in EXTRA_COMMANDS:
        importlib.import_module("fjd." + module_name).register(commands, add_common)
    return parser


def setup_logging(level, role):
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s " + role + "[%(process)d] %(levelname)s %(message)s",
        datefmt="%H:%M:%S", stream=sys.stderr)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command in ("dispatcher", "worker"):
        from .waker import catch_stop_signals_early
        catch_stop_signals_early()
    setup_logging(getattr(args, "log_level", "WARNING"), args.command)
    if getattr(args, "func", None):
        return args.func(args)
    if args.command == "dispatcher":
        from .dispatcher import Dispatcher
        return Dispatcher(root=args.root, interval=args.interval, settle=args.settle,
                          exit_when_done=args.exit_when_done,
                          worker_timeout=args.worker_timeout,
                          max_attempts=args.max_attempts).run()
    if args.command == "worker":
        from .worker import Worker
        return Worker(root=args.root, interval=args.interval, grace=args.grace,
                      max_job_bytes=args.max_job_size, allow_users=args.allow_user,
                      worker_id=args.worker_id, lifetime=args.lifetime).run()
    parser.error("unknown command %s" % args.command)
    return 2
