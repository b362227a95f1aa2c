"""A "remote host" for ssh tests: a private sshd on 127.0.0.1 in its own UTS namespace.

sshd runs under ``unshare --uts`` with its own hostname, so everything started through it
(``fjd workers start`` on the "remote" side, and the workers it leaves running) reports that
hostname, while the file system is the same one: the queue root is shared, as on a cluster
with a shared home. Keys, sshd_config, ssh_config and known_hosts live in the state folder;
nothing is written to ~/.ssh or /etc/ssh (the package's install aside). Needs root.

    remote = RemoteSshd(tmp_dir, hostname="fjdremote").start()   # raises Unavailable
    ssh_options = ["-F", remote.ssh_config]; host alias: remote.alias
    remote.stop()

Python 3.8+, standard library only (pytest only for the fixture).
"""
import os
import subprocess
import sys

from infra import Sshd, Unavailable, apt_install, which

try:
    import pytest
except ImportError:
    pytest = None

ALIAS = "fjd-remote"
PACKAGES = ("openssh-server", "openssh-client", "util-linux")
TOOLS = ("sshd", "ssh", "ssh-keygen", "unshare")


def install():
    apt_install(PACKAGES, TOOLS)


class RemoteSshd(Sshd):
    """sshd under ``unshare --uts`` with its own hostname (see infra.Sshd)."""

    def __init__(self, state_dir, hostname="fjdremote"):
        super().__init__(state_dir, ALIAS, hostname=hostname)

    def start(self, timeout=10.0):
        install()
        return super().start(timeout)

    def run(self, argv, timeout=30):
        """Run argv (a list) on the "remote host"; returns CompletedProcess."""
        command = " ".join(_quote(a) for a in argv)
        return subprocess.run(["ssh", "-F", self.ssh_config, ALIAS, command],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout)


def _quote(word):
    import shlex
    return shlex.quote(word)


def unavailable_reason():
    if not sys.platform.startswith("linux"):
        return "needs Linux namespaces"
    if os.geteuid() != 0:
        return "needs root (UTS namespace, sshd)"
    try:
        install()
    except Unavailable as error:
        return str(error)
    probe = subprocess.run([which("unshare"), "--uts", "true"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    if probe.returncode != 0:
        return "unshare --uts is refused: %s" % probe.stdout.decode(errors="replace").strip()
    return None


if pytest is not None:
    @pytest.fixture
    def remote(tmp_path):
        reason = unavailable_reason()
        if reason:
            pytest.skip("ssh test: " + reason)
        server = RemoteSshd(tmp_path / "sshd")
        try:
            server.start()
        except Unavailable as error:
            pytest.skip("ssh test: %s" % error)
        try:
            yield server
        finally:
            server.stop()
