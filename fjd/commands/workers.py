"""``fjd workers start|list|stop``: recruiting workers here, over ssh, or through Slurm."""
import json
import os
import sys

from .. import defaults
from ..layout import display, hostname
from ..recruit.local import cpu_count, start_local, worker_argv
from ..recruit.roster import request_stop, select_workers, survey, wait_until_stopped
from ..recruit.slurm import start_slurm
from ..recruit.shapes import forwarded, plan
from ..recruit.ssh import read_hosts, start_over_ssh
from .auto import register_auto
from .common import (CommandError, add_command, add_common, add_worker_options,
                     nonnegative, open_queue, positive_int, worker_option_argv)
from .resource_options import add_start_resources, start_resources_given

SLURM_ONLY = ("--nodes", "nodes"), ("--cores-per-node", "cores_per_node"), \
    ("--time", "time"), ("--margin", "margin"), ("--sbatch-option", "sbatch_option")


def cmd_start(args):
    if args.count is not None and args.count < 1:
        raise CommandError("N must be at least 1", 2)
    if args.hosts and args.slurm:
        raise CommandError("use --hosts or --slurm, not both", 2)
    slurm_only = [option for option, key in SLURM_ONLY if getattr(args, key)]
    if slurm_only and not args.slurm:
        raise CommandError("%s only go%s with --slurm" % (", ".join(slurm_only),
                                                          "es" if len(slurm_only) == 1 else ""), 2)
    layout = open_queue(args.root, "workers start", existing_folder=True)
    options = worker_option_argv(args)
    if args.slurm:
        worker = worker_argv(layout.root, args.log_level, options + slurm_worker_options(args),
                             args.python)
        job_id, margin, log = start_slurm(
            layout, worker, count=args.count, nodes=args.nodes,
            cores_per_node=args.cores_per_node, time_limit=args.time, margin=args.margin,
            sbatch_options=args.sbatch_option, python=args.python, log_dir=args.log_dir,
            cwd=args.cwd, job_name=args.job_name, shape=slurm_shape(args))
        total = args.count or "%s x %s" % (args.nodes or 1, args.cores_per_node)
        print("submitted Slurm batch job %s: %s workers; they stop %g s before the time limit"
              % (job_id, total, margin))
        print("logs: %s" % log)
        return 0
    if args.hosts:
        return start_on_hosts(layout, args, options + forwarded(args))
    count, each = args.count or cpu_count(), None
    if start_resources_given(args):
        count, each = plan(args.count, args.cpus, args.gpus, args.gpus_per_worker,
                           args.memory)
    started = start_local(layout, count, args.log_level, options, log_dir=args.log_dir,
                          cwd=args.cwd, each=each)
    for worker_id, pid, log_path in started.workers:
        print("started worker %s (pid %d on %s), log %s"
              % (worker_id, pid, hostname(), display(log_path)))
    sys.stdout.flush()
    for problem in started.problems:
        sys.stderr.write("fjd workers start: %s\n" % problem)
    return 1 if started.problems else 0


def slurm_worker_options(args):
    """Each Slurm task's worker owns what its task was given: C cores, the GPUs Slurm bound
    to it (auto), the memory."""
    argv = []
    if args.cpus is not None:
        argv += ["--cpus", str(args.cpus)]
    if args.gpus is not None or args.gpus_per_worker is not None:
        argv += ["--gpus", "auto"]
    if args.memory is not None:
        argv += ["--memory", "%dM" % max(1, args.memory // 2 ** 20)]
    return argv


def slurm_shape(args):
    """What each Slurm task is allocated: (cores, GPUs, memory in bytes or None)."""
    gpus = args.gpus_per_worker or (1 if args.gpus is not None else 0)
    return args.cpus or 1, gpus, args.memory


def start_on_hosts(layout, args, options):
    hosts = read_hosts(args.hosts, args.count)
    cwd = os.path.abspath(args.cwd) if args.cwd else os.getcwd()
    status = 0
    for result in start_over_ssh(hosts, layout.root, cwd, args.log_level, options,
                                 args.log_dir):
        label = "[%s] " % result.host["name"]
        for line in result.out_lines:
            sys.stdout.write(label + line + "\n")
        if result.ok:
            continue
        status = 1
        if result.returncode != 255:
            for line in result.err_lines:
                sys.stderr.write(label + line + "\n")
        sys.stderr.write("fjd workers start: %s\n" % result.problem())
    sys.stdout.flush()
    return status


def cmd_list(args):
    layout = open_queue(args.root, "workers list")
    if args.wait is None:
        args.wait = 2 * defaults.timings(layout.shared).heartbeat + 0.5
    workers = survey(layout, wait=args.wait)
    if args.json:
        print(json.dumps(workers, indent=1, sort_keys=True))
        return 0
    shown = [w for w in workers if w["alive"] or args.all]
    silent = [w for w in workers if not w["alive"] and w["state"] != "gone"]
    if shown:
        print("%-36s %-20s %7s %-9s %s" % ("WORKER", "HOST", "PID", "STATE", "JOB"))
        for w in shown:
            state = w["state"] if w["alive"] else "silent"
            print("%-36s %-20s %7s %-9s %s"
                  % (display(w["worker"]), display(w["host"] or "?"), w["pid"] or "?", state,
                     display(w["jobs"][0]) if w["jobs"] else "-"))
    hosts = sorted({w["host"] or "?" for w in workers if w["alive"]})
    alive = sum(1 for w in workers if w["alive"])
    print("%d live worker%s%s" % (alive, "" if alive == 1 else "s",
                                  " on " + ", ".join(hosts) if hosts else ""))
    if silent and not args.all:
        print("%d more inbox%s in jobpod/ whose heartbeat did not change within %g s (dead, "
              "stopped or stuck workers; --all shows them)"
              % (len(silent), "" if len(silent) == 1 else "es", args.wait))
    return 0


def cmd_stop(args):
    layout = open_queue(args.root, "workers stop")
    wanted_ids = set(args.ids or [])
    selected = select_workers(layout, wanted_ids, set(args.host or []))
    for name in sorted(wanted_ids - set(selected)):
        sys.stderr.write("fjd workers stop: no worker %s in %s\n"
                         % (display(name), display(layout.jobpod)))
    if not selected:
        print("no workers to stop%s" % (" on " + ", ".join(sorted(args.host))
                                        if args.host else ""))
        return 1 if wanted_ids else 0
    asked = [w for w in selected if request_stop(layout, w)]
    print("asked %d worker%s to stop" % (len(asked), "" if len(asked) == 1 else "s"))
    if args.no_wait:
        return 0
    silent, running = wait_until_stopped(
        layout, asked, args.timeout, args.silent_after,
        on_stopped=lambda worker_id: print("stopped %s" % display(worker_id)))
    for worker_id in silent:
        sys.stderr.write("fjd workers stop: %s did not beat for %g s: a dead or stuck worker; "
                         "its inbox %s stays (with the stop request in it)\n"
                         % (display(worker_id), args.silent_after,
                            display(layout.inbox(worker_id))))
    for worker_id in running:
        sys.stderr.write("fjd workers stop: %s is still running after %g s\n"
                         % (display(worker_id), args.timeout))
    return 1 if silent or running else 0


def register(subparsers):
    def usage(args):
        workers.print_help(sys.stderr)
        return 2
    workers = add_command(
        subparsers, "workers", usage,
        help="start, list and stop workers (here, over ssh, or with Slurm)",
        description="Recruit workers: `fjd workers start`, `fjd workers list`, "
                    "`fjd workers stop`, `fjd workers auto` (elastic Slurm allocations).\n"
                    "Each has its own --help.")
    add_common(workers)
    actions = workers.add_subparsers(dest="workers_command", metavar="ACTION")
    register_start(actions)
    register_list(actions)
    register_stop(actions)
    register_auto(actions)


START_EPILOG = ("hosts file (INI, like the 2012 remote.conf), one section per host:\n"
                "  [node1]\n  name: node1.example.org   # what to ssh to (required)\n"
                "  workers: 4                # how many (default: N, else 1)\n"
                "  user: me                  # optional: ssh -l\n"
                "  port: 22                  # optional: ssh -p\n"
                "  nice: 5                   # optional: run the workers under nice -n\n"
                "  python: python3           # Python on that host (default python3)\n"
                "  root: /shared/queue       # the queue root as that host sees it\n"
                "  cwd: /shared/project      # the workers' working directory there\n"
                "  pythonpath: /shared/fjd   # where fjd is, if not installed there\n"
                "  ssh_options: -i ~/.ssh/cluster_key\n"
                "Defaults for root, cwd and pythonpath: the same paths as here (a shared\n"
                "home). Each host runs `fjd workers start` for itself.\n\n"
                "Slurm: the batch job has --ntasks N (or --nodes K --cores-per-node C), one\n"
                "core per worker. The workers stop --margin seconds before the job's time\n"
                "limit (asked of squeue when the job starts; else --time) and hand their\n"
                "unfinished job back to the queue.\n\n"
                "examples:\n  fjd workers start 4\n  fjd workers start --hosts hosts.conf\n"
                "  fjd workers start --slurm --nodes 2 --cores-per-node 16 --time 2:00:00 \\\n"
                "      --sbatch-option=--partition=short")


def register_start(actions):
    start = add_command(
        actions, "start", cmd_start, label="workers start",
        help="start N workers (detached, each with its own log file)",
        description="Start N workers that keep running after this command returns, each\n"
                    "logging to its own file in <root>/logs/ (or --log-dir). Without N, one\n"
                    "per core. --hosts FILE starts them on other hosts over ssh (batch mode:\n"
                    "keys or an agent, never a password prompt); --slurm submits them as one\n"
                    "Slurm batch job.",
        epilog=START_EPILOG)
    start.add_argument("count", nargs="?", type=int, metavar="N",
                       help="how many workers (default: one per core here; with --hosts, "
                            "for hosts without 'workers')")
    start.add_argument("--cwd", metavar="DIR",
                       help="the workers' working directory (default: the current one)")
    start.add_argument("--log-dir", metavar="DIR", help="where logs go (default: <root>/logs)")
    start.add_argument("--python", metavar="PATH",
                       help="Python for Slurm workers (default: this one)")
    start.add_argument("--hosts", metavar="FILE", help="start workers on these hosts over ssh")
    add_slurm_options(start.add_argument_group("Slurm"))
    add_worker_options(start, forwarded=True)
    add_start_resources(start)
    add_common(start)


def add_slurm_options(slurm):
    """The options of `fjd workers start --slurm`, in their own group of --help."""
    slurm.add_argument("--slurm", action="store_true", help="submit the workers with sbatch")
    slurm.add_argument("--nodes", type=positive_int, metavar="K", help="sbatch --nodes")
    slurm.add_argument("--cores-per-node", type=positive_int, metavar="C",
                       help="workers per node (sbatch --ntasks-per-node)")
    slurm.add_argument("--time", metavar="LIMIT", help="sbatch --time (e.g. 90, 2:00:00)")
    slurm.add_argument("--margin", type=nonnegative, metavar="SECONDS",
                       help="stop this long before the time limit (default: 10%% of it, "
                            "30 to 300 s)")
    slurm.add_argument("--job-name", default="fjd-workers", metavar="NAME",
                       help="sbatch --job-name (default: fjd-workers)")
    slurm.add_argument("--sbatch-option", action="append", default=[], metavar="OPT",
                       help="pass OPT to sbatch (repeatable; write --sbatch-option=--x=y)")


def register_list(actions):
    listing = add_command(
        actions, "list", cmd_list, label="workers list",
        help="show the live workers on every host",
        description="Show every live worker of this queue, on every host. A worker is live\n"
                    "when the beat counter in jobpod/<worker>/.heartbeat changes while we\n"
                    "watch (workers beat every 2 s, every 5 s on a shared mount): no\n"
                    "clocks are compared, so it holds across hosts. Takes about a beat, at\n"
                    "most --wait seconds.")
    listing.add_argument("--wait", type=nonnegative, metavar="SECONDS",
                         help="how long to watch for a changing heartbeat (default 2.5, or "
                              "11 on a shared mount, where workers beat every 5 s)")
    listing.add_argument("--all", action="store_true",
                         help="also show inboxes whose heartbeat did not change (silent)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_common(listing)


def register_stop(actions):
    stop = add_command(
        actions, "stop", cmd_stop, label="workers stop",
        help="stop workers gracefully (all, by host or by id)",
        description="Ask workers to stop: a stop file in each inbox, seen within a beat by\n"
                    "a worker on any host (two by an idle one on a shared mount; one on\n"
                    "this host also gets SIGTERM). A running job is terminated and handed\n"
                    "back to jobqueue/. Waits until they are gone; a worker whose heartbeat\n"
                    "stands still for --silent-after seconds is reported as dead or stuck.",
        epilog="examples:\n  fjd workers stop\n  fjd workers stop --host node1\n")
    stop.add_argument("ids", nargs="*", metavar="WORKER", help="worker ids (default: all)")
    stop.add_argument("--host", action="append", metavar="HOST",
                      help="only the workers on HOST (repeatable)")
    stop.add_argument("--timeout", type=nonnegative, default=60.0, metavar="SECONDS",
                      help="how long to wait for them (default 60)")
    stop.add_argument("--silent-after", type=nonnegative, default=10.0, metavar="SECONDS",
                      help="give up on a worker whose heartbeat stands still this long "
                           "(default 10)")
    stop.add_argument("--no-wait", action="store_true", help="do not wait for them to exit")
    add_common(stop)
