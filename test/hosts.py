"""Several "hosts" on one machine that share one folder over sshfs, for fjd's multi-host tests.

A host here is a process tree in its own UTS and mount namespaces (``unshare -m -u
--propagation private``, optionally also its own PID namespace), with its own hostname, that
mounts one shared folder with sshfs from a private sshd on 127.0.0.1 and then runs a command
(a dispatcher, a worker, ...) with its working directory inside that mount. The command runs
as a child of a small shim (this file run with --shim) rather than by exec, so that the shim
can forward SIGTERM/SIGINT/SIGHUP to it and unmount once it has exited; the host's exit
status is the command's (128+N if a signal N killed it). Each host has its
own sshfs process and so its own caches, which is what makes it behave like another machine
mounting the same folder: what one host changes, another sees only when its caches let it.

Needs root, /dev/fuse, ``unshare`` and the Debian packages openssh-server and sshfs
(installed with apt-get when missing, unless FJD_HOSTS_NO_INSTALL=1).

Use from pytest (test files import the fixture)::

    from hosts import hosts  # noqa: F401  (the fixture)

    def test_something(hosts):
        shared = hosts.shared            # the real folder sshd serves (write here directly
                                         # to act as a "fourth place" outside all hosts)
        mnt = hosts.mountpoint           # where every host sees it (same path on each host)
        d = hosts.start("alpha", [sys.executable, "dispatcher.py", "--root", mnt],
                        options="dir_cache=no,attr_timeout=0,entry_timeout=0")
        ...
        assert d.stop() == 0             # SIGTERM reaches the command; then it is unmounted
        print(d.log())

The fixture skips the test, with the reason, when this machine cannot do it (not root, no
/dev/fuse, no unshare, packages not installable, namespaces or FUSE refused), and cleans up
everything it started even when the test fails: hosts are stopped (SIGTERM, then SIGKILL),
their sshfs processes and mounts go with them, sshd and its session processes are killed.

Without pytest (see sshfs_probe.py)::

    cluster = Cluster("/tmp/somewhere")
    cluster.start_sshd()
    ...
    cluster.close()

Nothing is written to /root/.ssh or /etc/ssh: keys, sshd_config, ssh_config and known_hosts
live in the cluster's state folder; sshd runs with ``-f`` on that config. The only things
outside it are the Debian packages themselves (whose install creates /etc/ssh host keys)
and /run/sshd, the privilege separation directory that sshd insists on.

Python 3.8+, standard library only (pytest only for the fixture).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

try:
    import pytest
except ImportError:  # the probe script and other non-test users
    pytest = None

HERE = os.path.abspath(__file__)
SSH_ALIAS = "fjd-test-sshd"
PACKAGES = ("openssh-server", "sshfs")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
PR_SET_PDEATHSIG = 1


class Unavailable(Exception):
    """This machine cannot run multi-host tests; the message says why."""


# -- prerequisites ---------------------------------------------------------------------------

def _which(name):
    """shutil.which, also looking in the sbin folders that a non-login PATH may lack."""
    path = os.environ.get("PATH", os.defpath)
    extra = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"
    return shutil.which(name, path=path + os.pathsep + extra)


def missing_tools():
    return [tool for tool in ("sshd", "ssh", "ssh-keygen", "sshfs") if not _which(tool)]


def install_packages(log=None):
    """apt-get install openssh-server and sshfs if a tool is missing. Raises Unavailable."""
    if not missing_tools():
        return
    if os.environ.get("FJD_HOSTS_NO_INSTALL"):
        raise Unavailable("missing %s and FJD_HOSTS_NO_INSTALL is set"
                          % ", ".join(missing_tools()))
    apt = _which("apt-get")
    if not apt:
        raise Unavailable("missing %s and no apt-get to install %s"
                          % (", ".join(missing_tools()), " ".join(PACKAGES)))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [apt, "install", "-y", "-q", "--no-install-recommends"] + list(PACKAGES)
    output = []
    # a fresh machine may have no package lists yet: install, and on failure update and retry
    for argv in (install, [apt, "update", "-q"], install):
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env)
        output.append(result.stdout.decode("utf-8", "replace"))
        if argv is install and result.returncode == 0 and not missing_tools():
            return
    if log:
        log("\n".join(output))
    raise Unavailable("could not install %s with apt-get: %s"
                      % (" ".join(PACKAGES), output[-1].strip().splitlines()[-1:] or "?"))


def unavailable_reason(install=True):
    """None when multi-host tests can run here, else a one-line reason."""
    if not sys.platform.startswith("linux"):
        return "needs Linux namespaces"
    if os.geteuid() != 0:
        return "needs root (mount and UTS namespaces, FUSE mounts, sshd)"
    if not os.path.exists("/dev/fuse"):
        return "needs /dev/fuse for sshfs"
    if not _which("unshare"):
        return "needs unshare (util-linux)"
    try:
        if install:
            install_packages()
        elif missing_tools():
            return "missing %s" % ", ".join(missing_tools())
    except Unavailable as error:
        return str(error)
    probe = subprocess.run([_which("unshare"), "-m", "-u", "--propagation", "private",
                            "true"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if probe.returncode != 0:
        return "unshare -m -u is refused here: %s" % probe.stdout.decode(errors="replace")
    return None


# -- process helpers -------------------------------------------------------------------------

def _parent_of(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: fields follow the last ")"
    return int(data[data.rindex(b")") + 2:].split()[1])


def _all_pids():
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def descendants(pid):
    """pids of all living descendants of pid (by parent links in /proc), parents first."""
    children = {}
    for other in _all_pids():
        parent = _parent_of(other)
        if parent is not None:
            children.setdefault(parent, []).append(other)
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop(0)
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def processes_mentioning(text):
    """pids (not ours) whose command line contains text; used to find our own leftovers."""
    needle = os.fsencode(text)
    found = []
    for pid in _all_pids():
        if pid == os.getpid():
            continue
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                if needle in handle.read():
                    found.append(pid)
        except OSError:
            pass
    return found


def _kill(pids, sig=signal.SIGKILL):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _die_with_parent(sig=signal.SIGKILL):
    """preexec_fn: the child gets sig when its parent dies (prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except Exception:  # not fatal: cleanup also kills by process tree
        pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sshfs_mounted(mountpoint, mountinfo="/proc/self/mountinfo"):
    """Whether mountpoint is an sshfs mount in this process's mount namespace."""
    target = os.path.realpath(mountpoint)
    try:
        with open(mountinfo) as handle:
            for line in handle:
                fields = line.split()
                sep = fields.index("-")
                point = fields[4].encode().decode("unicode_escape")
                if point == target and fields[sep + 1].startswith("fuse.sshfs"):
                    return True
    except OSError:
        pass
    return False


def join_options(options):
    """sshfs -o value from None, "a,b" or ["a", "b"]; "" means sshfs's defaults."""
    if not options:
        return ""
    if isinstance(options, str):
        return options
    return ",".join(options)


# -- sshd ------------------------------------------------------------------------------------

class Sshd:
    """A private sshd on 127.0.0.1 with its own host key, config and one authorized key."""

    def __init__(self, state_dir):
        self.dir = os.path.abspath(state_dir)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
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
            subprocess.run([_which("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C",
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
            handle.write("%s %s\n" % (SSH_ALIAS, " ".join(host_pub.split()[:2])))
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
            "Subsystem sftp internal-sftp",
            "MaxStartups 64:30:128",
            "MaxSessions 64",
            "LogLevel INFO",
        ]
        with open(self.config, "w") as handle:
            handle.write("\n".join(sshd_lines) + "\n")
        ssh_lines = [
            "Host %s" % SSH_ALIAS,
            "  HostName 127.0.0.1",
            "  Port %d" % self.port,
            "  User root",
            "  IdentityFile %s" % self.client_key,
            "  IdentitiesOnly yes",
            "  HostKeyAlias %s" % SSH_ALIAS,
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
        sshd = _which("sshd")
        if not sshd:
            raise Unavailable("sshd is not installed")
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
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen([os.path.realpath(sshd), "-D", "-e", "-f", self.config],
                                         stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
            if self._wait_banner(timeout):
                return self
            last = self.log()
            self.stop()
        raise Unavailable("private sshd did not start: %s" % last.strip()[-500:])

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

    def sshfs_argv(self, remote_dir, mountpoint, options=None, foreground=True):
        """The sshfs command that mounts remote_dir (a path on this machine) at mountpoint."""
        argv = [_which("sshfs")]
        if foreground:
            argv.append("-f")
        argv += ["-F", self.ssh_config, "%s:%s" % (SSH_ALIAS, os.path.abspath(remote_dir)),
                 os.path.abspath(mountpoint)]
        joined = join_options(options)
        if joined:
            argv += ["-o", joined]
        return argv

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
        _kill(children, signal.SIGTERM)
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        _kill(children, signal.SIGKILL)
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None


def start_sshfs(sshd, remote_dir, mountpoint, options=None, timeout=15.0):
    """Mount in the calling process's mount namespace; returns the sshfs process (-f).

    The sshfs process dies with its parent. Raises RuntimeError if the mount fails.
    """
    os.makedirs(mountpoint, exist_ok=True)
    argv = sshd.sshfs_argv(remote_dir, mountpoint, options)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    deadline = time.monotonic() + timeout
    while not sshfs_mounted(mountpoint):
        if proc.poll() is not None:
            raise RuntimeError("sshfs exited with status %s: %s" % (proc.returncode, argv))
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError("sshfs did not mount %s within %.0f s" % (mountpoint, timeout))
        time.sleep(0.01)
    return proc


def unmount(mountpoint, proc=None, timeout=5.0):
    """Unmount (lazily if busy) and wait for the sshfs process to exit (killing it if not)."""
    tool = _which("fusermount3") or _which("fusermount")
    attempts = ([tool, "-u"], [tool, "-u", "-z"]) if tool else ()
    attempts += (["umount"], ["umount", "-l"])
    for argv in attempts:
        if not sshfs_mounted(mountpoint):
            break
        subprocess.run(argv + [mountpoint], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if proc is not None:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return not sshfs_mounted(mountpoint)


# -- a host ----------------------------------------------------------------------------------

class Host:
    """A command running "on another host": own hostname, own sshfs mount of the share."""

    def __init__(self, name, argv, log_path, ready_path, outer_argv, env, pid_namespace):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.ready_path = ready_path
        self.pid_namespace = pid_namespace
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(outer_argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._shim_pid = None if pid_namespace else self.proc.pid
        self.info = None

    @property
    def shim_pid(self):
        """pid (in our namespace) of the process that forwards signals to the command."""
        if self._shim_pid is None and self.proc.poll() is None:
            # with --fork unshare does not forward signals: find its child, the shim
            kids = [p for p in _all_pids() if _parent_of(p) == self.proc.pid]
            if kids:
                self._shim_pid = kids[0]
        return self._shim_pid

    def alive(self):
        return self.proc.poll() is None

    def wait_ready(self, timeout=20.0):
        """Wait until the share is mounted and the command started; returns the shim's info."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.ready_path) as handle:
                    self.info = json.load(handle)
                return self.info
            except (OSError, ValueError):
                pass
            if not self.alive():
                raise RuntimeError("host %s exited with status %s before its command started:"
                                   "\n%s" % (self.name, self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                raise RuntimeError("host %s not ready within %.0f s:\n%s"
                                   % (self.name, timeout, self.log()))
            time.sleep(0.02)

    def send_signal(self, sig):
        pid = self.shim_pid
        if pid is not None and self.alive():
            _kill([pid], sig)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Send sig to the command (via the shim), wait for it and for the unmount.

        Returns the command's exit status (negative: killed by that signal). Raises
        AssertionError, after killing the host, if it is not gone within timeout.
        """
        self.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("host %s (%s) did not stop within %.0f s of %s"
                                 % (self.name, self.argv, timeout, signal.Signals(sig).name))

    def kill(self):
        """Power off: SIGKILL the whole process tree, the mount dies with its namespace."""
        pids = descendants(self.proc.pid)
        _kill([self.proc.pid] + pids, signal.SIGKILL)
        self.proc.wait()
        _kill(pids, signal.SIGKILL)

    def log(self):
        self._log.flush()
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self):
        if self.alive():
            self.kill()
        self._log.close()


class Cluster:
    """One shared folder, a private sshd serving it, and hosts that mount it.

    shared:     the real folder (what sshd serves); writing here is a "fourth place"
    mountpoint: where each host mounts the share (the same path in every host)
    """

    def __init__(self, base_dir, options=None):
        self.base = os.path.abspath(str(base_dir))
        self.shared = os.path.join(self.base, "shared")
        self.mountpoint = os.path.join(self.base, "mnt")
        self.state = os.path.join(self.base, "state")
        self.logs = os.path.join(self.base, "logs")
        for path in (self.shared, self.mountpoint, self.logs):
            os.makedirs(path, exist_ok=True)
        self.default_options = options
        self.sshd = Sshd(self.state)
        self.hosts = []

    def start_sshd(self):
        self.sshd.start()
        return self

    def start(self, hostname, argv, options=None, cwd=None, env=None, pid_namespace=False,
              wait=True, mount_timeout=15.0):
        """Run argv on a new host called hostname; returns a Host.

        options:  sshfs -o options for this host's mount (str "a,b" or list), default the
                  cluster's (None: sshfs defaults)
        cwd:      working directory, relative to the mount (default: the mount itself)
        env:      environment of the command (default: ours)
        pid_namespace: also give the host its own PID namespace (its pids collide with other
                  hosts', as on real machines; the namespace dies with its first process)
        wait:     wait until the share is mounted and the command started
        """
        if self.sshd.proc is None:
            self.start_sshd()
        number = len(self.hosts)
        ready = os.path.join(self.state, "host-%d-%s.ready" % (number, hostname))
        if os.path.exists(ready):  # left by an earlier Cluster on the same folder
            os.unlink(ready)
        spec = {
            "hostname": hostname,
            "sshfs": self.sshd.sshfs_argv(self.shared, self.mountpoint,
                                          self.default_options if options is None else options),
            "mountpoint": self.mountpoint,
            "cwd": os.path.join(self.mountpoint, cwd or ""),
            "argv": list(argv),
            "ready": ready,
            "mount_timeout": mount_timeout,
        }
        outer = [_which("unshare"), "-m", "-u", "--propagation", "private"]
        if pid_namespace:
            outer += ["--fork", "--pid", "--mount-proc", "--kill-child=SIGKILL"]
        outer += [sys.executable, HERE, "--shim", json.dumps(spec)]
        host = Host(hostname, argv, os.path.join(self.logs, "%s-%d.log" % (hostname, number)),
                    ready, outer, env, pid_namespace)
        self.hosts.append(host)
        if wait:
            host.wait_ready(mount_timeout + 5)
        return host

    def stop_all(self, sig=signal.SIGTERM, timeout=15.0):
        """Signal every live host at once, then wait; {host: exit status or None if killed}."""
        live = [h for h in self.hosts if h.alive()]
        for host in live:
            host.send_signal(sig)
        statuses = {}
        deadline = time.monotonic() + timeout
        for host in live:
            try:
                statuses[host] = host.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                host.kill()
                statuses[host] = None
        return statuses

    def leftovers(self):
        """pids of processes still using this cluster (sshfs, ssh, shims, sshd sessions)."""
        return processes_mentioning(self.base)

    def close(self):
        """Stop everything this cluster started; safe to call more than once."""
        try:
            self.stop_all(signal.SIGTERM, timeout=10.0)
        finally:
            for host in self.hosts:
                host.close()
            self.sshd.stop()
            _kill(self.leftovers(), signal.SIGKILL)


# -- the pytest fixture ----------------------------------------------------------------------

_REASON = []


def cached_unavailable_reason():
    """unavailable_reason(), computed (and packages installed) once per process."""
    if not _REASON:
        _REASON.append(unavailable_reason())
    return _REASON[0]


if pytest is not None:
    @pytest.fixture
    def hosts(tmp_path):
        """A Cluster in tmp_path with its sshd running; skips when the machine cannot."""
        reason = cached_unavailable_reason()
        if reason:
            pytest.skip("multi-host test: " + reason)
        cluster = Cluster(tmp_path / "cluster")
        try:
            cluster.start_sshd()
        except Unavailable as error:
            cluster.close()
            pytest.skip("multi-host test: %s" % error)
        try:
            yield cluster
        finally:
            cluster.close()
            left = cluster.leftovers()
            assert not left, "processes left behind: %s" % left


# -- the shim: runs inside the host's namespaces ---------------------------------------------

def _shim(spec):
    """Set the hostname, mount the share, run the command, forward stop signals, unmount."""
    socket.sethostname(spec["hostname"])
    mountpoint = spec["mountpoint"]
    started = time.monotonic()
    try:
        sshfs = start_sshfs(_ShimSshd(spec["sshfs"]), None, mountpoint,
                            timeout=spec["mount_timeout"])
    except RuntimeError as error:
        sys.stderr.write("[host %s] %s\n" % (spec["hostname"], error))
        return 125
    mounted = time.monotonic() - started
    command = None
    received = []

    def forward(signum, frame):
        received.append(signum)
        if command is not None and command.poll() is None:
            command.send_signal(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, forward)
    status = 126
    try:
        if not received:
            try:
                command = subprocess.Popen(spec["argv"], cwd=spec["cwd"],
                                           preexec_fn=_restore_and_die_with_parent)
            except OSError as error:
                sys.stderr.write("[host %s] cannot start %s: %s\n"
                                 % (spec["hostname"], spec["argv"], error))
                return 127
            if received:  # a stop signal came while we were starting it
                command.send_signal(received[-1])
            info = {"hostname": spec["hostname"], "shim_pid": os.getpid(),
                    "command_pid": command.pid, "mount_seconds": round(mounted, 3)}
            tmp = spec["ready"] + ".tmp"
            with open(tmp, "w") as handle:
                json.dump(info, handle)
            os.rename(tmp, spec["ready"])
            while True:
                try:
                    status = command.wait()
                    break
                except InterruptedError:
                    continue
    finally:
        if command is not None and command.poll() is None:
            command.kill()
            command.wait()
        if not unmount(mountpoint, sshfs):
            sys.stderr.write("[host %s] could not unmount %s\n" % (spec["hostname"], mountpoint))
    return status if status >= 0 else 128 - status


class _ShimSshd:
    """Stands in for Sshd inside the shim: the sshfs argv was built outside."""

    def __init__(self, argv):
        self.argv = argv

    def sshfs_argv(self, remote_dir, mountpoint, options=None):
        return self.argv


def _restore_and_die_with_parent():
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    _die_with_parent(signal.SIGKILL)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--shim":
        sys.exit(_shim(json.loads(sys.argv[2])))
    sys.stderr.write("usage: this module is imported by tests; see its docstring\n")
    sys.exit(2)
