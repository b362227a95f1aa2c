#!/usr/bin/env python3
"""This probe imports fjd internals on purpose: it counts the requests of one file operation
at a time, so it calls the functions that do each one (fjd.folders, layout, records, journal).

What each file operation of a single job costs an sshfs file server, in sftp requests.

    python bench/sftp_ops.py                 # fjd's recommended sshfs options (root)
    python bench/sftp_ops.py --options ""    # sshfs's defaults

A private sshd on 127.0.0.1 serves a fresh folder through a request-logging sftp-server
(test/infra.py), one sshfs mount of it is made in this process, and fjd's own functions
(folders.py with the queue's folders kept open, as the daemons keep them) do, one after the
other, what a single job under a `fjd submit` name costs on its way: the dispatcher's
rename into the worker's inbox, the worker's read of the job (kept open), the append of
its record and the no-replace move into done/ (linked by the open descriptor). Each
operation is counted alone (the requests logged between two marks, with a pause before
and after). Then, for comparison, what a batch costs once: the look for a worker that
hinted it is idle, listings, the parked announcement's check and the announcement.

The sum of the per-job operations is the floor of bench/shared.py's "requests per job";
what that scenario measures above it is the batches' share and polling.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "test"))
sys.path.insert(0, REPO)

import hosts  # noqa: E402  (test infrastructure: the private sshd, sshfs mounts)
import infra  # noqa: E402
from sharedfs_hosts import RequestLog, tally  # noqa: E402

RECOMMENDED = "dir_cache=no,attr_timeout=0,entry_timeout=0"
JOB = b"[control]\nexecutable: true\n"
RECORD = {"k": "job", "name": "job1.conf", "state": "done", "exit_status": 0,
          "command": ["true", "/q/jobpod/w1/job1.conf"], "note": "x" * 400}


def count(log, label, operation, pause=0.3):
    """Run operation alone between two marks of the request log; print and return the
    number of requests (and their types)."""
    time.sleep(pause)
    start = log.mark()
    operation()
    time.sleep(pause)
    counted = tally(log, {}, start, log.mark())
    print("  %-58s %3d  %s" % (label, counted["requests"], ", ".join(
        "%s %d" % item for item in counted["types"].items())))
    return counted["requests"]


def measure(mount, log):
    from fjd import folders
    from fjd.jobfile import read_job_bytes
    from fjd.journal import JournalWriter
    from fjd.layout import PARKED_ANNOUNCEMENT, Layout
    from fjd.fsops import refresh_listing
    from fjd.records import OpenSource, move_noreplace

    layout = Layout(os.path.join(mount, "q"))
    layout.ensure()
    inbox = layout.inbox("w1")
    os.mkdir(inbox)
    folders.use(layout)
    journal = JournalWriter(layout.records, "w1", {"role": "bench"}, direct=layout.fuse)
    names = ["job%d.conf" % n for n in range(3)]
    for name in names:
        with open(os.path.join(layout.jobqueue, name), "wb") as handle:
            handle.write(JOB)
    # warm up: every kept folder opened once, renameat2 refused once (as in a daemon)
    folders.lexists(os.path.join(inbox, "none"))
    move_noreplace(os.path.join(layout.jobqueue, names[0]), os.path.join(layout.done, names[0]))
    journal.append({"k": "job", "state": "done"})
    name = names[1]
    queued, handed, done = (os.path.join(layout.jobqueue, name), os.path.join(inbox, name),
                            os.path.join(layout.done, name))
    kept = OpenSource(None)

    def read():
        kept.fd = read_job_bytes(handed, keep_open=layout.shared, splice=layout.fuse)[3]

    print("per job:")
    total = 0
    count(log, "(not per job: a hand-made name is looked for in the inbox first)",
          lambda: folders.lexists(handed))
    total += count(log, "dispatcher: rename into the inbox",
                   lambda: folders.rename(queued, handed))
    total += count(log, "worker: open and read, kept open (read_job_bytes)", read)
    total += count(log, "worker: append the record to its journal",
                   lambda: journal.append(dict(RECORD)))
    total += count(log, "worker: no-replace move into done/ (move_noreplace), close",
                   lambda: (move_noreplace(handed, done, kept), kept.close()))
    print("  %-58s %3d" % ("sum (the floor of requests per job)", total))

    print("per batch (for comparison):")
    parked = os.path.join(inbox, PARKED_ANNOUNCEMENT)
    announcement = os.path.join(layout.workerqueue, "w1")
    with open(announcement, "w") as handle:
        handle.write("w1\n")
    for folder in (layout.workerqueue, inbox):  # their kept fds opened, as in a daemon
        folders.listdir(folder)
        folders.lexists(os.path.join(folder, "none"))
    count(log, "dispatcher: look up a worker that hinted it is idle",
          lambda: folders.lexists(announcement))
    count(log, "dispatcher: list workerqueue/ (no refresh needed)",
          lambda: folders.listdir(layout.workerqueue))
    count(log, "dispatcher: park the announcement in the inbox",
          lambda: folders.rename(announcement, parked))
    count(log, "worker: look for the parked announcement",
          lambda: folders.lexists(parked))
    count(log, "worker: list its inbox (no refresh needed)", lambda: folders.listdir(inbox))
    count(log, "worker: announce (move the parked announcement back)",
          lambda: folders.rename(parked, announcement))
    folders.forget_changes(inbox)  # as after a listing: the next one needs the dot-file
    count(log, "anyone: refresh a listing first (dot-file made and removed)",
          lambda: refresh_listing(inbox))
    journal.close()
    folders.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python bench/sftp_ops.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--options", default=RECOMMENDED,
                        help="sshfs -o options (default: fjd's recommended %s; \"\" for "
                             "sshfs's defaults)" % RECOMMENDED)
    opts = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.exit(2, "python bench/sftp_ops.py: needs root (an sshd of its own and an "
                       "sshfs mount)\n")
    base = tempfile.mkdtemp(prefix="fjd-sftp-ops-")
    logs = os.path.join(base, "logs")
    wrapper = infra.sftp_logging_wrapper(os.path.join(base, "sftp-server.sh"), logs)
    sshd = hosts.Sshd(os.path.join(base, "state"), sftp_subsystem=wrapper)
    shared = os.path.join(base, "shared")
    mount = os.path.join(base, "mnt")
    os.makedirs(shared)
    proc = None
    try:
        sshd.start()
        proc = hosts.start_sshfs(sshd, shared, mount, opts.options or None)
        print("sshfs -o %s; requests counted from sftp-server's DEBUG3 log"
              % (opts.options or "(defaults)"))
        measure(mount, RequestLog(logs))
    finally:
        if proc is not None:
            hosts.unmount(mount, proc)
        sshd.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
