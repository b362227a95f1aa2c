"""The --profile run: one throughput run with the daemons under cProfile, the functions with
the most own time per daemon printed, and the full pstats tables saved next to the results.
"""
import io
import os
import pstats

from harness import say
from report import fmt_num
from scenarios import fjd_throughput_once


def scenario_profile(opts, results, stamp):
    """One throughput run with the daemons under cProfile; top functions printed and saved."""
    prefix = os.path.join(opts.results_dir, "%s-profile" % stamp)
    say("profile: one fjd run of %d jobs with the daemons under cProfile" % opts.jobs)
    run = fjd_throughput_once(opts, opts.jobs, opts.workers, profile_prefix=prefix)
    files = {"dispatcher": [prefix + "-dispatcher.prof"],
             "workers": [prefix + "-worker%d.prof" % i for i in range(opts.workers)]}
    header = ("cProfile of one fjd throughput run: %d jobs, %d workers, %s jobs/s under the "
              "profiler (wall-clock times; they include ~%.1f s idle before the submission)\n"
              % (opts.jobs, opts.workers, fmt_num(run["jobs_per_s"]), opts.settle))
    summary, full = io.StringIO(), io.StringIO()
    summary.write(header)
    full.write(header)
    for role, paths in files.items():
        paths = [p for p in paths if os.path.exists(p)]
        if not paths:
            summary.write("\n%s: no profile written (did it exit cleanly on SIGINT?)\n" % role)
            continue
        stats = pstats.Stats(paths[0], stream=full)
        for extra in paths[1:]:
            stats.add(extra)
        stats.strip_dirs()
        total = stats.total_tt or 1e-9
        summary.write("\n%s (%d process(es), %.2f s profiled in all): top %d by own time\n"
                      % (role, len(paths), total, opts.profile_top))
        summary.write("  %9s %6s %8s %9s  %s\n" % ("own s", "own %", "calls", "cum s",
                                                  "function"))
        ranked = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)
        for (filename, line, func), (cc, nc, tt, ct, callers) in ranked[:opts.profile_top]:
            where = short_func((filename, line, func))
            summary.write("  %9.3f %5.1f%% %8d %9.3f  %s\n" % (tt, tt / total * 100, nc, ct,
                                                               where))
        summary.write("  where the top %d are called from (calls, own s):\n" % opts.profile_callers)
        for key, value in ranked[:opts.profile_callers]:
            callers = sorted(value[4].items(), key=lambda kv: kv[1][2], reverse=True)
            summary.write("    %s <- %s\n" % (
                short_func(key), "; ".join("%s (%d, %.3f)" % (short_func(c), v[1], v[2])
                                           for c, v in callers[:4]) or "-"))
        for order in ("tottime", "cumulative"):
            full.write("\n===== %s (%d file(s)), top %d by %s =====\n"
                       % (role, len(paths), max(40, opts.profile_top), order))
            stats.sort_stats(order).print_stats(max(40, opts.profile_top))
    text = summary.getvalue()
    with open(prefix + ".txt", "w") as handle:
        handle.write(text + "\n\n" + full.getvalue())
    text += "\n(full pstats tables: %s; load the .prof files with python -m pstats)\n" % (
        prefix + ".txt")
    results["profile"] = {"run": run, "files": files, "summary": prefix + ".txt"}
    return text


def short_func(key):
    filename, line, func = key
    return func if filename == "~" else "%s:%d(%s)" % (filename, line, func)
