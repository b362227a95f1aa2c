"""The scale scenario: many workers on one machine, idle and busy.

  idle  a dispatcher and N workers (plain processes, local disk), after they settled: the
        CPU all of them use together (user + system, from /proc), in % of one core, for
        a few worker counts, so that the cost per worker can be read off as well
  busy  the largest count of workers running `sleep 1` jobs (N x rounds single-file jobs,
        submitted at once): how busy the dispatcher keeps them, from the records: the
        seconds the jobs ran / (N x the time from the first start to the last end)

Standard library only, Python 3.8+.
"""
import statistics
import subprocess
import time

from harness import CLK_TCK, BenchError, Scenario, fjd_env, say
from journals import read_records


def start_many(sc, workers, timeout):
    """A dispatcher and `workers` workers; waits until all announced themselves."""
    sc.dispatcher()
    for _ in range(workers):
        sc.worker()
    sc.wait_announced(workers, timeout=timeout)


def cpu_ticks(daemons):
    total = 0
    for daemon in daemons:
        ticks = daemon.cpu_seconds()
        if ticks is not None:
            total += ticks[0] + ticks[1]
    return total


def idle_cpu(opts, workers):
    with Scenario(opts, "scale-idle-%d" % workers) as sc:
        started = time.monotonic()
        start_many(sc, workers, timeout=60.0 + workers)
        up = time.monotonic() - started
        time.sleep(opts.scale_settle)
        sc.check_alive()
        before, t0 = cpu_ticks(sc.daemons), time.monotonic()
        dispatcher_before = cpu_ticks(sc.daemons[:1])
        time.sleep(opts.scale_idle_seconds)
        after, t1 = cpu_ticks(sc.daemons), time.monotonic()
        dispatcher_after = cpu_ticks(sc.daemons[:1])
        sc.check_alive()
        wall = t1 - t0
        out = {"workers": workers, "seconds": wall, "start_seconds": up,
               "percent_of_a_core": (after - before) / wall * 100.0,
               "dispatcher_percent": (dispatcher_after - dispatcher_before) / wall * 100.0}
        out["per_worker_percent"] = (out["percent_of_a_core"] - out["dispatcher_percent"]) \
            / workers
    say("  %d idle workers + dispatcher: %.2f%% of a core in total (dispatcher %.2f%%, "
        "%.4f%% per worker; %.0f s to start them)"
        % (workers, out["percent_of_a_core"], out["dispatcher_percent"],
           out["per_worker_percent"], up))
    return out


def busy_sleep(opts, workers, rounds):
    total = workers * rounds
    with Scenario(opts, "scale-busy") as sc:
        start_many(sc, workers, timeout=60.0 + workers)
        time.sleep(opts.scale_settle)
        argv = [opts.python, "-m", "fjd", "--root", sc.root, "submit", "--split", "--quiet",
                "--no-jobfile", "--exe", "sleep 1", "--repeat", str(total)]
        submitted = subprocess.run(argv, env=fjd_env(opts), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, timeout=120)
        if submitted.returncode != 0:
            raise BenchError("scale: fjd submit failed: %s"
                             % submitted.stderr.decode(errors="replace").strip())
        reached, _ = sc.wait_finished(total, timeout=60.0 + rounds * 10.0, poll=0.2)
        if not reached:
            raise BenchError("scale: %d of %d sleep jobs finished in time"
                             % (sc.finished(), total))
        time.sleep(1.0)  # the last records
        records = [r for r in read_records(sc.path("records"))
                   if isinstance(r.get("start_ts"), (int, float))
                   and isinstance(r.get("end_ts"), (int, float))]
    if len(records) < total:
        raise BenchError("scale: %d records for %d jobs" % (len(records), total))
    first = min(r["start_ts"] for r in records)
    last = max(r["end_ts"] for r in records)
    ran = sum(r["end_ts"] - r["start_ts"] for r in records)
    makespan = last - first
    out = {"workers": workers, "jobs": total, "rounds": rounds, "makespan_seconds": makespan,
           "job_seconds": ran, "busy_fraction": ran / (workers * makespan),
           "ideal_makespan_seconds": ran / workers,
           "workers_used": len({r.get("worker") for r in records})}
    by_worker = {}
    for record in records:
        by_worker.setdefault(record.get("worker"), []).append(record)
    firsts = sorted(min(r["start_ts"] for r in mine) for mine in by_worker.values())
    lasts = sorted(max(r["end_ts"] for r in mine) for mine in by_worker.values())
    counts = sorted(len(mine) for mine in by_worker.values())
    gaps = []
    for mine in by_worker.values():
        mine.sort(key=lambda r: r["start_ts"])
        gaps += [b["start_ts"] - a["end_ts"] for a, b in zip(mine, mine[1:])]
    # steady state: from the moment every worker has started its first job to the moment
    # the first worker ran out of work, the share of the workers running a job
    window = (firsts[-1], lasts[0])
    if window[1] > window[0]:
        covered = sum(max(0.0, min(r["end_ts"], window[1]) - max(r["start_ts"], window[0]))
                      for r in records)
        out["steady_busy_fraction"] = covered / (workers * (window[1] - window[0]))
        out["steady_window_seconds"] = window[1] - window[0]
    out.update(first_start_spread_seconds=firsts[-1] - firsts[0],
               last_end_spread_seconds=lasts[-1] - lasts[0],
               jobs_per_worker_min_max=(counts[0], counts[-1]),
               gap_ms_median=statistics.median(gaps) * 1000 if gaps else None,
               gap_ms_max=max(gaps) * 1000 if gaps else None)
    say("  %d workers, %d x `sleep 1`: busy %.1f%% (makespan %.2f s, ideal %.2f s; %d "
        "workers got jobs)" % (workers, total, out["busy_fraction"] * 100.0, makespan,
                               out["ideal_makespan_seconds"], out["workers_used"]))
    if "steady_busy_fraction" in out:
        say("    steady state (every worker started, none out of work yet, %.2f s): busy %.1f%%"
            % (out["steady_window_seconds"], out["steady_busy_fraction"] * 100.0))
    say("    first starts spread over %.2f s, last ends over %.2f s; jobs per worker %d-%d; "
        "gap between a worker's jobs: median %s ms, max %s ms"
        % (out["first_start_spread_seconds"], out["last_end_spread_seconds"],
           out["jobs_per_worker_min_max"][0], out["jobs_per_worker_min_max"][1],
           "%.1f" % out["gap_ms_median"] if out["gap_ms_median"] is not None else "-",
           "%.0f" % out["gap_ms_max"] if out["gap_ms_max"] is not None else "-"))
    return out


def scenario_scale(opts, results):
    counts = sorted(set(opts.scale_workers))
    say("scale: many workers on this machine (%s), idle CPU, then %d workers busy with "
        "`sleep 1` jobs" % (", ".join(str(c) for c in counts), counts[-1]))
    out = {"idle": [idle_cpu(opts, count) for count in counts], "clock_ticks_per_s": CLK_TCK}
    out["busy"] = busy_sleep(opts, counts[-1], opts.scale_rounds)
    results["scale"] = out
