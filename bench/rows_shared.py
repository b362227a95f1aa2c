"""The shared scenario's rows (per sshfs mount variant, then the local disk) and its
details printed under the table: per host, request types and CPU, the rounds, the latencies.
"""
from report import TARGETS, fmt_num, fmt_ratio, judge, ms, status
from sizes import full


def shared_rows(sh, results=None):
    """Rows of the shared scenario: per mount variant, then the local-disk figures."""
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
                         judge("shared_idle_rps", idle["per_s"])))
        if more:
            # judged on the larger of the two: a dispatcher that slows down when more
            # daemons share the machine must not make workers look free
            total = more["increase_per_added_worker"]
            own = more.get("increase_per_added_worker_on_worker_hosts", total)
            rows.append(("%s: idle requests/s per added worker (%d daemons: %s/s)"
                         % (label, more["daemons"], fmt_num(more["per_s"], 1)), "<= 2/s",
                         "%+.1f/s (on the workers' hosts %+.1f/s)" % (total, own),
                         judge("shared_idle_rps_per_worker", max(total, own))))
        for key, what, unit, target in (("jobs", "single-file jobs", "job",
                                         "shared_requests_per_job"),
                                        ("array", "array tasks", "task",
                                         "shared_requests_per_task")):
            busy = got.get(key)
            if not busy:
                continue
            full_size = busy["size"] >= full("shared_" + ("jobs" if key == "jobs" else "tasks"))
            value = busy.get("per_unit") if busy["completed"] else None
            by_host = busy.get("by_host_per_unit") or {}
            rows.append(("%s: requests per %s (%s %s)" % (label, unit, fmt_num(busy["size"]),
                                                         what),
                         "<= %g" % TARGETS[target],
                         "n/a (not all finished)" if value is None else
                         "%s (dispatcher %s, workers %s)"
                         % (fmt_num(value, 1), fmt_num(by_host.get("alpha"), 1),
                            fmt_num(sum(v for h, v in by_host.items() if h != "alpha"), 1)),
                         judge(target, value, full_size)))
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
                         judge(ratio_key, r, full_size)))
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
                                sized=lat["samples"] >= full("shared_latency_samples"))))
        rows.extend(prequeued_rows(label, got))
    if local:
        rows.append(("local disk, dispatcher + %d workers: single-file jobs/s, array tasks/s"
                     % local["workers"], "",
                     "%s, %s" % (fmt_num((local.get("jobs") or {}).get("per_s")),
                                 fmt_num((local.get("array") or {}).get("per_s"))), ""))
    return rows


def prequeued_rows(label, got):
    """The queued-before cases (sharedfs_prequeued.py): requests per job, the ratio to the
    local disk, and for stale how long the jobs a dead worker was given waited."""
    rows = []
    for kind, what in (("hand", "hand-written files renamed in"),
                       ("stale", "fjd submit --split, stale announcements")):
        case = got.get(kind)
        if not case:
            continue
        shared, local = case["sshfs"], case["local"]
        sized = shared.get("jobs", 0) >= full("shared_jobs")
        rows.append(("%s: requests per job, %s jobs queued before the daemons start (%s)"
                     % (label, fmt_num(shared.get("jobs")), what),
                     "<= %g" % TARGETS["shared_prequeued_requests_per_job"],
                     fmt_num(shared.get("per_unit"), 1),
                     judge("shared_prequeued_requests_per_job", shared.get("per_unit"),
                           sized)))
        rows.append(("%s: jobs/s, ratio to the local disk (%s)" % (label, what),
                     ">= %g" % TARGETS["shared_prequeued_ratio"],
                     "%s/s against %s/s = %s" % (fmt_num(shared.get("per_s"), 1),
                                                 fmt_num(local.get("per_s"), 1),
                                                 fmt_ratio(case.get("ratio_vs_local"))),
                     judge("shared_prequeued_ratio", case.get("ratio_vs_local"), sized)))
        if kind == "stale":
            wait = shared.get("requeued_wait_s")
            rows.append(("%s: jobs given to dead workers: the last of them started after "
                         "the first job (%d put back by burials)"
                         % (label, shared.get("requeued", 0)),
                         "<= %g s" % TARGETS["shared_stale_wait_s"],
                         "%s s (the last job: %s s after the daemons' start)"
                         % (fmt_num(wait, 1), fmt_num(shared.get("last_start_after_s"), 1)),
                         judge("shared_stale_wait_s", wait, sized)))
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


def shared_summary(sh, results):
    text = shared_text(sh)
    return ["", text] if text else []
