"""The scenarios of big pre-filled queues: million (the dispatcher's memory and speed with
10^6 job files queued) and runbig (`fjd run` against a plain dispatcher on 90,000).

Like scenarios.py, each takes the parsed options and the results dict and stores what it
measured under its own key.
"""
import os
import statistics
import time

from harness import CLK_TCK, Scenario, child_pid, proc_stat_ticks, proc_status_kb, ratio, say
from commands import fjd_help
from jobfiles import fill_queue, room_for
from journals import ended_count, first_jobs_rate, read_records, record_breakdown
from report import fmt_num
from rows import runbig_line
from scenarios import fjd_throughput_once


# -- scenario: a million queued jobs --------------------------------------------------------

def prefilled_run(opts, total, sample, name, max_seconds):
    """Write `total` job files, start the workers, then the dispatcher; run `sample` jobs.

    Returns the dispatcher's peak RSS, the time until the first job started and the
    throughput of the first `sample` jobs from the first start to the sample-th end (from
    the records), with and without the dispatcher's start-up.
    """
    with Scenario(opts, name) as sc:
        write_s = fill_queue(sc.path("jobqueue"), total)
        for _ in range(opts.workers):
            sc.worker()
        sc.wait_announced(opts.workers)
        time.sleep(opts.settle)
        t0 = time.time()
        dispatcher = sc.dispatcher()
        peak_rss_seen = 0
        reached = False
        while True:
            rss = proc_status_kb(dispatcher.pid, "VmRSS") or 0
            peak_rss_seen = max(peak_rss_seen, rss)
            finished = sc.finished()
            if finished >= sample:
                reached = True
                break
            waited = time.time() - t0
            if waited > max_seconds + 60 or (finished and waited > max_seconds):
                break
            sc.check_alive()
            time.sleep(0.1 if sample > 5000 else 0.02)
        hwm = proc_status_kb(dispatcher.pid, "VmHWM")
        rss_end = proc_status_kb(dispatcher.pid, "VmRSS")
        cpu = {}
        for d in sc.daemons:
            used = d.cpu_seconds()
            if used:
                key = "dispatcher" if d.role == "dispatcher" else "workers"
                cpu[key] = cpu.get(key, 0.0) + used[0]
                cpu["jobs"] = cpu.get("jobs", 0.0) + used[1]
        sc.stop()
        records = read_records(sc.path("records"))
    out = {"queued": total, "write_seconds": write_s, "write_files_per_s": total / write_s,
           "sample_target": sample, "completed_sample": reached, "workers": opts.workers,
           "dispatcher_peak_rss_mb": hwm / 1024.0 if hwm else None,
           "dispatcher_rss_end_mb": rss_end / 1024.0 if rss_end else None,
           "dispatcher_peak_rss_polled_mb": peak_rss_seen / 1024.0,
           "loadavg_after": list(os.getloadavg()), "breakdown": record_breakdown(records),
           "cpu_ms_per_job_incl_startup": {k: v * 1000 / max(1, ended_count(records))
                                           for k, v in cpu.items()}}
    out.update(first_jobs_rate(records, sample, t0))
    return out


def scenario_million(opts, results):
    """The big pre-filled queue, between two small pre-filled queues run the same way; and
    compared with the throughput scenario's figure (measured here when it did not run)."""
    small_queue_rate = results.get("throughput", {}).get("fjd", {}).get("median")
    if small_queue_rate is None:
        say("million: measuring the small-queue figure first (%d jobs, 1 run)" % opts.jobs)
        small_queue_rate = fjd_throughput_once(opts, opts.jobs, opts.workers)["jobs_per_s"]
    total, sample = opts.million, min(opts.million_sample, opts.million)
    if not room_for(opts.tmp, total):
        say("million: not enough room in %s for %d files" % (opts.tmp, total))
        results["million"] = {"queued": total, "skipped": "not enough free inodes or space"}
        return
    small = opts.jobs
    controls = []
    say("million: control before: a pre-filled queue of %d jobs, run the same way" % small)
    controls.append(prefilled_run(opts, small, small, "prefilled-small", opts.million_seconds))
    say("million: writing %d job files into jobqueue/ before the dispatcher starts" % total)
    say("  then starting the workers and the dispatcher; running the first %d jobs "
        "(at most %.0f s)" % (sample, opts.million_seconds))
    out = prefilled_run(opts, total, sample, "million", opts.million_seconds)
    say("million: control after: a pre-filled queue of %d jobs" % small)
    controls.append(prefilled_run(opts, small, small, "prefilled-small", opts.million_seconds))
    rates = [c["jobs_per_s"] for c in controls if c.get("jobs_per_s")]
    control_rate = statistics.mean(rates) if rates else None
    out["small_prefilled_runs"] = controls
    out["small_prefilled_jobs_per_s"] = control_rate
    out["ratio_vs_small_prefilled"] = ratio(out.get("jobs_per_s"), control_rate)
    out["small_queue_jobs_per_s"] = small_queue_rate
    out["ratio_vs_small_queue"] = ratio(out.get("jobs_per_s"), small_queue_rate)
    results["million"] = out


# -- scenario: fjd run on a big queue --------------------------------------------------------

def runbig_once(opts, how, total, sample):
    """Pre-fill a queue of `total` no-op jobs and time its first `sample` jobs run `how`:
    "plain" (``python dispatcher.py`` and W ``python worker.py``, as everywhere else) or
    "fjd run" (``python -m fjd run --workers W``, whose dispatcher has --exit-when-done).

    Stopped once `sample` jobs are in done/ or failed/, with SIGINT (`fjd run` then exits
    130 and puts its running jobs back). The throughput is counted from the records as in
    the million scenario: the first `sample` jobs from the first start to the sample-th end.
    """
    name = "runbig-plain" if how == "plain" else "runbig-fjd-run"
    with Scenario(opts, name) as sc:
        write_s = fill_queue(sc.path("jobqueue"), total)
        time.sleep(opts.settle)
        t0 = time.time()
        if how == "plain":
            dispatcher_pid = sc.dispatcher().pid
            for _ in range(opts.workers):
                sc.worker()
            runner = None
        else:
            runner = sc.fjd_run(opts.workers)
            dispatcher_pid = None
        timeout = max(120.0, sample / 5.0)
        reached, seen = sc.wait_finished(sample, timeout, 0.1 if sample > 5000 else 0.02)
        if runner is not None:
            dispatcher_pid = child_pid(runner.pid, "dispatcher")
        dispatcher_cpu = proc_stat_ticks(dispatcher_pid) if dispatcher_pid else None
        runner_cpu = runner.cpu_seconds() if runner is not None else None
        finished = sc.finished()
        sc.stop()
        exit_status = runner.proc.returncode if runner is not None else None
        records = read_records(sc.path("records"))
    out = {"how": how, "queued": total, "sample_target": sample, "workers": opts.workers,
           "completed_sample": reached, "finished_when_stopped": finished,
           "seconds_to_sample_polled": seen - t0,
           "write_seconds": write_s, "write_files_per_s": total / write_s if write_s else None,
           "dispatcher_cpu_s": dispatcher_cpu[0] / CLK_TCK if dispatcher_cpu else None,
           "loadavg_after": list(os.getloadavg())}
    if runner is not None:
        out["fjd_run_exit_status"] = exit_status
        out["fjd_run_own_cpu_s"] = runner_cpu[0] if runner_cpu else None
    out.update(first_jobs_rate(records, sample, t0))
    if out.get("jobs_counted") and out["dispatcher_cpu_s"] is not None:
        out["dispatcher_cpu_ms_per_job"] = out["dispatcher_cpu_s"] * 1000 / out["jobs_counted"]
    if not reached:
        say("  ! %s: only %d of %d jobs finished within %.0f s" % (how, finished, sample,
                                                                   timeout))
    return out


def scenario_runbig(opts, results):
    """`fjd run` against a plain dispatcher on the same big pre-filled queue.

    `fjd run` starts its dispatcher with --exit-when-done, whose "all done" check once
    listed the whole jobqueue/ every loop: 5,000 jobs of a 90,000-job queue ran at about
    half the speed of a plain dispatcher. Target: the ratio fjd run / plain >= 0.9.
    """
    total = opts.runbig_queue
    sample = min(opts.runbig_jobs, total)
    if not room_for(opts.tmp, 2 * total):
        say("runbig: not enough room in %s for 2 x %d files" % (opts.tmp, total))
        results["runbig"] = {"queued": total, "skipped": "not enough free inodes or space"}
        return
    probe, _ = fjd_help(opts, "run")
    if probe != 0:
        say("runbig: `python -m fjd run --help` exited with %d: not available" % probe)
        results["runbig"] = {"queued": total, "jobs": sample, "available": False,
                             "why": "`python -m fjd run --help` exited with %d" % probe}
        return
    say("runbig: %d job files queued beforehand, the first %d of them run by a plain "
        "dispatcher and %d workers, then on a fresh queue by `fjd run --workers %d`"
        % (total, sample, opts.workers, opts.workers))
    plain = runbig_once(opts, "plain", total, sample)
    say("  plain dispatcher: %s jobs/s" % fmt_num(plain.get("jobs_per_s")))
    run = runbig_once(opts, "fjd run", total, sample)
    say("  fjd run: %s jobs/s" % fmt_num(run.get("jobs_per_s")))
    out = {"queued": total, "jobs": sample, "workers": opts.workers, "available": True,
           "plain": plain, "fjd_run": run,
           "ratio_run_vs_plain": ratio(run.get("jobs_per_s"), plain.get("jobs_per_s"))}
    say(runbig_line(out))
    results["runbig"] = out
