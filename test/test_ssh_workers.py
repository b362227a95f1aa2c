"""fjd workers start --hosts: workers on another host over ssh, on the same queue root.

The other host is a private sshd on 127.0.0.1 in its own UTS namespace with its own
hostname (test/ssh_fixture.py); it sees the same file system, like a node with a shared home.
"""
import functools
import os
import sys

import pytest

import conftest
from conftest import kill_leftovers
from ssh_fixture import remote  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

# starting and stopping workers can take longer than conftest's default minute
fjd_cli = functools.partial(conftest.fjd_cli, timeout=90)


def test_workers_on_a_remote_host(queue, remote, tmp_path):
    root = queue.root
    hosts = tmp_path / "hosts.conf"
    hosts.write_text("# like the 2012 remote.conf\n"
                     "[remote1]\nname: %s\nworkers: 2\nnice: 5\npython: %s\n"
                     "ssh_options: -F %s\n" % (remote.alias, sys.executable, remote.ssh_config))
    try:
        result = fjd_cli(root, "workers", "start", "--hosts", str(hosts))
        assert result.returncode == 0, (result.out, result.err)
        lines = [l for l in result.out.splitlines() if "started worker" in l]
        assert len(lines) == 2, result.out
        assert all(l.startswith("[%s] started worker %s-" % (remote.alias, remote.hostname))
                   for l in lines)
        listing = fjd_cli(root, "workers", "list")
        assert "2 live workers on %s" % remote.hostname in listing.out, listing.out

        queue.job("where.conf", "%s -c 'import socket; print(socket.gethostname())'"
                  % sys.executable)
        queue.dispatcher()
        queue.wait_finished(1)
        assert queue.done() == ["where.conf"]
        assert queue.record("where.conf")["host"] == remote.hostname
        assert queue.output("where.conf").strip() == remote.hostname

        # stopping by host from here (another hostname): only the stop files can do it
        stop = fjd_cli(root, "workers", "stop", "--host", remote.hostname)
        assert stop.returncode == 0, stop.err
        assert stop.out.count("stopped %s-" % remote.hostname) == 2
        assert os.listdir(queue.path("jobpod")) == []
    finally:
        kill_leftovers(root)


def test_unreachable_host_is_reported(queue, remote, tmp_path):
    hosts = tmp_path / "hosts.conf"
    hosts.write_text("[nowhere]\nname: %s\nport: 1\nssh_options: -F %s -o ConnectTimeout=3\n"
                     % (remote.alias, remote.ssh_config))
    result = fjd_cli(queue.root, "workers", "start", "--hosts", str(hosts))
    assert result.returncode == 1
    assert "ssh to %s failed" % remote.alias in result.err
