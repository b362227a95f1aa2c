"""What the ssh, multi-host and Slurm test fixtures share: Debian packages installed with
apt-get, free ports, processes found through /proc, and a private sshd with generated keys.

Used by hosts.py (multi-host over sshfs), ssh_fixture.py (a "remote host" over ssh) and
slurm_fixture.py (a single-node Slurm). Python 3.8+, standard library only.
"""
import collections
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time


class Unavailable(Exception):
    """This machine cannot run these tests; the message says why."""


# -- tools and packages ----------------------------------------------------------------------

def which(name):
    """shutil.which, also looking in the sbin folders that a non-login PATH may lack."""
    path = os.environ.get("PATH", os.defpath)
    extra = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"
    return shutil.which(name, path=path + os.pathsep + extra)


def missing(tools):
    return [tool for tool in tools if not which(tool)]


def apt_install(packages, tools, no_install_variable="FJD_NO_INSTALL", timeout=None):
    """apt-get install packages when one of tools is missing. Raises Unavailable.

    Nothing is installed when the environment variable no_install_variable is set; timeout
    (seconds, None for none) limits each apt-get run.
    """
    if not missing(tools):
        return
    if os.geteuid() != 0:
        raise Unavailable("needs root to install %s" % " ".join(packages))
    if os.environ.get(no_install_variable):
        raise Unavailable("missing %s and %s is set"
                          % (", ".join(missing(tools)), no_install_variable))
    apt = which("apt-get")
    if not apt:
        raise Unavailable("missing %s and no apt-get to install %s"
                          % (", ".join(missing(tools)), " ".join(packages)))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [apt, "install", "-y", "-q", "--no-install-recommends"] + list(packages)
    # a fresh machine may have no package lists yet: install, and on failure update and retry
    for argv in (install, [apt, "update", "-q"], install):
        try:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Unavailable("apt-get took more than %g s" % timeout)
        last = result.stdout.decode("utf-8", "replace").strip().splitlines()[-1:]
        if argv is install and result.returncode == 0 and not missing(tools):
            return
    raise Unavailable("could not install %s with apt-get: %s" % (" ".join(packages), last))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- processes -------------------------------------------------------------------------------

def all_pids():
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def parent_of(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: fields follow the last ")"
    return int(data[data.rindex(b")") + 2:].split()[1])


def descendants(pid):
    """pids of all living descendants of pid (by parent links in /proc), parents first."""
    children = {}
    for other in all_pids():
        parent = parent_of(other)
        if parent is not None:
            children.setdefault(parent, []).append(other)
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop(0)
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def ancestors():
    """Our pid and those of our parent, its parent, and so on."""
    found, pid = set(), os.getpid()
    while pid and pid not in found:
        found.add(pid)
        pid = parent_of(pid)
    return found


def processes_mentioning(text):
    """pids whose command line contains text (never ours or our ancestors'): leftovers."""
    needle = os.fsencode(text)
    found = []
    mine = ancestors()
    for pid in all_pids():
        if pid in mine:
            continue
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                if needle in handle.read():
                    found.append(pid)
        except OSError:
            pass
    return found


def kill(pids, sig=signal.SIGKILL):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


# -- a private sshd --------------------------------------------------------------------------

SFTP_SERVER = "/usr/lib/openssh/sftp-server"


def sftp_logging_wrapper(path, log_dir, level="DEBUG3", server=SFTP_SERVER):
    """Write an executable script at path that runs sftp-server logging every request.

    Meant for ``Sshd(..., sftp_subsystem=path)``: sshd runs it once per sftp connection (one
    per sshfs mount), and it execs ``sftp-server -e -l LEVEL`` with stderr appended to
    ``log_dir/sftp-<pid>.log``, where <pid> is the sftp-server's own pid (the shell's $$,
    which exec keeps). At DEBUG3 each request is a line ``debugN: request <id>: <type> ...``
    and each reply one ``debugN: request <id>: sent ...``. Returns path.
    """
    os.makedirs(log_dir, exist_ok=True)
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\nexec %s -e -l %s 2>>%s$$.log\n"
                     % (shlex.quote(server), shlex.quote(level),
                        shlex.quote(os.path.join(os.path.abspath(log_dir), "sftp-"))))
    os.chmod(path, 0o755)
    return path


# -- counting an sftp-server's requests ---------------------------------------------------

# one request: its first line that is not a reply ("request <id>: sent ...")
REQUEST_LINE = re.compile(rb"^debug\d: request (\d+): (?!sent )(%?[a-z@.-]+)", re.M)


class RequestLog:
    """The sftp-server logs in one folder, one per connection, read between two marks.

    A mark is the size of every log at an instant; the requests of a window are those whose
    line begins between the window's two marks (the logs are only ever appended to, one
    write per line).
    """

    def __init__(self, folder):
        self.folder = folder

    def paths(self):
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        return sorted(os.path.join(self.folder, n) for n in names
                      if n.startswith("sftp-") and n.endswith(".log"))

    def mark(self):
        sizes = {}
        for path in self.paths():
            try:
                sizes[path] = os.path.getsize(path)
            except OSError:
                pass
        return time.monotonic(), sizes

    def between(self, start, end):
        """{log path: Counter of request types} for the requests between two marks (distinct
        request ids of each connection)."""
        found = {}
        for path, stop in end[1].items():
            begin = start[1].get(path, 0)
            counter = collections.Counter()
            found[path] = counter
            if stop <= begin:
                continue
            with open(path, "rb") as handle:
                lead = 1 if begin > 0 else 0
                handle.seek(begin - lead)
                data = handle.read(stop - begin + lead)
                if data and not data.endswith(b"\n"):
                    data += handle.readline()  # a line cut by the mark belongs to this window
            if lead:  # skip a line that began before the window (it was counted in the last)
                cut = data.find(b"\n")
                data = data[cut + 1:] if cut >= 0 else b""
            kinds = {}
            for match in REQUEST_LINE.finditer(data):
                kinds.setdefault(match.group(1), match.group(2))
            counter.update(kind.decode("ascii", "replace") for kind in kinds.values())
        return found


# runs inside a new UTS namespace: set the hostname, then become sshd
UTS_SHIM = ("import os, socket, sys; socket.sethostname(sys.argv[1]); "
            "os.execv(sys.argv[2], sys.argv[2:])")


class Sshd:
    """A private sshd on 127.0.0.1 with its own host key, config and one authorized key.

    alias:    the host name to ssh to with ``-F ssh_config`` (also the host key's alias)
    hostname: if given, sshd runs under ``unshare --uts`` with this hostname, so that what
              is started through it reports that hostname (needs root and unshare)
    sftp_subsystem: what serves sftp (``Subsystem sftp ...`` in sshd_config): sshd's own
              ``internal-sftp`` by default, or a command such as a script that runs
              /usr/lib/openssh/sftp-server with logging (see sftp_logging_wrapper)

    Keys, sshd_config, ssh_config and known_hosts live in state_dir; sshd runs with ``-f``
    on that config, so nothing is written to ~/.ssh or /etc/ssh.
    """

    def __init__(self, state_dir, alias, hostname=None, sftp_subsystem="internal-sftp"):
        self.dir = os.path.abspath(str(state_dir))
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.alias = alias
        self.hostname = hostname
        self.sftp_subsystem = sftp_subsystem or "internal-sftp"
        self.port = None
        self.proc = None
        self.log_path = os.path.join(self.dir, "sshd.log")
        self.config = os.path.join(self.dir, "sshd_config")
        self.ssh_config = os.path.join(self.dir, "ssh_config")
        self.host_key = os.path.join(self.dir, "host_ed25519")
        self.client_key = os.path.join(self.dir, "client_ed25519")
        self.authorized = os.path.join(self.dir, "authorized_keys")
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        self._log = None

    def _keygen(self, path, comment):
        if not os.path.exists(path):
            subprocess.run([which("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C",
                            comment, "-f", path], check=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL)
        with open(path + ".pub") as handle:
            return handle.read().strip()

    def _write_configs(self):
        host_pub = self._keygen(self.host_key, "fjd-test-host")
        client_pub = self._keygen(self.client_key, "fjd-test-client")
        with open(self.authorized, "w") as handle:
            handle.write(client_pub + "\n")
        with open(self.known_hosts, "w") as handle:
            handle.write("%s %s\n" % (self.alias, " ".join(host_pub.split()[:2])))
        sshd_lines = [
            "Port %d" % self.port,
            "ListenAddress 127.0.0.1",
            "HostKey %s" % self.host_key,
            "PidFile %s" % os.path.join(self.dir, "sshd.pid"),
            "AuthorizedKeysFile %s" % self.authorized,
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            # the state folder is under /tmp, which is world-writable: strict mode refuses it
            "StrictModes no",
            "Subsystem sftp %s" % self.sftp_subsystem,
            "MaxStartups 64:30:128",
            "MaxSessions 64",
            "LogLevel INFO",
        ]
        with open(self.config, "w") as handle:
            handle.write("\n".join(sshd_lines) + "\n")
        ssh_lines = [
            "Host %s" % self.alias,
            "  HostName 127.0.0.1",
            "  Port %d" % self.port,
            "  User root",
            "  IdentityFile %s" % self.client_key,
            "  IdentitiesOnly yes",
            "  HostKeyAlias %s" % self.alias,
            "  UserKnownHostsFile %s" % self.known_hosts,
            "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes",
            "  BatchMode yes",
            "  LogLevel ERROR",
            "  ServerAliveInterval 5",
            "  ServerAliveCountMax 3",
        ]
        with open(self.ssh_config, "w") as handle:
            handle.write("\n".join(ssh_lines) + "\n")

    def start(self, timeout=10.0):
        """Start sshd -D on a free port; raises Unavailable if it does not come up."""
        sshd = which("sshd")
        if not sshd:
            raise Unavailable("sshd is not installed")
        sshd = os.path.realpath(sshd)
        # sshd refuses to start without its privilege separation directory
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        last = ""
        for _attempt in range(3):  # a free port may be taken between our check and sshd's bind
            self.port = free_port()
            self._write_configs()
            check = subprocess.run([sshd, "-t", "-f", self.config], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
            if check.returncode != 0:
                raise Unavailable("sshd -t rejects the test config: %s"
                                  % check.stdout.decode(errors="replace").strip())
            argv = [sshd, "-D", "-e", "-f", self.config]
            if self.hostname:
                argv = [which("unshare"), "--uts", "--", sys.executable, "-c", UTS_SHIM,
                        self.hostname] + argv
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
            if self._wait_banner(timeout):
                return self
            last = self.log()
            self.stop()
        raise Unavailable("private sshd%s did not start: %s"
                          % (" in a UTS namespace" if self.hostname else "",
                             last.strip()[-500:]))

    def _wait_banner(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"SSH-"):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def log(self):
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """Kill sshd and every session process it started (they outlive the listener)."""
        if self.proc is None:
            return
        children = descendants(self.proc.pid)
        kill(children, signal.SIGTERM)
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        kill(children, signal.SIGKILL)
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None
