"""fjd.Executor across hosts: the calls run on a worker of another host that mounts the
queue over sshfs (test/hosts.py), from a caller outside every host and from a caller on a
third host over its own sshfs mount. Needs what test_multihost.py needs; skipped otherwise."""
import os
import socket
import sys
import time

import pytest

import fjd
from conftest import fjd_env
from hosts import hosts  # noqa: F401  (the fixture)
import executor_funcs as funcs

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECOMMENDED = "dir_cache=no,attr_timeout=0,entry_timeout=0"

CALLER = """\
import socket
import fjd

def where(x):
    return socket.gethostname(), x * x

if __name__ == "__main__":
    with fjd.Executor(root=%r) as ex:
        print("single", ex.submit(where, 3).result(timeout=60))
        results = list(ex.map(where, range(100), chunksize=3))
        print("map", sorted({host for host, _ in results}),
              [value for _, value in results] == [x * x for x in range(100)])
"""


def start(cluster, host, role):
    argv = [sys.executable, os.path.join(REPO, role + ".py"), "--root", cluster.mountpoint]
    return cluster.start(host, argv, options=RECOMMENDED, env=fjd_env())


def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return predicate()


def test_calls_run_on_another_host(hosts):  # noqa: F811
    shared = hosts.shared
    os.makedirs(os.path.join(shared, "jobqueue"))
    start(hosts, "alpha", "dispatcher")
    start(hosts, "beta", "worker")
    assert wait_until(lambda: os.path.exists(os.path.join(shared, "dispatcher.lock")), 20)
    with fjd.Executor(root=shared) as ex:  # (the caller outside every host)
        assert ex.submit(socket.gethostname).result(timeout=60) == "beta"
        assert list(ex.map(funcs.square, range(200))) == [i * i for i in range(200)]
        with pytest.raises(ZeroDivisionError):
            ex.submit(funcs.divide, 1, 0).result(timeout=60)
        trips = []
        for _ in range(10):
            started = time.monotonic()
            ex.submit(funcs.square, 2).result(timeout=60)
            trips.append(time.monotonic() - started)
        print("round trip over sshfs (worker on beta): median %.0f ms"
              % (sorted(trips)[5] * 1000))
    with open(os.path.join(shared, "caller.py"), "w") as handle:
        handle.write(CALLER % hosts.mountpoint)
    caller = hosts.start(
        "gamma", [sys.executable, os.path.join(hosts.mountpoint, "caller.py")],
        options=RECOMMENDED, env=fjd_env())
    assert caller.proc.wait(120) == 0, caller.log()
    log = caller.log()
    assert "single ('beta', 9)" in log and "map ['beta'] True" in log, log
    assert all(status == 0 for status in hosts.stop_all().values())
