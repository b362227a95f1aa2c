#!/usr/bin/env python3
"""Where the CPU of an array task goes, on a local disk and over sshfs, on this machine.

    python bench/task_cpu.py                 # 3 rounds of 5,000 tasks each way (root)
    python bench/task_cpu.py --rounds 6 --tasks 10000

One dispatcher and W workers (plain processes, one host) run one array of no-op tasks
(`executable: true`), alternately on a local folder and on an sshfs mount of a folder that a
private sshd on 127.0.0.1 serves (fjd's recommended mount options). From the submission to
the array's filing the machine's CPU time (/proc/stat) and context switches are counted, and
the CPU of every long-lived process by its command name (the daemons, sshfs, ssh, sshd with
its internal sftp server); the job processes are too short-lived to be seen there: "jobs" is
the machine's total minus what the named processes used (the tasks' fork, exec and exit,
with the FUSE flushes of the descriptors they close, and the kernel's other work). Printed
per task, with the tasks a second from the journals (first start to last end), for each
round and as medians.

bench/shared.py measures the same ratio between three "hosts" with every sftp request
logged; this one shows what the difference is made of, with fewer processes in the way.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "test"))

import hosts  # noqa: E402  (test infrastructure: the private sshd, sshfs mounts)
from harness import CLK_TCK  # noqa: E402
from journals import read_records  # noqa: E402

RECOMMENDED = "dir_cache=no,attr_timeout=0,entry_timeout=0"


def scratch_folder(prefix):
    """A new folder in bench/tmp/ (a local disk, where the bench's queues live) if there is
    one, else in the system's temporary folder."""
    tmp = os.path.join(REPO, "bench", "tmp")
    return tempfile.mkdtemp(prefix=prefix, dir=tmp if os.path.isdir(tmp) else None)


def machine_counters():
    """(busy CPU ticks of all cores, context switches) since boot."""
    with open("/proc/stat") as handle:
        lines = handle.read().splitlines()
    ticks = [int(x) for x in lines[0].split()[1:8]]
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    switches = next(int(line.split()[1]) for line in lines if line.startswith("ctxt "))
    return busy, switches


def thread_ticks():
    """{(pid, tid): (command name, CPU ticks)} of every thread alive now."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            tids = os.listdir("/proc/%s/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%s/task/%s/stat" % (pid, tid)) as handle:
                    text = handle.read()
            except OSError:
                continue
            name = text[text.index("(") + 1:text.rindex(")")]
            fields = text[text.rindex(")") + 2:].split()
            found[(pid, tid)] = (name, int(fields[11]) + int(fields[12]))
    return found


def by_name(before, after):
    """CPU ticks used between two thread_ticks() by command name (python* as "daemons")."""
    used = {}
    for key, (name, ticks) in after.items():
        spent = ticks - before.get(key, (name, 0))[1]
        if spent:
            name = "daemons" if name.startswith("python") else name
            used[name] = used.get(name, 0) + spent
    return used


def one_array(root, tasks, workers):
    """Run one array of no-op tasks through a fresh dispatcher and workers on root."""
    os.makedirs(os.path.join(root, "jobqueue"), exist_ok=True)
    quiet = subprocess.DEVNULL
    daemons = [subprocess.Popen([sys.executable, os.path.join(REPO, "dispatcher.py"),
                                 "--root", root, "--log-level", "WARNING"],
                                stdin=quiet, stdout=quiet, stderr=quiet)]
    daemons += [subprocess.Popen([sys.executable, os.path.join(REPO, "worker.py"), "--root",
                                  root, "--log-level", "WARNING"],
                                 stdin=quiet, stdout=quiet, stderr=quiet)
                for _ in range(workers)]
    try:
        time.sleep(3.0)  # started and announced
        threads, (busy, switches) = thread_ticks(), machine_counters()
        subprocess.run([sys.executable, "-m", "fjd", "submit", "--root", root, "--exe",
                        "true", "--param", "i=1..%d" % tasks], cwd=REPO, check=True,
                       stdout=quiet, stderr=quiet)
        done = os.path.join(root, "done")
        deadline = time.monotonic() + 600
        while not os.listdir(done):
            if time.monotonic() > deadline:
                raise RuntimeError("the array did not finish within 600 s")
            time.sleep(0.05)
        busy_after, switches_after = machine_counters()
        used = by_name(threads, thread_ticks())
    finally:
        for proc in daemons:
            proc.terminate()
        for proc in daemons:
            proc.wait()
    records = [r for r in read_records(os.path.join(root, "records")) if r.get("k") == "task"]
    span = max(r["end"] for r in records) - min(r["start"] for r in records)
    ms = 1000.0 / CLK_TCK / tasks
    split = {name: ticks * ms for name, ticks in used.items()}
    named = sum(used.get(name, 0) for name in ("daemons", "sshfs", "ssh", "sshd"))
    return {"per_s": len(records) / span, "cpu_ms": (busy_after - busy) * ms,
            "switches": (switches_after - switches) / tasks, "daemons": split.get("daemons", 0),
            "sshfs": split.get("sshfs", 0), "ssh": split.get("ssh", 0),
            "sshd": split.get("sshd", 0), "jobs": (busy_after - busy - named) * ms}


COLUMNS = ("per_s", "cpu_ms", "switches", "daemons", "sshfs", "ssh", "sshd", "jobs")


def show(label, row):
    print("%-14s %8.0f %8.3f %8.1f %8.3f %8.3f %8.3f %8.3f %8.3f"
          % ((label,) + tuple(row[c] for c in COLUMNS)), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python bench/task_cpu.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5000, help="tasks per array (5000)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="arrays each way, local and sshfs alternately (3)")
    parser.add_argument("--workers", type=int, default=4, help="workers (4)")
    parser.add_argument("--options", default=RECOMMENDED,
                        help="sshfs -o options (default: fjd's recommended %s)" % RECOMMENDED)
    opts = parser.parse_args(argv)
    why = hosts.unavailable_reason()
    if why:
        parser.exit(2, "python bench/task_cpu.py: %s\n" % why)
    base = scratch_folder("fjd-task-cpu-")
    sshd = hosts.Sshd(os.path.join(base, "state"))
    results = {"local": [], "sshfs": []}
    print("%d workers, arrays of %d no-op tasks; per task: CPU of the machine, context "
          "switches, CPU by process (ms)" % (opts.workers, opts.tasks))
    print("%-14s %8s %8s %8s %8s %8s %8s %8s %8s" % (("round",) + COLUMNS))
    try:
        sshd.start()
        for number in range(1, opts.rounds + 1):
            for kind in ("local", "sshfs"):
                place = os.path.join(base, "%s-%d" % (kind, number))
                os.makedirs(place)
                if kind == "local":
                    row = one_array(place, opts.tasks, opts.workers)
                else:
                    mount = place + "-mnt"
                    proc = hosts.start_sshfs(sshd, place, mount, opts.options or None)
                    try:
                        row = one_array(mount, opts.tasks, opts.workers)
                    finally:
                        hosts.unmount(mount, proc)
                results[kind].append(row)
                show("%s %d" % (kind, number), row)
    finally:
        sshd.stop()
        shutil.rmtree(base, ignore_errors=True)
    medians = {kind: {c: statistics.median(r[c] for r in rows) for c in COLUMNS}
               for kind, rows in results.items()}
    for kind in ("local", "sshfs"):
        show("median " + kind, medians[kind])
    print("sshfs / local: %.2f of the tasks a second, %+.3f ms of CPU a task"
          % (medians["sshfs"]["per_s"] / medians["local"]["per_s"],
             medians["sshfs"]["cpu_ms"] - medians["local"]["cpu_ms"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
