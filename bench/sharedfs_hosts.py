"""The setting of the shared scenario: the hosts on one sshfs-served folder (SharedRun),
counting their sftp requests from the sftp-server's logs (tally), the CPU by process, and
dropping UDP on loopback (UdpBlocked). The measurements are in sharedfs.py.

Standard library only, Python 3.8+; the private sshd and the hosts are the test suite's
(test/hosts.py, test/infra.py).
"""
import collections
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

from harness import (CLK_TCK, REPO, BenchError, count_names, fjd_env, proc_stat_ticks,
                     remove_later, say)

sys.path.insert(0, os.path.join(REPO, "test"))
import hosts  # noqa: E402  (test infrastructure: the private sshd and the hosts)
import infra  # noqa: E402
from infra import RequestLog  # noqa: E402,F401  (counting sftp requests; sftp_ops imports it)

WORKERS_PER_HOST = 2
ADDED_PER_HOST = 2
WORKER_HOSTS = ("beta", "gamma")
UDP_RULE = ["INPUT", "-p", "udp", "-i", "lo", "-j", "DROP"]


# -- counting requests --------------------------------------------------------------------------

def tally(log, owners, start, end):
    """The requests between two marks: total, per host, per type (and per host and type)."""
    by_host = {}
    for path, counter in log.between(start, end).items():
        by_host.setdefault(owners.get(path, "other"), collections.Counter()).update(counter)
    types = collections.Counter()
    for counter in by_host.values():
        types.update(counter)
    return {"seconds": end[0] - start[0], "requests": sum(types.values()),
            "by_host": {host: sum(c.values()) for host, c in sorted(by_host.items())},
            "types": dict(types.most_common()),
            "by_host_types": {host: dict(c.most_common()) for host, c in sorted(by_host.items())}}


def per(value, unit):
    return value / unit if unit else None


def ticks_of(pids):
    """CPU seconds (user+system) used so far by the live processes among pids."""
    return sum((proc_stat_ticks(pid) or (0,))[0] for pid in pids) / CLK_TCK


def command_name(pid):
    try:
        with open("/proc/%d/comm" % pid) as handle:
            return handle.read().strip()
    except OSError:
        return None


def cpu_percent(before, after):
    """{host: % of one core} between two SharedRun.cpu() readings."""
    seconds = after[0] - before[0]
    return {host: (after[1][host] - before[1].get(host, 0.0)) / seconds * 100.0
            for host in after[1]} if seconds > 0 else {}


# -- UDP on loopback ------------------------------------------------------------------------

def udp_loopback_works(timeout=0.3):
    """Whether a UDP datagram to 127.0.0.1 arrives (False when something drops it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(timeout)
        sender.sendto(b"fjd-bench", receiver.getsockname())
        try:
            return receiver.recv(64) == b"fjd-bench"
        except socket.timeout:
            return False


class UdpBlocked:
    """``iptables -I INPUT -p udp -i lo -j DROP`` for the time of a with block, checked to
    drop a datagram for real, and removed on the way out whatever happens.

    Machine-wide: every UDP datagram on loopback is dropped meanwhile, other programs' too.
    """

    def __init__(self, opts):
        self.opts = opts
        self.iptables = None
        self.inserted = False

    def prepare(self):
        """None when the rule can be used, else why not (iptables installed when missing)."""
        if os.geteuid() != 0:
            return "needs root for iptables"
        try:
            if not getattr(self.opts, "no_install", False):
                infra.apt_install(["iptables"], ["iptables"], timeout=300)
        except infra.Unavailable as error:
            return "iptables: %s" % error
        self.iptables = infra.which("iptables")
        if not self.iptables:
            return "iptables is not installed"
        if not udp_loopback_works():
            return "UDP on loopback does not work even without the rule"
        return None

    def __enter__(self):
        proc = subprocess.run([self.iptables, "-I"] + UDP_RULE, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        if proc.returncode != 0:
            raise BenchError("iptables -I %s failed: %s"
                             % (" ".join(UDP_RULE), proc.stdout.decode(errors="replace")))
        self.inserted = True
        if udp_loopback_works():
            self.remove()
            raise BenchError("iptables -I %s did not stop a UDP datagram on loopback"
                             % " ".join(UDP_RULE))
        return self

    def remove(self):
        if self.inserted:
            subprocess.run([self.iptables, "-D"] + UDP_RULE, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            self.inserted = False
            if not udp_loopback_works():
                say("  ! UDP on loopback still dropped after removing the rule: check "
                    "`iptables -S INPUT`")

    def __exit__(self, *exc):
        self.remove()
        return False


# -- one mount variant ----------------------------------------------------------------------

class SharedRun:
    """One sshd, one served folder, the hosts and their logs, for one set of mount options."""

    def __init__(self, opts, variant, options):
        self.opts = opts
        self.variant = variant
        self.options = options
        self.base = tempfile.mkdtemp(prefix="fjd-bench-shared-%s-" % variant, dir=opts.tmp)
        self.log_dir = os.path.join(self.base, "sftp-logs")
        wrapper = infra.sftp_logging_wrapper(os.path.join(self.base, "sftp-logging.sh"),
                                             self.log_dir)
        self.cluster = hosts.Cluster(os.path.join(self.base, "cluster"), options=options,
                                     sftp_subsystem=wrapper)
        self.shared = self.cluster.shared
        self.log = RequestLog(self.log_dir)
        self.owners = {}  # sftp log path -> host name
        self.server_pids = {}  # host name -> [pid of the sftp-server of its connection]
        self.client_pids = {}  # host name -> pids of its sshfs and ssh
        self.hosts = {}
        self.added = []  # (host name, Popen) of the workers added with nsenter
        self.idle_since = None  # when the daemons last became idle
        self.env = fjd_env(opts)

    def path(self, *parts):
        return os.path.join(self.shared, *parts)

    def keep_logs(self, folder, kind, start, end):
        """Copy each host's log lines between two marks to folder/<variant>-<kind>-<host>.log."""
        os.makedirs(folder, exist_ok=True)
        for path, stop in end[1].items():
            begin = start[1].get(path, 0)
            name = "%s-%s-%s.log" % (self.variant, kind, self.owners.get(path, "other"))
            with open(path, "rb") as source, open(os.path.join(folder, name), "wb") as kept:
                source.seek(begin)
                kept.write(source.read(max(0, stop - begin)))

    def daemon_argv(self, role):
        return [self.opts.python, os.path.join(self.opts.fjd, role + ".py"), "--root",
                self.cluster.mountpoint, "--log-level", "WARNING"]

    def start_host(self, name, commands):
        """A host running commands on its own mount; its sftp log is the one that appears."""
        before = set(self.log.paths())
        host = self.cluster.start(name, commands[0], more=commands[1:], env=self.env,
                                  mount_timeout=30.0)
        deadline = time.monotonic() + 10.0
        while True:
            new = set(self.log.paths()) - before
            if new or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if len(new) != 1:
            raise BenchError("host %s: expected one new sftp connection log, found %d"
                             % (name, len(new)))
        path = new.pop()
        self.owners[path] = name
        self.hosts[name] = host
        self.server_pids[name] = [int(re.search(r"sftp-(\d+)\.log$", path).group(1))]
        self.client_pids[name] = [pid for pid in infra.descendants(host.proc.pid)
                                  if command_name(pid) in ("sshfs", "ssh")]
        return host

    def start(self):
        self.cluster.start_sshd()
        os.makedirs(self.path("jobqueue"), exist_ok=True)
        self.start_host("alpha", [self.daemon_argv("dispatcher")])
        for name in WORKER_HOSTS:
            self.start_host(name, [self.daemon_argv("worker")] * WORKERS_PER_HOST)
        self.busy_until_idle()

    def add_workers(self):
        for name in WORKER_HOSTS:
            for _ in range(ADDED_PER_HOST):
                self.added.append((name, self.hosts[name].enter(self.daemon_argv("worker"))))
        self.busy_until_idle()

    def remove_added_workers(self):
        for name in WORKER_HOSTS:
            statuses = self.hosts[name].stop_entered(signal.SIGTERM, self.opts.stop_timeout)
            if any(status not in (0, None) for status in statuses):
                say("  ! %s: an added worker on %s exited with %s"
                    % (self.variant, name, statuses))
        self.added = []
        self.busy_until_idle()

    def workers(self):
        return WORKERS_PER_HOST * len(WORKER_HOSTS) + len(self.added)

    def cpu(self):
        """(monotonic time, {key: CPU seconds used so far}), user+system time: for each
        host, key <host> its daemons (not their jobs), <host>/client its sshfs and ssh,
        <host>/server the sftp-server serving its connection."""
        used = {}
        for name, host in self.hosts.items():
            pids = list((host.info or {}).get("command_pids", []))
            pids += [proc.pid for where, proc in self.added if where == name]
            used[name] = ticks_of(pids)
            used[name + "/client"] = ticks_of(self.client_pids.get(name, ()))
            used[name + "/server"] = ticks_of(self.server_pids.get(name, ()))
        return time.monotonic(), used

    def check_alive(self):
        for name, host in self.hosts.items():
            if not host.alive():
                raise BenchError("%s: host %s exited with status %s:\n%s"
                                 % (self.variant, name, host.proc.returncode,
                                    host.log()[-3000:]))
        for name, proc in self.added:
            if proc.poll() is not None:
                raise BenchError("%s: a worker added on %s exited with status %s"
                                 % (self.variant, name, proc.returncode))

    def wait_announced(self, count, exactly=False, timeout=60.0):
        """Until count workers announced themselves idle (workerqueue/, server side)."""
        deadline = time.monotonic() + timeout
        while True:
            seen = count_names(self.path("workerqueue"))
            if seen == count or (seen > count and not exactly):
                return
            self.check_alive()
            if time.monotonic() > deadline:
                raise BenchError("%s: %d workers announced in workerqueue/ after %.0f s, not "
                                 "%d" % (self.variant, seen, timeout, count))
            time.sleep(0.05)

    def busy_until_idle(self):
        """After work: wait until every worker announced itself idle again; the daemons are
        idle from then on (see wait_idle_for)."""
        self.wait_announced(self.workers(), exactly=True)
        self.idle_since = time.monotonic()

    def wait_idle_for(self, seconds):
        """Until the daemons have been idle (nothing queued, nothing started or stopped,
        every worker announced) for seconds."""
        self.wait_announced(self.workers(), exactly=True)
        time.sleep(max(0.0, self.idle_since + seconds - time.monotonic()))
        self.check_alive()

    def window(self, seconds):
        """Requests and daemon CPU over the next seconds."""
        start, cpu = self.log.mark(), self.cpu()
        time.sleep(seconds)
        self.check_alive()
        counts = tally(self.log, self.owners, start, self.log.mark())
        counts["cpu_percent_by_host"] = cpu_percent(cpu, self.cpu())
        return counts

    def stop(self):
        """Stop every host (SIGTERM reaches the daemons; then they unmount); their statuses."""
        problems = []
        try:
            statuses = self.cluster.stop_all(signal.SIGTERM, timeout=self.opts.stop_timeout)
            for host, status in statuses.items():
                if status not in (0, None):
                    problems.append("host %s exited with status %s" % (host.name, status))
                elif status is None:
                    problems.append("host %s did not stop and was killed" % host.name)
        finally:
            self.cluster.close()
            left = self.cluster.leftovers()
            if left:
                problems.append("processes left behind: %s" % left)
                infra.kill(left)
            if self.opts.keep:
                say("  kept %s" % self.base)
            else:
                remove_later(self.base)
        return problems
