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
import signal
import socket
import subprocess
import sys
import time

import infra
from infra import Unavailable, apt_install, missing, which

try:
    import pytest
except ImportError:  # the probe script and other non-test users
    pytest = None

HERE = os.path.abspath(__file__)
SSH_ALIAS = "fjd-test-sshd"
PACKAGES = ("openssh-server", "sshfs")
TOOLS = ("sshd", "ssh", "ssh-keygen", "sshfs")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
PR_SET_PDEATHSIG = 1


# -- prerequisites ---------------------------------------------------------------------------

def unavailable_reason(install=True):
    """None when multi-host tests can run here, else a one-line reason."""
    if not sys.platform.startswith("linux"):
        return "needs Linux namespaces"
    if os.geteuid() != 0:
        return "needs root (mount and UTS namespaces, FUSE mounts, sshd)"
    if not os.path.exists("/dev/fuse"):
        return "needs /dev/fuse for sshfs"
    if not which("unshare"):
        return "needs unshare (util-linux)"
    try:
        if install:
            apt_install(PACKAGES, TOOLS, "FJD_HOSTS_NO_INSTALL")
        elif missing(TOOLS):
            return "missing %s" % ", ".join(missing(TOOLS))
    except Unavailable as error:
        return str(error)
    probe = subprocess.run([which("unshare"), "-m", "-u", "--propagation", "private",
                            "true"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if probe.returncode != 0:
        return "unshare -m -u is refused here: %s" % probe.stdout.decode(errors="replace")
    return None


# -- process helpers -------------------------------------------------------------------------

def _die_with_parent(sig=signal.SIGKILL):
    """preexec_fn: the child gets sig when its parent dies (prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except Exception:  # not fatal: cleanup also kills by process tree
        pass


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

class Sshd(infra.Sshd):
    """The private sshd on 127.0.0.1 that serves the shared folder to every host's sshfs."""

    def __init__(self, state_dir, sftp_subsystem="internal-sftp"):
        super().__init__(state_dir, SSH_ALIAS, sftp_subsystem=sftp_subsystem)

    def sshfs_argv(self, remote_dir, mountpoint, options=None, foreground=True):
        """The sshfs command that mounts remote_dir (a path on this machine) at mountpoint."""
        argv = [which("sshfs")]
        if foreground:
            argv.append("-f")
        argv += ["-F", self.ssh_config, "%s:%s" % (self.alias, os.path.abspath(remote_dir)),
                 os.path.abspath(mountpoint)]
        joined = join_options(options)
        if joined:
            argv += ["-o", joined]
        return argv


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
    tool = which("fusermount3") or which("fusermount")
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
        self.entered = []  # commands added with enter(), not children of the shim

    @property
    def shim_pid(self):
        """pid (in our namespace) of the process that forwards signals to the command."""
        if self._shim_pid is None and self.proc.poll() is None:
            # with --fork unshare does not forward signals: find its child, the shim
            kids = [p for p in infra.all_pids() if infra.parent_of(p) == self.proc.pid]
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

    def enter(self, argv, cwd=None, env=None):
        """Start argv on this running host: in its mount and UTS namespaces (so on its sshfs
        mount, over its sshfs connection, under its hostname), with ``nsenter``.

        cwd: working directory inside the host (default: the mount). The command is not a
        child of the host's shim: stop() and stop_all() signal and wait for it before they
        stop the host, kill() kills it. Returns its subprocess.Popen (its pid is the
        command's: nsenter execs it). Not for hosts with a PID namespace of their own.
        """
        if self.pid_namespace:
            raise ValueError("Host.enter: host %s has its own PID namespace" % self.name)
        if not self.alive() or self.info is None:
            raise RuntimeError("Host.enter: host %s is not running" % self.name)
        nsenter = which("nsenter")
        if not nsenter:
            raise Unavailable("Host.enter needs nsenter (util-linux)")
        where = cwd or self.info.get("cwd") or self.info.get("mountpoint")
        outer = [nsenter, "--target", str(self.shim_pid), "--mount", "--uts"]
        if where:
            outer.append("--wdns=%s" % where)
        proc = subprocess.Popen(outer + ["--"] + list(argv), stdin=subprocess.DEVNULL,
                                stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        self.entered.append(proc)
        return proc

    def stop_entered(self, sig=signal.SIGTERM, timeout=15.0):
        """Signal the commands added with enter() and wait for them (killed if they do not
        exit within timeout); their exit statuses (None for a killed one)."""
        live = [proc for proc in self.entered if proc.poll() is None]
        for proc in live:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        statuses = []
        for proc in self.entered:
            try:
                statuses.append(proc.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                statuses.append(None)
        return statuses

    def send_signal(self, sig):
        pid = self.shim_pid
        if pid is not None and self.alive():
            infra.kill([pid], sig)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Send sig to the command (via the shim), wait for it and for the unmount.

        Returns the command's exit status (negative: killed by that signal). Raises
        AssertionError, after killing the host, if it is not gone within timeout. Commands
        added with enter() are stopped first.
        """
        self.stop_entered(sig, timeout)
        self.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("host %s (%s) did not stop within %.0f s of %s"
                                 % (self.name, self.argv, timeout, signal.Signals(sig).name))

    def kill(self):
        """Power off: SIGKILL the whole process tree, the mount dies with its namespace."""
        pids = infra.descendants(self.proc.pid)
        entered = [proc.pid for proc in self.entered if proc.poll() is None]
        infra.kill(entered + [self.proc.pid] + pids, signal.SIGKILL)
        for proc in self.entered:
            proc.wait()
        self.proc.wait()
        infra.kill(pids, signal.SIGKILL)

    def log(self):
        self._log.flush()
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self):
        if self.alive() or any(proc.poll() is None for proc in self.entered):
            self.kill()
        self._log.close()


class Cluster:
    """One shared folder, a private sshd serving it, and hosts that mount it.

    shared:     the real folder (what sshd serves); writing here is a "fourth place"
    mountpoint: where each host mounts the share (the same path in every host)
    options:    the sshfs -o options of hosts started without options of their own
    sftp_subsystem: what sshd serves sftp with (infra.Sshd; default its internal-sftp), e.g.
                a wrapper from infra.sftp_logging_wrapper that logs every request
    """

    def __init__(self, base_dir, options=None, sftp_subsystem="internal-sftp"):
        self.base = os.path.abspath(str(base_dir))
        self.shared = os.path.join(self.base, "shared")
        self.mountpoint = os.path.join(self.base, "mnt")
        self.state = os.path.join(self.base, "state")
        self.logs = os.path.join(self.base, "logs")
        for path in (self.shared, self.mountpoint, self.logs):
            os.makedirs(path, exist_ok=True)
        self.default_options = options
        self.sshd = Sshd(self.state, sftp_subsystem=sftp_subsystem)
        self.hosts = []

    def start_sshd(self):
        self.sshd.start()
        return self

    def start(self, hostname, argv, options=None, cwd=None, env=None, pid_namespace=False,
              wait=True, mount_timeout=15.0, more=()):
        """Run argv on a new host called hostname; returns a Host.

        options:  sshfs -o options for this host's mount (str "a,b" or list), default the
                  cluster's (None: sshfs defaults)
        cwd:      working directory, relative to the mount (default: the mount itself)
        env:      environment of the command (default: ours)
        pid_namespace: also give the host its own PID namespace (its pids collide with other
                  hosts', as on real machines; the namespace dies with its first process)
        wait:     wait until the share is mounted and the command started
        more:     further commands to run beside argv on the same host (same mount, same
                  sshfs connection), started after it in this order; stop signals reach
                  each of them and the host ends when all have (its status: the first
                  non-zero one). Host.enter adds commands to a host already running.
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
            "more": [list(other) for other in more],
            "ready": ready,
            "mount_timeout": mount_timeout,
        }
        outer = [which("unshare"), "-m", "-u", "--propagation", "private"]
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
            host.stop_entered(sig, timeout)
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
        return infra.processes_mentioning(self.base)

    def close(self):
        """Stop everything this cluster started; safe to call more than once."""
        try:
            self.stop_all(signal.SIGTERM, timeout=10.0)
        finally:
            for host in self.hosts:
                host.close()
            self.sshd.stop()
            infra.kill(self.leftovers(), signal.SIGKILL)


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
    """Set the hostname, mount the share, run the command(s), forward stop signals, unmount."""
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
    commands = []
    received = []

    def forward(signum, frame):
        received.append(signum)
        for command in commands:
            if command.poll() is None:
                command.send_signal(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, forward)
    status = 126
    try:
        for argv in [spec["argv"]] + spec.get("more", []):
            if received:
                break
            try:
                command = subprocess.Popen(argv, cwd=spec["cwd"],
                                           preexec_fn=_restore_and_die_with_parent)
            except OSError as error:
                sys.stderr.write("[host %s] cannot start %s: %s\n"
                                 % (spec["hostname"], argv, error))
                status = 127
                forward(signal.SIGTERM, None)  # stop those already started
                break
            commands.append(command)
            if received:  # a stop signal came while we were starting it
                command.send_signal(received[-1])
        if commands and status != 127:
            info = {"hostname": spec["hostname"], "shim_pid": os.getpid(),
                    "command_pid": commands[0].pid,
                    "command_pids": [command.pid for command in commands],
                    "mountpoint": mountpoint, "cwd": spec["cwd"],
                    "mount_seconds": round(mounted, 3)}
            tmp = spec["ready"] + ".tmp"
            with open(tmp, "w") as handle:
                json.dump(info, handle)
            os.rename(tmp, spec["ready"])
        statuses = []
        for command in commands:
            while True:
                try:
                    statuses.append(command.wait())
                    break
                except InterruptedError:
                    continue
        if status != 127 and statuses:
            status = next((code for code in statuses if code != 0), 0)
    finally:
        for command in commands:
            if command.poll() is None:
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
