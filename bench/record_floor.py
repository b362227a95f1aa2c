#!/usr/bin/env python3
"""This probe imports fjd internals on purpose: it times one record's append alone, with
the JournalWriter the worker uses (fjd.journal).

The CPU that one finished task's record costs this machine over sshfs, and the ceiling
that puts on array tasks' speed over sshfs against a local disk.

    python bench/record_floor.py                    # 5 rounds, 3,000 calls each way (root)
    python bench/record_floor.py --rounds 9 --count 5000 --server logging

A worker running a range of tasks must get each finished task's record to the file server
before the next task starts (docs/reliability.md, "Nothing finished is run again": after a crash
only the task that was running runs again). This bench does just that and nothing else,
with fjd's own JournalWriter (O_DIRECT on FUSE, as the worker), in a loop: append a task
record of a real one's size, then close a duplicate of the journal's descriptor, which is
what the next task's `exec` does to the worker's descriptor (on FUSE that close is a FLUSH,
and sshfs's flush waits for the write to reach the server). A second loop starts `true`
with its stdout and stderr on an output journal in the same place, as a task does. Each
loop runs alternately on a local folder and on an sshfs mount (fjd's recommended options)
of a folder a private sshd on 127.0.0.1 serves; the machine's busy CPU (/proc/stat, every
process: sshfs, ssh, sshd and its sftp server included) is divided by the count.

With 4 workers on 2 cores both disks' runs are CPU-bound, so tasks/s over sshfs against a
local disk is at most L / (L + extra), where L is what a task of a real array costs the
machine on a local disk (measured in each round: bench/task_cpu.py's array, 4 workers) and
extra is what the record alone costs more over sshfs in the same round (and with it, what a
task's exit costs more when its stdout and stderr are the output journals on the mount).
The bench prints both ceilings, each the median of the rounds.
"""
import argparse
import os
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "test"))

import hosts  # noqa: E402  (test infrastructure: the private sshd, sshfs mounts)
import infra  # noqa: E402
from fjd.journal import JournalWriter  # noqa: E402
from harness import CLK_TCK  # noqa: E402
from task_cpu import RECOMMENDED, machine_counters, one_array, scratch_folder  # noqa: E402

# a task record as a worker writes it (fields and sizes of a real one)
TASK_RECORD = {"k": "task", "array": "sweep.conf", "u": "3f9c2a71", "i": 0, "state": "done",
               "rc": 0, "start": 1764870000.123456, "end": 1764870000.124567,
               "host": "node17", "pid": 123456, "out": [0, 0], "err": [0, 0]}


def records(place, count, direct):
    """Append count task records to a journal in place, each followed by a FLUSH."""
    os.makedirs(os.path.join(place, "records"), exist_ok=True)
    writer = JournalWriter(os.path.join(place, "records"), "floor-%d" % time.monotonic_ns(),
                           {"host": "bench"}, direct=direct)
    writer.open()
    record = dict(TASK_RECORD)
    try:
        for number in range(count):
            record["i"] = number + 1
            writer.append(record)
            os.close(os.dup(writer.fd))  # what the next task's exec does to this descriptor
    finally:
        writer.close()


def tasks(place, count):
    """Start and wait for `true` count times, its stdout and stderr on a file in place."""
    path = os.path.join(place, "output-%d" % time.monotonic_ns())
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    true = shutil.which("true")
    try:
        for _ in range(count):
            pid = os.posix_spawn(true, [true], os.environ,
                                 file_actions=[(os.POSIX_SPAWN_DUP2, fd, 1),
                                               (os.POSIX_SPAWN_DUP2, fd, 2)])
            os.waitpid(pid, 0)
    finally:
        os.close(fd)


def cpu_per_call(count, run, *args):
    """(ms of the machine's busy CPU, ms of wall time) per call, where run(*args) makes
    count calls."""
    busy, _ = machine_counters()
    started = time.perf_counter()
    run(*args)
    wall = time.perf_counter() - started
    busy_after, _ = machine_counters()
    return (busy_after - busy) * 1000.0 / CLK_TCK / count, wall * 1000.0 / count


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python bench/record_floor.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=3000,
                        help="records (and tasks) per loop (3000)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds: in each, the loops local and over sshfs, and one "
                        "real array on the local folder (5)")
    parser.add_argument("--tasks", type=int, default=5000,
                        help="tasks of each round's real array (5000)")
    parser.add_argument("--workers", type=int, default=4, help="its workers (4)")
    parser.add_argument("--server", choices=("internal", "logging"), default="internal",
                        help="sshd's sftp server: its internal one (as bench/task_cpu.py), "
                        "or sftp-server logging every request at DEBUG3 to a file (as "
                        "bench/shared.py counts requests)")
    parser.add_argument("--options", default=RECOMMENDED,
                        help="sshfs -o options (default: fjd's recommended %s)" % RECOMMENDED)
    opts = parser.parse_args(argv)
    why = hosts.unavailable_reason()
    if why:
        parser.exit(2, "python bench/record_floor.py: %s\n" % why)
    base = scratch_folder("fjd-record-floor-")
    if opts.server == "logging":
        subsystem = infra.sftp_logging_wrapper(os.path.join(base, "sftp-logging.sh"),
                                               os.path.join(base, "sftp-logs"))
    else:
        subsystem = "internal-sftp"
    sshd = hosts.Sshd(os.path.join(base, "state"), sftp_subsystem=subsystem)
    local = os.path.join(base, "local")
    served = os.path.join(base, "served")
    mount = os.path.join(base, "mnt")
    for folder in (local, served):
        os.makedirs(folder)
    rounds = []
    print("per call: ms of the machine's CPU (all processes) and of wall time; per task of "
          "the real local array: ms of the machine's CPU")
    print("%-6s %15s %15s %15s %15s %9s" % ("round", "record local", "record sshfs",
                                           "task local", "task sshfs", "array"))
    sshd.start()
    proc = None
    try:
        proc = hosts.start_sshfs(sshd, served, mount, opts.options or None)
        for number in range(1, opts.rounds + 1):
            places = (("local", local), ("sshfs", mount))
            row = {("record", kind): cpu_per_call(opts.count, records, place, opts.count,
                                                  kind == "sshfs")
                   for kind, place in places}
            row.update({("task", kind): cpu_per_call(opts.count, tasks, place, opts.count)
                        for kind, place in places})
            array = one_array(os.path.join(base, "array-%d" % number), opts.tasks,
                              opts.workers)["cpu_ms"]
            rounds.append((row, array))
            cells = " ".join("%7.3f %7.3f" % row[(what, kind)] for what in ("record", "task")
                             for kind in ("local", "sshfs"))
            print("%-6d %s %9.3f" % (number, cells, array), flush=True)
    finally:
        if proc is not None:
            hosts.unmount(mount, proc)
        sshd.stop()
        shutil.rmtree(base, ignore_errors=True)

    def extra(row, what):
        return row[(what, "sshfs")][0] - row[(what, "local")][0]

    record = statistics.median(extra(row, "record") for row, _ in rounds)
    output = statistics.median(extra(row, "task") for row, _ in rounds)
    local_task = statistics.median(array for _, array in rounds)
    alone = statistics.median(array / (array + extra(row, "record")) for row, array in rounds)
    both = statistics.median(array / (array + extra(row, "record") + extra(row, "task"))
                             for row, array in rounds)
    print("medians: a record costs %+.3f ms over sshfs, a task's exit %+.3f ms; a task of a "
          "real array on the local folder costs %.3f ms, so 0.8 of local speed leaves %.3f "
          "ms a task for all that sshfs adds" % (record, output, local_task,
                                                  local_task / 0.8 - local_task))
    print("ceiling from the record alone: %.2f of local speed (median of the rounds)" % alone)
    print("ceiling from the record and the output journals' flushes: %.2f of local speed "
          "(median of the rounds)" % both)
    return 0


if __name__ == "__main__":
    sys.exit(main())
