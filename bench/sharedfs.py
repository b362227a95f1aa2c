"""The shared scenario: fjd on sshfs, every sftp request counted.

A private sshd on 127.0.0.1 serves one folder (test/hosts.py Cluster). Its sftp subsystem is
/usr/lib/openssh/sftp-server at log level DEBUG3, one log per connection
(infra.sftp_logging_wrapper), so that every request an sshfs mount makes is one line
``debugN: request <id>: <type> ...``. Each "host" is a process tree in its own UTS and mount
namespaces with its own hostname and its own sshfs mount (so its own connection, its own log):

    alpha  the dispatcher
    beta   two workers (four while the idle cost of more workers is measured)
    gamma  two workers (four likewise)

Jobs come from a fourth place: ``fjd submit --root <the served folder>`` run on the server's
side, which costs no sftp request, so every request counted is one the daemons made. The
same is measured for each set of mount options (VARIANTS), one after the other, each on a
fresh folder and a fresh sshd:

  idle        requests/s of the five daemons after they settled, per host; then with two more
              workers on beta and two on gamma (started inside those hosts with nsenter, on
              the same mounts): requests/s again and the increase per added worker
  latency     single jobs renamed into jobqueue/ on the server's side, each after every
              daemon was idle for --shared-latency-idle seconds: the job record's start minus
              the time just before the rename; with UDP working and with UDP on loopback
              dropped by iptables (fjd's wake-up hints, when it has them, are UDP)
  jobs        N single-file no-op jobs: requests per job, jobs/s from the journals
  array       one array of M no-op tasks: requests per task, tasks/s from the journals

and once on a local disk, plain processes, the same 1 + 4 daemons: jobs/s and tasks/s, the
figures the sshfs ones are divided by. With --shared-rounds R (3 in a full run) the jobs
and array windows are run R times on each set of mount options, each time after the same on
a fresh local root (the first local run is the one before all variants): the ratios are the
median of the rounds' ratios, so that a machine that slows down or speeds up during the run
(this virtual machine's speed moves by a third between minutes) is not read as fjd's; the
requests per job and per task are those of the first round.

Everything started is stopped even on failure or SIGTERM: hosts (their mounts go with their
mount namespaces), sshd, the iptables rule. Standard library only, Python 3.8+.
"""
import os
import random
import signal
import statistics
import subprocess
import sys
import time

from harness import JOB, BenchError, Scenario, count_names, fjd_env, say
from journals import job_record, read_records
from sharedfs_figures import (host_rates, idle_figures, latency_text, median_ratio, num,
                              round_ratios, throughput_round)
from sharedfs_prequeued import CASES as PREQUEUED, chosen_cases, run_case
from sharedfs_hosts import (ADDED_PER_HOST, UDP_RULE, WORKER_HOSTS, WORKERS_PER_HOST,
                            SharedRun, UdpBlocked, cpu_percent, hosts, per, tally)

# (name, sshfs -o options): the options docs/clusters.md recommends, and sshfs's own defaults
VARIANTS = (("recommended", "dir_cache=no,attr_timeout=0,entry_timeout=0"),
            ("defaults", ""))

# -- the measurements -----------------------------------------------------------------------

def submitter(fjd_dir):
    """fjd.submit of the benchmarked checkout, in this process (no interpreter start-up in
    the latency); None for a checkout without it."""
    if fjd_dir not in sys.path:
        sys.path.insert(0, fjd_dir)
    try:
        import fjd
        return fjd.submit
    except (ImportError, AttributeError):
        return None


def latency_samples(run, count, tag, rng):
    """count single jobs, each submitted on the server's side with fjd.submit (which writes
    it under a temporary name, renames it into jobqueue/ and hints the dispatcher, as `fjd
    submit` does) once every daemon has been idle for --shared-latency-idle seconds (plus up
    to 0.5 s, seeded); the job record's start minus the time just before the submission.
    The requests from each submission to the job's end in done/ are counted too."""
    latencies, end_to_end, requests, lost = [], [], 0, 0
    submit = submitter(run.opts.fjd)
    source = os.path.join(run.base, "latency.conf")
    with open(source, "wb") as handle:
        handle.write(JOB)
    for i in range(count):
        run.wait_idle_for(run.opts.shared_latency_idle + rng.uniform(0.0, 0.5))
        start = run.log.mark()
        before = time.time()
        if submit is not None:
            name = submit(files=[source], root=run.shared, name="latency-%s-%02d.conf"
                          % (tag, i))[0]
        else:  # an fjd without fjd.submit: a careful writer's rename
            name = "latency-%s-%02d.conf" % (tag, i)
            tmp = os.path.join(run.path("jobqueue"), "." + name + ".tmp")
            with open(tmp, "wb") as handle:
                handle.write(JOB)
            os.rename(tmp, os.path.join(run.path("jobqueue"), name))
        deadline = time.monotonic() + run.opts.shared_latency_timeout
        targets = (run.path("done", name), run.path("failed", name))
        while not any(os.path.lexists(t) for t in targets):
            if time.monotonic() > deadline:
                break
            time.sleep(0.002)
        seen = time.time()
        requests += tally(run.log, run.owners, start, run.log.mark())["requests"]
        try:
            latencies.append(job_record(run.shared, name)["start"] - before)
            end_to_end.append(seen - before)
        except (OSError, ValueError, KeyError, TypeError):
            lost += 1
            run.check_alive()
            say("  ! %s latency sample %s %d: no record within %.0f s"
                % (run.variant, tag, i, run.opts.shared_latency_timeout))
            # wait for it anyway, or the next sample would find it running
            while not any(os.path.lexists(t) for t in targets):
                if time.monotonic() > deadline + 120:
                    raise BenchError("latency job %s never finished" % name)
                time.sleep(0.05)
        run.busy_until_idle()
    out = {"samples": count, "measured": len(latencies), "lost": lost,
           "idle_before_s": run.opts.shared_latency_idle, "latencies": latencies,
           "requests_per_sample": requests / count if count else None}
    if latencies:
        out.update(median=statistics.median(latencies), max=max(latencies),
                   min=min(latencies), end_to_end_median=statistics.median(end_to_end))
    return out


def submit_argv(opts, root, kind, size):
    argv = [opts.python, "-m", "fjd", "submit", "--root", root, "--exe", "true"]
    if kind == "jobs":
        return argv + ["--split", "--repeat", str(size)]
    return argv + ["--param", "i=1..%d" % size]


def busy(opts, root, kind, size, timeout, check_alive, run=None, keep=True):
    """Submit size no-op jobs as single files (kind "jobs") or one array of size tasks
    (kind "array") with `fjd submit --root root` and wait until they are in done/ or failed/;
    the rate from the journals (first start to last end) and, on sshfs (run), the requests
    and the daemons' CPU from the submission to the moment the last job was seen there."""
    def finished():
        return count_names(os.path.join(root, "done")) + count_names(
            os.path.join(root, "failed"))

    finished_before = finished()
    start, cpu = (run.log.mark(), run.cpu()) if run else (None, None)
    submitted = time.time()
    proc = subprocess.run(submit_argv(opts, root, kind, size), env=fjd_env(opts),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=300)
    if proc.returncode != 0:
        raise BenchError("fjd submit failed (%d): %s"
                         % (proc.returncode, proc.stderr.decode(errors="replace")[-2000:]))
    names = proc.stdout.decode().split()
    submit_s = time.time() - submitted
    target = finished_before + (size if kind == "jobs" else 1)
    deadline = time.monotonic() + timeout
    while True:
        now_finished = finished()
        if now_finished >= target or time.monotonic() > deadline:
            break
        check_alive()
        time.sleep(0.05)
    seen = time.time()
    counts = None
    if run:
        end = run.log.mark()
        counts = tally(run.log, run.owners, start, end)
        counts["cpu_percent_by_host"] = cpu_percent(cpu, run.cpu())
        if opts.shared_keep_logs and keep:
            run.keep_logs(opts.shared_keep_logs, kind, start, end)
    wanted = set(names)
    records = []
    for record in read_records(os.path.join(root, "records")):
        if kind == "jobs" and record.get("k") == "job" and wanted & {
                record.get("name"), record.get("queue"), record.get("original")}:
            records.append(record)
        elif kind == "array" and record.get("k") == "task" and record.get("array") in wanted:
            records.append(record)
    starts = [r["start"] for r in records if isinstance(r.get("start"), (int, float))]
    ends = [r["end"] for r in records if isinstance(r.get("end"), (int, float))]
    ok = sum(1 for r in records if r.get("state") == "done")
    span = max(ends) - min(starts) if starts and ends else None
    out = {"kind": kind, "size": size, "completed": now_finished >= target,
           "records": len(records), "done_records": ok, "submit_seconds": submit_s,
           "wall_seconds": seen - submitted, "journal_seconds": span,
           "first_start_after_s": min(starts) - submitted if starts else None,
           "per_s": len(records) / span if span else None}
    if not out["completed"]:
        out["per_s"] = None
        say("  ! %s: only %d of %d finished within %.0f s"
            % (kind, len(records), size, timeout))
    if ok != size:
        say("  ! %s: %d of %d no-op runs recorded as done" % (kind, ok, size))
    if counts is not None:
        seconds = counts["seconds"]
        out.update(requests=counts["requests"], per_unit=per(counts["requests"], size),
                   by_host_per_unit={h: n / size for h, n in counts["by_host"].items()},
                   types_per_unit={t: n / size for t, n in counts["types"].items()},
                   by_host_types_per_unit={h: {t: n / size for t, n in c.items()}
                                           for h, c in counts["by_host_types"].items()},
                   window_seconds=seconds,
                   cpu_ms_per_unit_by_host={h: p / 100.0 * seconds * 1000 / size
                                            for h, p in counts["cpu_percent_by_host"].items()})
        run.busy_until_idle()
    return out


def measure_idle(run, opts, out):
    """Requests/s of the idle daemons."""
    run.wait_idle_for(opts.shared_settle)
    counts = run.window(opts.shared_idle_seconds)
    out["idle"] = idle_figures(counts, 1 + run.workers())
    say("  idle, 1 dispatcher + %d workers: %.1f requests/s (%s)"
        % (run.workers(), out["idle"]["per_s"], host_rates(out["idle"]["by_host_per_s"])))


def measure_more_workers(run, opts, out):
    """Requests/s again with two more idle workers on each worker host."""
    run.add_workers()
    run.wait_idle_for(opts.shared_settle)
    counts = run.window(opts.shared_idle_seconds)
    more = idle_figures(counts, 1 + run.workers())
    more["added_workers"] = len(run.added)
    more["increase_per_added_worker"] = (more["per_s"] - out["idle"]["per_s"]) / len(
        run.added)
    # the same on the workers' hosts only: the dispatcher's rate may change for other
    # reasons (today it polls as fast as sshfs answers, so it slows when others poll)
    more["increase_per_added_worker_on_worker_hosts"] = sum(
        more["by_host_per_s"].get(h, 0.0) - out["idle"]["by_host_per_s"].get(h, 0.0)
        for h in WORKER_HOSTS) / len(run.added)
    out["idle_more"] = more
    say("  idle, 1 dispatcher + %d workers: %.1f requests/s (%s), %+.1f per added worker "
        "(%+.1f on the workers' hosts)"
        % (run.workers(), more["per_s"], host_rates(more["by_host_per_s"]),
           more["increase_per_added_worker"],
           more["increase_per_added_worker_on_worker_hosts"]))
    run.remove_added_workers()


def measure_throughput(run, opts, out, first_local):
    """Submitted single-file jobs and an array into the idle cluster, --shared-rounds
    times, each round after a local run."""
    timeout = opts.shared_timeout
    out["jobs"] = busy(opts, run.shared, "jobs", opts.shared_jobs, timeout,
                       run.check_alive, run)
    say("  %d single-file jobs: %s requests/job, %s jobs/s"
        % (opts.shared_jobs, num(out["jobs"].get("per_unit"), 1),
           num(out["jobs"]["per_s"], 1)))
    out["array"] = busy(opts, run.shared, "array", opts.shared_tasks, timeout,
                        run.check_alive, run)
    say("  array of %d tasks: %s requests/task, %s tasks/s"
        % (opts.shared_tasks, num(out["array"].get("per_unit"), 2),
           num(out["array"]["per_s"], 1)))
    out["rounds"] = [throughput_round(first_local, out)]
    for number in range(2, opts.shared_rounds + 1):
        local = run_local(opts)
        here = {kind: busy(opts, run.shared, kind, size, timeout, run.check_alive, run,
                           keep=False)
                for kind, size in (("jobs", opts.shared_jobs),
                                   ("array", opts.shared_tasks))}
        out["rounds"].append(throughput_round(local, here))
        say("  round %d on sshfs: %s jobs/s, %s tasks/s (%s requests/job, %s "
            "requests/task)" % (number, num(here["jobs"]["per_s"], 1),
                                num(here["array"]["per_s"], 1),
                                num(here["jobs"].get("per_unit"), 1),
                                num(here["array"].get("per_unit"), 2)))


def run_variant(opts, variant, options, blocker, block_why, first_local):
    """Everything measured on one set of mount options; the results dict. first_local: the
    local run made before all variants, the first round's denominator."""
    say("shared/%s: sshfs -o %s; dispatcher on alpha, %d workers on each of %s"
        % (variant, options or "(sshfs defaults)", WORKERS_PER_HOST, ", ".join(WORKER_HOSTS)))
    out = {"options": options,
           "hosts": {"alpha": "dispatcher", "beta": "%d workers" % WORKERS_PER_HOST,
                     "gamma": "%d workers" % WORKERS_PER_HOST}}
    cases = chosen_cases(opts)
    if not cases & {"idle", "latency", "udp-blocked", "jobs", "array"}:
        return run_prequeued(opts, variant, options, cases, out)
    run = SharedRun(opts, variant, options)
    problems = []
    try:
        run.start()
        if "idle" in cases:
            measure_idle(run, opts, out)
        rng = random.Random("fjd-bench-shared-" + variant)
        n = opts.shared_latency_samples
        if "latency" in cases:
            # the idle window counts as idle time before the first sample
            out["latency"] = latency_samples(run, n, "udp", rng)
            say("  latency, %d samples, each after %g s idle: %s"
                % (n, opts.shared_latency_idle, latency_text(out["latency"])))
        if "udp-blocked" not in cases:
            out["latency_udp_blocked"] = {"skipped": "not among --shared-cases"}
        elif block_why:
            out["latency_udp_blocked"] = {"skipped": block_why}
            say("  latency with UDP on loopback blocked: skipped: %s" % block_why)
        else:
            with blocker:
                out["latency_udp_blocked"] = latency_samples(run, n, "noudp", rng)
            say("  latency with UDP on loopback dropped (iptables): %s"
                % latency_text(out["latency_udp_blocked"]))
        if "idle" in cases:
            measure_more_workers(run, opts, out)
        if "jobs" in cases and "array" in cases:
            measure_throughput(run, opts, out, first_local)
    finally:
        problems = run.stop()
        for problem in problems:
            say("  ! %s: %s" % (variant, problem))
    out["problems"] = problems
    return run_prequeued(opts, variant, options, cases, out)


def run_prequeued(opts, variant, options, cases, out):
    """The queued-before cases (sharedfs_prequeued.py), each on a fresh folder."""
    for kind in PREQUEUED:
        if kind in cases:
            out[kind] = run_case(opts, variant, options, kind)
    return out


def run_local(opts):
    """The same dispatcher and 4 workers as plain processes on a local disk."""
    workers = WORKERS_PER_HOST * len(WORKER_HOSTS)
    say("shared/local: dispatcher and %d workers on %s (local disk)" % (workers, opts.tmp))
    with Scenario(opts, "shared-local") as sc:
        sc.dispatcher()
        for _ in range(workers):
            sc.worker()
        sc.wait_idle(workers)
        jobs = busy(opts, sc.root, "jobs", opts.shared_jobs, opts.shared_timeout,
                    sc.check_alive)
        sc.wait_announced(workers)
        time.sleep(opts.settle)
        array = busy(opts, sc.root, "array", opts.shared_tasks, opts.shared_timeout,
                     sc.check_alive)
    say("  %d single-file jobs: %s jobs/s; array of %d tasks: %s tasks/s"
        % (opts.shared_jobs, num(jobs["per_s"], 1), opts.shared_tasks,
           num(array["per_s"], 1)))
    return {"jobs": jobs, "array": array, "workers": workers}


def chosen_variants(opts):
    wanted = getattr(opts, "shared_options", "both")
    return [(n, o) for n, o in VARIANTS if wanted in ("both", n)]


def scenario_shared(opts, results):
    sizes = {"idle_seconds": opts.shared_idle_seconds, "settle": opts.shared_settle,
             "jobs": opts.shared_jobs, "tasks": opts.shared_tasks,
             "latency_samples": opts.shared_latency_samples,
             "latency_idle": opts.shared_latency_idle,
             "workers": WORKERS_PER_HOST * len(WORKER_HOSTS),
             "added_workers": ADDED_PER_HOST * len(WORKER_HOSTS)}
    out = {"sizes": sizes, "variants": {}}
    results["shared"] = out
    reason = hosts.unavailable_reason(install=not opts.no_install)
    if reason:
        out["skipped"] = reason
        say("shared: skipped: %s" % reason)
        return
    blocker = UdpBlocked(opts)
    block_why = blocker.prepare() if "udp-blocked" in chosen_cases(opts) else \
        "not among --shared-cases"
    out["udp_block"] = ("skipped: " + block_why) if block_why else (
        "iptables -I %s" % " ".join(UDP_RULE))
    previous = signal.getsignal(signal.SIGTERM)

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)  # so that every finally: cleans up
    failed = []
    try:
        cases = chosen_cases(opts)
        if "jobs" in cases and "array" in cases:
            out["local"] = run_local(opts)
        for variant, options in chosen_variants(opts):
            try:
                out["variants"][variant] = run_variant(opts, variant, options, blocker,
                                                       block_why, out.get("local"))
            except (BenchError, OSError, RuntimeError, AssertionError,
                    subprocess.SubprocessError) as error:
                say("shared/%s: FAILED: %s" % (variant, error))
                out["variants"][variant] = {"options": options, "failed": str(error)}
                failed.append("%s: %s" % (variant, error))
    finally:
        signal.signal(signal.SIGTERM, previous)
    for variant, got in out["variants"].items():
        rounds = got.get("rounds") or []
        kinds = ("jobs", "array")
        got["ratio_vs_local"] = {kind: median_ratio(rounds, kind) for kind in kinds}
        got["ratios_by_round"] = {kind: round_ratios(rounds, kind) for kind in kinds}
    if failed:
        raise BenchError("; ".join(failed))
