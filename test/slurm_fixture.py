"""A real single-node Slurm for tests: munged, slurmctld and slurmd in a temp folder.

Debian's slurm-wlm and munge packages (installed with apt-get when missing and we are root,
unless FJD_NO_INSTALL=1). Everything lives in the folder given: the munge key and socket,
slurm.conf (``SlurmctldHost=<hostname>(127.0.0.1)``, ``ProctrackType=proctrack/linuxproc``,
``TaskPlugin=task/none``, ``SelectType=select/cons_tres``, one node with ``CPUs=2``), state,
spool and logs. Clients find it through ``SLURM_CONF`` (see ``env()``).

    cluster = SlurmCluster(tmp_dir)
    cluster.start()             # raises Unavailable with the reason
    subprocess.run(["sbatch", ...], env=cluster.env())
    cluster.stop()              # daemons, job steps and munged: nothing is left running

Python 3.8+, standard library only (pytest only for the fixture).
"""
import os
import signal
import socket
import subprocess
import sys
import time

from infra import (Unavailable, all_pids, apt_install, descendants, free_port, kill,
                   processes_mentioning, which)

try:
    import pytest
except ImportError:
    pytest = None

TOOLS = ("slurmctld", "slurmd", "sbatch", "squeue", "srun", "sinfo", "scancel", "munged")
PACKAGES = ("slurm-wlm", "munge")


def install():
    """apt-get install slurm-wlm and munge when a tool is missing; raises Unavailable."""
    apt_install(PACKAGES, TOOLS, timeout=600)


def command_name(pid):
    try:
        with open("/proc/%d/comm" % pid, "rb") as handle:
            return handle.read().decode("utf-8", "replace").strip()
    except OSError:
        return None


class SlurmCluster:
    def __init__(self, base_dir, cpus=2):
        self.dir = os.path.abspath(str(base_dir))
        self.cpus = cpus
        self.host = socket.gethostname()
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.socket = os.path.join(self.dir, "munge", "munge.socket")
        self.procs = {}
        self.logs = {}
        self.before = set()

    def env(self, extra=None):
        env = dict(os.environ, SLURM_CONF=self.conf)
        env.update(extra or {})
        return env

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write_config(self):
        for sub in ("munge", "state", "spool", "log"):
            os.makedirs(self.path(sub), mode=0o700, exist_ok=True)
        key = self.path("munge", "munge.key")
        if not os.path.exists(key):
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            os.write(fd, os.urandom(1024))
            os.close(fd)
        lines = [
            "ClusterName=fjdtest",
            "SlurmctldHost=%s(127.0.0.1)" % self.host,
            "SlurmctldPort=%d" % free_port(),
            "SlurmdPort=%d" % free_port(),
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            "AuthInfo=socket=%s" % self.socket,
            "StateSaveLocation=%s" % self.path("state"),
            "SlurmdSpoolDir=%s" % self.path("spool"),
            "SlurmctldPidFile=%s" % self.path("slurmctld.pid"),
            "SlurmdPidFile=%s" % self.path("slurmd.pid"),
            "SlurmctldLogFile=%s" % self.path("log", "slurmctld.log"),
            "SlurmdLogFile=%s" % self.path("log", "slurmd.log"),
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "MpiDefault=none",
            "ReturnToService=2",
            "SchedulerType=sched/backfill",
            "JobCompType=jobcomp/none",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "KillWait=5",
            "MinJobAge=10",
            "InactiveLimit=0",
            "SlurmdTimeout=60",
            "NodeName=%s NodeAddr=127.0.0.1 CPUs=%d State=UNKNOWN" % (self.host, self.cpus),
            "PartitionName=debug Nodes=%s Default=YES MaxTime=INFINITE State=UP" % self.host,
        ]
        with open(self.conf, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def spawn(self, name, argv):
        log = open(self.path("log", name + ".out"), "ab")
        self.logs[name] = log
        self.procs[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env=self.env(),
                                            start_new_session=True)

    def log(self, name):
        texts = []
        for path in (self.path("log", name + ".out"), self.path("log", name + ".log")):
            try:
                with open(path, "rb") as handle:
                    texts.append(handle.read().decode("utf-8", "replace")[-3000:])
            except OSError:
                pass
        return "\n".join(texts)

    def start(self, timeout=30.0):
        install()
        if os.geteuid() != 0:
            raise Unavailable("needs root (slurmd runs jobs as any user)")
        self.write_config()
        self.before = set(all_pids())
        self.spawn("munged", [which("munged"), "--foreground", "--force",
                              "--socket", self.socket,
                              "--key-file", self.path("munge", "munge.key"),
                              "--pid-file", self.path("munge", "munged.pid"),
                              "--log-file", self.path("log", "munged.log"),
                              "--seed-file", self.path("munge", "munged.seed")])
        self.wait(lambda: os.path.exists(self.socket), 10, "munged")
        self.spawn("slurmctld", [which("slurmctld"), "-D", "-c", "-f", self.conf])
        self.wait(lambda: self.ask(["sinfo", "-h", "-o", "%P"]) is not None, timeout,
                  "slurmctld")
        self.spawn("slurmd", [which("slurmd"), "-D", "-f", self.conf, "-N", self.host])
        self.wait(lambda: (self.ask(["sinfo", "-h", "-o", "%t"]) or "").strip()
                  in ("idle", "mix", "alloc"), timeout, "slurmd (node idle)")
        return self

    def ask(self, argv):
        try:
            result = subprocess.run([which(argv[0])] + argv[1:], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=self.env(), timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if result.returncode != 0:
            return None
        return result.stdout.decode("utf-8", "replace")

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while not predicate():
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    self.stop()
                    raise Unavailable("%s exited with status %s:\n%s"
                                      % (name, proc.returncode, self.log(name)))
            if time.monotonic() > deadline:
                logs = "\n".join("--- %s\n%s" % (n, self.log(n)) for n in self.procs)
                self.stop()
                raise Unavailable("%s did not come up within %.0f s\n%s" % (what, timeout, logs))
            time.sleep(0.1)

    def job_state(self, job_id):
        """The job's state from squeue ('' once it has left the queue)."""
        out = self.ask(["squeue", "-h", "-j", str(job_id), "-o", "%T"])
        return (out or "").strip()

    def started_step(self, pid):
        """Whether process pid was started by our slurmd (it has our SLURM_CONF)."""
        try:
            with open("/proc/%d/environ" % pid, "rb") as handle:
                return b"SLURM_CONF=%s\0" % os.fsencode(self.conf) in handle.read() + b"\0"
        except OSError:
            return False

    def stop(self):
        """Stop the daemons and everything they started; safe to call twice."""
        if not self.procs:
            return
        order = ["slurmd", "slurmctld", "munged"]
        for name in order:
            proc = self.procs.get(name)
            if proc is None:
                continue
            tree = descendants(proc.pid)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            kill(tree)
        # job steps (slurmstepd daemonize, so they are nobody's children) with what they
        # run, and anything else that mentions our folder; another cluster's steps (tests
        # run in parallel) have another SLURM_CONF
        for pid in set(all_pids()) - self.before:
            if command_name(pid) == "slurmstepd" and self.started_step(pid):
                kill(descendants(pid) + [pid])
        kill(processes_mentioning(self.dir))
        self.procs.clear()
        for log in self.logs.values():
            log.close()
        self.logs.clear()


if pytest is not None:
    @pytest.fixture
    def slurm(tmp_path_factory):
        if not sys.platform.startswith("linux"):
            pytest.skip("Slurm test: needs Linux")
        if os.geteuid() != 0:
            pytest.skip("Slurm test: needs root (to install and run slurmctld, slurmd, munged)")
        cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
        try:
            cluster.start()
        except Unavailable as error:
            pytest.skip("Slurm test: %s" % error)
        try:
            yield cluster
        finally:
            cluster.stop()
