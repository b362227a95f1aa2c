"""The shared scenario's queued-before cases (issue 27), each on a fresh folder and sshd:

  hand   --shared-jobs hand-written job files, each written under a dot-name and renamed
         into jobqueue/ (the README's way, names people choose), before the daemons start
  stale  the daemons started once and idle, then the two workers of beta killed with their
         mount (SIGKILL of the host: their announcements and inboxes stay), the dispatcher
         and gamma's workers stopped; --shared-jobs `fjd submit --split` jobs queued; then
         a new dispatcher and four new workers start (a restarted allocation)

For each: requests per job from the daemons' start to the last job in done/ (start-up
included: that is what a queue filled beforehand costs), jobs/s from the journals (first
start to last end), and the same jobs run the same way on a local disk with the same 1 + 4
daemons (without stale announcements) for the ratio. stale also says how
many jobs a burial put back and how long after the dispatcher's start the last one began.
"""
import os
import signal
import subprocess
import time

from harness import JOB, BenchError, Scenario, fjd_env, say
from journals import read_records
from sharedfs_figures import SHARED_CASES, num
from sharedfs_hosts import WORKER_HOSTS, WORKERS_PER_HOST, SharedRun, per, tally

CASES = ("hand", "stale")


def chosen_cases(opts):
    """The parts of the shared scenario --shared-cases asks for (sharedfs_figures)."""
    wanted = [c.strip() for c in
              getattr(opts, "shared_cases", ",".join(SHARED_CASES)).split(",")]
    unknown = [c for c in wanted if c not in SHARED_CASES]
    if unknown:
        raise BenchError("--shared-cases: unknown %s (known: %s)"
                         % (", ".join(unknown), ",".join(SHARED_CASES)))
    return set(wanted)


def hand_write(root, count):
    """count job files, each under a dot-name first, then renamed into jobqueue/."""
    jobqueue = os.path.join(root, "jobqueue")
    os.makedirs(jobqueue, exist_ok=True)
    names = []
    for number in range(count):
        name = "hand%06d.conf" % number
        temporary = os.path.join(jobqueue, "." + name + ".tmp")
        with open(temporary, "wb") as handle:
            handle.write(JOB)
        os.rename(temporary, os.path.join(jobqueue, name))
        names.append(name)
    return names


def submit_split(opts, root, count):
    proc = subprocess.run([opts.python, "-m", "fjd", "submit", "--root", root, "--exe", "true",
                           "--split", "--repeat", str(count)], env=fjd_env(opts),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=300)
    if proc.returncode != 0:
        raise BenchError("fjd submit failed: %s" % proc.stderr.decode(errors="replace")[-500:])
    return proc.stdout.decode().split()


def queue(opts, root, kind, count):
    return hand_write(root, count) if kind == "hand" else submit_split(opts, root, count)


def rates(root, started):
    """jobs/s from the journals, and how long after started the last job began."""
    records = [r for r in read_records(os.path.join(root, "records")) if r.get("k") == "job"]
    starts = [r["start"] for r in records if isinstance(r.get("start"), (int, float))]
    ends = [r["end"] for r in records if isinstance(r.get("end"), (int, float))]
    span = max(ends) - min(starts) if starts and ends else None
    requeued = [r["start"] for r in records if "@" in str(r.get("queue", "")) and
                isinstance(r.get("start"), (int, float))]
    return {"records": len(records), "per_s": len(records) / span if span else None,
            "last_start_after_s": max(starts) - started if starts else None,
            "requeued": len(requeued),
            # a job given to a dead worker in the first hand-out: how long after the first
            # job's start it started after all
            "requeued_wait_s": max(requeued) - min(starts) if requeued else None}


def wait_done(root, count, timeout, check_alive):
    deadline = time.monotonic() + timeout
    done = os.path.join(root, "done")
    while not (os.path.isdir(done) and len(os.listdir(done)) >= count):
        if time.monotonic() > deadline:
            raise BenchError("only %d of %d jobs in done/ after %.0f s"
                             % (len(os.listdir(done)) if os.path.isdir(done) else 0, count,
                                timeout))
        check_alive()
        time.sleep(0.05)


def start_daemons(run):
    run.start_host("alpha", [run.daemon_argv("dispatcher")])
    for name in WORKER_HOSTS:
        run.start_host(name, [run.daemon_argv("worker")] * WORKERS_PER_HOST)


def leave_stale(run):
    """Daemons up and idle, then beta killed with its mount, the others stopped."""
    start_daemons(run)
    run.busy_until_idle()
    run.hosts["beta"].kill()
    for name in ("alpha", "gamma"):
        run.hosts[name].stop(signal.SIGTERM, run.opts.stop_timeout)


def on_sshfs(opts, variant, options, kind):
    run = SharedRun(opts, "%s-%s" % (variant, kind), options)
    out = {}
    try:
        run.cluster.start_sshd()
        os.makedirs(run.path("jobqueue"), exist_ok=True)
        if kind == "stale":
            leave_stale(run)
        names = queue(opts, run.shared, kind, opts.shared_jobs)
        start, started = run.log.mark(), time.time()
        start_daemons(run)
        wait_done(run.shared, len(names), opts.shared_timeout, run.check_alive)
        counts = tally(run.log, run.owners, start, run.log.mark())
        out.update(rates(run.shared, started))
        out.update(jobs=len(names), requests=counts["requests"],
                   per_unit=per(counts["requests"], len(names)),
                   by_host_per_unit={h: n / len(names) for h, n in counts["by_host"].items()},
                   types_per_unit={t: n / len(names) for t, n in counts["types"].items()})
    finally:
        out["problems"] = run.stop()
    return out


def on_local_disk(opts, kind):
    """The same jobs queued the same way before the same daemons start on a local disk
    (without stale announcements: the ratio is what sshfs and the dead workers cost)."""
    workers = WORKERS_PER_HOST * len(WORKER_HOSTS)
    with Scenario(opts, "shared-local-%s" % kind) as sc:
        names = queue(opts, sc.root, kind, opts.shared_jobs)
        started = time.time()
        sc.dispatcher()
        for _ in range(workers):
            sc.worker()
        wait_done(sc.root, len(names), opts.shared_timeout, sc.check_alive)
        return rates(sc.root, started)


def run_case(opts, variant, options, kind):
    """One case on sshfs and on a local disk; its results, printed as it goes."""
    local = on_local_disk(opts, kind)
    shared = on_sshfs(opts, variant, options, kind)
    ratio = shared["per_s"] / local["per_s"] if shared.get("per_s") and local.get("per_s") \
        else None
    say("  %s: %d jobs queued before the daemons start%s: %s requests/job, %s jobs/s on "
        "sshfs, %s locally, ratio %s%s"
        % (kind, opts.shared_jobs, " (hand-written, renamed in)" if kind == "hand" else
           " (fjd submit --split), stale announcements of 2 killed workers",
           num(shared.get("per_unit"), 1), num(shared.get("per_s"), 1),
           num(local.get("per_s"), 1), num(ratio, 2),
           "; %d put back by burials, the last of them started %s s after the first job, "
           "the last job %s s after the daemons' start" % (
               shared["requeued"], num(shared.get("requeued_wait_s"), 1),
               num(shared.get("last_start_after_s"), 1)) if kind == "stale" else ""))
    return {"sshfs": shared, "local": local, "ratio_vs_local": ratio}
