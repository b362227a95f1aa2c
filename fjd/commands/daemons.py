"""``fjd dispatcher`` and ``fjd worker`` (also ``python dispatcher.py`` and ``python worker.py``)."""
from .. import defaults
from .common import (add_command, add_common, add_worker_options, nonnegative, open_queue,
                     positive_int)
from .resource_options import add_worker_resources, worker_resources

FOLDERS = """The queue root is --root, else $FJD_ROOT, else the current directory (created
when missing). Folders in it: jobqueue/ (waiting), workerqueue/ (idle workers),
jobpod/ (inboxes), done/, failed/, cancelled/, arrays/ and records/."""


def run_dispatcher(args):
    from ..dispatcher import Dispatcher
    layout = open_queue(args.root, "dispatcher", create=True)
    return Dispatcher(root=layout.root, interval=args.interval, settle=args.settle,
                      exit_when_done=args.exit_when_done,
                      worker_timeout=args.worker_timeout,
                      max_attempts=args.max_attempts, exit_with=args.exit_with).run()


def run_worker(args):
    from ..worker import Worker
    layout = open_queue(args.root, "worker", create=True)
    return Worker(root=layout.root, interval=args.interval, grace=args.grace,
                  max_job_bytes=args.max_job_size, allow_users=args.allow_user,
                  worker_id=args.worker_id, lifetime=args.lifetime,
                  resources=worker_resources(args), idle_exit=args.idle_exit,
                  exit_with=args.exit_with).run()


def register(subparsers):
    register_dispatcher(subparsers)
    register_worker(subparsers)


def register_dispatcher(subparsers):
    dispatcher = add_command(
        subparsers, "dispatcher", run_dispatcher, daemon=True,
        help="hand queued jobs to idle workers",
        description="Poll jobqueue/ and workerqueue/ and move each job into an idle worker's\n"
                    "inbox with an atomic rename. Stop with Ctrl-C or SIGTERM.",
        epilog=FOLDERS)
    dispatcher.add_argument("--interval", type=nonnegative, default=defaults.DISPATCHER_INTERVAL,
                            metavar="SECONDS",
                            help="seconds between polls while there is work (default: %g); "
                                 "after a few idle seconds polls slow down to %g s (%g s on a "
                                 "shared mount)" % (defaults.DISPATCHER_INTERVAL,
                                                    defaults.LOCAL.queue_poll,
                                                    defaults.SHARED.queue_poll))
    dispatcher.add_argument("--settle", type=nonnegative, default=defaults.SETTLE,
                            metavar="SECONDS",
                            help="where the kernel cannot tell whether a job file is still "
                                 "open for writing (NFS, sshfs), take it once unchanged this "
                                 "long (default: %g)" % defaults.SETTLE)
    dispatcher.add_argument("--worker-timeout", type=nonnegative, metavar="SECONDS",
                            help="a worker (or dispatcher lock) whose heartbeat has not changed "
                                 "for this long, on this dispatcher's own clock, is dead; its "
                                 "jobs go back to jobqueue/ (default: %g on a local disk, %g "
                                 "on a shared mount, where workers beat every %g s; workers "
                                 "read it from the lock and beat %d times within it)"
                                 % (defaults.LOCAL.worker_timeout,
                                    defaults.SHARED.worker_timeout,
                                    defaults.SHARED.heartbeat, defaults.BEATS_PER_TIMEOUT))
    dispatcher.add_argument("--max-attempts", type=positive_int, default=defaults.MAX_ATTEMPTS,
                            metavar="N",
                            help="a job cut short N times (its worker died, was stopped, or was "
                                 "signalled by the job) goes to failed/ (default: %d)"
                                 % defaults.MAX_ATTEMPTS)
    dispatcher.add_argument("--exit-when-done", action="store_true",
                            help="exit once jobqueue/ and all inboxes are empty")
    add_exit_with(dispatcher)
    add_common(dispatcher)


def register_worker(subparsers):
    worker = add_command(
        subparsers, "worker", run_worker, daemon=True,
        help="run jobs handed to this worker",
        description="Announce in workerqueue/, run each job that arrives in jobpod/<id>/ and\n"
                    "file it in done/ or failed/. On Ctrl-C or SIGTERM a running job's process\n"
                    "group is terminated and the job goes back to jobqueue/.",
        epilog=FOLDERS)
    worker.add_argument("--interval", type=nonnegative, default=defaults.WORKER_INTERVAL,
                        metavar="SECONDS",
                        help="seconds between looks at the inbox while there is work "
                             "(default: %g); idle, they slow down to %g s (%g s on a shared "
                             "mount)" % (defaults.WORKER_INTERVAL, defaults.LOCAL.idle_poll,
                                         defaults.SHARED.idle_poll))
    worker.add_argument("--id", dest="worker_id", metavar="ID",
                        help="worker id (default: host-pid-random)")
    worker.add_argument("--idle-exit", type=nonnegative, metavar="SECONDS",
                        help="stop after this many seconds with nothing to do (the workers "
                             "of `fjd workers auto` give their allocation back so)")
    add_worker_options(worker)
    add_worker_resources(worker)
    add_exit_with(worker)
    add_common(worker)


def add_exit_with(parser):
    parser.add_argument("--exit-with", type=positive_int, metavar="PID",
                        help="stop as on SIGTERM once process PID is gone (fjd.Executor's "
                             "daemons: they end with the program that started them)")
