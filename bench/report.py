"""The targets and the report: PASS/MISS per target, the text table and the Markdown.

Only formats what the scenarios stored in the results; it measures nothing.
"""
from harness import DEFAULTS, REPO

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
        rows.append(("ratio fjd / xargs -P%d" % w, ">= 0.75", fmt_ratio(tp["ratio_vs_xargs"]),
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
    rows += array_rows(results)
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
        label = "fjd submit%s, %s-job sweep" % (" --split" if sub.get("split") else "",
                                                fmt_num(sub["sweep"]))
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
        arr = sub.get("array")
        if arr:
            rows.append(("fjd submit, %s-task sweep as one array (%d x %d)"
                         % (fmt_num(arr["tasks"]), arr["shape"][0], arr["shape"][1]), "<= 1 s",
                         "failed: %s" % arr["runs"] if arr["seconds"] is None
                         else "%.2f s" % arr["seconds"],
                         status(arr["seconds"] is not None and
                                arr["seconds"] <= TARGETS["submit_array_s"],
                                sized=arr["tasks"] >= 1000000)))
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
    rows += files_rows(results) + status_rows(results) + bigarray_rows(results)
    rows += scale_rows(results.get("scale"))
    rows += shared_rows(results.get("shared"))
    return rows


def scale_rows(scale):
    if not scale:
        return []
    rows = []
    for idle in scale["idle"]:
        target = "<= 5% of a core" if idle["workers"] >= 200 else ""
        rows.append(("%d idle workers + dispatcher, CPU in total (%.0f s; per worker)"
                     % (idle["workers"], idle["seconds"]), target,
                     "%.2f%% of a core (%.3f%%)" % (idle["percent_of_a_core"],
                                                     idle["per_worker_percent"]),
                     status(idle["percent_of_a_core"] <= 5.0) if target else ""))
    busy = scale["busy"]
    rows.append(("%d workers, %d `sleep 1` jobs: share of the time they are busy"
                 % (busy["workers"], busy["jobs"]), ">= 95%" if busy["workers"] >= 200 else "",
                 "%.1f%% (makespan %.2f s, ideal %.2f s)"
                 % (busy["busy_fraction"] * 100.0, busy["makespan_seconds"],
                    busy["ideal_makespan_seconds"]),
                 ""))
    steady = busy.get("steady_busy_fraction")
    rows.append(("  the same in steady state (all started, none out of work: %s)"
                 % ("%.2f s" % busy["steady_window_seconds"] if steady is not None else "-"),
                 ">= 95%" if busy["workers"] >= 200 else "",
                 "%.1f%%" % (steady * 100.0) if steady is not None else "n/a",
                 status(None if steady is None else steady >= 0.95)
                 if busy["workers"] >= 200 else ""))
    rows.append(("  first jobs started over / gap between a worker's jobs (median, max)", "",
                 "%.2f s / %.1f, %.0f ms" % (busy["first_start_spread_seconds"],
                                             busy.get("gap_ms_median") or 0,
                                             busy.get("gap_ms_max") or 0), ""))
    return rows


def unavailable(results, name, label):
    """The row of a scenario that the fjd benchmarked cannot run (no array jobs)."""
    return [(label, "", "not available (%s)" % results[name].get("why"), "n/a")]


def array_rows(results):
    arr = results.get("arrays")
    if not arr:
        return []
    w = arr["workers"]
    label = "fjd array of %s no-op tasks, %d workers" % (fmt_num(arr["tasks"]), w)
    if not arr.get("available"):
        return unavailable(results, "arrays", label)
    sized = arr["tasks"] >= DEFAULTS["array_tasks"]
    r = arr["ratio_vs_xargs"]
    rows = [("%s (journals: first start to last end, median of %d)" % (label, arr["repeat"]),
             "", "%s tasks/s" % fmt_num(arr["fjd"]["median"]), ""),
            ("  the whole `fjd run` command (start-up, submit, exit)", "",
             "%s (%s tasks/s)" % (fmt_s(arr["fjd"]["wall_median_s"]),
                                  fmt_num(arr["fjd"]["wall_tasks_per_s_median"])), ""),
            ("xargs -P%d on the same %s commands, same run" % (w, fmt_num(arr["tasks"])), "",
             "%s jobs/s" % fmt_num(arr["xargs"]["median"]), ""),
            ("ratio fjd array tasks / xargs -P%d" % w, ">= 0.9",
             "%s (runs: %s)" % (fmt_ratio(r), ", ".join(fmt_ratio(x)
                                                       for x in arr["ratio_per_run"])),
             status(None if r is None else r >= TARGETS["array_vs_xargs"], sized=sized)),
            ("  the same with fjd run's start-up and exit", "",
             fmt_ratio(arr["ratio_wall_vs_xargs"]), ""),
            ("  CPU per task, every process (fjd run, daemons, tasks) / xargs", "",
             "%s / %s ms" % (fmt_num(arr["fjd"].get("cpu_ms_per_task_median"), 2),
                             fmt_num(arr["xargs"].get("cpu_ms_per_job_median"), 2)), "")]
    single = arr.get("single_file_ratio_vs_xargs")
    rows.append(("  ratio with single job files (throughput scenario, judged there)",
                 ">= 0.75", fmt_ratio(single) if single is not None
                 else "not measured (throughput not run)", ""))
    return rows


def files_rows(results):
    fil = results.get("files")
    if not fil:
        return []
    n = fil["tasks"]
    label = "entries left in the root after fjd run of %s" % fmt_num(n)
    if not fil.get("available"):
        return unavailable(results, "files", label + " tasks")
    sized = n >= DEFAULTS["files_tasks"]
    rows = []
    for key, what in (("noop", "no-op tasks"), ("printing", "printing tasks")):
        run = fil[key]
        ok = run["entries"] <= TARGETS["files_left"] and run["exit_status"] == 0 \
            and run["done"] == n
        note = "" if run["exit_status"] == 0 and run["done"] == n else \
            " (fjd run exited %s, %s done)" % (run["exit_status"], run["done"])
        rows.append(("%s %s (logs/ aside)" % (label, what), "<= 200",
                     "%d in %s%s" % (run["entries"], fmt_s(run["wall_seconds"]), note),
                     status(ok, sized=sized)))
    outputs = fil["printing"].get("outputs")
    if outputs:
        rows.append(("  printed lines read back with fjd show (random sample, first, last)",
                     "all correct", "%s; %.2f s per fjd show" % (
                         outputs_text(outputs), outputs.get("show_seconds_median", 0)),
                     status(bool(outputs.get("checked")) and not outputs["mismatches"])))
    sn, sp = fil["split_noop"], fil["split_printing"]
    rows.append(("  --split instead, no-op / printing (measured at %s and %s tasks, "
                 "extrapolated)" % (fmt_num(sn["sizes"][0]), fmt_num(sn["sizes"][1])), "",
                 "%s / %s" % (fmt_num(sn["extrapolated"]), fmt_num(sp["extrapolated"])), ""))
    rows.append(("  fjd 0.2's layout, no-op / printing (computed: job file + record per job, "
                 "+ .out/.err)", "", "%s / %s" % (fmt_num(fil["fjd02_noop"]),
                                                  fmt_num(fil["fjd02_printing"])), ""))
    return rows


def status_rows(results):
    st = results.get("status")
    if not st:
        return []
    label = "%s task records" % fmt_num(st["records"])
    if not st.get("available"):
        return unavailable(results, "status", "fjd status, " + label)
    sized = st["records"] >= DEFAULTS["status_records"]
    rows = []
    for key, ok_key, what in (("status_s", "status_ok", "fjd status"),
                              ("status_json_s", "status_json_ok", "fjd status --json")):
        ok = st[ok_key]
        rows.append(("%s, %s (median of 3)" % (what, label), "<= 2 s",
                     fmt_s(st[key]) + ("" if ok else " (wrong counts)"),
                     status(ok and st[key] <= TARGETS["status_s"], sized=sized)))
    rows.append(("  python -m fjd status --help (start-up alone)", "", fmt_s(st["startup_s"]),
                 ""))
    for key in ("task_stdout", "task_record", "array_summary"):
        show = st["show"][key]
        argv = show["argv"].replace(st["filled"]["array"], "ARRAY")
        rows.append(("%s, %s" % (argv, label), "", "%s, %s MB peak%s"
                     % (fmt_s(show["seconds"]), fmt_num(show["max_rss_mb"]),
                        "" if show["correct"] and show["exit_status"] == 0
                        else " (wrong output)"), ""))
    return rows


def bigarray_rows(results):
    big = results.get("bigarray")
    if not big:
        return []
    label = "%s-task array" % fmt_num(big["tasks"])
    if not big.get("available"):
        return unavailable(results, "bigarray", label)
    sized = big["tasks"] >= DEFAULTS["bigarray_tasks"] and \
        big["seconds"] >= DEFAULTS["bigarray_seconds"]
    rows = []
    for number, daemon in enumerate([big["dispatcher"]] + big["workers_rss"]):
        who = "dispatcher" if number == 0 else "worker %d" % number
        rss = daemon["peak_rss_mb"]
        rows.append(("%s%s, %g s: %s peak RSS (VmHWM)" % ("" if number == 0 else "  ", label,
                                                          big["seconds"], who), "<= 50 MB",
                     "n/a" if rss is None else "%.1f MB" % rss,
                     status(None if rss is None else rss <= TARGETS["bigarray_rss_mb"],
                            sized=sized)))
    rows.append(("  tasks finished before SIGTERM / all accounted for by fjd status after",
                 "", "%s (%s tasks/s) / %s" % (fmt_num(big["tasks_finished"]),
                                               fmt_num(big.get("tasks_per_s")),
                                               "yes" if big["tasks_accounted"] == big["tasks"]
                                               else "no: %s" % fmt_num(big["tasks_accounted"])),
                 ""))
    return rows


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


def shared_rows(sh):
    """Rows of the shared scenario: per mount variant, then the local-disk figures."""
    if not sh:
        return []
    if sh.get("skipped"):
        return [("fjd on sshfs (shared)", "", "skipped: " + sh["skipped"], "n/a")]
    rows = []
    local = sh.get("local") or {}
    for variant, got in sh["variants"].items():
        label = "sshfs %s" % variant
        if got.get("failed"):
            rows.append((label, "", "failed: " + got["failed"][:200], "MISS"))
            continue
        idle, more = got.get("idle"), got.get("idle_more")
        if idle:
            hosts = idle["by_host_per_s"]
            workers = sum(v for h, v in hosts.items() if h != "alpha")
            rows.append(("%s: idle requests/s, dispatcher + %d workers (%.0f s)"
                         % (label, idle["daemons"] - 1, idle["seconds"]), "<= 25/s",
                         "%s/s (dispatcher %s, per worker %s)"
                         % (fmt_num(idle["per_s"], 1), fmt_num(hosts.get("alpha"), 1),
                            fmt_num(workers / (idle["daemons"] - 1), 1)),
                         status(idle["per_s"] <= TARGETS["shared_idle_rps"])))
        if more:
            # judged on the larger of the two: a dispatcher that slows down when more
            # daemons share the machine must not make workers look free
            total = more["increase_per_added_worker"]
            own = more.get("increase_per_added_worker_on_worker_hosts", total)
            rows.append(("%s: idle requests/s per added worker (%d daemons: %s/s)"
                         % (label, more["daemons"], fmt_num(more["per_s"], 1)), "<= 2/s",
                         "%+.1f/s (on the workers' hosts %+.1f/s)" % (total, own),
                         status(max(total, own) <= TARGETS["shared_idle_rps_per_worker"])))
        for key, what, unit, target in (("jobs", "single-file jobs", "job",
                                         "shared_requests_per_job"),
                                        ("array", "array tasks", "task",
                                         "shared_requests_per_task")):
            busy = got.get(key)
            if not busy:
                continue
            full = busy["size"] >= DEFAULTS["shared_" + ("jobs" if key == "jobs" else "tasks")]
            value = busy.get("per_unit") if busy["completed"] else None
            by_host = busy.get("by_host_per_unit") or {}
            rows.append(("%s: requests per %s (%s %s)" % (label, unit, fmt_num(busy["size"]),
                                                         what),
                         "<= %g" % TARGETS[target],
                         "n/a (not all finished)" if value is None else
                         "%s (dispatcher %s, workers %s)"
                         % (fmt_num(value, 1), fmt_num(by_host.get("alpha"), 1),
                            fmt_num(sum(v for h, v in by_host.items() if h != "alpha"), 1)),
                         status(None if value is None else value <= TARGETS[target],
                                sized=full)))
            ratio_key = "shared_%s_ratio" % ("jobs" if key == "jobs" else "tasks")
            r = (got.get("ratio_vs_local") or {}).get(key)
            base = (local.get(key) or {}).get("per_s")
            by_round = (got.get("ratios_by_round") or {}).get(key) or []
            if len(by_round) > 1:
                name = ("%s: %s/s, ratio to the local disk, median of %d rounds (round 1: "
                        "%s/s locally)" % (label, what, len(by_round), fmt_num(base)))
                value = "%s (rounds %s; round 1 %s/s)" % (
                    fmt_ratio(r), ", ".join(fmt_ratio(x) for x in by_round),
                    fmt_num(busy.get("per_s"), 1))
            else:
                name = "%s: %s/s, ratio to the local disk (%s/s)" % (label, what,
                                                                     fmt_num(base))
                value = "%s/s = %s" % (fmt_num(busy.get("per_s"), 1), fmt_ratio(r))
            rows.append((name, ">= %g" % TARGETS[ratio_key], value,
                         status(None if r is None else r >= TARGETS[ratio_key], sized=full)))
        for key, what, target, limit in (
                ("latency", "with UDP", "shared_latency_hints", "<= 100 ms"),
                ("latency_udp_blocked", "UDP on lo dropped", "shared_latency_no_udp",
                 "<= 3 s")):
            lat = got.get(key)
            if not lat:
                continue
            name = "%s: latency %s, rename -> start" % (label, what)
            if lat.get("skipped"):
                rows.append((name, limit + " (max)", "skipped: " + lat["skipped"], "n/a"))
                continue
            if not lat.get("measured"):
                rows.append((name, limit + " (max)", "no sample measured", "MISS"))
                continue
            rows.append(("%s (%d samples, %g s idle before each)"
                         % (name, lat["measured"], lat["idle_before_s"]), limit + " (max)",
                         "median %s, max %s" % (ms(lat["median"]), ms(lat["max"])),
                         status(lat["max"] <= TARGETS[target] and not lat["lost"],
                                sized=lat["samples"] >= DEFAULTS["shared_latency_samples"])))
    if local:
        rows.append(("local disk, dispatcher + %d workers: single-file jobs/s, array tasks/s"
                     % local["workers"], "",
                     "%s, %s" % (fmt_num((local.get("jobs") or {}).get("per_s")),
                                 fmt_num((local.get("array") or {}).get("per_s"))), ""))
    return rows


def shared_text(sh, top=8):
    """The shared scenario's details: per host, and where the requests go (request types of
    each measurement) for each mount variant."""
    if not sh or sh.get("skipped"):
        return ""
    out = ["fjd on sshfs: hosts alpha = dispatcher, beta and gamma = %d workers each (%d each "
           "in the 'idle +%d' window); requests counted from sftp-server's DEBUG3 log, jobs "
           "written on the server's side; UDP block: %s"
           % (sh["sizes"]["workers"] // 2, sh["sizes"]["workers"] // 2
              + sh["sizes"]["added_workers"] // 2, sh["sizes"]["added_workers"],
              sh.get("udp_block"))]
    for variant, got in sh["variants"].items():
        if got.get("failed"):
            out += ["", "sshfs %s: failed: %s" % (variant, got["failed"])]
            continue
        out += ["", "sshfs %s (%s):" % (variant, ("-o " + got["options"]) if got["options"]
                                               else "no -o: sshfs's own defaults")]
        columns = []  # (heading, {type: value}, {host: value}, cpu by host)
        if got.get("idle"):
            columns.append(("idle req/s", got["idle"]["types_per_s"],
                            got["idle"]["by_host_per_s"], got["idle"]["cpu_percent_by_host"]))
        if got.get("idle_more"):
            m = got["idle_more"]
            columns.append(("idle +%d req/s" % m["added_workers"], m["types_per_s"],
                            m["by_host_per_s"], m["cpu_percent_by_host"]))
        for key, heading in (("jobs", "per job"), ("array", "per task")):
            if got.get(key) and got[key].get("types_per_unit"):
                b = got[key]
                columns.append((heading, b["types_per_unit"], b["by_host_per_unit"],
                                {h: v for h, v in b["cpu_ms_per_unit_by_host"].items()}))
        if not columns:
            continue
        kinds = []
        for _, types, _, _ in columns:
            for kind in sorted(types, key=lambda k: -types[k])[:top]:
                if kind not in kinds:
                    kinds.append(kind)
        width = max([12] + [len(c[0]) for c in columns])
        head = "  %-16s" % "" + "".join("%*s" % (width + 2, c[0]) for c in columns)
        out.append(head)
        for host in ("alpha", "beta", "gamma"):
            out.append("  %-16s" % ("host " + host) + "".join(
                "%*s" % (width + 2, fmt_num(c[2].get(host), 1)) for c in columns))
        out.append("  %-16s" % "all requests" + "".join(
            "%*s" % (width + 2, fmt_num(sum(c[1].values()), 1)) for c in columns))
        out.append("  request types (top %d of each column):" % top)
        for kind in kinds:
            out.append("  %-16s" % kind + "".join(
                "%*s" % (width + 2, fmt_num(c[1].get(kind), 2) if c[1].get(kind) else "-")
                for c in columns))
        out.append("  CPU (idle: % of a core; busy: ms per job or task):")
        for host in ("alpha", "beta", "gamma"):
            out.append("  %-16s" % ("daemons " + host) + "".join(
                "%*s" % (width + 2, fmt_num((c[3] or {}).get(host), 1)) for c in columns))
        for part, what in (("client", "sshfs+ssh, all"), ("server", "sftp-server, all")):
            out.append("  %-16s" % what + "".join(
                "%*s" % (width + 2, fmt_num(sum(v for k, v in (c[3] or {}).items()
                                                if k.endswith("/" + part)), 1))
                for c in columns))
        rounds = got.get("rounds") or []
        if len(rounds) > 1:
            out.append("  throughput rounds (each: local disk, then sshfs): jobs/s local / "
                       "sshfs = ratio; tasks/s local / sshfs = ratio")
            ratios = got.get("ratios_by_round") or {}
            jobs = ratios.get("jobs") or [None] * len(rounds)
            tasks = ratios.get("array") or [None] * len(rounds)
            for number, (r, job_ratio, task_ratio) in enumerate(zip(rounds, jobs, tasks)):
                out.append("    round %d: %s / %s = %s; %s / %s = %s" % (
                    number + 1, fmt_num(r.get("local_jobs")), fmt_num(r.get("jobs")),
                    fmt_ratio(job_ratio), fmt_num(r.get("local_array")),
                    fmt_num(r.get("array")), fmt_ratio(task_ratio)))
        for key, what in (("latency", "latency with UDP"),
                          ("latency_udp_blocked", "latency, UDP on lo dropped")):
            lat = got.get(key)
            if lat and lat.get("latencies"):
                out.append("  %s: %s ms (requests per sample %s)"
                           % (what, " ".join("%.0f" % (x * 1000) for x in lat["latencies"]),
                              fmt_num(lat.get("requests_per_sample"))))
    return "\n".join(out)


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
