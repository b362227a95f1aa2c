"""Faults and hostile neighbours: real filesystem faults under real daemons.

Every fault here is made for real, not mocked: a full tmpfs (ENOSPC), a folder that is
immutable (chattr +i: EPERM even for root), a bind mount that makes renames cross mounts
(EXDEV), a read-only bind mount over the root (EROFS), folders without write permission
for daemons that run as an unprivileged user (EACCES), a tmpfs root unmounted under running
daemons, an sshfs mount whose sshfs process is killed (ENOTCONN), another user's files in
a sticky or group-writable jobqueue/, dispatchers in separate PID namespaces.

What every test asserts in the end: no traceback in any log, every daemon alive (or exited
with a message where that is the documented answer), every job in exactly one of done/,
failed/, cancelled/ with its record, and no job run more often than allowed.

Needs root (mounts, chattr, a second and third user: ``fjdowner`` runs the daemons where
permissions must apply, ``fjdneighbour`` is the other user). The users are created with
useradd when missing and removed at the end of the session if this module created them.
Everything mounted is unmounted, and every process started is stopped, even on failure.
"""
import errno
import fcntl
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

import infra
from hosts import hosts  # noqa: F401  (the fixture, for the sshfs test)
from fjd import defaults, faults
from conftest import (MADE_USERS, REPO, Daemon, assert_no_traceback, fjd_cli, fjd_env,
                      run_dir, wait_for)

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not sys.platform.startswith("linux"),
                                reason="fault injection needs root on Linux (mounts, "
                                       "chattr, other users)")

# A Python every user can run (the test's own interpreter may live in /root).
ANY_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
OWNER = "fjdowner"  # runs the daemons where file permissions must apply (root ignores modes)
NEIGHBOUR = "fjdneighbour"  # the other user, who shares the queue folder
# workers beat four times within it (0.75 s; defaults.worker_beat): a dead one is noticed
# in about 4 s
FAST = ("--worker-timeout", "3")
SSHFS_OPTIONS = "dir_cache=no,attr_timeout=0,entry_timeout=0"  # docs/clusters.md's mount advice
# the daemons here try a failing file operation again after 0.25 s, then every 0.5 s
# (defaults.TEST_RETRY_MAX caps fjd/faults.py's back-off, 4 s by default, and the held
# result's; the doubling itself is tested in test_back_off_doubles_up_to_its_cap): a fault
# test sees several retries in a second, and service resumes within 0.5 s of a fault clearing
RETRY_MAX = "0.5"
# once a condition has been logged, how long a test watches for the same line again: a
# daemon retries at least twice within it and polls every 0.05 s while busy, so a line per
# retry or per cycle shows within it
REPEATS_WINDOW = 1.5


# -- users -------------------------------------------------------------------------------------

class User:
    def __init__(self, name):
        entry = pwd.getpwnam(name)
        self.name, self.uid, self.gid = name, entry.pw_uid, entry.pw_gid

    def argv(self, argv, groups=()):
        """argv run as this user (setpriv from util-linux)."""
        prefix = [infra.which("setpriv"), "--reuid=%d" % self.uid, "--regid=%d" % self.gid]
        prefix += ["--groups=%s" % ",".join(str(g) for g in groups)] if groups else \
            ["--clear-groups"]
        return prefix + ["--"] + list(argv)

    def run(self, argv, **kwargs):
        return subprocess.run(self.argv(argv), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


@pytest.fixture(scope="session")
def users(tmp_path_factory):
    """{"owner": User, "neighbour": User}; made with useradd when missing (one xdist worker
    at a time), and removed when the whole run ends (conftest.pytest_sessionfinish)."""
    if not infra.which("setpriv") or not infra.which("useradd"):
        pytest.skip("needs setpriv and useradd")
    folder = run_dir(tmp_path_factory)
    with open(os.path.join(folder, "users.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in (OWNER, NEIGHBOUR):
            try:
                pwd.getpwnam(name)
            except KeyError:
                result = subprocess.run([infra.which("useradd"), "-M", "-s",
                                         "/usr/sbin/nologin", name],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                if result.returncode != 0:
                    pytest.skip("useradd %s failed: %s" % (name, result.stdout.decode()))
                with open(os.path.join(folder, MADE_USERS), "a") as made:
                    made.write(name + "\n")
    return {"owner": User(OWNER), "neighbour": User(NEIGHBOUR)}


# -- mount helpers -----------------------------------------------------------------------------

def mount_points():
    with open("/proc/self/mountinfo") as handle:
        return [line.split()[4].encode().decode("unicode_escape") for line in handle]


def is_mount_point(path):
    return os.path.realpath(path) in mount_points()


def sh(*argv, check=True):
    result = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if check and result.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(map(str, argv)), result.returncode,
                                                     result.stdout.decode(errors="replace")))
    return result


def fill(path, chunk=65536):
    """Write a file until the filesystem is full; returns its size."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    block = b"\0" * chunk
    size = 0
    try:
        while chunk:
            try:
                size += os.write(fd, block[:chunk])
            except OSError as error:
                if error.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                chunk //= 2
    finally:
        os.close(fd)
    return size


def free_bytes(path):
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


# -- the lab: roots, daemons, mounts, all cleaned up -------------------------------------------

class Lab:
    """A folder outside pytest's private tmp (other users must reach it), the daemons started
    in it and everything mounted or made immutable there; cleanup() undoes all of it."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="fjd-faults-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.logs = os.path.join(self.base, "logs")
        self.marks = os.path.join(self.base, "marks")
        os.mkdir(self.logs)
        os.mkdir(self.marks)
        os.chmod(self.marks, 0o1777)  # jobs of any user leave their marks here
        self.daemons = []
        self.mounted = []  # mount targets, in order; unmounted in reverse
        self.immutable = []
        self.sshd = None
        self.sshfs = []  # (mount point, sshfs process) of sshfs_root

    # roots and jobs

    def root(self, name="root", owner=None):
        path = os.path.join(self.base, name)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o755)
        if owner is not None:
            os.chown(path, owner.uid, owner.gid)
        return path

    def submit(self, root, name, executable, owner=None, folder="jobqueue", **control):
        """A job file written the careful way (dot-name, then rename), owned by owner."""
        lines = ["[control]", "executable: %s" % executable]
        lines += ["%s: %s" % item for item in control.items()]
        directory = os.path.join(root, folder)
        wait_for(lambda: os.path.isdir(directory), message="%s made by the daemons" % folder)
        tmp = os.path.join(directory, ".submit-%d.tmp" % time.monotonic_ns())
        with open(tmp, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        if owner is not None:
            os.chown(tmp, owner.uid, owner.gid)
        os.rename(tmp, os.path.join(directory, name))
        return os.path.join(directory, name)

    def marking(self, then="", before=""):
        """A job command that appends its attempt number to marks/<job name>, between
        python code before and then (one line each)."""
        code = ("import os, sys, time; %sopen(os.path.join(%r, os.environ['FJD_JOB_NAME']), "
                "'a').write(os.environ.get('FJD_ATTEMPT', '?') + '\\n')%s"
                % (before + "; " if before else "", self.marks, "; " + then if then else ""))
        return " ".join(shlex.quote(w) for w in (ANY_PYTHON, "-c", code))

    def waiting_for(self, go):
        """Python code (for marking's then) that waits until the file marks/<go> exists:
        a job that ends when the test says, not after a sleep long enough under load."""
        return 'exec("while not os.path.exists(%r): time.sleep(0.02)")' % os.path.join(
            self.marks, go)

    def go(self, go):
        open(os.path.join(self.marks, go), "w").close()

    def runs(self, name):
        try:
            with open(os.path.join(self.marks, name)) as handle:
                return handle.read().split()
        except FileNotFoundError:
            return []

    # daemons

    def start(self, role, root, *args, user=None, wrap=(), cwd=None, groups=()):
        argv = [ANY_PYTHON if user else sys.executable, os.path.join(REPO, role + ".py"),
                "--root", root] + list(args)
        if user is not None:
            argv = user.argv(argv, groups)
        argv = list(wrap) + argv
        log_path = os.path.join(self.logs, "%s-%d.log" % (role, len(self.daemons)))
        env = fjd_env({defaults.TEST_RETRY_MAX: RETRY_MAX})
        daemon = Daemon(argv, log_path, cwd or self.base, env)
        daemon.role = role
        daemon.wrapped = bool(wrap)  # unshare --fork ignores SIGTERM: cleanup kills it
        self.daemons.append(daemon)
        return daemon

    def dispatcher(self, root, *args, **kwargs):
        return self.start("dispatcher", root, *args, **kwargs)

    def worker(self, root, *args, **kwargs):
        return self.start("worker", root, *args, **kwargs)

    def all_logs(self):
        return "\n".join(d.log() for d in self.daemons)

    # mounts and attributes

    def mount(self, *args):
        """mount ARGS; the last one is the target, unmounted at cleanup."""
        sh("mount", *args)
        self.mounted.append(os.path.realpath(args[-1]))

    def umount(self, target, lazy=False):
        target = os.path.realpath(target)
        sh("umount", *(["-l"] if lazy else []), target)
        for i in range(len(self.mounted) - 1, -1, -1):
            if self.mounted[i] == target:
                del self.mounted[i]
                break

    def tmpfs(self, path, size):
        os.makedirs(path, exist_ok=True)
        self.mount("-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", path)

    def sshfs_root(self, name="root", options=SSHFS_OPTIONS):
        """(served folder, mount point): a folder served by a private sshd on 127.0.0.1 and
        mounted here with sshfs, in this process's mount namespace (one "host"); daemons
        started on the mount point work through FUSE and sftp, checks read the served
        folder. Skips when sshd or sshfs cannot be had."""
        import hosts as hosts_module
        reason = hosts_module.cached_unavailable_reason()
        if reason:
            pytest.skip("sshfs root: " + reason)
        served = self.root(name)
        mount = os.path.join(self.base, name + "-mnt")
        if self.sshd is None:
            self.sshd = hosts_module.Sshd(os.path.join(self.base, "sshd"))
            self.sshd.start()
        self.sshfs.append((mount, hosts_module.start_sshfs(self.sshd, served, mount, options)))
        return served, mount

    def chattr_immutable(self, path, on=True):
        sh("chattr", "+i" if on else "-i", path)
        if on:
            self.immutable.append(path)
        elif path in self.immutable:
            self.immutable.remove(path)

    def cleanup(self):
        for daemon in self.daemons:
            if daemon.wrapped:
                daemon.kill()
            elif daemon.alive():
                daemon.proc.send_signal(signal.SIGTERM)
        for daemon in self.daemons:
            try:
                daemon.proc.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
            daemon.close()
        if self.sshfs or self.sshd:
            import hosts as hosts_module
            for mount, proc in reversed(self.sshfs):
                hosts_module.unmount(mount, proc)
            self.sshfs = []
            if self.sshd is not None:
                self.sshd.stop()
                self.sshd = None
        infra.kill(infra.processes_mentioning(self.base), signal.SIGKILL)
        for path in reversed(self.immutable):
            sh("chattr", "-i", path, check=False)
        for target in reversed(self.mounted):
            if is_mount_point(target):
                sh("umount", target, check=False)
            if is_mount_point(target):
                sh("umount", "-l", target, check=False)
        self.mounted = []
        if os.environ.get("FJD_FAULTS_KEEP"):  # for debugging: keep logs and folders
            sys.stderr.write("kept %s\n" % self.base)
            return
        for path in self.immutable_left():
            sh("chattr", "-i", path, check=False)
        shutil.rmtree(self.base, ignore_errors=True)

    def immutable_left(self):
        return list(self.immutable)


@pytest.fixture
def lab():
    the_lab = Lab()
    try:
        yield the_lab
    finally:
        the_lab.cleanup()


# -- what every test checks ---------------------------------------------------------------------

FINAL = ("done", "failed", "cancelled")


def listing(root, folder):
    try:
        return sorted(n for n in os.listdir(os.path.join(root, folder)) if not n.startswith("."))
    except FileNotFoundError:
        return []


def inbox_jobs(root):
    found = []
    for worker in listing(root, "jobpod"):
        found += listing(root, os.path.join("jobpod", worker))
    return found


def where(root, name):
    """The final folders that hold name."""
    return [folder for folder in FINAL if name in listing(root, folder)]


def records_of(root, name):
    from fjd import record_search
    from fjd.layout import Layout
    return record_search.find_job_records(Layout(root), name)


def journal_records(root):
    from fjd import journal
    found = []
    for path in journal.journal_paths(os.path.join(root, "records")):
        found += [record for _, record in journal.all_records(path)]
    return found


def heartbeats(root):
    beats = {}
    for worker in listing(root, "jobpod"):
        try:
            with open(os.path.join(root, "jobpod", worker, ".heartbeat"), "rb") as handle:
                beats[worker] = json.loads(handle.read().decode() or "{}")
        except (OSError, ValueError):
            pass
    return beats


def assert_finished_once(lab, root, name, folder=None, max_runs=1, record_words=()):
    """name is in exactly one final folder (folder, if given) with a record, and ran at most
    max_runs times (at least once unless max_runs is 0)."""
    found = where(root, name)
    assert len(found) == 1, "%s is in %s (done: %s, failed: %s, queued: %s, inboxes: %s)" % (
        name, found, listing(root, "done"), listing(root, "failed"), listing(root, "jobqueue"),
        inbox_jobs(root))
    if folder is not None:
        assert found == [folder], (name, found, records_of(root, name))
    records = records_of(root, name)
    assert records, "no record of %s" % name
    for words in record_words:
        assert words in (records[-1].get("reason") or ""), records[-1]
    runs = lab.runs(name)
    assert len(runs) <= max_runs, "%s ran %d times: %s" % (name, len(runs), runs)
    return records[-1]


def assert_healthy(lab, daemons=None, dead_ok=()):
    """No traceback in any log; the daemons given (default: all but dead_ok) are alive."""
    for daemon in lab.daemons:
        assert_no_traceback(daemon.log())
    for daemon in daemons if daemons is not None else lab.daemons:
        if daemon in dead_ok:
            continue
        assert daemon.alive(), "%s died (status %s):\n%s" % (
            daemon.argv[-3:], daemon.proc.returncode, daemon.log()[-3000:])


def log_lines(daemon, pattern):
    return [line for line in daemon.log().splitlines() if re.search(pattern, line)]


def message_of(line):
    """A log line without its time and pid, to compare lines of one condition."""
    return re.sub(r"^\S+ \S+\[\d+\] ", "", line)


def assert_logged_once_each(daemon, pattern):
    """Every distinct log line matching pattern appears once (one line per condition, not
    one per retry); returns the lines."""
    lines = [message_of(line) for line in log_lines(daemon, pattern)]
    repeated = sorted({line for line in lines if lines.count(line) > 1})
    assert not repeated, "logged more than once: %s\n%s" % (repeated, daemon.log()[-3000:])
    return lines


# -- 1. an OSError from the filesystem: one line, back off, carry on ----------------------------

def tmpfs_quota_possible(lab):
    probe = os.path.join(lab.base, "quota-probe")
    os.mkdir(probe)
    result = sh("mount", "-t", "tmpfs", "-o", "size=1m,usrquota", "tmpfs", probe, check=False)
    if result.returncode == 0:
        sh("umount", probe)
    return result.returncode == 0


class Condition:
    """A real filesystem fault on a queue root: inject() makes it, clear() ends it."""

    def __init__(self, name, strerror, as_owner=False):
        self.name, self.strerror, self.as_owner = name, strerror, as_owner

    def make_root(self, lab, users):
        return lab.root(owner=users["owner"] if self.as_owner else None)

    def inject(self, lab, root):
        raise NotImplementedError

    def clear(self, lab, root):
        raise NotImplementedError


class DiskFull(Condition):
    def make_root(self, lab, users):
        root = lab.root()
        lab.tmpfs(root, "4m")
        return root

    def inject(self, lab, root):
        fill(os.path.join(root, ".filler"))

    def clear(self, lab, root):
        os.unlink(os.path.join(root, ".filler"))


class Immutable(Condition):  # chattr +i: EPERM, for root too
    def inject(self, lab, root):
        lab.chattr_immutable(os.path.join(root, "done"))

    def clear(self, lab, root):
        lab.chattr_immutable(os.path.join(root, "done"), on=False)


class CrossMount(Condition):  # done/ bind-mounted onto itself: renames into it cross mounts
    def inject(self, lab, root):
        lab.mount("--bind", os.path.join(root, "done"), os.path.join(root, "done"))

    def clear(self, lab, root):
        lab.umount(os.path.join(root, "done"))


class ReadOnly(Condition):  # the whole root becomes a read-only bind mount of itself
    def inject(self, lab, root):
        lab.mount("--bind", root, root)
        sh("mount", "-o", "remount,ro,bind", root)

    def clear(self, lab, root):
        lab.umount(root)


class NoPermission(Condition):  # daemons run as fjdowner; done/ loses its write permission
    def inject(self, lab, root):
        os.chmod(os.path.join(root, "done"), 0o555)

    def clear(self, lab, root):
        os.chmod(os.path.join(root, "done"), 0o755)


class OverQuota(DiskFull):
    def make_root(self, lab, users):
        if not tmpfs_quota_possible(lab):
            pytest.skip("EDQUOT: this kernel has no quota support (tmpfs usrquota refused; "
                        "ext4 says CONFIG_QUOTA is off), so no real quota can be exceeded")
        raise NotImplementedError


CONDITIONS = [DiskFull("ENOSPC", "No space left on device"),
              OverQuota("EDQUOT", "Disk quota exceeded", as_owner=True),
              NoPermission("EACCES", "Permission denied", as_owner=True),
              Immutable("EPERM", "Operation not permitted"),
              ReadOnly("EROFS", "Read-only file system"),
              CrossMount("EXDEV", "Invalid cross-device link")]
XFAIL_CONDITIONS = {}


@pytest.mark.parametrize("condition", [
    pytest.param(c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=XFAIL_CONDITIONS[
        c.name])] if c.name in XFAIL_CONDITIONS else []) for c in CONDITIONS])
def test_filesystem_error_is_logged_once_and_service_resumes(lab, users, condition):
    """A fault that hits a job's filing: no daemon dies or loops, each logs one line per
    condition (no more lines while it lasts), the finished job is held, not re-run, and
    everything carries on within 10 s of the fault clearing, without a restart."""
    root = condition.make_root(lab, users)
    owner = users["owner"] if condition.as_owner else None
    dispatcher = lab.dispatcher(root, user=owner)  # the default --worker-timeout (8 s)
    worker = lab.worker(root, user=owner)
    wait_for(lambda: listing(root, "workerqueue"), timeout=20,
             message="the worker to announce itself")
    lab.submit(root, "first.conf", lab.marking(then=lab.waiting_for("first.go")), owner=owner)
    lab.submit(root, "second.conf", lab.marking(), owner=owner)
    wait_for(lambda: lab.runs("first.conf"), message="first.conf to start")
    condition.inject(lab, root)
    injected = time.monotonic()
    try:
        lab.go("first.go")  # first.conf ends now, under the fault
        wait_for(lambda: any(log_lines(d, condition.strerror) for d in (dispatcher, worker)),
                 message="a daemon to say %r" % condition.strerror)
        # each daemon's periodic steps (beats, lock, liveness: 1 s) have met the fault too
        time.sleep(max(0.0, injected + 2.0 - time.monotonic()))
        early = {d: len(log_lines(d, condition.strerror)) for d in (dispatcher, worker)}
        time.sleep(REPEATS_WINDOW)
        assert_healthy(lab)
        logged = {d: assert_logged_once_each(d, condition.strerror)
                  for d in (dispatcher, worker)}
        assert sum(len(lines) for lines in logged.values()) >= 1, \
            "nobody said %r:\n%s" % (condition.strerror, lab.all_logs()[-3000:])
        for daemon, count in early.items():
            assert len(logged[daemon]) == count, "more lines while the condition lasted: %s" \
                % logged[daemon]
        assert lab.runs("second.conf") == [], "the worker took a new job while holding one"
        assert len(lab.runs("first.conf")) == 1
    finally:
        condition.clear(lab, root)
    cleared = time.monotonic()
    wait_for(lambda: where(root, "first.conf") and where(root, "second.conf"), timeout=10,
             message="both jobs filed within 10 s of the fault clearing")
    assert time.monotonic() - cleared < 10
    lab.submit(root, "after.conf", lab.marking(), owner=owner)
    wait_for(lambda: where(root, "after.conf"), timeout=10, message="service after the fault")
    for name in ("first.conf", "second.conf", "after.conf"):
        assert_finished_once(lab, root, name, "done")
    assert_healthy(lab)


def test_back_off_doubles_up_to_its_cap():
    """The daemons here run with the cap at RETRY_MAX: the default back-off, in-process.
    One line per condition, a delay that doubles from FAULT_FIRST_DELAY up to
    FAULT_MAX_DELAY (4 s), and back to the first once the condition clears."""
    class Log:
        def __init__(self):
            self.lines = []

        def error(self, text, *args):
            self.lines.append(text % args)

        warning = error

    assert (defaults.FAULT_FIRST_DELAY, defaults.FAULT_MAX_DELAY) == (0.25, 4.0)
    log = Log()
    watch = faults.Faults(log)
    full = OSError(errno.ENOSPC, "No space left on device")
    delays = [watch.failed("file a result", full) for _ in range(7)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(log.lines) == 1 and "No space left" in log.lines[0], log.lines
    assert watch.cleared("file a result") and not watch
    assert "works again" in log.lines[-1]
    assert watch.failed("file a result", full) == 0.25


# -- 2 and 10. a result that cannot be filed is held, never run again -----------------------

class ReadOnlyFolder(Condition):
    """A read-only bind mount over one of the root's folders (stops root too). Renames into
    it from another folder cross mounts (EXDEV); files made in it fail with EROFS."""

    def __init__(self, name, strerror, folder, control=None):
        Condition.__init__(self, name, strerror)
        self.folder = folder
        self.control = control or {}

    def inject(self, lab, root):
        path = os.path.join(root, self.folder)
        lab.mount("--bind", path, path)
        sh("mount", "-o", "remount,ro,bind", path)

    def clear(self, lab, root):
        lab.umount(os.path.join(root, self.folder))


HELD = [NoPermission("done-mode-0555", "Permission denied", as_owner=True),
        ReadOnlyFolder("done-read-only-mount", "Invalid cross-device link", "done"),
        # output: files, so that the job runs (its output goes to its inbox) and only the
        # filing needs records/ (the journal is made at the first record)
        ReadOnlyFolder("records-read-only-mount", "Read-only file system", "records",
                       {"output": "files"}),
        Immutable("done-immutable", "Operation not permitted")]


def blocked_beats(root):
    return {w: b for w, b in heartbeats(root).items() if b.get("blocked")}


@pytest.mark.parametrize("condition", HELD, ids=[c.name for c in HELD])
def test_unfileable_result_is_held_and_filed_later(lab, users, condition):
    """done/ or records/ cannot be written: the worker keeps the finished job, says
    "blocked" in its heartbeat, takes no new job, never runs it again, and files it once the
    folder is writable again."""
    root = condition.make_root(lab, users)
    owner = users["owner"] if condition.as_owner else None
    lab.dispatcher(root, user=owner)
    worker = lab.worker(root, user=owner)
    wait_for(lambda: listing(root, "workerqueue"), timeout=20,
             message="the worker to announce itself")
    condition.inject(lab, root)
    try:
        control = getattr(condition, "control", {})
        lab.submit(root, "held.conf", lab.marking(), owner=owner, **control)
        lab.submit(root, "next.conf", lab.marking(), owner=owner, **control)
        blocked = wait_for(lambda: blocked_beats(root), timeout=10,
                           message="a heartbeat saying blocked")
        why = list(blocked.values())[0]["blocked"]
        assert "held.conf" in why and condition.strerror in why, why
        shown = fjd_cli(root, "status").out  # and says why in words, not only in --json
        assert "cannot go on: " in shown and condition.strerror in shown, shown
        time.sleep(REPEATS_WINDOW)  # retries meanwhile: none runs the job or takes the next
        assert lab.runs("held.conf") == ["1"]
        assert lab.runs("next.conf") == [], "the blocked worker took another job"
        assert where(root, "held.conf") == []
        assert_healthy(lab)
    finally:
        condition.clear(lab, root)
    wait_for(lambda: where(root, "held.conf") and where(root, "next.conf"), timeout=10,
             message="the held job filed within 10 s")
    wait_for(lambda: not blocked_beats(root), timeout=3, message="the heartbeat unblocked")
    for name in ("held.conf", "next.conf"):
        assert_finished_once(lab, root, name, "done")
    assert len(records_of(root, "held.conf")) == 1
    assert_healthy(lab)
    assert len(log_lines(worker, "holding the result")) == 1, worker.log()


def unwritable_failed_folder_and_a_symlink(lab, users, how, then_clear):
    """failed/ cannot be written and a symlink waits in jobqueue/: the dispatcher warns
    once and writes at most one record for it (not one per cycle), lives on and serves
    other jobs; then_clear: and rejects the link once failed/ is writable again."""
    owner = users["owner"] if how.endswith("0555") else None
    root = lab.root(owner=owner)
    dispatcher = lab.dispatcher(root, user=owner)
    lab.worker(root, user=owner)
    failed = os.path.join(root, "failed")
    wait_for(lambda: os.path.isdir(failed), message="failed/ made")
    if owner:
        os.chmod(failed, 0o555)
    else:
        lab.chattr_immutable(failed)
    try:
        os.symlink("/etc/hostname", os.path.join(root, "jobqueue", "link.conf"))
        lab.submit(root, "good.conf", lab.marking(), owner=owner)
        wait_for(lambda: where(root, "good.conf"), message="good.conf done meanwhile")
        wait_for(lambda: log_lines(dispatcher, "link.conf"), message="the warning")
        time.sleep(REPEATS_WINDOW)
        recorded = [r for r in journal_records(root) if mentions(r, "link.conf")]
        assert len(recorded) <= 1, recorded
        assert len(log_lines(dispatcher, "link.conf")) == 1, dispatcher.log()
        assert_healthy(lab)
    finally:
        if owner:
            os.chmod(failed, 0o755)
        else:
            lab.chattr_immutable(failed, on=False)
    assert_finished_once(lab, root, "good.conf", "done")
    if then_clear:
        wait_for(lambda: where(root, "link.conf"), timeout=10,
                 message="the link rejected within 10 s of failed/ being writable again")
        assert os.path.islink(os.path.join(failed, "link.conf"))
        assert len([r for r in journal_records(root) if mentions(r, "link.conf")]) == 1
    assert_healthy(lab)


@pytest.mark.parametrize("how", ["failed-mode-0555", "failed-immutable"])
def test_unwritable_failed_folder_and_a_symlink_in_the_queue(lab, users, how):
    unwritable_failed_folder_and_a_symlink(lab, users, how, then_clear=False)


@pytest.mark.slow
def test_symlink_is_rejected_once_failed_folder_is_writable_again(lab, users):
    unwritable_failed_folder_and_a_symlink(lab, users, "failed-immutable", then_clear=True)


def hold_one_job(lab, root, *dispatcher_args):
    """A dispatcher, a worker, and a finished job the worker cannot file (done/ immutable)."""
    dispatcher = lab.dispatcher(root, *dispatcher_args)
    worker = lab.worker(root)
    wait_for(lambda: listing(root, "workerqueue"), timeout=20,
             message="the worker to announce itself")
    lab.chattr_immutable(os.path.join(root, "done"))
    lab.submit(root, "held.conf", lab.marking())
    wait_for(lambda: blocked_beats(root), timeout=10, message="a heartbeat saying blocked")
    return dispatcher, worker


def test_status_json_lists_a_blocked_worker(lab, users):
    root = lab.root()
    dispatcher, worker = hold_one_job(lab, root)
    try:
        result = fjd_cli(root, "status", "--json")
        assert result.returncode == 0, result.err
        status = json.loads(result.out)
        worker_id = list(blocked_beats(root))[0]
        assert [b["worker"] for b in status["blocked"]] == [worker_id], status
        assert "held.conf" in status["blocked"][0]["why"]
    finally:
        lab.chattr_immutable(os.path.join(root, "done"), on=False)
    wait_for(lambda: where(root, "held.conf"), message="held.conf filed")
    assert_finished_once(lab, root, "held.conf", "done")
    assert_healthy(lab)


def test_holding_worker_keeps_beating(lab, users):
    """While it holds a result a worker beats every second as always: a dispatcher with a
    short --worker-timeout does not presume it dead (and run its job again)."""
    root = lab.root()
    dispatcher, worker = hold_one_job(lab, root, *FAST)
    try:
        time.sleep(5)  # over the timeout and a reading of the heartbeats
        assert "presumed dead" not in dispatcher.log(), dispatcher.log()
    finally:
        lab.chattr_immutable(os.path.join(root, "done"), on=False)
    wait_for(lambda: where(root, "held.conf"), message="held.conf filed")
    time.sleep(1)
    assert_finished_once(lab, root, "held.conf", "done")
    assert_healthy(lab)


def test_dead_holding_worker_result_is_filed_not_rerun(lab, users):
    """A worker that holds a result is SIGKILLed: the dispatcher files the held result from
    its heartbeat (docs/reliability.md, fjd/dispatcher/burial.py) instead of running the job again."""
    root = lab.root()
    dispatcher, worker = hold_one_job(lab, root, *FAST)
    worker.kill()
    spare = lab.worker(root)
    try:
        wait_for(lambda: "presumed dead" in dispatcher.log(), timeout=10,
                 message="the killed worker buried")
        time.sleep(2)
    finally:
        lab.chattr_immutable(os.path.join(root, "done"), on=False)
    wait_for(lambda: where(root, "held.conf"), message="held.conf filed")
    time.sleep(1)
    assert_finished_once(lab, root, "held.conf", "done")
    assert_healthy(lab, [dispatcher, spare])


# -- 3. every hand-back counts -----------------------------------------------------------------

def shell_marking(lab, then):
    script = 'echo "$FJD_ATTEMPT" >> %s/"$FJD_JOB_NAME"; %s' % (shlex.quote(lab.marks), then)
    return "sh -c %s" % shlex.quote(script)


SELF_STOPPERS = {
    "sh-kill-TERM-PPID": lambda lab: shell_marking(lab, "kill -TERM $PPID; sleep 10"),
    "python-os-kill-getppid": lambda lab: lab.marking(
        then="import signal; os.kill(os.getppid(), signal.SIGTERM); time.sleep(10)"),
}


@pytest.mark.parametrize("how", sorted(SELF_STOPPERS))
def test_job_that_signals_its_worker_is_cut_short_and_counted(lab, how):
    """A job that sends SIGTERM to its own worker does not stop the worker: the run is cut
    short and counted, and after --max-attempts the job fails with a reason that says it
    signalled its own worker. Both workers live on and later jobs run."""
    root = lab.root()
    lab.dispatcher(root, *FAST, "--max-attempts", "3")
    lab.worker(root)
    lab.worker(root)
    lab.submit(root, "stopper.conf", SELF_STOPPERS[how](lab))
    wait_for(lambda: where(root, "stopper.conf"), timeout=25, message="stopper.conf filed")
    lab.submit(root, "after.conf", lab.marking())
    wait_for(lambda: where(root, "after.conf"), timeout=10, message="a job after it")
    time.sleep(0.5)
    assert lab.runs("stopper.conf") == ["1", "2", "3"]
    record = assert_finished_once(lab, root, "stopper.conf", "failed", max_runs=3)
    reason = record["reason"]
    assert "stop signal" in reason and "own worker" in reason, reason
    assert_finished_once(lab, root, "after.conf", "done")
    assert_healthy(lab)
    assert "found a stop request" not in lab.all_logs()


# -- 4. a job's own file is fjd's --------------------------------------------------------------

@pytest.mark.parametrize("how,words", [("rm -- \"$0\"", "deleted"),
                                       ("mv -- \"$0\" \"$0.bak\"", "renamed")],
                         ids=["deletes", "renames"])
def test_job_that_removes_its_own_file_is_filed_once(lab, how, words):
    root = lab.root()
    lab.dispatcher(root, *FAST)
    lab.worker(root)
    lab.submit(root, "selfish.conf", shell_marking(lab, how))
    wait_for(lambda: where(root, "selfish.conf"), timeout=10, message="selfish.conf filed")
    lab.submit(root, "after.conf", lab.marking())
    wait_for(lambda: where(root, "after.conf"), timeout=10, message="a job after it")
    time.sleep(1)
    assert_finished_once(lab, root, "selfish.conf", record_words=[words])
    assert_finished_once(lab, root, "after.conf", "done")
    assert inbox_jobs(root) == [] and listing(root, "jobqueue") == []
    everywhere = [n for folder in FINAL for n in listing(root, folder)]
    assert sorted(everywhere) == ["after.conf", "selfish.conf"], everywhere
    assert_healthy(lab)


@pytest.mark.slow
def test_on_sshfs_jobs_that_remove_their_file_or_meet_a_taken_name_are_filed_once(lab):
    """On sshfs a worker keeps the job file open from its read to its filing and links it
    into done/ by that descriptor (records.OpenSource). The cases where the file is not
    where it was: a job that deletes its own file (sshfs hides an open file's removed
    name), one that renames it, and one whose name in done/ is taken by a person's file.
    Each is filed once, in one final folder, and nothing is left behind in the inbox."""
    served, mount = lab.sshfs_root()
    lab.dispatcher(mount, "--worker-timeout", "30")
    lab.worker(mount)
    wait_for(lambda: listing(served, "workerqueue"), timeout=15, message="the worker announced")
    with open(os.path.join(served, "done", "taken.conf"), "w") as handle:
        handle.write("a person's own file\n")
    lab.submit(served, "deletes.conf", shell_marking(lab, 'rm -- "$0"'))
    lab.submit(served, "renames.conf", shell_marking(lab, 'mv -- "$0" "$0.bak"'))
    lab.submit(served, "taken.conf", lab.marking())
    lab.submit(served, "plain.conf", lab.marking())
    wait_for(lambda: all(where(served, n) for n in ("deletes.conf", "renames.conf",
                                                    "plain.conf")) and
             "taken~2.conf" in listing(served, "done"), timeout=20, message="all filed")
    time.sleep(1)
    assert_finished_once(lab, served, "deletes.conf", record_words=["deleted"])
    assert_finished_once(lab, served, "renames.conf", record_words=["renamed"])
    assert_finished_once(lab, served, "plain.conf", "done")
    with open(os.path.join(served, "done", "taken.conf")) as handle:
        assert handle.read() == "a person's own file\n"
    assert records_of(served, "taken~2.conf")[-1]["state"] == "done"
    assert lab.runs("taken.conf") == ["1"]
    assert inbox_jobs(served) == [] and listing(served, "jobqueue") == []
    for worker in listing(served, "jobpod"):  # no .fuse_hidden* or other leftovers
        left = [n for n in os.listdir(os.path.join(served, "jobpod", worker))
                if n not in (".heartbeat", ".announcement")]
        assert left == [], left
    assert_healthy(lab)


def test_filing_never_replaces_and_a_job_moved_back_runs_again(lab):
    """A file a person put in done/ or failed/ under a job's name stays; the job gets
    NAME~2. A job moved back by hand from done/ runs again with a new record."""
    root = lab.root()
    lab.dispatcher(root)
    lab.worker(root)
    wait_for(lambda: all(os.path.isdir(os.path.join(root, folder)) for folder in
                         ("done", "failed")), message="the folders")
    for folder, name in (("done", "taken.conf"), ("failed", "bad.conf")):
        with open(os.path.join(root, folder, name), "w") as handle:
            handle.write("a person's own file\n")
    lab.submit(root, "taken.conf", lab.marking())
    lab.submit(root, "bad.conf", lab.marking(then="sys.exit(3)"))
    lab.submit(root, "again.conf", lab.marking())
    wait_for(lambda: len(listing(root, "done")) == 3 and len(listing(root, "failed")) == 2,
             message="the jobs filed")
    for folder, name in (("done", "taken.conf"), ("failed", "bad.conf")):
        with open(os.path.join(root, folder, name)) as handle:
            assert handle.read() == "a person's own file\n"
    assert listing(root, "done") == ["again.conf", "taken.conf", "taken~2.conf"]
    assert listing(root, "failed") == ["bad.conf", "bad~2.conf"]
    assert records_of(root, "taken~2.conf")[-1]["state"] == "done"
    assert records_of(root, "bad~2.conf")[-1]["state"] == "failed"
    os.rename(os.path.join(root, "done", "again.conf"), os.path.join(root, "jobqueue",
                                                                     "again.conf"))
    wait_for(lambda: lab.runs("again.conf") == ["1", "1"] and "again.conf" in
             listing(root, "done"), message="again.conf run and filed again")
    time.sleep(0.5)
    assert listing(root, "done") == ["again.conf", "taken.conf", "taken~2.conf"]
    found = records_of(root, "again.conf")
    assert len(found) == 2 and found[0]["end"] < found[1]["start"], found
    assert lab.runs("taken.conf") == ["1"] and lab.runs("bad.conf") == ["1"]
    assert_healthy(lab)


# -- 7. names that look like fjd's suffixes -------------------------------------------------------

def test_users_own_at_suffix_is_just_a_name(lab):
    root = lab.root()
    lab.dispatcher(root)
    lab.worker(root)
    lab.submit(root, "sample@a7", lab.marking())
    wait_for(lambda: where(root, "sample@a7"), message="sample@a7 filed")
    assert lab.runs("sample@a7") == ["1"], "FJD_ATTEMPT of a fresh job is 1"
    record = assert_finished_once(lab, root, "sample@a7", "done")
    assert record["attempt"] == 1
    assert_healthy(lab)


@pytest.mark.slow  # two deaths, each noticed after the timeout
def test_users_at_a2_job_fails_only_after_max_attempts_crashes(lab):
    """sim@a2 SIGKILLs its worker every time: with --max-attempts 2 it runs twice, not
    once, and then fails with the worker-died reason."""
    root = lab.root()
    dispatcher = lab.dispatcher(root, *FAST, "--max-attempts", "2")
    workers = [lab.worker(root), lab.worker(root)]
    lab.submit(root, "sim@a2", lab.marking(then="os.kill(os.getppid(), 9); time.sleep(5)"))
    wait_for(lambda: where(root, "sim@a2"), timeout=25, message="sim@a2 filed")
    time.sleep(0.5)
    assert lab.runs("sim@a2") == ["1", "2"]
    record = assert_finished_once(lab, root, "sim@a2", "failed", max_runs=2,
                                  record_words=["died while running it 2 times"])
    assert record["original"] == "sim@a2"
    assert_healthy(lab, [dispatcher])
    assert not any(w.alive() for w in workers), "both workers were killed by the job"


# -- 5. neighbours ---------------------------------------------------------------------------------

NEIGHBOUR_ENTRIES = {
    "their-file.conf": "file",
    "their-dir.conf": "directory",
    "their-link.conf": "symlink",
    "their-fifo.conf": "fifo",
}

MAKE_ENTRIES = """
import os, sys
q, pwned = sys.argv[1], sys.argv[2]
with open(os.path.join(q, ".their-file.tmp"), "w") as f:
    f.write("[control]\\nexecutable: touch %s\\n" % pwned)
os.rename(os.path.join(q, ".their-file.tmp"), os.path.join(q, "their-file.conf"))
os.mkdir(os.path.join(q, "their-dir.conf"), 0o755)
os.symlink("/etc/passwd", os.path.join(q, "their-link.conf"))
os.mkfifo(os.path.join(q, "their-fifo.conf"), 0o644)
"""


def mentions(record, name):
    return name in (record.get("name"), record.get("queue"), record.get("original"))


@pytest.mark.parametrize("sharing", ["sticky-1777", "group-writable-0775"])
def test_neighbours_entries_in_a_shared_jobqueue(lab, users, sharing):
    """Another user's file, directory, symlink and FIFO in a shared jobqueue/: each is
    rejected once with one record, or left where it is with one warning; nothing of theirs
    runs; no daemon dies, not even when the dispatcher is restarted; both daemons warn that
    the folder is writable by others."""
    owner, neighbour = users["owner"], users["neighbour"]
    root = lab.root(owner=owner)
    jobqueue = os.path.join(root, "jobqueue")
    os.mkdir(jobqueue)
    if sharing.startswith("sticky"):
        os.chown(jobqueue, owner.uid, owner.gid)
        os.chmod(jobqueue, 0o1777)
    else:
        os.chown(jobqueue, owner.uid, neighbour.gid)
        os.chmod(jobqueue, 0o775)
    pwned = os.path.join(lab.marks, "PWNED")
    made = neighbour.run([ANY_PYTHON, "-c", MAKE_ENTRIES, jobqueue, pwned])
    assert made.returncode == 0, made.stdout
    dispatcher = lab.dispatcher(root, user=owner)
    worker = lab.worker(root, user=owner)
    lab.submit(root, "good.conf", lab.marking(), owner=owner)
    wait_for(lambda: where(root, "good.conf"), timeout=20, message="good.conf done")

    def handled(daemon):
        """Each entry of theirs is rejected or warned about (their file first settles: no
        lease on another user's file)."""
        return all(where(root, name) or log_lines(daemon, re.escape(name))
                   for name in NEIGHBOUR_ENTRIES)

    wait_for(lambda: handled(dispatcher), message="their entries handled")
    time.sleep(REPEATS_WINDOW)

    def check(dispatchers):
        journal = journal_records(root)
        for name, kind in NEIGHBOUR_ENTRIES.items():
            recorded = [r for r in journal if r.get("k") == "job" and mentions(r, name)]
            assert len(recorded) <= 1, (name, recorded)
            if name in listing(root, "jobqueue"):
                assert not recorded, (name, recorded)
                for daemon in dispatchers:
                    warned = log_lines(daemon, re.escape(name))
                    assert len(warned) == 1, (name, kind, daemon.log())
            else:
                assert where(root, name) == ["failed"], (name, where(root, name))
                assert len(recorded) == 1, (name, kind, "no record")
        assert not os.path.exists(pwned), "the neighbour's job ran as the queue's owner"

    check([dispatcher])
    their = records_of(root, "their-file.conf")
    assert their and "belongs to" in their[-1]["reason"], their
    for daemon in (dispatcher, worker):
        assert log_lines(daemon, "writable by"), daemon.log()
    assert dispatcher.stop() == 0
    again = lab.dispatcher(root, user=owner)
    wait_for(lambda: handled(again), message="their entries handled after the restart")
    time.sleep(REPEATS_WINDOW)
    assert again.alive(), again.log()
    check([again])
    lab.submit(root, "after.conf", lab.marking(), owner=owner)
    wait_for(lambda: where(root, "after.conf"), message="after.conf after the restart")
    assert_finished_once(lab, root, "good.conf", "done")
    assert_finished_once(lab, root, "after.conf", "done")
    assert_healthy(lab, [again, worker])


@pytest.mark.parametrize("what,mode", [("root", 0o775), ("root", 0o1777), ("done", 0o775),
                                       ("jobqueue", 0o1777)],
                         ids=["root-0775", "root-1777", "done-0775", "jobqueue-1777"])
def test_daemons_warn_about_a_root_or_folder_others_can_write(lab, what, mode):
    root = lab.root()
    path = root if what == "root" else os.path.join(root, what)
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)
    dispatcher = lab.dispatcher(root)
    worker = lab.worker(root)
    for daemon in (dispatcher, worker):
        wait_for(lambda: log_lines(daemon, "writable by"), message="the warning")
        lines = log_lines(daemon, "writable by")
        assert all(path + " is writable by" in line for line in lines), lines
    lab.submit(root, "fine.conf", lab.marking())
    wait_for(lambda: where(root, "fine.conf"), message="fine.conf done")
    assert_finished_once(lab, root, "fine.conf", "done")
    assert_healthy(lab)


def test_unsafe_folder_warning_is_given_once(lab):
    root = lab.root()
    os.chmod(root, 0o775)
    dispatcher = lab.dispatcher(root)
    worker = lab.worker(root)
    lab.submit(root, "fine.conf", lab.marking())
    wait_for(lambda: where(root, "fine.conf"), message="fine.conf done")
    time.sleep(1)
    for daemon in (dispatcher, worker):
        assert len(log_lines(daemon, "writable by")) == 1, daemon.log()
    assert_healthy(lab)


@pytest.mark.parametrize("role", ["dispatcher", "worker"])
@pytest.mark.parametrize("trouble", ["symlink", "other-owner"])
def test_daemon_refuses_a_linked_or_foreign_folder(lab, users, role, trouble):
    root = lab.root()
    done = os.path.join(root, "done")
    if trouble == "symlink":
        os.mkdir(os.path.join(lab.base, "elsewhere"))
        os.symlink(os.path.join(lab.base, "elsewhere"), done)
        words = ["symbolic link", "rm "]
    else:
        os.mkdir(done)
        os.chown(done, users["neighbour"].uid, users["neighbour"].gid)
        words = ["belongs to %s" % NEIGHBOUR, "move it away"]
    daemon = lab.start(role, root)
    try:
        status = daemon.proc.wait(15)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s did not refuse: %s" % (role, daemon.log()))
    text = daemon.log()
    assert status == 1, text
    assert_no_traceback(text)
    assert done in text, text
    for word in words:
        assert word in text, text
    assert os.listdir(os.path.join(lab.base, "elsewhere") if trouble == "symlink" else done) \
        == [], "nothing was put in the folder"


# -- 6. a vanished root ---------------------------------------------------------------------------

def assert_stays_empty(path, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert os.listdir(path) == [], "made in the bare mount point: %s" % os.listdir(path)
        time.sleep(0.05)


class VanishingRoot:
    """A queue root that is a tmpfs mount point, kept alive by a second bind mount so that
    it can be lazily unmounted (leaving the bare folder) and mounted back with its content."""

    def __init__(self, lab):
        self.lab = lab
        self.mnt = os.path.join(lab.base, "mnt")
        self.keep = os.path.join(lab.base, "keep")
        lab.tmpfs(self.mnt, "16m")
        os.mkdir(self.keep)
        lab.mount("--bind", self.mnt, self.keep)

    def vanish(self):
        self.lab.umount(self.mnt, lazy=True)

    def come_back(self):
        self.lab.mount("--bind", self.keep, self.mnt)


def long_job(lab, root, name, seconds=4, go=None):
    """A job that marks its start, sleeps (or, given go, waits for lab.go(go)), and leaves
    NAME.ended when not killed."""
    ended = os.path.join(lab.marks, name + ".ended")
    wait = lab.waiting_for(go) if go else "time.sleep(%s)" % seconds
    lab.submit(root, name, lab.marking(then="%s; open(%r, 'w').close()" % (wait, ended)))
    wait_for(lambda: lab.runs(name), message="%s to start" % name)
    return ended


def test_root_on_tmpfs_unmounted_and_back(lab):
    """The root (a tmpfs) is lazily unmounted under a dispatcher and a worker that runs a
    job, leaving the bare mount point; then mounted back. Nothing is made in the bare
    folder, the job is not killed, it is filed once, and service resumes."""
    root = VanishingRoot(lab)
    mnt = root.mnt
    dispatcher = lab.dispatcher(mnt, *FAST)
    worker = lab.worker(mnt)
    lab.submit(mnt, "warm.conf", lab.marking())  # the worker's journal is open from now on
    wait_for(lambda: where(mnt, "warm.conf"), message="warm.conf done")
    ended = long_job(lab, mnt, "long.conf", go="long.go")
    root.vanish()
    try:
        assert_stays_empty(mnt, 1)  # while the job runs
        lab.go("long.go")  # the job ends, with no root to file it in
        wait_for(lambda: os.path.exists(ended), message="the job to end")
        assert_stays_empty(mnt, 2)  # the worker tries to file it meanwhile
        assert os.path.exists(ended), "the job was killed"
        assert_healthy(lab)
        for daemon in (dispatcher, worker):
            gone = log_lines(daemon, "is gone")
            assert len(gone) == 1, daemon.log()
    finally:
        root.come_back()
    wait_for(lambda: where(mnt, "long.conf"), timeout=10, message="long.conf filed")
    lab.submit(mnt, "after.conf", lab.marking())
    wait_for(lambda: where(mnt, "after.conf"), timeout=10, message="service after the root "
             "came back")
    time.sleep(1.5)
    for name in ("warm.conf", "long.conf", "after.conf"):
        assert_finished_once(lab, mnt, name, "done")
        assert len(records_of(mnt, name)) == 1, records_of(mnt, name)
    assert inbox_jobs(mnt) == [] and listing(mnt, "jobqueue") == []
    for daemon in (dispatcher, worker):
        assert log_lines(daemon, "is back"), daemon.log()
    assert_healthy(lab)


@pytest.mark.slow
@pytest.mark.parametrize("warm", [False, True], ids=["first-job", "journal-open"])
def test_worker_running_a_job_when_its_root_vanishes(lab, warm):
    """The worker alone (the dispatcher is stopped before the root goes): its running job is
    not killed, nothing is made in the bare mount point, and the job is filed exactly once
    when the root is back, whether or not the worker had its journal open already."""
    root = VanishingRoot(lab)
    mnt = root.mnt
    dispatcher = lab.dispatcher(mnt, *FAST)
    worker = lab.worker(mnt)
    if warm:
        lab.submit(mnt, "warm.conf", lab.marking())
        wait_for(lambda: where(mnt, "warm.conf"), message="warm.conf done")
    ended = long_job(lab, mnt, "long.conf")
    assert dispatcher.stop() == 0
    root.vanish()
    try:
        assert_stays_empty(mnt, 6)
        assert os.path.exists(ended), "the job was killed"
        assert_healthy(lab, [worker])
        assert len(log_lines(worker, "is gone")) <= 1, worker.log()
    finally:
        root.come_back()
    lab.dispatcher(mnt, *FAST)
    wait_for(lambda: where(mnt, "long.conf"), timeout=10, message="long.conf filed")
    lab.submit(mnt, "after.conf", lab.marking())
    wait_for(lambda: where(mnt, "after.conf"), timeout=10, message="service after the root "
             "came back")
    time.sleep(2)
    assert_finished_once(lab, mnt, "long.conf", "done")
    assert len(records_of(mnt, "long.conf")) == 1, records_of(mnt, "long.conf")
    assert_finished_once(lab, mnt, "after.conf", "done")
    assert inbox_jobs(mnt) == [] and listing(mnt, "jobqueue") == []
    assert_healthy(lab, [d for d in lab.daemons if d is not dispatcher])


# -- 8. containers: one host name and boot id, separate PID namespaces ----------------------------

def in_pid_namespace():
    """A prefix that runs a command as pid 1 of a new PID namespace (same host name, same
    boot id, same folders); the command gets SIGKILL when this unshare dies."""
    tool = infra.which("unshare")
    if not tool:
        pytest.skip("needs unshare (util-linux)")
    return [tool, "--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL"]


def lock_holder(root):
    try:
        with open(os.path.join(root, "dispatcher.lock"), "rb") as handle:
            return json.loads(handle.read().decode())
    except (OSError, ValueError):
        return None


@pytest.mark.parametrize("first_in", ["host", "container"])
def test_dispatchers_in_separate_pid_namespaces(lab, first_in):
    """The second dispatcher refuses while the first lives (naming it), and takes over once
    the first is SIGKILLed and its lock stops changing. Pids mean nothing across PID
    namespaces: the second never takes a pid it cannot see for a dead holder."""
    import socket
    root = lab.root()
    wrap_first = in_pid_namespace() if first_in == "container" else ()
    wrap_second = () if first_in == "container" else in_pid_namespace()
    first = lab.dispatcher(root, *FAST, wrap=wrap_first)
    holder = wait_for(lambda: lock_holder(root), message="the first dispatcher's lock")
    refused = lab.dispatcher(root, *FAST, wrap=wrap_second)
    try:
        status = refused.proc.wait(15)
    except subprocess.TimeoutExpired:
        raise AssertionError("the second dispatcher did not refuse:\n" + refused.log())
    text = refused.log()
    assert status == 1, text
    assert "another dispatcher is running" in text, text
    assert "host %s (pid %s)" % (socket.gethostname(), holder["pid"]) in text, text
    assert_no_traceback(text)
    assert first.alive()
    first.kill()  # SIGKILL (of unshare: its pid 1 gets SIGKILL too)
    wait_for(lambda: not infra.processes_mentioning(root), message="the first one gone")
    taker = lab.dispatcher(root, *FAST, wrap=wrap_second)
    lab.worker(root)
    wait_for(lambda: "taking over" in taker.log(), timeout=10, message="the take-over")
    lab.submit(root, "served.conf", lab.marking())
    wait_for(lambda: where(root, "served.conf"), timeout=10, message="served.conf done")
    assert_finished_once(lab, root, "served.conf", "done")
    assert lock_holder(root)["token"] != holder["token"]
    assert_healthy(lab, [taker])


# -- 9. disk full ---------------------------------------------------------------------------------

def small_root(lab, size="4m"):
    root = lab.root()
    lab.tmpfs(root, size)
    return root


def test_job_printing_more_than_the_disk_holds(lab):
    """A job prints 10 MB on a 4 MB root: the worker survives, the job runs once, and the
    jobs behind it run once space is freed."""
    root = small_root(lab)
    lab.dispatcher(root)
    lab.worker(root)
    wait_for(lambda: listing(root, "workerqueue"), timeout=20,
             message="the worker to announce itself")
    filler = os.path.join(root, ".filler")
    with open(filler, "wb") as handle:
        handle.write(b"\0" * (1536 * 1024))
    lab.submit(root, "big.conf", shell_marking(lab, "head -c 10485760 /dev/zero"))
    for i in range(3):
        lab.submit(root, "behind%d.conf" % i, lab.marking())
    wait_for(lambda: lab.runs("big.conf"), message="big.conf to run")
    time.sleep(3)
    assert_healthy(lab)
    assert free_bytes(root) < 65536, "the disk is full now"
    os.unlink(filler)
    wait_for(lambda: all(where(root, "behind%d.conf" % i) for i in range(3)), timeout=10,
             message="the jobs behind it run once space is freed")
    time.sleep(0.5)
    assert_finished_once(lab, root, "big.conf")
    for i in range(3):
        assert_finished_once(lab, root, "behind%d.conf" % i, "done")
    assert_healthy(lab)


def files_in(root):
    """path -> size of every file under root."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            try:
                found[path] = os.lstat(path).st_size
            except OSError:
                pass
    return found


@pytest.mark.parametrize("queue", ["existing-queue", "new-root"])
def test_dispatcher_started_on_a_full_disk(lab, queue):
    """The dispatcher does not die, leaves no empty or half-written file (no empty
    dispatcher.lock), says so once, and starts serving once space is freed."""
    root = small_root(lab, "2m")
    if queue == "existing-queue":
        made = lab.worker(root, "--lifetime", "0.5")  # makes the folders, then leaves
        assert made.proc.wait(15) == 0, made.log()
    filler = os.path.join(root, ".filler")
    fill(filler)
    before = files_in(root)
    dispatcher = lab.dispatcher(root)
    wait_for(lambda: log_lines(dispatcher, "No space left"), message="the full disk said")
    time.sleep(REPEATS_WINDOW)
    assert_healthy(lab, [dispatcher])
    after = files_in(root)
    new = {path: size for path, size in after.items() if path not in before}
    assert not [p for p, size in new.items() if size == 0], "empty files left: %s" % new
    lock = os.path.join(root, "dispatcher.lock")
    if os.path.exists(lock):
        assert lock_holder(root) is not None, "a half-written lock"
    assert len(log_lines(dispatcher, "No space left")) == 1, dispatcher.log()
    os.unlink(filler)
    worker = lab.worker(root)
    lab.submit(root, "served.conf", lab.marking())
    wait_for(lambda: where(root, "served.conf"), timeout=10, message="service once space "
             "was freed")
    assert_finished_once(lab, root, "served.conf", "done")
    assert lock_holder(root)["pid"] == dispatcher.pid
    assert_healthy(lab, [dispatcher, worker])


def test_journal_append_fails_while_a_job_runs(lab):
    """The disk fills while a job runs: the worker cannot append its record, holds the
    result (heartbeat "blocked"), files it once space is freed, and the job ran once."""
    root = small_root(lab)
    lab.dispatcher(root)
    lab.worker(root)
    wait_for(lambda: listing(root, "workerqueue"), timeout=20,
             message="the worker to announce itself")
    lab.submit(root, "slow.conf", lab.marking(then="time.sleep(1.5)"))
    wait_for(lambda: lab.runs("slow.conf"), message="slow.conf to start")
    filler = os.path.join(root, ".filler")
    fill(filler)
    blocked = wait_for(lambda: blocked_beats(root), timeout=10, message="blocked heartbeat")
    assert "No space left" in list(blocked.values())[0]["blocked"]
    time.sleep(REPEATS_WINDOW)  # retries meanwhile: none runs the job again
    assert where(root, "slow.conf") == [] and lab.runs("slow.conf") == ["1"]
    os.unlink(filler)
    wait_for(lambda: where(root, "slow.conf"), timeout=10, message="slow.conf filed")
    assert_finished_once(lab, root, "slow.conf", "done")
    assert len(records_of(root, "slow.conf")) == 1
    assert_healthy(lab)


# -- 6b. a vanished sshfs mount on one "host" -----------------------------------------------------

def sshfs_of(host):
    """pids of the sshfs processes of a host (test/hosts.py)."""
    found = []
    for pid in infra.descendants(host.proc.pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"sshfs":
            found.append(pid)
    return found


def in_host(host, *argv, check=True):
    """Run argv in the mount namespace of host."""
    return sh(infra.which("nsenter"), "-t", host.shim_pid, "-m", "--", *argv, check=check)


@pytest.mark.slow
@pytest.mark.parametrize("warm", [False, True], ids=["first-job", "journal-open"])
def test_worker_whose_sshfs_mount_dies_and_comes_back(lab, hosts, warm):  # noqa: F811
    """On host beta the sshfs process dies under a worker running a job (ENOTCONN), the dead
    mount is removed (the bare mount point shows) and sshfs mounts again. The worker makes
    nothing in the bare folder, its job is not killed, and the job is filed once."""
    if not infra.which("nsenter"):
        pytest.skip("needs nsenter (util-linux)")
    shared, mnt = hosts.shared, hosts.mountpoint
    os.makedirs(os.path.join(shared, "jobqueue"))
    dispatcher = hosts.start("alpha", [sys.executable, os.path.join(REPO, "dispatcher.py"),
                                       "--root", mnt, "--worker-timeout", "30"],
                             options=SSHFS_OPTIONS)
    worker = hosts.start("beta", [sys.executable, os.path.join(REPO, "worker.py"),
                                  "--root", mnt], options=SSHFS_OPTIONS)
    wait_for(lambda: listing(shared, "workerqueue"), timeout=20, message="beta announced")
    if warm:  # the worker's journal and output files are open from now on
        lab.submit(shared, "warm.conf", lab.marking())
        wait_for(lambda: where(shared, "warm.conf"), timeout=10, message="warm.conf done")
    ended = long_job(lab, shared, "long.conf", seconds=3)
    victims = sshfs_of(worker)
    assert len(victims) == 1, victims
    infra.kill(victims, signal.SIGKILL)  # beta's mount now answers ENOTCONN
    time.sleep(2)
    in_host(worker, infra.which("fusermount3") or infra.which("fusermount"), "-u", "-z", mnt)
    time.sleep(3)  # beta sees the bare mount point; the job ends meanwhile
    assert os.listdir(mnt) == [], "made in the bare mount point: %s" % os.listdir(mnt)
    assert os.path.exists(ended), "the job was killed"
    assert worker.alive() and dispatcher.alive()
    in_host(worker, *hosts.sshd.sshfs_argv(shared, mnt, SSHFS_OPTIONS, foreground=False))
    remounted = time.monotonic()
    try:
        wait_for(lambda: where(shared, "long.conf"), timeout=10,
                 message="long.conf filed within 10 s of the mount coming back")
    except AssertionError as error:
        raise AssertionError("%s\n%s" % (error, worker.log()))
    lab.submit(shared, "after.conf", lab.marking())
    wait_for(lambda: where(shared, "after.conf"), timeout=15, message="service on beta")
    print("filed %.1f s after the remount" % (time.monotonic() - remounted))
    assert_finished_once(lab, shared, "long.conf", "done")
    assert len(records_of(shared, "long.conf")) == 1
    assert_finished_once(lab, shared, "after.conf", "done")
    logs = worker.log() + dispatcher.log()
    assert_no_traceback(logs)
    assert worker.alive() and dispatcher.alive()
    assert len([line for line in worker.log().splitlines() if "is gone" in line]) <= 1
