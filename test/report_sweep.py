"""A small real sweep for the tests of `fjd report` and `fjd records`: a dispatcher and
three workers (one of them on a host of its own name when `unshare -u` works), an array
with a failing and a timed-out task, a single job that fails and is retried with `fjd
retry`, and a single job whose worker is SIGKILLed while it runs (run again elsewhere,
attempt 2). Made once per test module; what it made is returned as a dict."""
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from conftest import PYTHON, REPO, Daemon, fjd_cli, fjd_env, py, wait_for

OTHER_HOST = "reporthost2"
ARRAY = "sweep.conf"
TASK_CODE = ("import sys, time; i = int(sys.argv[1]); print('task', i, sys.argv[2]); "
             "time.sleep(0.05 * (i % 3)); "
             "time.sleep(30) if i == 5 else None; sys.exit(3 if i == 3 else 0)")


def other_host_argv(argv):
    """argv run with the hostname OTHER_HOST (own UTS namespace), or None if we cannot."""
    unshare = shutil.which("unshare")
    if not unshare or os.geteuid() != 0:
        return None
    probe = subprocess.run([unshare, "-u", "true"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    if probe.returncode != 0:
        return None
    shell = 'hostname %s && exec "$@"' % OTHER_HOST
    return [unshare, "-u", "sh", "-c", shell, "sh"] + argv


def write(root, name, text):
    temporary = os.path.join(root, "jobqueue", "." + name + ".tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
    os.rename(temporary, os.path.join(root, "jobqueue", name))


def make_sweep(tmp):
    root = os.path.join(tmp, "root")
    logs = os.path.join(tmp, "logs")
    for folder in (root, os.path.join(root, "jobqueue"), logs):
        os.makedirs(folder, exist_ok=True)
    env = fjd_env()
    daemons = []

    def start(role, options=(), argv_prefix=None):
        argv = [PYTHON, os.path.join(REPO, role + ".py"), "--root", root] + list(options)
        argv = (argv_prefix(argv) if argv_prefix else None) or argv
        daemon = Daemon(argv, os.path.join(logs, "%s-%d.log" % (role, len(daemons))), root,
                        env)
        daemons.append(daemon)
        return daemon

    try:
        start("dispatcher", ["--worker-timeout", "5"])
        victim = start("worker")
        marker = os.path.join(tmp, "slow-started")
        write(root, "slow.conf", "[control]\nexecutable: %s\n" % py(
            "import os, sys, time; open(sys.argv[1], 'a').close(); time.sleep(1.5)", marker))
        wait_for(lambda: os.path.exists(marker), 20, message="slow.conf started")
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        start("worker")
        start("worker", argv_prefix=other_host_argv)
        write(root, ARRAY, "[control]\nexecutable: %s $i $s\ntasks: product\ntimeout: 3\n"
              "jobfile: none\n\n[params]\ni: 1..6\ns: x,y\n" % py(TASK_CODE, ).rstrip())
        write(root, "bad.conf", "[control]\nexecutable: %s\n" % py("import sys; sys.exit(7)"))
        wait_for(lambda: finished(root) >= 3, 60, message="3 finished files")
        retried = fjd_cli(root, "retry", "bad.conf")
        assert retried.returncode == 0, retried.err
        wait_for(lambda: finished(root) >= 3 and not os.listdir(os.path.join(root, "jobqueue"))
                 and not in_inboxes(root), 30, message="the retried job")
        return {"root": root, "victim": "%s-%d-" % (socket.gethostname(), victim.pid),
                "other_host": daemons[3].argv[0].endswith("unshare")}
    finally:
        for daemon in daemons:
            if daemon.alive():
                daemon.proc.send_signal(signal.SIGTERM)
        for daemon in daemons:
            try:
                daemon.proc.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
            daemon.close()


def finished(root):
    return sum(len([n for n in os.listdir(os.path.join(root, f)) if not n.startswith(".")])
               for f in ("done", "failed"))


def in_inboxes(root):
    pods = os.path.join(root, "jobpod")
    return sum(len([n for n in os.listdir(os.path.join(pods, inbox)) if not n.startswith(".")])
               for inbox in os.listdir(pods))


@pytest.fixture(scope="session")
def sweep(tmp_path_factory):
    """The sweep, made once per test run: under pytest-xdist the first process to need it
    makes it in the folder they all share, the others wait for it (a lock) and read it (the
    tests only read it; one that changes it copies it first)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    made = os.path.join(str(shared), "report-sweep.json")
    with open(os.path.join(str(shared), "report-sweep.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(made):
            folder = os.path.join(str(shared), "report-sweep")
            os.makedirs(folder, exist_ok=True)
            with open(made + ".tmp", "w") as handle:
                json.dump(make_sweep(folder), handle)
            os.rename(made + ".tmp", made)
        with open(made) as handle:
            return json.load(handle)


if __name__ == "__main__":
    print(make_sweep(sys.argv[1]))
