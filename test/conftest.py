"""Shared fixtures: a queue root in a temp folder and real dispatcher/worker processes.

Under pytest-xdist (test/run_tests.sh runs ``-n 6 --dist worksteal``, each process starting
with long tests) most tests share the machine, since they mostly wait. Tests marked ``exclusive`` (their assertions are bounds
on speed, or counts that load can change) run alone: every test holds a shared lock on one
file of the run, an exclusive test holds it exclusively (run_lock below).
"""
import contextlib
import fcntl
import io
import logging
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time

import pytest

import infra

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

PYTHON = sys.executable

# The tests start a few thousand Python processes (commands, daemons, jobs). Compiling fjd
# afresh in each, as PYTHONDONTWRITEBYTECODE makes them, costs a third of each one's CPU
# time, and the CPU of 2 cores is what bounds the suite: bytecode is cached, outside the
# checkout (PYTHONPYCACHEPREFIX; a cached file is used only while its source is unchanged).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ.setdefault("PYTHONPYCACHEPREFIX",
                      os.path.join(tempfile.gettempdir(), "fjd-test-pycache-%d" % os.getuid()))
# The same for pytest's own processes (the controller and each of the 6 under xdist), from
# here on: fjd's modules and the test modules (rewritten for pytest's assertion messages,
# which costs a few seconds of CPU in every process) come from the cache when unchanged.
sys.dont_write_bytecode = False
sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]


def run_dir(tmp_path_factory):
    """A folder the whole run shares: the controller's basetemp under xdist (each worker's
    own is a subfolder of it), else this session's."""
    base = tmp_path_factory.getbasetemp()
    return str(base.parent) if os.environ.get("PYTEST_XDIST_WORKER") else str(base)


@contextlib.contextmanager
def run_lock(tmp_path_factory, exclusive):
    """Hold the run's lock, shared or exclusive. A turnstile taken first keeps new shared
    holders out while an exclusive one waits (flock alone would let them starve it)."""
    folder = run_dir(tmp_path_factory)
    with open(os.path.join(folder, "turnstile.lock"), "a") as turnstile, \
            open(os.path.join(folder, "exclusive.lock"), "a") as main:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(main, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(main, fcntl.LOCK_UN)


# users that test_faults.py made with useradd, one name a line, in run_dir()
MADE_USERS = "made-users"


def pytest_sessionfinish(session):
    """At the end of the whole run (the controller's, under xdist: a worker's end is not
    the others'), remove the users the tests made."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    # the hook has no fixtures: the session's tmp_path_factory is the one the fixture had
    path = os.path.join(run_dir(session.config._tmp_path_factory), MADE_USERS)
    try:
        with open(path) as handle:
            names = handle.read().split()
    except FileNotFoundError:
        return
    for name in names:
        subprocess.run([infra.which("userdel"), name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    os.unlink(path)


def known_durations():
    """{test id: seconds} of test/durations.txt (the longest tests of a whole run)."""
    found = {}
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "durations.txt")) as handle:
            for line in handle:
                if line.strip() and not line.startswith("#"):
                    seconds, test_id = line.split(None, 1)
                    found[test_id.strip()] = float(seconds)
    except (OSError, ValueError):
        pass
    return found


def pytest_collection_modifyitems(session, config, items):
    """The longest tests (test/durations.txt) at the head of each process's share. Under
    `--dist worksteal` (run_tests.sh) the processes start with equal runs of the list, in
    order, and an idle one steals from the tail of another's: so the long tests are dealt
    round the runs' heads, and none is left to start last."""
    durations = known_durations()
    processes = config.getoption("numprocesses", None) if \
        config.getoption("dist", "no") == "worksteal" else None
    if not durations or not isinstance(processes, int) or processes < 2:
        return
    long_ones = sorted((item for item in items if item.nodeid in durations),
                       key=lambda item: -durations[item.nodeid])
    rest = [item for item in items if item.nodeid not in durations]
    heads = [long_ones[n::processes] for n in range(processes)]
    ordered, left = [], len(items)
    for n in range(processes):
        size = left // (processes - n)  # (what the scheduler gives each, in turn)
        left -= size
        fill = max(0, size - len(heads[n]))
        ordered += heads[n] + rest[:fill]
        del rest[:fill]
    items[:] = ordered + rest


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item):
    """Under xdist, tests marked exclusive run alone (see the module's docstring). The lock
    is taken around the whole test, outside pytest-timeout's clock: a test's timeout
    counts its own time, not the wait for an exclusive test elsewhere."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    exclusive = item.get_closest_marker("exclusive") is not None
    with run_lock(item.config._tmp_path_factory, exclusive):
        yield


def wait_for(predicate, timeout=10.0, interval=0.02, message="condition"):
    """Poll until predicate() is truthy; fail the test with message after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, message))
        time.sleep(interval)


def fjd_env(extra=None):
    """Our environment without FJD_ROOT, with this checkout first on PYTHONPATH, and extra."""
    env = dict(os.environ)
    env.pop("FJD_ROOT", None)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def fjd_cli(root, *args, cwd=None, env=None, timeout=60):
    """Run ``python -m fjd ARGS --root ROOT`` in cwd (default root) with env (default
    fjd_env()); the CompletedProcess also has .out and .err as text, and no traceback."""
    result = subprocess.run([PYTHON, "-m", "fjd"] + list(args) + ["--root", str(root)],
                            cwd=str(cwd or root), env=fjd_env() if env is None else env,
                            timeout=timeout, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    result.out = result.stdout.decode("utf-8", "replace")
    result.err = result.stderr.decode("utf-8", "replace")
    assert_no_traceback(result.out + result.err)
    return result


def fjd_in_process(root, *args, cwd=None, env=None):
    """``fjd ARGS --root ROOT`` run in this process (cli.main) in cwd (default root), for
    commands that only read (show, status, --help) or refuse their input: what fjd_cli
    checks, without an interpreter's start, a fifth of a second of the CPU that bounds the
    suite on 2 cores. Each test that uses it keeps a case through fjd_cli, where the process
    itself (exit status, streams) is checked. env: variables set for the call (COLUMNS, ...).
    Returns what fjd_cli returns."""
    from fjd import cli
    argv = [str(a) for a in args] + ([] if root is None else ["--root", str(root)])
    out, err = io.TextIOWrapper(io.BytesIO()), io.TextIOWrapper(io.BytesIO())
    saved_streams, saved_env, saved_cwd = (sys.stdout, sys.stderr), dict(os.environ), os.getcwd()
    logger = logging.getLogger()
    saved_logging = (logger.handlers[:], logger.level)
    sys.stdout, sys.stderr = out, err
    os.environ.update(env or {})
    if cwd is not None or root is not None:
        os.chdir(str(cwd or root))
    try:
        try:
            status = cli.main(argv)
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None
                                                                   else 1)
        out.flush()
        err.flush()
    finally:
        sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        logger.handlers[:], logger.level = saved_logging
    result = subprocess.CompletedProcess(["fjd"] + argv, status, out.buffer.getvalue(),
                                         err.buffer.getvalue())
    result.out = result.stdout.decode("utf-8", "replace")
    result.err = result.stderr.decode("utf-8", "replace")
    assert_no_traceback(result.out + result.err)
    return result


def py(code, *args):
    """A command line (for --exe or a job's executable) that runs Python code with args."""
    return " ".join(shlex.quote(w) for w in [sys.executable, "-c", code] + list(args))


def kill_leftovers(root):
    """SIGKILL every process whose command line mentions root (what a failed test left)."""
    infra.kill(infra.processes_mentioning(str(root)))


def wait_drained(listener, timeout=2.0):
    """Until a hints.HintListener has read a hint for its queue (False after timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listener.drain():
            return True
        time.sleep(0.01)
    return False


class Daemon:
    """A dispatcher or worker process with its log in a file."""

    def __init__(self, argv, log_path, cwd, env=None):
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGINT, timeout=10.0):
        """Send sig and wait; returns the exit status."""
        if self.alive():
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("%s did not exit within %.0f s of %s"
                                 % (self.argv[1:3], timeout, signal.Signals(sig).name))

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()

    def log(self):
        self._log.flush()
        with open(self.log_path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")

    def close(self):
        self._log.close()


class Queue:
    """A queue root in a temp folder, with helpers to start daemons and write jobs."""

    def __init__(self, root, logs):
        self.root = str(root)
        self.logs = str(logs)
        self.daemons = []
        os.makedirs(os.path.join(self.root, "jobqueue"), exist_ok=True)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def env(self, extra=None):
        return fjd_env(extra)

    def start(self, role, *args, cwd=None, env=None):
        script = os.path.join(REPO, role + ".py")
        log_path = os.path.join(self.logs, "%s-%d.log" % (role, len(self.daemons)))
        daemon = Daemon([PYTHON, script, "--root", self.root] + list(args), log_path,
                        cwd or self.root, self.env(env))
        self.daemons.append(daemon)
        return daemon

    def dispatcher(self, *args, **kwargs):
        return self.start("dispatcher", *args, **kwargs)

    def worker(self, *args, **kwargs):
        return self.start("worker", *args, **kwargs)

    def write(self, name, content, folder="jobqueue"):
        """Write a job the safe way: a dot-name first, then rename."""
        data = content.encode() if isinstance(content, str) else content
        directory = self.path(folder)
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, ".writing-%d.tmp" % time.monotonic_ns())
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.rename(tmp, os.path.join(directory, name))
        return os.path.join(directory, name)

    def job(self, name, executable, params=None, **control):
        lines = ["[control]", "executable: %s" % executable]
        lines += ["%s: %s" % (key, value) for key, value in control.items()]
        if params:
            lines += ["", "[params]"] + ["%s: %s" % kv for kv in params.items()]
        return self.write(name, "\n".join(lines) + "\n")

    def names(self, folder):
        try:
            return sorted(n for n in os.listdir(self.path(folder)) if not n.startswith("."))
        except FileNotFoundError:
            return []

    def done(self):
        return self.names("done")

    def failed(self):
        return self.names("failed")

    def queued(self):
        return self.names("jobqueue")

    def in_inboxes(self):
        found = []
        for worker in self.names("jobpod"):
            found += self.names(os.path.join("jobpod", worker))
        return found

    def layout(self):
        from fjd.layout import Layout
        return Layout(self.root)

    def record(self, final_name):
        """The newest record of a finished job (from the journals in records/)."""
        from fjd import record_search
        found = record_search.find_job_records(self.layout(), final_name)
        assert found, "no record of %s in %s" % (final_name, self.names("records"))
        return found[-1]

    def task_record(self, array, index):
        from fjd import record_search
        found = record_search.find_task_records(self.layout(), array, index)
        assert found, "no record of %s#%d" % (array, index)
        return found[-1]

    def output(self, final_name, kind="stdout", record=None):
        """What a finished job wrote to stdout (or stderr), as text ("" for nothing)."""
        from fjd import record_search
        record = record or self.record(final_name)
        span = record.get(kind)
        if isinstance(span, str):
            span = [span, 0, None]
        return record_search.read_output(self.layout(), span).decode("utf-8", "replace")

    def reason(self, final_name):
        return self.record(final_name)["reason"]

    def wait_finished(self, count, timeout=20.0):
        return wait_for(lambda: len(self.done()) + len(self.failed()) >= count, timeout,
                        message="%d finished jobs (done: %s, failed: %s)"
                                % (count, self.done(), self.failed()))

    def all_logs(self):
        return "\n".join(d.log() for d in self.daemons)

    def shutdown(self):
        for daemon in self.daemons:
            if daemon.alive():
                daemon.proc.send_signal(signal.SIGTERM)
        for daemon in self.daemons:
            try:
                daemon.proc.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
            daemon.close()


@pytest.fixture
def queue(tmp_path):
    root = tmp_path / "root"
    logs = tmp_path / "logs"
    root.mkdir()
    logs.mkdir()
    q = Queue(root, logs)
    yield q
    q.shutdown()


def assert_no_traceback(text):
    assert "Traceback" not in text, text[-4000:]
