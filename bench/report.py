"""The targets, PASS/MISS, the number formats, the text table and the Markdown.

Only formats what the scenarios stored in the results; it measures nothing. The rows of
each scenario are in rows.py and rows_shared.py, the table of scenarios in table.py.
"""
from harness import REPO

# The targets from the issue; "key" names the measured value in the results.
TARGETS = {
    "throughput": 1000.0,       # jobs/s, W=2, N=2000
    "vs_xargs": 0.75,           # fjd / xargs -P W, single job files
    "array_vs_xargs": 0.9,      # fjd array tasks / xargs -P W, one array of 20,000 tasks
    "latency_median": 0.020,    # s
    "latency_p99": 0.100,       # s
    "idle_cpu": 1.0,            # % of one core, per daemon
    "million_rss_mb": 200.0,    # MB, dispatcher VmHWM with 10^6 queued
    "million_ratio": 0.8,       # throughput with 10^6 queued / small-queue throughput
    "submit_s": 10.0,           # s for a 100,000-job sweep, --split (one file per job)
    "submit_array_s": 1.0,      # s for a 1,000,000-task sweep as one array
    "runbig_ratio": 0.9,        # fjd run / plain dispatcher, first 5,000 of 90,000 queued
    "files_left": 200,          # entries under the root after fjd run of 100,000 tasks
    "status_s": 2.0,            # s for fjd status (text or --json), 10^6 task records
    "bigarray_rss_mb": 50.0,    # MB, peak RSS of each daemon on a 10^7-task array
    # shared: fjd on sshfs, dispatcher + 4 workers on three hosts (bench/sharedfs.py)
    "shared_idle_rps": 25.0,            # sftp requests/s, all five daemons idle
    "shared_idle_rps_per_worker": 2.0,  # requests/s for each further idle worker
    "shared_requests_per_job": 15.0,    # single-file no-op jobs
    "shared_requests_per_task": 3.0,    # tasks of one array
    "shared_jobs_ratio": 0.3,           # single-file jobs/s on sshfs / on a local disk
    "shared_tasks_ratio": 0.8,          # array tasks/s on sshfs / on a local disk
    "shared_latency_hints": 0.100,      # s, rename into jobqueue/ -> start, max of 10 samples
    "shared_latency_no_udp": 3.0,       # s, the same with UDP on loopback dropped
    "shared_prequeued_requests_per_job": 20.0,  # queued before the daemons start (issue 27)
    "shared_prequeued_ratio": 0.3,      # the same, jobs/s on sshfs / on a local disk
    "shared_stale_wait_s": 5.0,         # s a job may wait for a dead worker's announcement
}


def fmt_num(value, digits=0):
    if value is None:
        return "n/a"
    if digits == 0:
        return "{:,.0f}".format(value)
    return "{:,.{}f}".format(value, digits)


def ms(value):
    return "n/a" if value is None else "%.1f ms" % (value * 1000)


# the targets that are a ceiling (the measure must stay at or below); the rest are floors
AT_MOST = {"latency_median", "latency_p99", "idle_cpu", "million_rss_mb", "submit_s",
           "submit_array_s", "files_left", "status_s", "bigarray_rss_mb", "shared_idle_rps",
           "shared_idle_rps_per_worker", "shared_requests_per_job", "shared_requests_per_task",
           "shared_latency_hints", "shared_latency_no_udp",
           "shared_prequeued_requests_per_job", "shared_stale_wait_s"}


def judge(key, value, sized=True):
    """PASS/MISS of value against TARGETS[key] ("small run" when not sized, "n/a" when
    there is no value)."""
    if value is None:
        return status(None, sized)
    limit = TARGETS[key]
    return status(value <= limit if key in AT_MOST else value >= limit, sized)


def status(ok, sized=True):
    """PASS or MISS; "small run" where the scenario ran smaller than the target is defined
    for (--quick, say), since start-up then weighs more than the target allows for."""
    if not sized:
        return "small run"
    if ok is None:
        return "n/a"
    return "PASS" if ok else "MISS"


def outputs_text(out):
    """What the files scenario found reading printed lines back with fjd show."""
    if not out.get("checked"):
        return "not checked: %s" % out["mismatches"][0]["problem"]
    if not out["mismatches"]:
        return "all %d sampled outputs correct (stdout and stderr of %d tasks)" % (
            out["checked"], out["tasks_checked"])
    return "%d of %d sampled outputs wrong (first: task %s %s)" % (
        len(out["mismatches"]), out["checked"], out["mismatches"][0]["task"],
        out["mismatches"][0]["stream"])


def fmt_ratio(value):
    return "n/a" if value is None else "%.2fx" % value


def fmt_ms(value):
    return "n/a" if value is None else "%.1f ms" % value


def fmt_s(value):
    return "n/a" if value is None else "%.2f s" % value


def text_table(rows, headers=("measure", "target", "result", "status")):
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join("%-*s" % (w, h) for w, h in zip(widths, headers))
    out = [line, "  ".join("-" * w for w in widths)]
    for row in rows:
        out.append("  ".join("%-*s" % (w, c) for w, c in zip(widths, row)).rstrip())
    return "\n".join(out)


def machine_line(m):
    return ("%s, %s cores, %s GB RAM, Linux %s (%s), Python %s, queue root on %s (%s, %s), "
            "%s%s"
            % (m["cpu"], m["cores"], m["memory_gb"], m["kernel"], m["os"], m["python"],
               m["tmp"], m["fs"], "%.0f µs to create a file" % m["file_create_us"]
               if m.get("file_create_us") else "file creation not measured",
               m["date"], fjd_label(m)))


def fjd_label(m):
    """", fjd 0.2.0 (git 67d08ba)", with the checkout's folder when it is not this repo."""
    text = ", %s" % (m.get("fjd") or "fjd")
    if m.get("git"):
        text += " (git %s)" % m["git"]
    if m.get("fjd_dir") and m["fjd_dir"] != REPO:
        text += " from %s" % m["fjd_dir"]
    return text


def markdown(rows, machine, opts):
    out = ["Benchmark (`python bench/run.py%s`) on %s; load average %.2f at the start, "
           "%.2f at the end."
           % ((" " + " ".join(opts.argv)) if opts.argv else "", machine_line(machine),
              machine["loadavg_start"][0], machine["loadavg_end"][0]), "",
           "| Measure | Target | Result | |", "| --- | --- | --- | --- |"]
    for measure, target, result, st in rows:
        out.append("| %s | %s | %s | %s |" % (measure, target.replace(">=", "≥")
                                              .replace("<=", "≤"), result, st))
    return "\n".join(out)
