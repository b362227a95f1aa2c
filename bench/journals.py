"""fjd's records, read from the files of a queue root, not with fjd's modules.

The journals are an on-disk format that fjd keeps stable across versions (DESIGN.md,
"Records"): records/<writer id>.journal, one record a line: a JSON object, a tab, the
CRC-32 of the JSON in 8 hex digits, a newline. Reading them here keeps the bench working
whatever fjd's modules are called, and reads the roots of any fjd checkout (`--fjd`,
`--compare`) the same way. A torn line (no newline, or a checksum that does not match) is
skipped, as fjd's readers skip it. Standard library only.

Why not `fjd status --json` or `fjd show`: the scenarios need every record's start and end
(the first start to the last end, the gaps between a worker's jobs), which `fjd status`
does not list, and `fjd show` per job would cost a Python start-up per job (20,000 in the
arrays scenario); in the latency scenario it would also lengthen the idle time before the
next sample, which is part of what is measured. The counts, where a count is all that is
needed, do come from `fjd status --json` (files, status, bigarray, submit).
"""
import json
import math
import os
import statistics
import zlib

SUFFIX = ".journal"


def journal_paths(records_dir):
    """Every journal in records/, oldest name first; [] when there is no such folder."""
    try:
        names = os.listdir(records_dir)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(records_dir, n) for n in names
                  if n.endswith(SUFFIX) and not n.startswith("."))


def journal_lines(path):
    """Every whole, intact record of one journal, in order."""
    with open(path, "rb") as handle:
        data = handle.read()
    for line in data.split(b"\n")[:-1]:  # the part after the last newline is not whole
        payload, tab, check = line.rpartition(b"\t")
        if not tab or len(check) != 8:
            continue
        try:
            if int(check, 16) != zlib.crc32(payload) & 0xFFFFFFFF:
                continue
            record = json.loads(payload.decode("utf-8", "surrogateescape"))
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def read_records(records_dir):
    """Every job and task record in the journals of records/, with start_ts/end_ts and
    the writer (the journal's name) as worker when the record does not say."""
    found = []
    for path in journal_paths(records_dir):
        writer = os.path.basename(path)[:-len(SUFFIX)]
        for record in journal_lines(path):
            if record.get("k") in ("job", "task"):
                record.setdefault("worker", writer)
                record["start_ts"], record["end_ts"] = record.get("start"), record.get("end")
                found.append(record)
    return found


def job_record(root, name):
    """The newest record of the single job called name (its final, queue or original
    name); KeyError when there is none. Reads every journal: the bench asks this of roots
    with a few hundred records (latency samples), where that costs a few milliseconds,
    outside the time measured."""
    found = [r for r in read_records(os.path.join(root, "records"))
             if r.get("k") == "job" and name in (r.get("name"), r.get("queue"),
                                                 r.get("original"))]
    if not found:
        raise KeyError(name)
    return max(found, key=lambda r: r.get("end") or 0)


def record_breakdown(records):
    """Where a job's time goes, from the records: run+filing time and gaps between jobs."""
    by_worker = {}
    for record in records:
        start, end = record.get("start_ts"), record.get("end_ts")
        if isinstance(start, (int, float)) and isinstance(end, (int, float)):
            by_worker.setdefault(record.get("worker"), []).append((start, end))
    durations, gaps = [], []
    for spans in by_worker.values():
        spans.sort()
        durations += [end - start for start, end in spans]
        gaps += [spans[i + 1][0] - spans[i][1] for i in range(len(spans) - 1)]
    result = {"workers_seen": len(by_worker), "jobs_with_times": len(durations)}
    if durations:
        result["run_ms_median"] = statistics.median(durations) * 1000
        result["run_ms_mean"] = statistics.mean(durations) * 1000
    if gaps:
        result["gap_ms_median"] = statistics.median(gaps) * 1000
        result["gap_ms_mean"] = statistics.mean(gaps) * 1000
    return result


def span(records):
    """(the first start, the last end) of the records; (None, None) when nothing ran or
    the last end is not after the first start."""
    starts = [r["start_ts"] for r in records if isinstance(r.get("start_ts"), (int, float))]
    ends = [r["end_ts"] for r in records if isinstance(r.get("end_ts"), (int, float))]
    if starts and ends and max(ends) > min(starts):
        return min(starts), max(ends)
    return None, None


def ended_count(records):
    return sum(1 for r in records if isinstance(r.get("end_ts"), (int, float)))


def first_jobs_rate(records, sample, t0):
    """The throughput of the first `sample` jobs to end, from the first start to the
    sample-th end (and from t0, start-up included); {} when nothing ran."""
    starts = sorted(r["start_ts"] for r in records if isinstance(r.get("start_ts"), (int, float)))
    ends = sorted(r["end_ts"] for r in records if isinstance(r.get("end_ts"), (int, float)))
    if not (starts and ends):
        return {}
    count = min(sample, len(ends))
    last = ends[count - 1]
    return {"jobs_counted": count, "first_start_after_s": starts[0] - t0,
            "seconds_from_first_start": last - starts[0],
            "jobs_per_s": count / (last - starts[0]) if last > starts[0] else None,
            "jobs_per_s_incl_startup": count / (last - t0) if last > t0 else None}


def percentile(values, fraction):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, int(math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]
