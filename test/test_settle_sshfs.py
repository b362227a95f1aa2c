"""Issue 27 over sshfs, for real: hand-written job files judged by the file server's clock
(a file written slowly in place is never taken half-written, one renamed in is taken
without waiting for the settle time), and stale announcements of workers killed with their
mounts, which a restarted dispatcher must not let hold jobs for more than a few seconds.

Hosts are namespaces with their own hostname and sshfs mount (test/hosts.py). Needs root,
/dev/fuse, openssh-server and sshfs; skipped otherwise."""
import os
import signal
import sys
import time

import pytest

import infra
from hosts import hosts  # noqa: F401  (the fixture)
from test_multihost import RECOMMENDED, listing, read_records, start_fjd, wait_until

pytestmark = pytest.mark.slow

JOB = "[control]\nexecutable: true\n"
SETTLE = 4.0

# written through the writer host's sshfs mount: "[control]" first, the executable last,
# so that a file taken before its end fails ("no executable") instead of running
SLOW_WRITER = """\
import os, sys, time
path, pause, pieces = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
with open(path, "w") as handle:
    handle.write("[control]\\n")
    for n in range(pieces):
        handle.flush()
        time.sleep(pause)
        handle.write("# piece %d of a job written in place, slowly\\n" % n)
    handle.write("executable: true\\n")
"""


def test_written_in_place_is_never_taken_half_written_renamed_in_is_taken_at_once(hosts):  # noqa: F811
    """--settle 4: a file written in place over sshfs for 6 s, with pauses under the settle
    time, ends in done/ (taken whole); a file written long ago elsewhere and renamed into
    jobqueue/ starts well within the settle time (a stat after stat would wait 4 s)."""
    shared = hosts.shared
    os.makedirs(os.path.join(shared, "jobqueue"))
    writer_path = os.path.join(shared, "slow_writer.py")
    with open(writer_path, "w") as handle:
        handle.write(SLOW_WRITER)
    dispatcher = start_fjd(hosts, "alpha", "dispatcher", RECOMMENDED, "--settle", str(SETTLE))
    worker = start_fjd(hosts, "beta", "worker", RECOMMENDED)
    assert wait_until(lambda: listing(os.path.join(shared, "workerqueue")), 30)
    prepared = os.path.join(shared, "renamed.conf")
    with open(prepared, "w") as handle:
        handle.write(JOB)
    long_ago = time.time() - 600
    os.utime(prepared, (long_ago, long_ago))
    time.sleep(1.0)
    renamed_at = time.time()
    os.rename(prepared, os.path.join(shared, "jobqueue", "renamed.conf"))
    done = os.path.join(shared, "done")
    assert wait_until(lambda: "renamed.conf" in listing(done), 15), listing(shared)
    writer = hosts.start("gamma", [sys.executable, os.path.join(hosts.mountpoint,
                                                                  "slow_writer.py"),
                                   os.path.join(hosts.mountpoint, "jobqueue", "slow.conf"),
                                   "1.5", "4"], options=RECOMMENDED)
    assert wait_until(lambda: "slow.conf" in listing(done) or
                      "slow.conf" in listing(os.path.join(shared, "failed")), 30)
    assert writer.proc.wait(10) == 0
    records = {r.get("original") or r.get("name"): r for r in read_records(shared)}
    assert records["slow.conf"]["state"] == "done", records["slow.conf"]
    started_after = records["renamed.conf"]["start"] - renamed_at
    assert started_after < SETTLE - 1.0, started_after
    assert dispatcher.stop() == 0 and worker.stop() == 0


@pytest.mark.parametrize("killed", ["workers and mount", "workers"])
def test_stale_announcements_of_killed_workers_hold_no_job_long(hosts, killed):  # noqa: F811
    """Two workers killed with their mount (SIGKILL of the host), or alone, leave their
    announcements and inboxes; 20 jobs queued, then a new dispatcher and one new worker
    start. The batch
    the new dispatcher gives a dead worker (one job each: it never saw them alive) comes
    back after a few seconds, not after the 30 s worker timeout: every job is done within
    8 s of the dispatcher's start."""
    shared = hosts.shared
    worker_argv = [sys.executable, os.path.join(REPO_DIR, "worker.py"), "--root",
                   hosts.mountpoint]
    dispatcher = start_fjd(hosts, "alpha", "dispatcher", RECOMMENDED)
    doomed = hosts.start("beta", worker_argv, more=[worker_argv], options=RECOMMENDED)
    workerqueue = os.path.join(shared, "workerqueue")
    assert wait_until(lambda: len(listing(workerqueue)) == 2, 30)
    assert dispatcher.stop() == 0
    if killed == "workers":
        workers = [pid for pid in infra.descendants(doomed.proc.pid)
                   if b"worker.py" in command_line(pid)]
        assert len(workers) == 2
        infra.kill(workers, signal.SIGKILL)
        doomed.proc.wait(15)  # its shim unmounts once its commands are gone
    else:
        doomed.kill()  # workers and their mount, at once: announcements and inboxes stay
    assert len(listing(workerqueue)) == 2
    for n in range(20):
        with open(os.path.join(shared, "jobqueue", ".tmp"), "w") as handle:
            handle.write(JOB)
        os.rename(os.path.join(shared, "jobqueue", ".tmp"),
                  os.path.join(shared, "jobqueue", "job%02d.conf" % n))
    started = time.time()
    dispatcher = start_fjd(hosts, "alpha", "dispatcher", RECOMMENDED)
    worker = start_fjd(hosts, "gamma", "worker", RECOMMENDED)
    done = os.path.join(shared, "done")
    finished = wait_until(lambda: len(listing(done)) == 20, 40)
    took = time.time() - started
    assert finished, (listing(shared), dispatcher.log()[-3000:])
    log = dispatcher.log()
    assert dispatcher.stop() == 0 and worker.stop() == 0
    assert "did not take up its batch" in dispatcher.log(), log[-3000:]
    print("all 20 jobs done %.1f s after the dispatcher's start" % took)
    assert took < 8.0 + HOST_START, (took, log[-3000:])
    assert len(read_records(shared)) == 20


def command_line(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST_START = 2.0  # the two hosts' mounts and interpreters, not fjd's time
