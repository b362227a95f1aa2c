"""The targets and the report: PASS/MISS per target, the text table and the Markdown.

Only formats what the scenarios stored in the results; it measures nothing.
"""
from harness import DEFAULTS, REPO

# The targets from the issue; "key" names the measured value in the results.
TARGETS = {
    "throughput": 1000.0,       # jobs/s, W=2, N=2000
    "vs_xargs": 0.5,            # fjd / xargs -P W
    "latency_median": 0.020,    # s
    "latency_p99": 0.100,       # s
    "idle_cpu": 1.0,            # % of one core, per daemon
    "million_rss_mb": 200.0,    # MB, dispatcher VmHWM with 10^6 queued
    "million_ratio": 0.8,       # throughput with 10^6 queued / small-queue throughput
    "submit_s": 10.0,           # s for a 100,000-job sweep
    "runbig_ratio": 0.9,        # fjd run / plain dispatcher, first 5,000 of 90,000 queued
}


def fmt_num(value, digits=0):
    if value is None:
        return "n/a"
    if digits == 0:
        return "{:,.0f}".format(value)
    return "{:,.{}f}".format(value, digits)


def ms(value):
    return "n/a" if value is None else "%.1f ms" % (value * 1000)


def status(ok, sized=True):
    """PASS or MISS; "small run" where the scenario ran smaller than the target is defined
    for (--quick, say), since start-up then weighs more than the target allows for."""
    if not sized:
        return "small run"
    if ok is None:
        return "n/a"
    return "PASS" if ok else "MISS"


def evaluate(results, opts):
    """Rows of (measure, target, result, status) for the table and the README snippet."""
    rows = []
    tp = results.get("throughput")
    if tp:
        fjd = tp["fjd"]["median"]
        w = tp["workers"]
        shape = "%s no-op jobs, %d workers" % (fmt_num(tp["jobs"]), w)
        rows.append(("fjd throughput (%s, median of %d)" % (shape, tp["repeat"]),
                     ">= 1,000 jobs/s", "%s jobs/s" % fmt_num(fjd),
                     status(None if fjd is None else fjd >= TARGETS["throughput"],
                            sized=tp["jobs"] >= DEFAULTS["jobs"])))
        rows.append(("xargs -P%d throughput" % w, "", "%s jobs/s"
                     % fmt_num(tp["xargs"]["median"]), ""))
        par = tp.get("parallel")
        rows.append(("GNU parallel -j%d throughput" % w, "",
                     ("%s jobs/s" % fmt_num(par["median"])) if par else "not available", ""))
        rows.append(("ratio fjd / xargs -P%d" % w, ">= 0.5", fmt_ratio(tp["ratio_vs_xargs"]),
                     status(None if tp["ratio_vs_xargs"] is None
                            else tp["ratio_vs_xargs"] >= TARGETS["vs_xargs"],
                            sized=tp["jobs"] >= DEFAULTS["jobs"])))
        rows.append(("ratio fjd / GNU parallel -j%d" % w, "",
                     fmt_ratio(tp["ratio_vs_parallel"]) if par else "not available", ""))
        hq = tp.get("hyperqueue")
        hq_tool = results.get("tools", {}).get("hyperqueue") or "HyperQueue"
        rows.append(("%s, %d cores, throughput" % (hq_tool if hq else "HyperQueue", w), "",
                     ("%s jobs/s" % fmt_num(hq["median"])) if hq else hq_tool, ""))
        if hq:
            rows.append(("ratio fjd / HyperQueue", "", fmt_ratio(tp["ratio_vs_hyperqueue"]),
                         ""))
        rows.append(("time to write the %s job files (safe rename)" % fmt_num(tp["jobs"]), "",
                     "%.3f s" % tp["submit_seconds_median"], ""))
        pre = tp.get("fjd_prewritten")
        if pre:
            rows.append(("fjd throughput, files written beforehand (submit = renames only)",
                         "", "%s jobs/s" % fmt_num(pre["median"]), ""))
        last = [r for r in tp["fjd"]["runs"] if r.get("breakdown")]
        if last:
            b, cpu = last[-1]["breakdown"], last[-1]["cpu_ms_per_job"]
            rows.append(("per job: run+file / gap between jobs (median)", "",
                         "%s / %s" % (fmt_ms(b.get("run_ms_median")),
                                      fmt_ms(b.get("gap_ms_median"))), ""))
            rows.append(("per job CPU: dispatcher / workers / job processes", "",
                         "%.2f / %.2f / %.2f ms" % (cpu["dispatcher"], cpu["workers"],
                                                     cpu["jobs"]), ""))
            if "workers_sys" in cpu:
                rows.append(("  of which in the kernel: dispatcher / workers", "",
                             "%.2f / %.2f ms" % (cpu["dispatcher_sys"], cpu["workers_sys"]),
                             ""))
    lat = results.get("latency")
    if lat:
        rows.append(("submit-to-start latency median (%d samples)" % lat["measured"],
                     "<= 20 ms", ms(lat.get("median")),
                     status(None if lat.get("median") is None
                            else lat["median"] <= TARGETS["latency_median"])))
        rows.append(("submit-to-start latency p99", "<= 100 ms", ms(lat.get("p99")),
                     status(None if lat.get("p99") is None
                            else lat["p99"] <= TARGETS["latency_p99"])))
    idle = results.get("idle")
    if idle:
        span = "%.0f s" % idle["seconds"]
        rows.append(("idle dispatcher CPU over %s" % span, "<= 1% of a core",
                     "%.2f%%" % idle["dispatcher_percent"],
                     status(idle["dispatcher_percent"] <= TARGETS["idle_cpu"])))
        wp = idle["worker_percent"]
        rows.append(("idle worker CPU over %s" % span, "<= 1% of a core",
                     "n/a" if wp is None else "%.2f%%" % wp,
                     status(None if wp is None else wp <= TARGETS["idle_cpu"])))
    mil = results.get("million")
    if mil:
        label = "%s queued" % fmt_num(mil["queued"])
        if mil.get("skipped"):
            rows.append((label, "", "skipped: " + mil["skipped"], "n/a"))
        else:
            rss = mil.get("dispatcher_peak_rss_mb")
            rows.append(("%s: dispatcher peak RSS (VmHWM)" % label, "<= 200 MB",
                         "n/a" if rss is None else "%.0f MB" % rss,
                         status(None if rss is None else rss <= TARGETS["million_rss_mb"],
                                sized=mil["queued"] >= DEFAULTS["million"])))
            rows.append(("%s: time until the first job starts" % label, "",
                         fmt_s(mil.get("first_start_after_s")), ""))
            r = mil.get("ratio_vs_small_prefilled")
            rows.append(("%s: throughput of the first %s jobs" % (label,
                                                                  fmt_num(mil.get("jobs_counted"))),
                         ">= 80% of small queue",
                         "%s jobs/s (%s)" % (fmt_num(mil.get("jobs_per_s")),
                                             "n/a" if r is None else "%.0f%%" % (r * 100)),
                         status(None if r is None else r >= TARGETS["million_ratio"],
                                sized=mil["queued"] >= DEFAULTS["million"])))
            runs = mil.get("small_prefilled_runs") or []
            rows.append(("  small queue run the same way: %s pre-filled jobs, before / after"
                         % fmt_num(runs[0]["queued"] if runs else None), "",
                         "%s jobs/s (%s)" % (fmt_num(mil.get("small_prefilled_jobs_per_s")),
                                             " / ".join(fmt_num(c.get("jobs_per_s"))
                                                        for c in runs)), ""))
            r2 = mil.get("ratio_vs_small_queue")
            if r2 is not None:
                rows.append(("  compared with the throughput scenario's figure", "",
                             "%.0f%%" % (r2 * 100), ""))
            rows.append(("%s: writing the files (safe rename)" % label, "",
                         "%.1f s (%s files/s)" % (mil["write_seconds"],
                                                  fmt_num(mil["write_files_per_s"])), ""))
    sub = results.get("submit")
    if sub:
        label = "fjd submit, %s-job sweep" % fmt_num(sub["sweep"])
        if not sub["available"]:
            rows.append((label, "<= 10 s", "not available (no `fjd submit` yet)", "n/a"))
        elif sub.get("seconds") is None:
            rows.append((label, "<= 10 s", "failed: " + sub.get("why", "?"), "MISS"))
        else:
            rows.append((label, "<= 10 s", "%.2f s" % sub["seconds"],
                         status(sub["seconds"] <= TARGETS["submit_s"],
                                sized=sub["sweep"] >= 100000)))
            if sub.get("raw_write_seconds") is not None:
                rows.append(("  the same number of job files written by the harness "
                             "(filesystem floor)", "", "%.2f s" % sub["raw_write_seconds"], ""))
    big = results.get("runbig")
    if big:
        label = "%s queued, first %s jobs" % (fmt_num(big["queued"]), fmt_num(big.get("jobs")))
        target = ">= 0.9"
        if big.get("skipped"):
            rows.append(("%s: fjd run / plain dispatcher" % label, target,
                         "skipped: " + big["skipped"], "n/a"))
        elif not big["available"]:
            rows.append(("%s: fjd run / plain dispatcher" % label, target,
                         "not available (no `fjd run`)", "n/a"))
        else:
            plain, run = big["plain"], big["fjd_run"]
            rows.append(("%s: plain dispatcher" % label, "",
                         "%s jobs/s" % fmt_num(plain.get("jobs_per_s")), ""))
            rows.append(("%s: fjd run" % label, "", "%s jobs/s" % fmt_num(run.get("jobs_per_s")),
                         ""))
            r = big.get("ratio_run_vs_plain")
            rows.append(("ratio fjd run / plain dispatcher (%s queued)" % fmt_num(big["queued"]),
                         target, fmt_ratio(r),
                         status(None if r is None else r >= TARGETS["runbig_ratio"],
                                sized=big["queued"] >= DEFAULTS["runbig_queue"]
                                and big["jobs"] >= DEFAULTS["runbig_jobs"])))
            cpu = [r.get("dispatcher_cpu_ms_per_job") for r in (plain, run)]
            rows.append(("  dispatcher CPU per job, start-up included: plain / fjd run", "",
                         " / ".join("n/a" if c is None else "%.2f" % c for c in cpu) + " ms",
                         ""))
    return rows


def fmt_ratio(value):
    return "n/a" if value is None else "%.2fx" % value


def fmt_ms(value):
    return "n/a" if value is None else "%.1f ms" % value


def fmt_s(value):
    return "n/a" if value is None else "%.2f s" % value


def text_table(rows):
    headers = ("measure", "target", "result", "status")
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
