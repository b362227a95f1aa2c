"""What fjd asks an sshfs file server, counted for real: a private sshd on 127.0.0.1 whose
sftp-server logs every request it serves (infra.sftp_logging_wrapper), one sshfs mount of it
with docs/clusters.md's mount options, fjd's own code on that mount.

The counts are the kernel's, sshfs's and fjd's together, and do not depend on timing: the
floor of one job's way is exact, and whole runs are bounded. bench/shared.py measures the
same over three hosts with the throughput and idle rates (DESIGN.md rule 12).
Needs root and the packages openssh-server and sshfs (installed when missing).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

import hosts
import infra
from conftest import REPO, Daemon, fjd_env, wait_for

pytestmark = pytest.mark.slow
# counts of requests in a window of time (idle polling, batches), which load would change
exclusive = pytest.mark.exclusive

RECOMMENDED = "dir_cache=no,attr_timeout=0,entry_timeout=0"  # docs/clusters.md's mount advice
JOB = b"[control]\nexecutable: true\n"
# per job on its way (bench/sftp_ops.py prints the same): the dispatcher's rename into the
# inbox; the worker's open and read (the open asks for the attributes too; the read by
# sendfile, none); its record; the no-replace move into done/ by the open descriptor (a
# lookup of the new name, the link, the attributes sshfs fetches after it; the close; the
# lookup and removal of the old name)
FLOOR = {"rename": 3, "read": 4, "record": 1, "move": 6}


class Served:
    """The sshd with the request log, and the mount."""

    def __init__(self):
        reason = hosts.cached_unavailable_reason()
        if reason:
            pytest.skip("sshfs: " + reason)
        self.base = tempfile.mkdtemp(prefix="fjd-requests-")
        self.shared = os.path.join(self.base, "shared")
        self.mount = os.path.join(self.base, "mnt")
        os.makedirs(self.shared)
        wrapper = infra.sftp_logging_wrapper(os.path.join(self.base, "sftp.sh"),
                                             os.path.join(self.base, "sftp-logs"))
        self.log = infra.RequestLog(os.path.join(self.base, "sftp-logs"))
        self.sshd = hosts.Sshd(os.path.join(self.base, "state"), sftp_subsystem=wrapper)
        self.sshd.start()
        self.proc = hosts.start_sshfs(self.sshd, self.shared, self.mount, RECOMMENDED)

    def count(self, operation, pause=0.2):
        """The requests operation() costs alone (a pause on each side of it)."""
        time.sleep(pause)
        start = self.log.mark()
        operation()
        time.sleep(pause)
        return sum(sum(c.values()) for c in self.log.between(start, self.log.mark()).values())

    def close(self):
        hosts.unmount(self.mount, self.proc)
        self.sshd.stop()
        infra.kill(infra.processes_mentioning(self.base))
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def served():
    the_server = Served()
    try:
        yield the_server
    finally:
        the_server.close()


def test_one_job_costs_the_file_server_fourteen_requests(served):
    """The file operations of a `fjd submit` job, done with fjd's functions the way the
    daemons do them (folders kept open, renameat2 refused once), counted one by one."""
    sys.path.insert(0, REPO)
    from fjd import folders
    from fjd.jobfile import read_job_bytes
    from fjd.journal import JournalWriter
    from fjd.layout import Layout
    from fjd.records import OpenSource, move_noreplace

    root = Layout(os.path.join(served.mount, "q"))
    root.ensure()
    assert root.shared and root.fuse
    inbox = root.inbox("w1")
    os.mkdir(inbox)
    folders.use(root)
    try:
        writer = JournalWriter(root.records, "w1", {"role": "test"}, direct=root.fuse)
        names = ["20261202-120000.000000-abcdef-%06ds-job.conf" % n for n in range(2)]
        for name in names:
            with open(os.path.join(served.shared, "q", "jobqueue", name), "wb") as handle:
                handle.write(JOB)
        # warm up as a daemon is warm: its folders open, renameat2 refused once
        folders.lexists(os.path.join(inbox, "none"))
        move_noreplace(os.path.join(root.jobqueue, names[0]), os.path.join(root.done, names[0]))
        writer.append({"k": "job", "state": "done"})
        queued, handed, done = (os.path.join(root.jobqueue, names[1]),
                                os.path.join(inbox, names[1]), os.path.join(root.done, names[1]))
        kept = OpenSource(None)

        def read():
            data, _, _, kept.fd = read_job_bytes(handed, keep_open=True, splice=True)
            assert data == JOB

        counted = {
            "rename": served.count(lambda: folders.rename(queued, handed)),
            "read": served.count(read),
            "record": served.count(lambda: writer.append(
                {"k": "job", "name": names[1], "state": "done", "note": "x" * 3000})),
            "move": served.count(lambda: (move_noreplace(handed, done, kept), kept.close())),
        }
        writer.close()
    finally:
        folders.stop()
    assert os.path.exists(os.path.join(served.shared, "q", "done", names[1]))
    assert counted == FLOOR, counted
    assert sum(counted.values()) == 14


@exclusive
def test_idling_is_quiet_and_a_run_of_submitted_jobs_stays_near_the_floor(served):
    """A dispatcher and two workers on the mount. Idle, the three ask at most 12 requests
    a second between them (about 9 measured; polling at the busy pace would be hundreds).
    Then 300 `fjd submit` jobs: at most 16 requests per job, batches and polling included
    (the floor is 14; bench/shared.py measures 1,000 jobs on three hosts against 15)."""
    root = served.mount
    logs = os.path.join(served.base, "logs")
    os.makedirs(logs)
    daemons = [Daemon([sys.executable, os.path.join(REPO, "dispatcher.py"), "--root", root,
                       "--log-level", "WARNING"], os.path.join(logs, "d.log"), root, fjd_env())]
    for number in range(2):
        daemons.append(Daemon([sys.executable, os.path.join(REPO, "worker.py"), "--root", root,
                               "--log-level", "WARNING"],
                              os.path.join(logs, "w%d.log" % number), root, fjd_env()))
    done = os.path.join(served.shared, "done")
    try:
        workerqueue = os.path.join(served.shared, "workerqueue")
        wait_for(lambda: os.path.isdir(workerqueue) and len(os.listdir(workerqueue)) == 2,
                 timeout=20, message="two workers announced")
        time.sleep(4)  # quiet for longer than IDLE_AFTER: every daemon polls at its slowest
        start = served.log.mark()
        time.sleep(6)
        end = served.log.mark()
        idle = sum(sum(c.values()) for c in served.log.between(start, end).values())
        per_second = idle / (end[0] - start[0])
        start = served.log.mark()
        submit = subprocess.run([sys.executable, "-m", "fjd", "submit", "-q", "--root",
                                 served.shared, "--split", "--exe", "true", "--repeat", "300"],
                                cwd=REPO, env=fjd_env(), stdout=subprocess.DEVNULL)
        assert submit.returncode == 0
        wait_for(lambda: len(os.listdir(done)) == 300, timeout=60, message="300 jobs done")
        busy = sum(sum(c.values()) for c in served.log.between(start, served.log.mark())
                   .values())
        print("idle: %.1f requests a second; 300 jobs: %.1f requests per job"
              % (per_second, busy / 300.0))
        assert per_second <= 12.0
        assert busy / 300.0 <= 16.0
        assert all(daemon.alive() for daemon in daemons)
    finally:
        for daemon in daemons:
            daemon.stop()
            daemon.close()


PROBE = """import os, sys, time
time.sleep(0.1)
pods = os.path.join(sys.argv[1], "jobpod")
ranges = [name for pod in os.listdir(pods) if os.path.isdir(os.path.join(pods, pod))
          for name in os.listdir(os.path.join(pods, pod)) if "@t" in name]
with open(sys.argv[2], "a") as out:
    out.write("%s %d\\n" % (sys.argv[3], len(ranges)))
"""


@exclusive
def test_the_next_range_reaches_the_inbox_before_the_last_task_of_a_range_ends(served):
    """On a shared mount a worker asks for its next range while its range's last task
    runs (SHARED_ASK_LEAD), so the dispatcher's hand-out overlaps it: some task sees two
    ranges in its worker's inbox. Each task still runs once, and the array is filed."""
    root = served.mount
    logs = os.path.join(served.base, "logs")
    os.makedirs(logs)
    probe, seen = os.path.join(served.base, "probe.py"), os.path.join(served.base, "seen")
    with open(probe, "w") as handle:
        handle.write(PROBE)
    daemons = [Daemon([sys.executable, os.path.join(REPO, name), "--root", root,
                       "--log-level", "WARNING"], os.path.join(logs, name + ".log"), root,
                      fjd_env()) for name in ("dispatcher.py", "worker.py")]
    done = os.path.join(served.shared, "done")
    try:
        workerqueue = os.path.join(served.shared, "workerqueue")
        wait_for(lambda: os.path.isdir(workerqueue) and len(os.listdir(workerqueue)) == 1,
                 timeout=20, message="the worker announced")
        submit = subprocess.run(
            [sys.executable, "-m", "fjd", "submit", "-q", "--root", served.shared,
             "--no-jobfile", "--exe", "%s %s %s %s {i}" % (sys.executable, probe,
                                                           served.shared, seen),
             "--param", "i=1..24"], cwd=REPO, env=fjd_env(), stdout=subprocess.DEVNULL)
        assert submit.returncode == 0
        wait_for(lambda: os.path.isdir(done) and len(os.listdir(done)) == 1, timeout=90,
                 message="the array done")
        with open(seen) as handle:
            lines = [line.split() for line in handle]
        assert sorted(int(task) for task, _ in lines) == list(range(1, 25))
        assert max(int(count) for _, count in lines) == 2, lines
        assert all(daemon.alive() for daemon in daemons)
    finally:
        for daemon in daemons:
            daemon.stop()
            daemon.close()
