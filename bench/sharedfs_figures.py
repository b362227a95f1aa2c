"""The shared scenario's figures: idle request rates, each round's rates and the median of
the rounds' ratios, and their text for the report (see sharedfs.py). Standard library only.
"""
import statistics

# the parts of the shared scenario, in the order they run (--shared-cases)
SHARED_CASES = ("idle", "latency", "udp-blocked", "jobs", "array", "hand", "stale")


def idle_figures(counts, daemons):
    seconds = counts["seconds"]
    out = {"seconds": seconds, "requests": counts["requests"],
           "per_s": counts["requests"] / seconds,
           "by_host_per_s": {h: n / seconds for h, n in counts["by_host"].items()},
           "types_per_s": {t: n / seconds for t, n in counts["types"].items()},
           "by_host_types_per_s": {h: {t: n / seconds for t, n in c.items()}
                                   for h, c in counts["by_host_types"].items()},
           "cpu_percent_by_host": counts.get("cpu_percent_by_host"),
           "daemons": daemons}
    return out


def throughput_round(local, shared):
    """One round's rates: the local run's and the sshfs run's jobs/s and tasks/s, and the
    requests per job and per task of the sshfs run."""
    return {"local_jobs": local["jobs"].get("per_s"),
            "local_array": local["array"].get("per_s"),
            "jobs": shared["jobs"].get("per_s"), "array": shared["array"].get("per_s"),
            "jobs_per_unit": shared["jobs"].get("per_unit"),
            "array_per_unit": shared["array"].get("per_unit")}


def round_ratios(rounds, kind):
    """Each round's sshfs rate over its local rate for kind ("jobs" or "array"), None where
    either is missing."""
    return [r[kind] / r["local_" + kind] if r.get(kind) and r.get("local_" + kind) else None
            for r in rounds]


def median_ratio(rounds, kind):
    """The median of the rounds' ratios; None if any round lacks one (a run that did not
    finish fails the target rather than dropping out of the median)."""
    ratios = round_ratios(rounds, kind)
    if not ratios or None in ratios:
        return None
    return statistics.median(ratios)


def num(value, digits=0):
    return "n/a" if value is None else "{:,.{}f}".format(value, digits)


def host_rates(rates):
    return ", ".join("%s %.1f" % (h, r) for h, r in sorted(rates.items()))


def latency_text(lat):
    if lat.get("skipped"):
        return "skipped: %s" % lat["skipped"]
    if not lat.get("measured"):
        return "no sample measured"
    return "median %.0f ms, max %.0f ms%s" % (lat["median"] * 1000, lat["max"] * 1000,
                                              ", %d lost" % lat["lost"] if lat["lost"] else "")
