"""``fjd workers start|list|stop``: recruiting workers here, over ssh, or through Slurm.

start   N detached local workers, each with its own log file in ``<root>/logs/``; with
        ``--hosts FILE`` the same over ssh on other hosts (``ssh -o BatchMode=yes HOST fjd
        workers start N ...``); with ``--slurm`` one ``sbatch`` job whose tasks are workers
        that stop (``--lifetime``) before the allocation's time limit and hand their
        unfinished job back to the queue.
list    every live worker on every host. Liveness never compares clocks (DESIGN.md rule 5):
        each inbox's ``.heartbeat`` counter is read, then read again until it changes (a
        worker beats every second) or ``--wait`` seconds have passed on this host's
        monotonic clock. A counter that did not change means a dead, stopped or stuck worker.
stop    writes ``jobpod/<worker>/.stop``, which a worker on any host notices within a
        second; it then terminates a running job, hands it back to jobqueue/ and exits. A
        worker on this host is also sent SIGTERM, which is faster.
"""
import argparse
import configparser
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

from .cli import nonnegative, open_queue, positive_int
from .layout import STOP_FILE, Layout, display, hostname, list_names
from .status import handle_os_errors, host_from_id, inbox_jobs, read_heartbeat

LOGS = "logs"
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# where fjd is for other hosts: this checkout, but not an installed site-packages folder
# (which would mix this Python's packages into another host's Python)
REMOTE_PYTHONPATH = ("" if os.path.basename(PACKAGE_PARENT) in ("site-packages",
                                                                 "dist-packages")
                     else PACKAGE_PARENT)


# -- starting processes -----------------------------------------------------------------------

def fjd_argv(python=None):
    """How to run fjd itself: the same Python, as a module."""
    return [python or sys.executable or "python3", "-m", "fjd"]


def child_env(extra=None):
    """Our environment, with fjd importable even when it is not installed."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH", "")
    if PACKAGE_PARENT not in path.split(os.pathsep):
        env["PYTHONPATH"] = PACKAGE_PARENT + (os.pathsep + path if path else "")
    env.update(extra or {})
    return env


def quote_argv(argv):
    """A command line for a remote shell (shlex.join for any Python 3)."""
    return " ".join(shlex.quote(str(word)) for word in argv)


def nonce():
    return os.urandom(3).hex()


def stamp():
    return time.strftime("%Y%m%d-%H%M%S")


def log_dir_for(layout, args_dir=None):
    path = os.path.abspath(args_dir) if args_dir else os.path.join(layout.root, LOGS)
    os.makedirs(path, exist_ok=True)
    return path


def spawn(argv, log_path, cwd, detached, env=None):
    """Start argv with stdout and stderr appended to log_path; returns the Popen."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        return subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=fd,
                                stderr=fd, env=env or child_env(), close_fds=True,
                                start_new_session=detached)
    finally:
        os.close(fd)


def worker_argv(root, args, python=None):
    """The `fjd worker` command line for the worker options of a start command."""
    argv = fjd_argv(python) + ["worker", "--root", root, "--log-level", args.log_level]
    if getattr(args, "lifetime", None) is not None:
        argv += ["--lifetime", "%g" % args.lifetime]
    if getattr(args, "grace", None) is not None:
        argv += ["--grace", "%g" % args.grace]
    for user in getattr(args, "allow_user", None) or []:
        argv += ["--allow-user", user]
    return argv


def tail(path, lines=5):
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 4000))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def find_registered(layout, pids, host):
    """{pid: worker id} for the workers among pids that have a heartbeat on this host."""
    found = {}
    for worker_id in list_names(layout.jobpod):
        beat = read_heartbeat(layout.inbox(worker_id))
        if beat and beat[2] in pids and beat[1] == host:
            found[beat[2]] = worker_id
    return found


def start_local(layout, count, args, out=sys.stdout, timeout=15.0):
    """Start count detached workers here and wait until each has registered; exit status."""
    log_dir = log_dir_for(layout, args.log_dir)
    cwd = os.path.abspath(args.cwd) if args.cwd else os.getcwd()
    if not os.path.isdir(cwd):
        sys.stderr.write("fjd workers start: --cwd %s is not a directory\n" % display(cwd))
        return 2
    layout.ensure()
    host = hostname()
    base = "worker-%s-%s-%s" % (re.sub(r"[^A-Za-z0-9.-]", "_", host)[:60], stamp(), nonce())
    argv = worker_argv(layout.root, args)
    started = []
    for number in range(1, count + 1):
        log_path = os.path.join(log_dir, "%s-%d.log" % (base, number))
        proc = spawn(argv, log_path, cwd, detached=True)
        started.append((proc, log_path))
    pids = {proc.pid for proc, _ in started}
    deadline = time.monotonic() + timeout
    found = {}
    failed = []
    while True:
        found = find_registered(layout, pids, host)
        failed = [(p, log) for p, log in started if p.pid not in found and p.poll() is not None]
        if len(found) + len(failed) >= len(started) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for proc, log_path in started:
        if proc.pid in found:
            out.write("started worker %s (pid %d on %s), log %s\n"
                      % (found[proc.pid], proc.pid, host, display(log_path)))
    status = 0
    for proc, log_path in started:
        if proc.pid in found:
            continue
        status = 1
        if proc.poll() is not None:
            sys.stderr.write("fjd workers start: worker pid %d exited with status %s:\n%s\n"
                             % (proc.pid, proc.returncode, tail(log_path)))
        else:
            sys.stderr.write("fjd workers start: worker pid %d has not registered after "
                             "%.0f s (still starting?); see %s\n"
                             % (proc.pid, timeout, display(log_path)))
    out.flush()
    return status


# -- ssh --------------------------------------------------------------------------------------

class HostsFileError(Exception):
    pass


def read_hosts(path, default_workers=None):
    """Sections of an INI hosts file (the 2012 remote.conf): a list of dicts."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path) as handle:
            parser.read_file(handle)
    except OSError as error:
        raise HostsFileError("cannot read %s: %s" % (display(path), error.strerror))
    except configparser.Error as error:
        raise HostsFileError("%s is not a valid INI hosts file: %s"
                             % (display(path), str(error).splitlines()[0]))
    hosts = []
    for section in parser.sections():
        values = parser[section]
        name = values.get("name", "").strip()
        if not name:
            raise HostsFileError("[%s] in %s has no 'name' (the host to ssh to)"
                                 % (section, display(path)))
        if name.startswith("-") or any(c.isspace() for c in name):
            raise HostsFileError("[%s]: %r is not a host name" % (section, name))
        raw = values.get("workers", "").strip()
        if raw:
            if not raw.isdigit() or int(raw) < 1:
                raise HostsFileError("[%s]: workers must be a whole number of at least 1, "
                                     "not %r" % (section, raw))
            workers = int(raw)
        else:
            workers = default_workers or 1
        port = values.get("port", "").strip()
        if port and not port.isdigit():
            raise HostsFileError("[%s]: port must be a number, not %r" % (section, port))
        nice = values.get("nice", "").strip()
        if nice and not re.match(r"-?\d+\Z", nice):
            raise HostsFileError("[%s]: nice must be a number, not %r" % (section, nice))
        try:
            ssh_options = shlex.split(values.get("ssh_options", ""))
        except ValueError as error:
            raise HostsFileError("[%s]: ssh_options: %s" % (section, error))
        hosts.append({"section": section, "name": name, "workers": workers,
                      "user": values.get("user", "").strip() or None,
                      "port": port or None, "nice": nice or None,
                      "python": values.get("python", "").strip() or "python3",
                      "root": values.get("root", "").strip() or None,
                      "cwd": values.get("cwd", "").strip() or None,
                      "pythonpath": values.get("pythonpath", REMOTE_PYTHONPATH).strip(),
                      "ssh_options": ssh_options})
    if not hosts:
        raise HostsFileError("%s has no [host] sections" % display(path))
    return hosts


def ssh_argv(host, remote_argv):
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]
    if host["port"]:
        argv += ["-p", host["port"]]
    if host["user"]:
        argv += ["-l", host["user"]]
    argv += host["ssh_options"]
    return argv + ["--", host["name"], quote_argv(remote_argv)]


def remote_start_argv(host, layout, args, cwd):
    argv = ["env", "PYTHONPATH=%s" % host["pythonpath"]] if host["pythonpath"] else []
    if host["nice"]:
        argv += ["nice", "-n", host["nice"]]
    argv += fjd_argv(host["python"]) + [
        "workers", "start", str(host["workers"]), "--root", host["root"] or layout.root,
        "--cwd", host["cwd"] or cwd, "--log-level", args.log_level]
    if args.log_dir:
        argv += ["--log-dir", os.path.abspath(args.log_dir)]
    if args.lifetime is not None:
        argv += ["--lifetime", "%g" % args.lifetime]
    if args.grace is not None:
        argv += ["--grace", "%g" % args.grace]
    for user in args.allow_user or []:
        argv += ["--allow-user", user]
    return argv


def start_over_ssh(layout, args):
    try:
        hosts = read_hosts(args.hosts, args.count)
    except HostsFileError as error:
        sys.stderr.write("fjd workers start: %s\n" % error)
        return 2
    cwd = os.path.abspath(args.cwd) if args.cwd else os.getcwd()
    running = []
    for host in hosts:
        argv = ssh_argv(host, remote_start_argv(host, layout, args, cwd))
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
        except OSError as error:
            sys.stderr.write("fjd workers start: cannot run ssh: %s\n" % error.strerror)
            return 1
        running.append((host, proc))
    status = 0
    for host, proc in running:
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += b"\n(no answer within 120 s)"
        label = "[%s] " % host["name"]
        for line in out.decode("utf-8", "replace").splitlines():
            sys.stdout.write(label + line + "\n")
        err_lines = [line for line in err.decode("utf-8", "replace").splitlines()
                     if line.strip()]
        if proc.returncode == 255:
            status = 1
            sys.stderr.write("fjd workers start: ssh to %s failed: %s\n"
                             % (host["name"], (err_lines or ["no reason given"])[-1]))
        elif proc.returncode != 0:
            status = 1
            for line in err_lines:
                sys.stderr.write(label + line + "\n")
            sys.stderr.write("fjd workers start: starting workers on %s failed (exit "
                             "status %d)\n" % (host["name"], proc.returncode))
    sys.stdout.flush()
    return status


# -- Slurm ------------------------------------------------------------------------------------

def slurm_seconds(text):
    """Seconds in a Slurm time: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS; else None."""
    text = (text or "").strip()
    match = re.match(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?\Z", text)
    if not match:
        return None
    days, first, second, third = match.groups()
    numbers = [int(first)] + [int(x) for x in (second, third) if x is not None]
    if days is not None:
        hours, minutes, seconds = (numbers + [0, 0])[:3]
        return int(days) * 86400 + hours * 3600 + minutes * 60 + seconds
    if len(numbers) == 1:
        return numbers[0] * 60
    if len(numbers) == 2:
        return numbers[0] * 60 + numbers[1]
    return numbers[0] * 3600 + numbers[1] * 60 + numbers[2]


def default_margin(limit):
    if limit is None:
        return 120.0
    return float(min(300, max(30, limit // 10)))


BATCH_SCRIPT = '''#!%(python)s
"""fjd workers as a Slurm batch job (made by `fjd workers start --slurm`).

Each Slurm task runs one fjd worker. The workers stop --margin seconds before the
allocation's time limit (their --lifetime) and hand an unfinished job back to the queue.
"""
import json
import os
import re
import subprocess
import sys

CONFIG = json.loads(%(config)r)


def seconds(text):
    match = re.match(r"(?:(\\d+)-)?(\\d+)(?::(\\d+))?(?::(\\d+))?\\Z", (text or "").strip())
    if not match:
        return None
    days, first, second, third = match.groups()
    numbers = [int(first)] + [int(x) for x in (second, third) if x is not None]
    if days is not None:
        h, m, s = (numbers + [0, 0])[:3]
        return int(days) * 86400 + h * 3600 + m * 60 + s
    if len(numbers) == 1:
        return numbers[0] * 60
    if len(numbers) == 2:
        return numbers[0] * 60 + numbers[1]
    return numbers[0] * 3600 + numbers[1] * 60 + numbers[2]


def time_left():
    """The controller's view of the time left in this job (no clocks compared here)."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    try:
        out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%%L"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return seconds(out.stdout.decode("utf-8", "replace").strip())


def main():
    left = time_left()
    if left is None:
        left = CONFIG["limit"]
    argv = list(CONFIG["worker"])
    if left is not None:
        lifetime = left - CONFIG["margin"]
        if lifetime <= 0:
            lifetime = max(1.0, left / 2.0)
        argv += ["--lifetime", "%%g" %% lifetime]
        print("fjd: %%s s left in this allocation; workers stop after %%g s"
              %% (left, lifetime), flush=True)
    srun = ["srun", "--kill-on-bad-exit=0", "--cpus-per-task=1",
            "--output", CONFIG["task_log"], "--error", CONFIG["task_log"]] + argv
    print("fjd: running %%s" %% " ".join(srun), flush=True)
    os.execvp(srun[0], srun)


main()
'''


def start_slurm(layout, args):
    limit = slurm_seconds(args.time) if args.time else None
    if args.time and limit is None:
        sys.stderr.write("fjd workers start: --time %s is not a Slurm time (MINUTES, "
                         "HH:MM:SS or D-HH:MM:SS)\n" % args.time)
        return 2
    margin = args.margin if args.margin is not None else default_margin(limit)
    if limit is not None and margin >= limit:
        sys.stderr.write("fjd workers start: --margin %g s leaves no time in a %s limit\n"
                         % (margin, args.time))
        return 2
    if args.count is None and args.cores_per_node is None:
        sys.stderr.write("fjd workers start --slurm: say how many workers: N, or "
                         "--cores-per-node C (C workers on each of --nodes)\n")
        return 2
    layout.ensure()
    log_dir = log_dir_for(layout, args.log_dir)
    cwd = os.path.abspath(args.cwd) if args.cwd else os.getcwd()
    config = {
        "worker": worker_argv(layout.root, args, args.python),
        "limit": limit,
        "margin": margin,
        "task_log": os.path.join(log_dir, "slurm-%j-worker-%t.log"),
    }
    sbatch = ["sbatch", "--parsable", "--job-name", args.job_name,
              "--output", os.path.join(log_dir, "slurm-%j.out"), "--chdir", cwd,
              "--cpus-per-task", "1"]
    if args.nodes:
        sbatch += ["--nodes", str(args.nodes)]
    if args.count:
        sbatch += ["--ntasks", str(args.count)]
    if args.cores_per_node:
        sbatch += ["--ntasks-per-node", str(args.cores_per_node)]
    if args.time:
        sbatch += ["--time", args.time]
    sbatch += args.sbatch_option
    script = BATCH_SCRIPT % {"python": args.python or sys.executable,
                             "config": json.dumps(config)}
    try:
        result = subprocess.run(sbatch, input=script.encode(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=child_env(), timeout=120)
    except FileNotFoundError:
        sys.stderr.write("fjd workers start: sbatch not found: is this a Slurm login "
                         "node?\n")
        return 1
    except subprocess.TimeoutExpired:
        sys.stderr.write("fjd workers start: sbatch did not answer within 120 s\n")
        return 1
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip() or "no message"
        sys.stderr.write("fjd workers start: sbatch failed (exit status %d): %s\n"
                         % (result.returncode, message))
        return 1
    job_id = result.stdout.decode().strip().split(";")[0]
    total = args.count or "%s x %s" % (args.nodes or 1, args.cores_per_node)
    print("submitted Slurm batch job %s: %s workers; they stop %g s before the time limit"
          % (job_id, total, margin))
    print("logs: %s" % os.path.join(log_dir, "slurm-%s.out" % job_id))
    return 0


# -- list -------------------------------------------------------------------------------------

def survey(layout, wait=2.5, interval=0.2):
    """Every inbox with its heartbeat, and whether the beat changed within wait seconds.

    Returns a list of dicts: worker, host, pid, alive, state, jobs.
    """
    first = {}
    for worker_id in list_names(layout.jobpod):
        if os.path.isdir(layout.inbox(worker_id)):
            first[worker_id] = read_heartbeat(layout.inbox(worker_id))
    alive = {}
    last = dict(first)
    deadline = time.monotonic() + wait
    pending = set(first)
    while pending and time.monotonic() < deadline:
        time.sleep(interval)
        for worker_id in list(pending):
            beat = read_heartbeat(layout.inbox(worker_id))
            if beat is not None:
                last[worker_id] = beat
            if beat is not None and (first[worker_id] is None or beat[0] != first[worker_id][0]
                                     or beat[2] != first[worker_id][2]):
                alive[worker_id] = True
                pending.discard(worker_id)
            elif not os.path.isdir(layout.inbox(worker_id)):
                pending.discard(worker_id)  # it left meanwhile
    idle = set(list_names(layout.workerqueue))
    found = []
    for worker_id in sorted(first):
        beat = last.get(worker_id)
        inbox = layout.inbox(worker_id)
        jobs = inbox_jobs(layout, worker_id)
        if not os.path.isdir(inbox):
            state = "gone"
        elif os.path.lexists(os.path.join(inbox, STOP_FILE)):
            state = "stopping"
        elif jobs:
            state = "busy"
        elif worker_id in idle:
            state = "idle"
        else:
            state = "starting"
        found.append({"worker": worker_id,
                      "host": beat[1] if beat else host_from_id(worker_id),
                      "pid": beat[2] if beat else None,
                      "alive": bool(alive.get(worker_id)),
                      "state": state, "jobs": jobs})
    return found


def cmd_list(args):
    layout = open_queue(args.root, "workers list")
    if layout is None:
        return 1
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


# -- stop -------------------------------------------------------------------------------------

def is_local_worker(pid):
    """Whether pid on this host is an fjd worker (before we send it SIGTERM)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            words = [w for w in handle.read().split(b"\0") if w]
    except OSError:
        return False
    script = any(w.endswith(b"worker.py") for w in words)
    module = b"worker" in words and any(b"fjd" in w for w in words)
    return script or module


def request_stop(layout, worker_id, signal_local=True):
    """Create the worker's stop file (and SIGTERM it if it runs here); False if it is gone."""
    inbox = layout.inbox(worker_id)
    try:
        fd = os.open(os.path.join(inbox, STOP_FILE), os.O_WRONLY | os.O_CREAT, 0o644)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        os.write(fd, ("stop requested from %s pid %d\n" % (hostname(), os.getpid())).encode())
    finally:
        os.close(fd)
    beat = read_heartbeat(inbox)
    if signal_local and beat and beat[1] == hostname() and is_local_worker(beat[2]):
        try:
            os.kill(beat[2], signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    return True


def cmd_stop(args):
    layout = open_queue(args.root, "workers stop")
    if layout is None:
        return 1
    selected = []
    wanted_hosts = set(args.host or [])
    wanted_ids = set(args.ids or [])
    for worker_id in sorted(list_names(layout.jobpod)):
        inbox = layout.inbox(worker_id)
        if not os.path.isdir(inbox):
            continue
        beat = read_heartbeat(inbox)
        host = beat[1] if beat else host_from_id(worker_id)
        if wanted_ids and worker_id not in wanted_ids:
            continue
        if wanted_hosts and host not in wanted_hosts:
            continue
        selected.append(worker_id)
    for name in sorted(wanted_ids - set(selected)):
        sys.stderr.write("fjd workers stop: no worker %s in %s\n"
                         % (display(name), display(layout.jobpod)))
    if not selected:
        print("no workers to stop%s" % (" on " + ", ".join(sorted(wanted_hosts))
                                        if wanted_hosts else ""))
        return 1 if wanted_ids else 0
    asked = [w for w in selected if request_stop(layout, w)]
    print("asked %d worker%s to stop" % (len(asked), "" if len(asked) == 1 else "s"))
    if args.no_wait:
        return 0
    # wait until their inboxes are gone; give up early on those whose heartbeat stands still
    pending = {w: (read_heartbeat(layout.inbox(w)), time.monotonic()) for w in asked}
    deadline = time.monotonic() + args.timeout
    silent = []
    while pending and time.monotonic() < deadline:
        time.sleep(0.1)
        now = time.monotonic()
        for worker_id, (beat, since) in list(pending.items()):
            if not os.path.isdir(layout.inbox(worker_id)):
                del pending[worker_id]
                print("stopped %s" % display(worker_id))
                continue
            current = read_heartbeat(layout.inbox(worker_id))
            if current != beat:
                pending[worker_id] = (current, now)
            elif now - since > args.silent_after:
                del pending[worker_id]
                silent.append(worker_id)
    status = 0
    for worker_id in silent:
        sys.stderr.write("fjd workers stop: %s did not beat for %g s: a dead or stuck worker; "
                         "its inbox %s stays (with the stop request in it)\n"
                         % (display(worker_id), args.silent_after,
                            display(layout.inbox(worker_id))))
        status = 1
    for worker_id in pending:
        sys.stderr.write("fjd workers stop: %s is still running after %g s\n"
                         % (display(worker_id), args.timeout))
        status = 1
    return status


def cmd_start(args):
    layout = Layout(args.root)
    if args.count is not None and args.count < 1:
        sys.stderr.write("fjd workers start: N must be at least 1\n")
        return 2
    if args.hosts and args.slurm:
        sys.stderr.write("fjd workers start: use --hosts or --slurm, not both\n")
        return 2
    slurm_only = [o for o, v in (("--nodes", args.nodes), ("--cores-per-node",
                                                          args.cores_per_node),
                                 ("--time", args.time), ("--margin", args.margin),
                                 ("--sbatch-option", args.sbatch_option)) if v]
    if slurm_only and not args.slurm:
        sys.stderr.write("fjd workers start: %s only go%s with --slurm\n"
                         % (", ".join(slurm_only), "es" if len(slurm_only) == 1 else ""))
        return 2
    if args.slurm:
        return start_slurm(layout, args)
    if args.hosts:
        return start_over_ssh(layout, args)
    count = args.count or cpu_count()
    return start_local(layout, count, args)


def cpu_count():
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def register(subparsers, add_common):
    raw = argparse.RawDescriptionHelpFormatter
    workers = subparsers.add_parser(
        "workers", help="start, list and stop workers (here, over ssh, or with Slurm)",
        description="Recruit workers: `fjd workers start`, `fjd workers list`, "
                    "`fjd workers stop`.\nEach has its own --help.",
        formatter_class=raw)
    actions = workers.add_subparsers(dest="workers_command", metavar="ACTION")

    def usage(args):
        workers.print_help(sys.stderr)
        return 2
    workers.set_defaults(func=usage)

    start = actions.add_parser(
        "start", help="start N workers (detached, each with its own log file)",
        description="Start N workers that keep running after this command returns, each\n"
                    "logging to its own file in <root>/logs/ (or --log-dir). Without N, one\n"
                    "per core. --hosts FILE starts them on other hosts over ssh (batch mode:\n"
                    "keys or an agent, never a password prompt); --slurm submits them as one\n"
                    "Slurm batch job.",
        epilog="hosts file (INI, like the 2012 remote.conf), one section per host:\n"
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
               "      --sbatch-option=--partition=short",
        formatter_class=raw)
    start.add_argument("count", nargs="?", type=int, metavar="N",
                       help="how many workers (default: one per core here; with --hosts, "
                            "for hosts without 'workers')")
    start.add_argument("--lifetime", type=nonnegative, metavar="SECONDS",
                       help="workers stop by themselves after this long")
    start.add_argument("--grace", type=nonnegative, metavar="SECONDS",
                       help="on stop, seconds between SIGTERM and SIGKILL for a running job")
    start.add_argument("--allow-user", action="append", default=[], metavar="USER",
                       help="workers also run job files owned by USER")
    start.add_argument("--cwd", metavar="DIR",
                       help="the workers' working directory (default: the current one)")
    start.add_argument("--log-dir", metavar="DIR", help="where logs go (default: <root>/logs)")
    start.add_argument("--python", metavar="PATH",
                       help="Python for Slurm workers (default: this one)")
    start.add_argument("--hosts", metavar="FILE", help="start workers on these hosts over ssh")
    slurm = start.add_argument_group("Slurm")
    slurm.add_argument("--slurm", action="store_true", help="submit the workers with sbatch")
    slurm.add_argument("--nodes", type=positive_int, metavar="K", help="sbatch --nodes")
    slurm.add_argument("--cores-per-node", type=positive_int, metavar="C",
                       help="workers per node (sbatch --ntasks-per-node)")
    slurm.add_argument("--time", metavar="LIMIT", help="sbatch --time (e.g. 90, 2:00:00)")
    slurm.add_argument("--margin", type=nonnegative, metavar="SECONDS",
                       help="stop this long before the time limit (default: 10%% of it, "
                            "30 to 300 s)")
    slurm.add_argument("--job-name", default="fjd-workers", help=argparse.SUPPRESS)
    slurm.add_argument("--sbatch-option", action="append", default=[], metavar="OPT",
                       help="pass OPT to sbatch (repeatable; write --sbatch-option=--x=y)")
    add_common(start)
    start.set_defaults(func=handle_os_errors("workers start", cmd_start))

    listing = actions.add_parser(
        "list", help="show the live workers on every host",
        description="Show every live worker of this queue, on every host. A worker is live\n"
                    "when the beat counter in jobpod/<worker>/.heartbeat changes while we\n"
                    "watch (workers beat every second): no clocks are compared, so it holds\n"
                    "across hosts. Takes about a second, at most --wait seconds.",
        formatter_class=raw)
    listing.add_argument("--wait", type=nonnegative, default=2.5, metavar="SECONDS",
                         help="how long to watch for a changing heartbeat (default 2.5)")
    listing.add_argument("--all", action="store_true",
                         help="also show inboxes whose heartbeat did not change (silent)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_common(listing)
    listing.set_defaults(func=handle_os_errors("workers list", cmd_list))

    stop = actions.add_parser(
        "stop", help="stop workers gracefully (all, by host or by id)",
        description="Ask workers to stop: a stop file in each inbox, seen within a second by\n"
                    "a worker on any host (one on this host also gets SIGTERM). A running\n"
                    "job is terminated and handed back to jobqueue/. Waits until they are\n"
                    "gone; a worker whose heartbeat stands still for --silent-after seconds\n"
                    "is reported as dead or stuck.",
        epilog="examples:\n  fjd workers stop\n  fjd workers stop --host node1\n",
        formatter_class=raw)
    stop.add_argument("ids", nargs="*", metavar="WORKER", help="worker ids (default: all)")
    stop.add_argument("--host", action="append", metavar="HOST",
                      help="only the workers on HOST (repeatable)")
    stop.add_argument("--timeout", type=nonnegative, default=60.0, metavar="SECONDS",
                      help="how long to wait for them (default 60)")
    stop.add_argument("--silent-after", type=nonnegative, default=10.0, metavar="SECONDS",
                      help=argparse.SUPPRESS)
    stop.add_argument("--no-wait", action="store_true", help="do not wait for them to exit")
    add_common(stop)
    stop.set_defaults(func=handle_os_errors("workers stop", cmd_stop))
