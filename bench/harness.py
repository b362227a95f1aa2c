"""What every scenario and competitor of the fjd benchmark shares.

The daemons as subprocesses (Daemon) in a fresh queue root (Scenario), readers of
/proc/<pid>/stat and /status, writing and publishing job files the way a user's tool does,
the records, the folders kept until the end of the run (see remove_later), the warning for
slow file creation and the description of the machine. Standard library only.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
JOB = b"[control]\nexecutable: true\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")

def say(text=""):
    """Progress goes to stderr; the results table goes to stdout."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# -- processes ------------------------------------------------------------------------------

def proc_stat_ticks(pid):
    """(utime+stime, cutime+cstime, utime, stime) of a live process in clock ticks, or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    # fields[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17
    utime, stime = int(fields[11]), int(fields[12])
    return utime + stime, int(fields[13]) + int(fields[14]), utime, stime


def proc_status_kb(pid, key):
    """A kB value such as VmHWM or VmRSS from /proc/<pid>/status; None if unavailable."""
    try:
        with open("/proc/%d/status" % pid) as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def child_pid(pid, word):
    """The pid of a child of `pid` whose command line has `word` as an argument, or None.

    For the daemons that `fjd run` starts itself; /proc/<pid>/task/*/children is not in
    every kernel, so this reads the parent pid of every process once.
    """
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as handle:
                data = handle.read()
            if int(data[data.rindex(b")") + 2:].split()[1]) != pid:
                continue
            with open("/proc/%s/cmdline" % name, "rb") as handle:
                if word.encode() in handle.read().split(b"\0"):
                    return int(name)
        except (OSError, ValueError, IndexError):
            continue
    return None


class Daemon:
    """A dispatcher or worker subprocess with its output in a log file.

    own_group: start it in a session of its own, so that killing it (when it hangs on
    SIGINT) kills what it started too. stop_status: the exit statuses that are fine after
    SIGINT (`fjd run` exits 130 when interrupted).
    """

    def __init__(self, role, argv, log_path, cwd, env, own_group=False, stop_status=(0,)):
        self.role = role
        self.argv = argv
        self.log_path = log_path
        self.own_group = own_group
        self.stop_status = stop_status
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=own_group)
        self.pid = self.proc.pid
        self.hung = False
        self.stopped = False

    def alive(self):
        return self.proc.poll() is None

    def cpu_seconds(self):
        ticks = proc_stat_ticks(self.pid)
        if ticks is None:
            return None
        return tuple(t / CLK_TCK for t in ticks)

    def signal(self, sig=signal.SIGINT):
        if self.alive():
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def wait_or_kill(self, timeout):
        self.stopped = True
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.hung = True
            say("  ! %s (pid %d) did not stop within %.0f s of SIGINT: killing it"
                % (self.role, self.pid, timeout))
            if self.own_group:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except OSError:
                    pass
            self.proc.kill()
            return self.proc.wait()
        finally:
            self._log.close()

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def count_names(path):
    """Entries in a folder that are not dot-names; 0 if it is missing."""
    try:
        with os.scandir(path) as entries:
            return sum(1 for e in entries if not e.name.startswith("."))
    except FileNotFoundError:
        return 0


def dir_mtime(path):
    try:
        return os.stat(path).st_mtime_ns / 1e9
    except OSError:
        return None


# -- queue roots ----------------------------------------------------------------------------

class Scenario:
    """A fresh queue root in a temp folder, the daemons serving it, and their cleanup."""

    def __init__(self, opts, name):
        self.opts = opts
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="fjd-bench-%s-" % name, dir=opts.tmp)
        self.root = os.path.join(self.dir, "root")
        self.logs = os.path.join(self.dir, "logs")
        os.makedirs(os.path.join(self.root, "jobqueue"))
        os.makedirs(self.logs)
        self.daemons = []
        self.problems = []

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def start(self, role, profile=None):
        argv = [self.opts.python]
        if profile:
            argv += ["-m", "cProfile", "-o", profile]
        argv += [os.path.join(self.opts.fjd, role + ".py"), "--root", self.root,
                 "--log-level", "WARNING"]
        log_path = os.path.join(self.logs, "%s-%d.log" % (role, len(self.daemons)))
        # the checkout's own fjd: its dispatcher.py's folder comes first on sys.path anyway,
        # and PYTHONPATH says so for anything the daemon starts (--compare runs two checkouts)
        daemon = Daemon(role, argv, log_path, self.dir, fjd_env(self.opts))
        self.daemons.append(daemon)
        return daemon

    def dispatcher(self, profile=None):
        return self.start("dispatcher", profile)

    def worker(self, profile=None):
        return self.start("worker", profile)

    def workers(self):
        return [d for d in self.daemons if d.role == "worker"]

    def fjd_run(self, workers):
        """`python -m fjd run --workers W` on this root: it starts its own dispatcher (with
        --exit-when-done) and workers, at the same log level as ours."""
        argv = [self.opts.python, "-m", "fjd", "run", "--workers", str(workers),
                "--root", self.root, "--quiet", "--log-level", "WARNING"]
        log_path = os.path.join(self.logs, "fjd-run-%d.log" % len(self.daemons))
        daemon = Daemon("fjd run", argv, log_path, self.dir, fjd_env(self.opts),
                        own_group=True, stop_status=(0, 130))
        self.daemons.append(daemon)
        return daemon

    def wait_announced(self, count, timeout=30.0):
        """Until `count` workers have announced themselves idle in workerqueue/."""
        deadline = time.monotonic() + timeout
        while count_names(self.path("workerqueue")) < count:
            self.check_alive()
            if time.monotonic() > deadline:
                raise BenchError("%s: only %d of %d workers announced within %.0f s"
                                 % (self.name, count_names(self.path("workerqueue")), count,
                                    timeout))
            time.sleep(0.02)

    def wait_idle(self, workers):
        """Workers announced and every daemon past its start-up: an idle system."""
        self.wait_announced(workers)
        time.sleep(self.opts.settle)
        self.check_alive()

    def check_alive(self):
        for daemon in self.daemons:
            if not daemon.alive():
                raise BenchError("%s: %s exited early with status %s:\n%s"
                                 % (self.name, daemon.role, daemon.proc.returncode,
                                    daemon.log_tail()))

    def finished(self):
        return count_names(self.path("done")) + count_names(self.path("failed"))

    def wait_finished(self, total, timeout, poll):
        """Poll done/ + failed/ until `total` jobs are there; (reached, wall time seen)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.finished() >= total:
                return True, time.time()
            if time.monotonic() > deadline:
                return False, time.time()
            self.check_alive()
            time.sleep(poll)

    def stop(self):
        for daemon in self.daemons:
            if not daemon.stopped:
                daemon.signal(signal.SIGINT)
        for daemon in self.daemons:
            if not daemon.stopped:
                status = daemon.wait_or_kill(self.opts.stop_timeout)
                if daemon.hung:
                    self.problems.append("%s pid %d hung on SIGINT and was killed"
                                         % (daemon.role, daemon.pid))
                elif status is not None and status not in daemon.stop_status:
                    self.problems.append("%s pid %d exited with status %s after SIGINT"
                                         % (daemon.role, daemon.pid, status))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        for problem in self.problems:
            say("  ! %s: %s" % (self.name, problem))
        if self.opts.keep:
            say("  kept %s" % self.dir)
        else:
            remove_later(self.dir)
        return False


LEFTOVERS = []  # folders to remove once everything is measured
SLOW_CREATE_US = 150.0  # creating a small file costs 15-30 µs on a quiet local disk


def warn_if_slow_create(where, microseconds):
    """Say so when creating a file costs far more than on a quiet disk (see remove_later)."""
    if microseconds and microseconds > SLOW_CREATE_US:
        say("%s: creating a file costs %.0f µs, not the usual 15-30: many files were probably "
            "deleted nearby in the last minutes, and ext4 without a journal skips their inodes "
            "one by one on every creation for a few minutes. Every file-based queue pays this; "
            "wait a few minutes, or use --tmp elsewhere, for quiet-disk numbers."
            % (where, microseconds))


def remove_later(folder):
    """Queue a folder for removal at the end of the run, not now.

    On ext4 without a journal the kernel avoids reusing the inodes of recently deleted files
    and checks each of them, one by one, on every file creation in that block group: on this
    machine creating a file cost 18 µs before 6,000 files were deleted in its folder, 614 µs
    20 s after and still 154 µs 150 s after. Removing each scenario's queue right away would
    slow every later scenario this way, so the harness deletes nothing until the end.
    """
    LEFTOVERS.append(folder)


def remove_leftovers():
    if LEFTOVERS:
        say("removing the %d temporary queue folders ..." % len(LEFTOVERS))
    while LEFTOVERS:
        shutil.rmtree(LEFTOVERS.pop(), ignore_errors=True)


class BenchError(Exception):
    pass


# -- small helpers --------------------------------------------------------------------------

def count_entries(root, skip=("logs",)):
    """Every file and folder under root (root itself not counted), without the top-level
    folders named in skip and what they hold; and the count per top-level entry."""
    total, per_top = 0, {}
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == root:
            dirnames[:] = [d for d in dirnames if d not in skip]
            for name in dirnames + filenames:
                per_top[name] = per_top.get(name, 0) + 1
        else:
            top = os.path.relpath(dirpath, root).split(os.sep)[0]
            per_top[top] = per_top.get(top, 0) + len(dirnames) + len(filenames)
        total += len(dirnames) + len(filenames)
    return total, per_top


def finished_arrays(root):
    """The names in done/ and failed/ (an array file ends in one of them)."""
    found = []
    for folder in ("done", "failed"):
        try:
            found += sorted(n for n in os.listdir(os.path.join(root, folder))
                            if not n.startswith("."))
        except FileNotFoundError:
            pass
    return found



def ratio(a, b):
    return a / b if a and b else None


def fjd_env(opts):
    env = dict(os.environ)
    env.pop("FJD_ROOT", None)
    extra = env.get("PYTHONPATH")
    env["PYTHONPATH"] = opts.fjd + (os.pathsep + extra if extra else "")
    return env
