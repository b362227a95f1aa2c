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
import shutil
import signal
import socket
import subprocess
import sys
import time

try:
    import pytest
except ImportError:
    pytest = None

ALIAS = "fjd-remote"
TOOLS = ("sshd", "ssh", "ssh-keygen", "unshare")
# runs inside the new UTS namespace: set the hostname, then become sshd
SHIM = ("import os, socket, sys; socket.sethostname(sys.argv[1]); "
        "os.execv(sys.argv[2], sys.argv[2:])")


class Unavailable(Exception):
    pass


def which(name):
    path = os.environ.get("PATH", os.defpath) + ":/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"
    return shutil.which(name, path=path)


def missing():
    return [tool for tool in TOOLS if not which(tool)]


def install():
    if not missing():
        return
    if os.environ.get("FJD_NO_INSTALL"):
        raise Unavailable("missing %s and FJD_NO_INSTALL is set" % ", ".join(missing()))
    apt = which("apt-get")
    if not apt:
        raise Unavailable("missing %s and no apt-get" % ", ".join(missing()))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    command = [apt, "install", "-y", "-q", "--no-install-recommends", "openssh-server",
               "openssh-client", "util-linux"]
    for argv in (command, [apt, "update", "-q"], command):
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env)
        if argv is command and result.returncode == 0 and not missing():
            return
    raise Unavailable("could not install openssh-server: %s"
                      % result.stdout.decode(errors="replace").strip().splitlines()[-1:])


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid):
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        children.setdefault(int(data[data.rindex(b")") + 2:].split()[1]), []).append(int(name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def kill(pids, sig=signal.SIGKILL):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class RemoteSshd:
    def __init__(self, state_dir, hostname="fjdremote"):
        self.dir = os.path.abspath(str(state_dir))
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.hostname = hostname
        self.alias = ALIAS
        self.port = None
        self.proc = None
        self.config = os.path.join(self.dir, "sshd_config")
        self.ssh_config = os.path.join(self.dir, "ssh_config")
        self.log_path = os.path.join(self.dir, "sshd.log")
        self._log = None

    def keygen(self, name):
        path = os.path.join(self.dir, name)
        if not os.path.exists(path):
            subprocess.run([which("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", name,
                            "-f", path], check=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL)
        with open(path + ".pub") as handle:
            return path, handle.read().strip()

    def write_configs(self):
        host_key, host_pub = self.keygen("host_ed25519")
        client_key, client_pub = self.keygen("client_ed25519")
        authorized = os.path.join(self.dir, "authorized_keys")
        known = os.path.join(self.dir, "known_hosts")
        with open(authorized, "w") as handle:
            handle.write(client_pub + "\n")
        with open(known, "w") as handle:
            handle.write("%s %s\n" % (ALIAS, " ".join(host_pub.split()[:2])))
        with open(self.config, "w") as handle:
            handle.write("\n".join([
                "Port %d" % self.port, "ListenAddress 127.0.0.1", "HostKey %s" % host_key,
                "PidFile %s" % os.path.join(self.dir, "sshd.pid"),
                "AuthorizedKeysFile %s" % authorized, "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes", "PasswordAuthentication no",
                "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
                "MaxStartups 64:30:128", "LogLevel INFO"]) + "\n")
        with open(self.ssh_config, "w") as handle:
            handle.write("\n".join([
                "Host %s" % ALIAS, "  HostName 127.0.0.1", "  Port %d" % self.port,
                "  User root", "  IdentityFile %s" % client_key, "  IdentitiesOnly yes",
                "  HostKeyAlias %s" % ALIAS, "  UserKnownHostsFile %s" % known,
                "  GlobalKnownHostsFile /dev/null", "  StrictHostKeyChecking yes",
                "  BatchMode yes", "  LogLevel ERROR"]) + "\n")

    def start(self, timeout=10.0):
        install()
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        sshd = os.path.realpath(which("sshd"))
        last = ""
        for _ in range(3):
            self.port = free_port()
            self.write_configs()
            check = subprocess.run([sshd, "-t", "-f", self.config], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
            if check.returncode != 0:
                raise Unavailable("sshd -t rejects the config: %s"
                                  % check.stdout.decode(errors="replace").strip())
            self._log = open(self.log_path, "ab")
            argv = [which("unshare"), "--uts", "--", sys.executable, "-c", SHIM, self.hostname,
                    sshd, "-D", "-e", "-f", self.config]
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
            if self.wait_banner(timeout):
                return self
            last = self.log()
            self.stop()
        raise Unavailable("sshd in a UTS namespace did not start: %s" % last.strip()[-500:])

    def wait_banner(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"SSH-"):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def run(self, argv, timeout=30):
        """Run argv (a list) on the "remote host"; returns CompletedProcess."""
        command = " ".join(_quote(a) for a in argv)
        return subprocess.run(["ssh", "-F", self.ssh_config, ALIAS, command],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout)

    def log(self):
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        tree = descendants(self.proc.pid)
        kill(tree, signal.SIGTERM)
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        kill(tree)
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None


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
