"""`fjd records` (issue 30): one row per run, every field as the journals say it, in TSV,
CSV and JSON lines; retried and crashed runs; filters; a torn last line; nothing written
into the queue root. The runs are a real sweep (report_sweep.py)."""
import csv
import io
import json
import os
import shutil

from fjd import journal
from fjd.runs import parse_time

from conftest import fjd_cli
from report_sweep import ARRAY, sweep  # noqa: F401  (the fixture)


def journal_runs(root):
    """Every job and task record of the journals, read with journal.py alone, as the
    fields a row must have: {(name, journal offset): fields}."""
    expected = []
    for path in journal.journal_paths(os.path.join(root, "records")):
        header = journal.record_at(path, 0)
        for offset, record in journal.all_records(path):
            if record.get("k") not in ("job", "task"):
                continue
            task = record["k"] == "task"
            worker = record.get("worker") or (journal.writer_of(path)
                                              if header.get("role") == "worker" else None)
            expected.append({
                "name": "%s#%d" % (record["array"], record["i"]) if task else record["name"],
                "array": record.get("array"), "task": record.get("i"),
                "state": record["state"], "exit_status": record.get("exit_status"),
                "signal": record.get("signal"), "reason": record.get("reason"),
                "worker": worker, "host": record.get("host") or header["host"],
                "attempt": record.get("attempt"), "start": record.get("start"),
                "end": record.get("end")})
    return expected


def rows(root, form, *args):
    result = fjd_cli(root, "records", "--format", form, *args)
    assert result.returncode == 0, result.err
    if form == "jsonl":
        return [json.loads(line) for line in result.out.splitlines()]
    reader = csv.reader(io.StringIO(result.out), delimiter="\t" if form == "tsv" else ",")
    table = list(reader)
    return [dict(zip(table[0], row)) for row in table[1:]]


def key(row):
    return (row["name"], str(row["start"]), str(row["attempt"]))


def test_every_field_of_every_run_matches_the_journals(sweep):  # noqa: F811
    root = sweep["root"]
    expected = journal_runs(root)
    found = rows(root, "jsonl")
    assert len(found) == len(expected) == 15  # 12 tasks, slow.conf, bad.conf twice
    by_key = {key(row): row for row in found}
    for record in expected:
        row = by_key[key(record)]
        for field, value in record.items():
            assert row[field] == value, (field, row, record)
        if record["start"] is not None:
            assert abs(row["duration"] - (record["end"] - record["start"])) < 1e-5
    for row in found:
        if row["array"] == ARRAY:  # i: 1..6, s: x,y (the last varies fastest)
            assert row["i"] == str((row["task"] - 1) // 2 + 1)
            assert row["s"] == "xy"[(row["task"] - 1) % 2]
            assert row["stdout"].startswith("records/") and row["stderr"] is None
            name, offset_length = row["stdout"].rsplit(":", 1)
            offset, length = (int(n) for n in offset_length.split("+"))
            with open(os.path.join(root, name), "rb") as handle:
                handle.seek(offset)
                assert handle.read(length) == b"task %s %s\n" % (
                    row["i"].encode(), row["s"].encode())
        else:
            assert row["i"] is None and row["s"] is None and row["task"] is None


def test_retried_and_crashed_runs_have_rows_of_their_own(sweep):  # noqa: F811
    found = rows(sweep["root"], "jsonl")
    bad = [r for r in found if r["name"] == "bad.conf"]
    assert [r["state"] for r in bad] == ["failed", "failed"] and len({r["start"] for r in
                                                                         bad}) == 2
    assert all(r["exit_status"] == 7 and r["reason"] == "exited with status 7" for r in bad)
    slow = [r for r in found if r["name"] == "slow.conf"]
    assert len(slow) == 1 and slow[0]["attempt"] == 2 and slow[0]["state"] == "done"
    assert not slow[0]["worker"].startswith(sweep["victim"])  # run again elsewhere
    timed_out = [r for r in found if r["task"] in (9, 10)]
    assert all(r["state"] == "failed" and r["reason"].startswith("timed out")
               for r in timed_out)
    if sweep["other_host"]:
        assert {r["host"] for r in found} >= {"reporthost2"} and len(
            {r["host"] for r in found}) == 2


def test_tsv_csv_and_jsonl_hold_the_same_rows(sweep):  # noqa: F811
    root = sweep["root"]
    as_json = rows(root, "jsonl")
    text = lambda value: "" if value is None else str(value)  # noqa: E731
    for form in ("tsv", "csv"):
        table = rows(root, form)
        assert [list(r.keys()) for r in table][0] == list(as_json[0].keys())
        assert table == [{k: text(v) for k, v in r.items()} for r in as_json], form


def test_filters_by_state_array_and_time(sweep):  # noqa: F811
    root = sweep["root"]
    everything = rows(root, "jsonl")
    failed = rows(root, "jsonl", "--state", "failed")
    assert failed == [r for r in everything if r["state"] == "failed"] and len(failed) == 6
    tasks = rows(root, "jsonl", "--array", ARRAY)
    assert tasks == [r for r in everything if r["array"] == ARRAY] and len(tasks) == 12
    middle = sorted(r["end"] for r in everything)[7]
    later = rows(root, "jsonl", "--since", repr(middle))
    assert later == [r for r in everything if r["end"] >= middle]
    assert fjd_cli(root, "records", "--since", "yesterday-ish").returncode == 2
    assert parse_time("2h", now=10000.0) == 10000.0 - 7200
    assert parse_time("1970-01-01T01:00Z") == 3600.0


def test_a_torn_last_line_is_skipped_and_nothing_is_written(sweep, tmp_path):  # noqa: F811
    root = str(tmp_path / "copy")
    shutil.copytree(sweep["root"], root)
    before = rows(root, "jsonl")
    path = journal.journal_paths(os.path.join(root, "records"))[-1]
    with open(path, "ab") as handle:  # a writer in the middle of a line
        handle.write(journal.frame({"k": "job", "name": "torn.conf", "state": "done"})[:30])
    snapshot = {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
                for d, _, files in os.walk(root) for f in files}
    assert rows(root, "jsonl") == before
    assert {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
            for d, _, files in os.walk(root) for f in files} == snapshot


def test_the_quick_tsv_path_agrees_with_the_json_path_on_odd_values(sweep, tmp_path):  # noqa: F811,E501
    root = str(tmp_path / "copy")
    shutil.copytree(sweep["root"], root)
    writer = journal.JournalWriter(os.path.join(root, "records"), "odd-1-abcdef",
                                   {"role": "worker", "host": "odd", "pid": 1, "started": 1.0})
    base = {"k": "task", "array": ARRAY, "u": None, "run": 1, "attempt": None,
            "start": 5.5, "state": "failed", "exit_status": None, "signal": 9}
    for index, reason in enumerate(['a "quoted"\treason\nover lines', "plain", "über ✓"], 1):
        writer.append(dict(base, i=index, reason=reason, end=7.25 + index,
                           stdout=["odd-1-abcdef.out", 0, None], stderr=None))
    writer.append(dict(base, i=4, start=1, reason=None, end=2, stdout=None, stderr=None,
                       timed_out=True))
    writer.close()
    tsv, as_json = rows(root, "tsv"), rows(root, "jsonl")
    clean = str.maketrans("\t\n\r", "   ")
    assert tsv == [{k: "" if v is None else str(v).translate(clean) for k, v in r.items()}
                   for r in as_json]
    odd = [r for r in tsv if r["worker"] == "odd-1-abcdef"]
    assert [r["reason"] for r in odd] == ['a "quoted" reason over lines', "plain", "über ✓", ""]
    assert odd[0]["stdout"] == "records/odd-1-abcdef.out:0+?" and odd[0]["signal"] == "9"
