"""The report's rows of each scenario, and the lines printed under the table.

Every rows function takes the scenario's own results and all of them, and returns rows of
(measure, target, result, status); table.py says which function belongs to which
scenario. The shared scenario's are in rows_shared.py.
"""
from report import (fmt_ms, fmt_num, fmt_ratio, fmt_s, judge, ms, outputs_text, status)
from sizes import full


def unavailable(res, label):
    """The row of a scenario that the fjd benchmarked cannot run (no array jobs)."""
    return [(label, "", "not available (%s)" % res.get("why"), "n/a")]


# -- single job files -----------------------------------------------------------------------

def throughput_rows(tp, results):
    fjd, w = tp["fjd"]["median"], tp["workers"]
    sized = tp["jobs"] >= full("jobs")
    par, hq = tp.get("parallel"), tp.get("hyperqueue")
    hq_tool = results.get("tools", {}).get("hyperqueue") or "HyperQueue"
    rows = [("fjd throughput (%s no-op jobs, %d workers, median of %d)"
             % (fmt_num(tp["jobs"]), w, tp["repeat"]), ">= 1,000 jobs/s",
             "%s jobs/s" % fmt_num(fjd), judge("throughput", fjd, sized)),
            ("xargs -P%d throughput" % w, "", "%s jobs/s" % fmt_num(tp["xargs"]["median"]),
             ""),
            ("GNU parallel -j%d throughput" % w, "",
             ("%s jobs/s" % fmt_num(par["median"])) if par else "not available", ""),
            ("ratio fjd / xargs -P%d" % w, ">= 0.75", fmt_ratio(tp["ratio_vs_xargs"]),
             judge("vs_xargs", tp["ratio_vs_xargs"], sized)),
            ("ratio fjd / GNU parallel -j%d" % w, "",
             fmt_ratio(tp["ratio_vs_parallel"]) if par else "not available", ""),
            ("%s, %d cores, throughput" % (hq_tool if hq else "HyperQueue", w), "",
             ("%s jobs/s" % fmt_num(hq["median"])) if hq else hq_tool, "")]
    if hq:
        rows.append(("ratio fjd / HyperQueue", "", fmt_ratio(tp["ratio_vs_hyperqueue"]), ""))
    rows.append(("time to write the %s job files (safe rename)" % fmt_num(tp["jobs"]), "",
                 "%.3f s" % tp["submit_seconds_median"], ""))
    if tp.get("fjd_prewritten"):
        rows.append(("fjd throughput, files written beforehand (submit = renames only)",
                     "", "%s jobs/s" % fmt_num(tp["fjd_prewritten"]["median"]), ""))
    last = [r for r in tp["fjd"]["runs"] if r.get("breakdown")]
    if last:
        b, cpu = last[-1]["breakdown"], last[-1]["cpu_ms_per_job"]
        rows.append(("per job: run+file / gap between jobs (median)", "", "%s / %s"
                     % (fmt_ms(b.get("run_ms_median")), fmt_ms(b.get("gap_ms_median"))), ""))
        rows.append(("per job CPU: dispatcher / workers / job processes", "",
                     "%.2f / %.2f / %.2f ms" % (cpu["dispatcher"], cpu["workers"],
                                                 cpu["jobs"]), ""))
        if "workers_sys" in cpu:
            rows.append(("  of which in the kernel: dispatcher / workers", "",
                         "%.2f / %.2f ms" % (cpu["dispatcher_sys"], cpu["workers_sys"]), ""))
    return rows


def throughput_summary(tp, results):
    w, tools = tp["workers"], results["tools"]
    lines = ["jobs per second: fjd %s, xargs -P%d %s, GNU parallel -j%d %s"
             % (fmt_num(tp["fjd"]["median"]), w, fmt_num(tp["xargs"]["median"]), w,
                fmt_num(tp["parallel"]["median"]) if tp["parallel"] else "not available"),
             "ratio fjd / xargs -P%d: %s" % (w, fmt_ratio(tp["ratio_vs_xargs"])),
             "ratio fjd / GNU parallel -j%d: %s"
             % (w, fmt_ratio(tp["ratio_vs_parallel"]) if tp["parallel"]
                else tools["gnu_parallel"])]
    if tp.get("hyperqueue"):
        lines.append("ratio fjd / HyperQueue: %s (HyperQueue %s jobs/s)"
                     % (fmt_ratio(tp["ratio_vs_hyperqueue"]),
                        fmt_num(tp["hyperqueue"]["median"])))
    else:
        lines.append("HyperQueue: %s" % tools.get("hyperqueue"))
    return lines


def latency_rows(lat, results):
    return [("submit-to-start latency median (%d samples)" % lat["measured"], "<= 20 ms",
             ms(lat.get("median")), judge("latency_median", lat.get("median"))),
            ("submit-to-start latency p99", "<= 100 ms", ms(lat.get("p99")),
             judge("latency_p99", lat.get("p99")))]


def idle_rows(idle, results):
    span, wp = "%.0f s" % idle["seconds"], idle["worker_percent"]
    return [("idle dispatcher CPU over %s" % span, "<= 1% of a core",
             "%.2f%%" % idle["dispatcher_percent"],
             judge("idle_cpu", idle["dispatcher_percent"])),
            ("idle worker CPU over %s" % span, "<= 1% of a core",
             "n/a" if wp is None else "%.2f%%" % wp, judge("idle_cpu", wp))]


def million_rows(mil, results):
    label = "%s queued" % fmt_num(mil["queued"])
    if mil.get("skipped"):
        return [(label, "", "skipped: " + mil["skipped"], "n/a")]
    sized = mil["queued"] >= full("million")
    rss, r = mil.get("dispatcher_peak_rss_mb"), mil.get("ratio_vs_small_prefilled")
    runs = mil.get("small_prefilled_runs") or []
    rows = [("%s: dispatcher peak RSS (VmHWM)" % label, "<= 200 MB",
             "n/a" if rss is None else "%.0f MB" % rss, judge("million_rss_mb", rss, sized)),
            ("%s: time until the first job starts" % label, "",
             fmt_s(mil.get("first_start_after_s")), ""),
            ("%s: throughput of the first %s jobs" % (label, fmt_num(mil.get("jobs_counted"))),
             ">= 80% of small queue", "%s jobs/s (%s)" % (
                 fmt_num(mil.get("jobs_per_s")), "n/a" if r is None else "%.0f%%" % (r * 100)),
             judge("million_ratio", r, sized)),
            ("  small queue run the same way: %s pre-filled jobs, before / after"
             % fmt_num(runs[0]["queued"] if runs else None), "",
             "%s jobs/s (%s)" % (fmt_num(mil.get("small_prefilled_jobs_per_s")),
                                 " / ".join(fmt_num(c.get("jobs_per_s")) for c in runs)), "")]
    if mil.get("ratio_vs_small_queue") is not None:
        rows.append(("  compared with the throughput scenario's figure", "",
                     "%.0f%%" % (mil["ratio_vs_small_queue"] * 100), ""))
    rows.append(("%s: writing the files (safe rename)" % label, "",
                 "%.1f s (%s files/s)" % (mil["write_seconds"],
                                          fmt_num(mil["write_files_per_s"])), ""))
    return rows


def submit_rows(sub, results):
    label = "fjd submit%s, %s-job sweep" % (" --split" if sub.get("split") else "",
                                            fmt_num(sub["sweep"]))
    rows = []
    if not sub["available"]:
        rows.append((label, "<= 10 s", "not available (no `fjd submit` yet)", "n/a"))
    elif sub.get("seconds") is None:
        rows.append((label, "<= 10 s", "failed: " + sub.get("why", "?"), "MISS"))
    else:
        rows.append((label, "<= 10 s", "%.2f s" % sub["seconds"],
                     judge("submit_s", sub["seconds"], sub["sweep"] >= 100000)))
        if sub.get("raw_write_seconds") is not None:
            rows.append(("  the same number of job files written by the harness "
                         "(filesystem floor)", "", "%.2f s" % sub["raw_write_seconds"], ""))
    arr = sub.get("array")
    if arr:
        rows.append(("fjd submit, %s-task sweep as one array (%d x %d)"
                     % (fmt_num(arr["tasks"]), arr["shape"][0], arr["shape"][1]), "<= 1 s",
                     "failed: %s" % arr["runs"] if arr["seconds"] is None
                     else "%.2f s" % arr["seconds"],
                     judge("submit_array_s", float("inf") if arr["seconds"] is None
                           else arr["seconds"], arr["tasks"] >= 1000000)))
    return rows


def runbig_rows(big, results):
    label = "%s queued, first %s jobs" % (fmt_num(big["queued"]), fmt_num(big.get("jobs")))
    if big.get("skipped"):
        return [("%s: fjd run / plain dispatcher" % label, ">= 0.9",
                 "skipped: " + big["skipped"], "n/a")]
    if not big["available"]:
        return [("%s: fjd run / plain dispatcher" % label, ">= 0.9",
                 "not available (no `fjd run`)", "n/a")]
    plain, run, r = big["plain"], big["fjd_run"], big.get("ratio_run_vs_plain")
    sized = big["queued"] >= full("runbig_queue") and big["jobs"] >= full("runbig_jobs")
    cpu = [x.get("dispatcher_cpu_ms_per_job") for x in (plain, run)]
    return [("%s: plain dispatcher" % label, "", "%s jobs/s" % fmt_num(plain.get("jobs_per_s")),
             ""),
            ("%s: fjd run" % label, "", "%s jobs/s" % fmt_num(run.get("jobs_per_s")), ""),
            ("ratio fjd run / plain dispatcher (%s queued)" % fmt_num(big["queued"]), ">= 0.9",
             fmt_ratio(r), judge("runbig_ratio", r, sized)),
            ("  dispatcher CPU per job, start-up included: plain / fjd run", "",
             " / ".join("n/a" if c is None else "%.2f" % c for c in cpu) + " ms", "")]


def runbig_line(out):
    """The one-line summary of the runbig scenario (progress and the final report)."""
    return ("runbig: plain dispatcher %s jobs/s, fjd run %s jobs/s, ratio fjd run / plain %s"
            % (fmt_num(out["plain"].get("jobs_per_s")),
               fmt_num(out["fjd_run"].get("jobs_per_s")), fmt_ratio(out["ratio_run_vs_plain"])))


def runbig_summary(out, results):
    return [runbig_line(out)] if out.get("plain") else []


def scale_rows(scale, results):
    rows = []
    for idle in scale["idle"]:
        judged = idle["workers"] >= 200
        rows.append(("%d idle workers + dispatcher, CPU in total (%.0f s; per worker)"
                     % (idle["workers"], idle["seconds"]), "<= 5% of a core" if judged else "",
                     "%.2f%% of a core (%.3f%%)" % (idle["percent_of_a_core"],
                                                     idle["per_worker_percent"]),
                     status(idle["percent_of_a_core"] <= 5.0) if judged else ""))
    busy = scale["busy"]
    judged = busy["workers"] >= 200
    rows.append(("%d workers, %d `sleep 1` jobs: share of the time they are busy"
                 % (busy["workers"], busy["jobs"]), ">= 95%" if judged else "",
                 "%.1f%% (makespan %.2f s, ideal %.2f s)"
                 % (busy["busy_fraction"] * 100.0, busy["makespan_seconds"],
                    busy["ideal_makespan_seconds"]), ""))
    steady = busy.get("steady_busy_fraction")
    rows.append(("  the same in steady state (all started, none out of work: %s)"
                 % ("%.2f s" % busy["steady_window_seconds"] if steady is not None else "-"),
                 ">= 95%" if judged else "",
                 "%.1f%%" % (steady * 100.0) if steady is not None else "n/a",
                 status(None if steady is None else steady >= 0.95) if judged else ""))
    rows.append(("  first jobs started over / gap between a worker's jobs (median, max)", "",
                 "%.2f s / %.1f, %.0f ms" % (busy["first_start_spread_seconds"],
                                             busy.get("gap_ms_median") or 0,
                                             busy.get("gap_ms_max") or 0), ""))
    return rows


# -- array jobs and journals ----------------------------------------------------------------

def array_rows(arr, results):
    w = arr["workers"]
    label = "fjd array of %s no-op tasks, %d workers" % (fmt_num(arr["tasks"]), w)
    if not arr.get("available"):
        return unavailable(arr, label)
    r, single = arr["ratio_vs_xargs"], arr.get("single_file_ratio_vs_xargs")
    return [("%s (journals: first start to last end, median of %d)" % (label, arr["repeat"]),
             "", "%s tasks/s" % fmt_num(arr["fjd"]["median"]), ""),
            ("  the whole `fjd run` command (start-up, submit, exit)", "",
             "%s (%s tasks/s)" % (fmt_s(arr["fjd"]["wall_median_s"]),
                                  fmt_num(arr["fjd"]["wall_tasks_per_s_median"])), ""),
            ("xargs -P%d on the same %s commands, same run" % (w, fmt_num(arr["tasks"])), "",
             "%s jobs/s" % fmt_num(arr["xargs"]["median"]), ""),
            ("ratio fjd array tasks / xargs -P%d" % w, ">= 0.9",
             "%s (runs: %s)" % (fmt_ratio(r), ", ".join(fmt_ratio(x)
                                                       for x in arr["ratio_per_run"])),
             judge("array_vs_xargs", r, arr["tasks"] >= full("array_tasks"))),
            ("  the same with fjd run's start-up and exit", "",
             fmt_ratio(arr["ratio_wall_vs_xargs"]), ""),
            ("  CPU per task, every process (fjd run, daemons, tasks) / xargs", "",
             "%s / %s ms" % (fmt_num(arr["fjd"].get("cpu_ms_per_task_median"), 2),
                             fmt_num(arr["xargs"].get("cpu_ms_per_job_median"), 2)), ""),
            ("  ratio with single job files (throughput scenario, judged there)", ">= 0.75",
             fmt_ratio(single) if single is not None
             else "not measured (throughput not run)", "")]


def arrays_summary(arr, results):
    if not arr.get("available"):
        return []
    single = arr.get("single_file_ratio_vs_xargs")
    return ["array tasks per second: fjd %s (%s with fjd run's start-up and exit), xargs -P%d "
            "%s; ratio %s (per run: %s)%s"
            % (fmt_num(arr["fjd"]["median"]), fmt_num(arr["fjd"]["wall_tasks_per_s_median"]),
               arr["workers"], fmt_num(arr["xargs"]["median"]),
               fmt_ratio(arr["ratio_vs_xargs"]),
               ", ".join(fmt_ratio(r) for r in arr["ratio_per_run"]),
               "; single job files %s" % fmt_ratio(single) if single is not None else "")]


def files_rows(fil, results):
    n = fil["tasks"]
    label = "entries left in the root after fjd run of %s" % fmt_num(n)
    if not fil.get("available"):
        return unavailable(fil, label + " tasks")
    rows = []
    for key, what in (("noop", "no-op tasks"), ("printing", "printing tasks")):
        run = fil[key]
        right = run["exit_status"] == 0 and run["done"] == n
        note = "" if right else " (fjd run exited %s, %s done)" % (run["exit_status"],
                                                                  run["done"])
        rows.append(("%s %s (logs/ aside)" % (label, what), "<= 200",
                     "%d in %s%s" % (run["entries"], fmt_s(run["wall_seconds"]), note),
                     judge("files_left", run["entries"] if right else float("inf"),
                           n >= full("files_tasks"))))
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


def files_summary(fil, results):
    if fil.get("available") and fil["printing"].get("outputs"):
        return ["files: %s" % outputs_text(fil["printing"]["outputs"])]
    return []


def status_rows(st, results):
    label = "%s task records" % fmt_num(st["records"])
    if not st.get("available"):
        return unavailable(st, "fjd status, " + label)
    sized = st["records"] >= full("status_records")
    rows = []
    for key, ok_key, what in (("status_s", "status_ok", "fjd status"),
                              ("status_json_s", "status_json_ok", "fjd status --json")):
        ok = st[ok_key]
        rows.append(("%s, %s (median of 3)" % (what, label), "<= 2 s",
                     fmt_s(st[key]) + ("" if ok else " (wrong counts)"),
                     judge("status_s", st[key] if ok else float("inf"), sized)))
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


def bigarray_rows(big, results):
    label = "%s-task array" % fmt_num(big["tasks"])
    if not big.get("available"):
        return unavailable(big, label)
    sized = big["tasks"] >= full("bigarray_tasks") and \
        big["seconds"] >= full("bigarray_seconds")
    rows = []
    for number, daemon in enumerate([big["dispatcher"]] + big["workers_rss"]):
        who = "dispatcher" if number == 0 else "worker %d" % number
        rss = daemon["peak_rss_mb"]
        rows.append(("%s%s, %g s: %s peak RSS (VmHWM)" % ("" if number == 0 else "  ", label,
                                                          big["seconds"], who), "<= 50 MB",
                     "n/a" if rss is None else "%.1f MB" % rss,
                     judge("bigarray_rss_mb", rss, sized)))
    rows.append(("  tasks finished before SIGTERM / all accounted for by fjd status after",
                 "", "%s (%s tasks/s) / %s" % (fmt_num(big["tasks_finished"]),
                                               fmt_num(big.get("tasks_per_s")),
                                               "yes" if big["tasks_accounted"] == big["tasks"]
                                               else "no: %s" % fmt_num(big["tasks_accounted"])),
                 ""))
    return rows
