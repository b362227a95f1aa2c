"""``fjd workers auto --slurm`` and ``fjd workers auto stop``: an elastic fleet of Slurm
allocations that follows the queue (recruit/auto.py)."""
import argparse
import os
import signal
import time

from ..durations import parse_duration, words
from ..layout import display, hostname
from ..liveness import decode_beat, read_beat
from ..lock import holder_process_gone
from ..recruit import auto_state
from ..recruit.allocations import SlurmError, allocation_name, cancel, list_allocations
from ..recruit.auto import DEFAULT_POLL, MIN_POLL, Controller, Plan
from ..recruit.local import worker_argv
from ..recruit.slurm import default_margin
from ..resources import Shape
from .common import (CommandError, add_command, add_common, add_worker_options, nonnegative,
                     open_queue, positive_int, worker_option_argv)
from .resource_options import cpus, gpu_count, memory

EPILOG = """Each cycle (every --poll seconds, 10 by default and never less than 1) the
controller makes one squeue call and, when queued jobs outnumber what the allocations on
their way and the idle workers can start, a few sbatch calls. Its allocations are named
fjd-auto-<hash of the root>: a restarted controller finds them again and never doubles
them. Their workers stop after --idle-timeout with nothing to do, and --margin before the
time limit (a job cut there goes back to the queue). Jobs that ask for more time ([control]
time_request, fjd submit --time-request) than a worker has left are not handed to it, and
no allocation is submitted for jobs that ask for more than --time less the margin.

It stops submitting after 10 failed sbatch calls in a row, or 3 allocations in a row that
end before any worker comes up, and says so in its log and in `fjd status`.

examples:
  fjd workers auto --slurm --time 1:00:00 --sbatch-option=--partition=short &
  fjd workers auto --slurm --time 2h --max-allocations 10 --backlog 2 \\
      --workers-per-allocation 4 --cpus 2 --idle-timeout 10m
  fjd workers auto stop            (Ctrl-C works too)
  fjd workers auto stop --cancel   (and scancel the allocations)"""


def duration(text):
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error))


def seconds(text):
    """--idle-timeout: seconds (a bare number), or a duration such as 5m."""
    try:
        value = float(text)
    except ValueError:
        return duration(text)
    if value < 0:
        raise argparse.ArgumentTypeError("%r is negative" % text)
    return value


def cmd_auto(args):
    if args.action == "stop":
        return cmd_stop(args)
    if not args.slurm:
        raise CommandError("say where allocations come from: --slurm (the only kind so far)", 2)
    if args.time is None:
        raise CommandError("--time is required: each allocation's time limit (e.g. 1:00:00)",
                           2)
    try:
        seconds = parse_duration(args.time)
    except ValueError as error:
        raise CommandError("--time: %s" % error, 2)
    margin = args.margin if args.margin is not None else default_margin(seconds)
    if margin >= seconds:
        raise CommandError("--margin %s leaves no time in a %s allocation"
                           % (words(margin), words(seconds)), 2)
    if args.workers_per_allocation and (args.nodes or args.cores_per_node):
        raise CommandError("give --workers-per-allocation N, or --nodes M --cores-per-node C, "
                           "not both", 2)
    if args.nodes and not args.cores_per_node:
        raise CommandError("--nodes goes with --cores-per-node", 2)
    if args.backlog > args.max_allocations:
        raise CommandError("--backlog %d is more than --max-allocations %d"
                           % (args.backlog, args.max_allocations), 2)
    workers = args.workers_per_allocation or \
        ((args.nodes or 1) * args.cores_per_node if args.cores_per_node else 1)
    layout = open_queue(args.root, "workers auto", existing_folder=True)
    layout.ensure()
    plan = Plan(seconds, margin, workers, shape=Shape(args.cpus or 1, args.gpus or 0,
                                                       args.memory),
                nodes=args.nodes, cores_per_node=args.cores_per_node,
                idle_timeout=args.idle_timeout, sbatch_options=args.sbatch_option,
                max_allocations=args.max_allocations, backlog=args.backlog,
                poll=args.poll)
    options = worker_option_argv(args) + shape_options(args) + \
        ["--idle-exit", "%g" % args.idle_timeout]
    worker = worker_argv(layout.root, args.log_level, options, args.python)
    return Controller(layout, plan, worker, python=args.python, log_dir=args.log_dir,
                      cwd=args.cwd, exit_when_done=args.exit_when_done,
                      cancel_on_stop=args.cancel).run()


def shape_options(args):
    """Each worker owns what its Slurm task is given."""
    argv = []
    if args.cpus is not None:
        argv += ["--cpus", str(args.cpus)]
    if args.gpus:
        argv += ["--gpus", "auto"]
    if args.memory is not None:
        argv += ["--memory", "%dM" % max(1, args.memory // 2 ** 20)]
    return argv


def cmd_stop(args):
    """Ask the controller to stop (a request file; SIGTERM too when it runs here) and wait
    for its lock to go; with no controller, --cancel cancels the allocations itself."""
    layout = open_queue(args.root, "workers auto stop")
    paths = auto_state.paths(layout)
    raw = read_beat(paths["lock"])
    if raw is None:
        print("no `fjd workers auto` runs on %s" % display(layout.root))
        return cancel_directly(layout) if args.cancel else 0
    holder = decode_beat(raw) or {}
    if holder_process_gone(holder):
        print("no `fjd workers auto` runs on %s (its lock names pid %s on this host, which "
              "is gone)" % (display(layout.root), holder.get("pid")))
        return cancel_directly(layout) if args.cancel else 0
    auto_state.request_stop(layout, args.cancel)
    pid = holder.get("pid")
    if holder.get("host") == hostname() and isinstance(pid, int):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + args.timeout
    while os.path.exists(paths["lock"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    if os.path.exists(paths["lock"]):
        print("asked the controller (pid %s on %s) to stop; it has not yet (it looks for the "
              "request every cycle)" % (pid, display(str(holder.get("host")))))
        return 1
    state = auto_state.load(layout) or {}
    print("stopped the controller (pid %s on %s)%s"
          % (pid, display(str(holder.get("host"))),
             ": " + state["stopped"] if state.get("stopped") else ""))
    return 0


def cancel_directly(layout):
    try:
        ids = [a.job_id for a in list_allocations(allocation_name(layout.root)) if a.active]
        cancel(ids)
    except SlurmError as error:
        raise CommandError(str(error))
    print("cancelled %d allocation%s%s" % (len(ids), "" if len(ids) == 1 else "s",
                                          (" (" + ", ".join(ids) + ")") if ids else ""))
    return 0


def register_auto(actions):
    auto = add_command(
        actions, "auto", cmd_auto, label="workers auto", daemon=True,
        help="keep Slurm allocations of workers that follow the queue (elastic)",
        description="Submit Slurm allocations of workers while jobs wait, up to\n"
                    "--max-allocations; their workers give the nodes back after\n"
                    "--idle-timeout with nothing to do. Runs until stopped (Ctrl-C, `fjd\n"
                    "workers auto stop`) or, with --exit-when-done, until the queue is empty\n"
                    "and every allocation has ended. One per queue root.",
        epilog=EPILOG)
    auto.add_argument("action", nargs="?", choices=["stop"],
                      help="stop: stop the running controller")
    auto.add_argument("--slurm", action="store_true", help="allocations are Slurm batch jobs")
    auto.add_argument("--time", metavar="DURATION",
                      help="each allocation's time limit (1:00:00, 2h, 1-00:00:00)")
    auto.add_argument("--max-allocations", type=positive_int, default=4, metavar="K",
                      help="at most K allocations queued or running (default 4)")
    auto.add_argument("--backlog", type=positive_int, default=1, metavar="B",
                      help="at most B of them queued in Slurm (default 1)")
    auto.add_argument("--workers-per-allocation", type=positive_int, metavar="N",
                      help="workers (Slurm tasks) in each allocation (default 1)")
    auto.add_argument("--nodes", type=positive_int, metavar="M", help="nodes per allocation")
    auto.add_argument("--cores-per-node", type=positive_int, metavar="C",
                      help="workers per node (with --nodes)")
    auto.add_argument("--idle-timeout", type=seconds, default=300.0, metavar="SECONDS",
                      help="a worker with nothing to do this long exits, and its allocation "
                           "ends with its last worker (seconds, or 5m; default 300)")
    auto.add_argument("--margin", type=nonnegative, metavar="SECONDS",
                      help="workers stop this long before the time limit (default: 10%% of "
                           "it, 30 s to 5 min)")
    auto.add_argument("--sbatch-option", action="append", default=[], metavar="OPT",
                      help="pass OPT to sbatch (repeatable; write --sbatch-option=--x=y)")
    auto.add_argument("--poll", type=nonnegative, default=DEFAULT_POLL, metavar="SECONDS",
                      help="seconds between cycles (default %g, at least %g)"
                           % (DEFAULT_POLL, MIN_POLL))
    auto.add_argument("--exit-when-done", action="store_true",
                      help="exit once the queue is empty and every allocation has ended")
    auto.add_argument("--cancel", action="store_true",
                      help="on stop, scancel the allocations it submitted (with `stop`: "
                           "ask the controller to, or do it when none runs)")
    auto.add_argument("--timeout", type=nonnegative, default=60.0, metavar="SECONDS",
                      help="(stop) how long to wait for the controller (default 60)")
    auto.add_argument("--cwd", metavar="DIR", help="the workers' working directory")
    auto.add_argument("--log-dir", metavar="DIR", help="where logs go (default: <root>/logs)")
    auto.add_argument("--python", metavar="PATH", help="Python for the workers (default: "
                                                        "this one)")
    add_allocation_resources(auto)
    add_worker_options(auto, forwarded=True)
    add_common(auto)


def add_allocation_resources(auto):
    group = auto.add_argument_group("each worker's resources (Slurm: --cpus-per-task, "
                                    "--gpus-per-task, --mem-per-cpu)")
    group.add_argument("--cpus", type=cpus, metavar="C", help="cores per worker (default 1)")
    group.add_argument("--gpus", type=gpu_count, metavar="K", help="GPUs per worker")
    group.add_argument("--memory", type=memory, metavar="SIZE", help="memory per worker")

