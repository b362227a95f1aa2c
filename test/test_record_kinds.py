"""record_kinds.py: every journal record, built with its keys in a fixed order, and the
byte patterns readers search for, without folders.

Each builder is checked against the literal it replaces (as at c192d17, ``old``), as the
bytes journal.frame() writes, and every reader's pattern against what the builders write.
"""
import json

import pytest

from fjd import journal, record_kinds as rk

NOW = 1765000000.25
SPANS = {"stdout": ["w1.out", 10, 5], "stderr": ["w1.err", 0, 0]}


def same_bytes(new, old):
    assert rk.encode(new) == json.dumps(old, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogateescape")
    assert journal.frame(new) == journal.frame(old)


def base_record():
    return {"queue": "j.conf", "original": "j.conf", "run": 3, "worker": "h-1-abc",
            "host": "h", "worker_pid": 1, "attempt": 2, "start": NOW}


def test_encode_and_patterns_are_the_old_ones():
    assert rk.pattern("name", "ünï\udcff") == (json.dumps("name") + ":" + json.dumps(
        "ünï\udcff", ensure_ascii=False)).encode("utf-8", "surrogateescape")
    assert journal.needle("u", "ab12") == b'"u":"ab12"'
    assert rk.KIND_MOVED == b'"k":"moved"'
    assert rk.KIND_TASKS == b'"k":"tasks"'
    assert rk.STATE_DONE == b'"state":"done"'
    assert rk.STATE_CANCELLED == b'"state":"cancelled"'
    assert rk.HAS_KEY == b'"key":'
    assert rk.task_index_pattern(17) == b'"i":17,'
    assert rk.task_line_prefix("s.conf") == b'{"k":"task",' + journal.needle(
        "array", "s.conf") + b","
    assert rk.decode(rk.encode({"a": [1, None]})) == {"a": [1, None]}


def test_journal_header():
    info = rk.writer_info("worker", "h", 5, NOW, root="/q")
    assert list(info) == ["role", "host", "pid", "started", "root"]
    command = rk.writer_info("cancel", "h", 5, NOW, by="me@h")
    same_bytes(command, {"role": "cancel", "host": "h", "pid": 5, "by": "me@h",
                         "started": NOW})
    same_bytes(rk.header(info, "h-5-abc"), dict(info, k="journal", v=1, writer="h-5-abc"))
    writer = journal.JournalWriter("/nonexistent", "h-5-abc", info)
    assert writer.header == rk.header(info, "h-5-abc")


def test_totals():
    record = {"k": "job", "state": "failed"}
    same_bytes(rk.with_totals(record, [1, 2, 0, 0, 0, 0], None),
               dict(record, tot=[1, 2, 0, 0, 0, 0]))
    old = dict(record)
    old["tot"] = [0] * 6
    old["pf"] = 99
    same_bytes(rk.with_totals(record, [0] * 6, 99), old)


def test_a_run_job_record_in_the_workers_order():
    old = base_record()
    old.update(command=["sh", "x"], cwd="/", timeout=None, retries=1)
    outcome = {"pid": 9, "lingering": False, "exit_status": 3, "signal": None,
               "reason": "exited with status 3"}
    old.update({k: v for k, v in outcome.items() if k not in ("cannot_start", "lingering",
                                                             "pid")})
    old.update(reason="exited with status 3", **SPANS)
    runs = [rk.run_summary(3, None, "exited with status 3")] * 2
    old["runs"] = [{"exit_status": 3, "signal": None, "reason": "exited with status 3"}] * 2
    old.update(end=NOW + 1, duration=round(1.0, 6))
    new = rk.job_command(base_record(), ["sh", "x"], "/", None, 1)
    new = rk.job_ran(new, 3, None, "exited with status 3", spans=SPANS, runs=runs)
    new = rk.job_ended(new, NOW + 1, NOW)
    same_bytes(new, old)
    old_filed = dict(old, k="job", name="j~2.conf", state="failed")
    same_bytes(rk.job_filed(new, "j~2.conf", "failed"), old_filed)


def test_timed_out_files_mode_and_not_run_job_records():
    outcome = {"exit_status": None, "signal": None, "timed_out": True, "reason": "timed out"}
    old = dict(base_record())
    old.update(outcome)
    old.update(reason="timed out")
    same_bytes(rk.job_ran(base_record(), None, None, "timed out", timed_out=True), old)
    old = dict(base_record(), k="job", name="j.conf", state="done")
    for kind in ("stdout", "stderr"):
        old[kind] = ["records/j.conf." + kind[3:], 0, None]
    new = rk.job_output_files(rk.job_filed(base_record(), "j.conf", "done"), {
        "stdout": "records/j.conf.out", "stderr": "records/j.conf.err"})
    same_bytes(new, old)
    old = base_record()
    old.update(reason="bad file", exit_status=None, signal=None)
    same_bytes(rk.job_not_run(base_record(), "bad file"), old)


def test_noted_and_held_job_records():
    record = dict(base_record(), reason="exited with status 1")
    same_bytes(rk.job_noted(record, "gone"), dict(record, note="gone",
                                                  reason="exited with status 1 (gone)"))
    same_bytes(rk.job_noted(base_record(), "gone"), dict(base_record(), note="gone",
                                                         reason="gone"))
    held = rk.held_result(base_record(), "done")
    same_bytes(held, dict(base_record(), state="done", queue="j.conf"))
    same_bytes(rk.held_job(held, rk.held_key("h-1-abc", 3)),
               dict(held, k="job", key="held:h-1-abc:3", filed_by="dispatcher"))
    task = rk.task_started("s.conf", "ab", 4, 3, 1, NOW)
    same_bytes(rk.held_task(task, rk.held_key("h-1-abc", 3, 4)),
               dict(task, key="held:h-1-abc:3:4", filed_by="dispatcher"))


def test_cancelled_rejected_and_claimed_job_records():
    old = {"queue": "j.conf", "original": "j.conf", "run": None, "worker": "h-1-abc",
           "host": "h", "worker_pid": 1, "attempt": 0, "start": None}
    old.update(reason="cancelled by me", exit_status=None, signal=None, end=NOW,
               cancelled_from="jobpod/h-1-abc")
    same_bytes(rk.job_cancelled_in_inbox("j.conf", "j.conf", "h-1-abc", "h", 1, 0,
                                         "cancelled by me", NOW, "jobpod/h-1-abc"), old)
    key = rk.claim_key("cancelled", ".j.conf.abcd.part")
    assert key == "claim:cancelled:.j.conf.abcd.part"
    same_bytes(rk.job_cancelled_queued("j.conf", "j.conf", 2, "cancelled by me", NOW, key),
               {"queue": "j.conf", "original": "j.conf", "attempt": 2,
                "reason": "cancelled by me", "cancelled_from": "jobqueue", "start": None,
                "end": NOW, "exit_status": None, "signal": None, "key": key})
    key = rk.cancel_key("h-1-abc", "j.conf")
    assert key == "cancel:h-1-abc:j.conf"
    same_bytes(rk.job_cancelled_for_dead_worker("j.conf", "j.conf", "died", NOW, key),
               {"queue": "j.conf", "original": "j.conf", "reason": "died",
                "exit_status": None, "signal": None, "end": NOW, "key": key})
    key = rk.exhausted_key("j.conf")
    assert key == "exhausted:j.conf"
    same_bytes(rk.job_rejected("j.conf", "j.conf", "too big", "h", 0, NOW, key),
               {"queue": "j.conf", "original": "j.conf", "reason": "too big",
                "rejected_by": "dispatcher", "host": "h", "attempt": 0, "start": None,
                "end": NOW, "exit_status": None, "signal": None, "key": key})
    orphan = rk.orphan_claim("j.conf", "failed", NOW, "rejected by ...", "claim:failed:x")
    old = {"original": "j.conf", "state": "failed", "end": NOW, "reason": "rejected by ...",
           "key": "claim:failed:x"}
    same_bytes(orphan, old)
    same_bytes(rk.job_filed(orphan, "j.conf", "failed"),
               dict(old, k="job", name="j.conf", state="failed"))


def test_task_records():
    old = {"k": "task", "array": "s.conf", "u": "ab", "i": 4, "run": 3, "attempt": 1,
           "start": NOW}
    started = rk.task_started("s.conf", "ab", 4, 3, 1, NOW)
    same_bytes(started, old)
    not_run = dict(old)
    not_run.update(state="failed", reason="bad row", exit_status=None, signal=None, end=NOW)
    same_bytes(rk.task_not_run(started, "bad row", NOW), not_run)
    ran = dict(old)
    ran.update(state="failed", exit_status=None, signal=None, reason="timed out", end=NOW,
               stdout=SPANS["stdout"], stderr=SPANS["stderr"])
    ran["runs"] = [rk.run_summary(1, None, "x")]
    ran["timed_out"] = True
    same_bytes(rk.task_ran(started, None, None, "timed out", NOW, SPANS,
                           runs=[rk.run_summary(1, None, "x")], timed_out=True), ran)
    assert rk.task_ran(started, 0, None, None, NOW, SPANS)["state"] == "done"
    same_bytes(rk.task_exhausted("s.conf", "ab", 4, "died", 3, NOW, "exhausted:n"),
               {"k": "task", "array": "s.conf", "u": "ab", "i": 4, "state": "failed",
                "reason": "died", "attempt": 3, "exit_status": None, "signal": None,
                "end": NOW, "key": "exhausted:n"})


def test_range_records_of_every_writer():
    # worker.fail_range
    same_bytes(rk.tasks_ended("s.conf", "ab", 1, 9, "failed", "bad", NOW, run=2,
                              worker="h-1-abc", host="h"),
               dict(k="tasks", array="s.conf", u="ab", first=1, last=9, state="failed",
                    reason="bad", run=2, worker="h-1-abc", host="h", end=NOW))
    # worker.file_cancelled
    same_bytes(rk.tasks_ended("s.conf", "ab", 1, 9, "cancelled", "by me", NOW,
                              worker="h-1-abc", host="h"),
               dict(k="tasks", array="s.conf", u="ab", first=1, last=9, state="cancelled",
                    reason="by me", worker="h-1-abc", host="h", end=NOW))
    # dispatcher/burial.py, Burial.cancel
    same_bytes(rk.tasks_ended("s.conf", "ab", 1, 9, "cancelled", "died", NOW, key="c:1"),
               dict(k="tasks", array="s.conf", u="ab", first=1, last=9, state="cancelled",
                    reason="died", end=NOW, key="c:1"))
    # control.Cancel.queued, a range and an array never started
    same_bytes(rk.tasks_ended("s.conf", "ab", 1, 9, "cancelled", "by me", NOW,
                              cancelled_from="jobqueue"),
               dict(k="tasks", array="s.conf", u="ab", first=1, last=9, state="cancelled",
                    reason="by me", end=NOW, cancelled_from="jobqueue"))
    same_bytes(rk.tasks_ended("s.conf", None, 1, 9, "cancelled", "by me", NOW,
                              cancelled_from="jobqueue", key="claim:cancelled:x"),
               dict(k="tasks", array="s.conf", u=None, first=1, last=9, state="cancelled",
                    reason="by me", end=NOW, cancelled_from="jobqueue",
                    key="claim:cancelled:x"))


def test_array_moved_output_and_retry_records():
    key = rk.array_key("ab", "s~2.conf")
    assert key == "array:ab:s~2.conf"
    same_bytes(rk.array_filed("s~2.conf", "failed", "s.conf", "ab", 9, NOW, key),
               {"k": "array", "name": "s~2.conf", "folder": "failed", "original": "s.conf",
                "u": "ab", "state": "failed", "tasks": 9, "end": NOW, "key": key})
    same_bytes(rk.moved(120, "j.conf", "j~2.conf", "done", "j.conf", "h-1-abc"),
               {"k": "moved", "ref": 120, "was": "j.conf", "name": "j~2.conf",
                "folder": "done", "queue": "j.conf", "ref_writer": "h-1-abc"})
    same_bytes(rk.output_moved(120, "stdout", "records/j.conf.abc.out"),
               {"k": "output", "ref": 120, "kind": "stdout",
                "file": "records/j.conf.abc.out"})
    entry = rk.jobs_retried([["w", 5]], ["j.conf"], "j.conf@r.x~000000", "me@h", NOW)
    same_bytes(entry, {"k": "retried", "refs": [["w", 5]], "jobs": ["j.conf"],
                       "as": "j.conf@r.x~000000", "by": "me@h", "at": NOW})
    same_bytes(rk.retry_undone(entry), dict(entry, k="retry-undone", refs=[]))
    same_bytes(rk.tasks_retried([["ab", 2, 3]], "s.conf", "ab", "me@h", NOW, [["w", 5]]),
               {"k": "retried", "tasks": [["ab", 2, 3]], "array": "s.conf", "u": "ab",
                "by": "me@h", "at": NOW, "refs": [["w", 5]]})


# -- what readers search for is what writers write -------------------------------------------------

def lines(*records):
    data = b"".join(journal.frame(rk.with_totals(r, [0] * 6, None)) for r in records)
    return data, [line for line in data.split(b"\n") if line]


def test_readers_patterns_match_the_builders_lines():
    started = rk.task_started("s.conf", "ab", 12, 1, 1, NOW)
    done = rk.task_ran(started, 0, None, None, NOW, SPANS)
    failed = rk.task_ran(rk.task_started("s.conf", "ab", 1, 1, 1, NOW), 2, None, "x", NOW,
                         SPANS)
    cancelled_range = rk.tasks_ended("s.conf", "ab", 13, 20, "cancelled", "c", NOW)
    job = rk.job_filed(rk.job_ended(rk.job_ran(base_record(), 0, None, None), NOW, NOW),
                       "j.conf", "done")
    moved = rk.moved(0, "j.conf", "j~2.conf", "done", "j.conf", "w")
    claim = rk.job_cancelled_queued("j.conf", "j.conf", 0, "c", NOW, "claim:cancelled:x")
    data, (done_l, failed_l, range_l, job_l, moved_l, claim_l) = lines(
        done, failed, cancelled_range, job, moved, claim)
    prefix = rk.task_line_prefix("s.conf")
    assert done_l.startswith(prefix) and failed_l.startswith(prefix)
    assert not range_l.startswith(prefix)
    assert rk.STATE_DONE in done_l and rk.STATE_DONE not in failed_l
    assert rk.STATE_CANCELLED in range_l
    assert rk.task_index_pattern(12) in done_l
    assert rk.task_index_pattern(1) in failed_l and rk.task_index_pattern(1) not in done_l
    assert rk.KIND_TASKS in range_l and rk.KIND_TASKS not in done_l
    assert rk.KIND_MOVED in moved_l and rk.KIND_MOVED not in job_l
    assert rk.HAS_KEY in claim_l and rk.HAS_KEY not in job_l
    for key in ("name", "queue", "original"):
        assert journal.needle(key, "j.conf") in job_l
    assert journal.needle("array", "s.conf") in done_l
    assert journal.needle("u", "ab") in range_l
    found = journal.read_lines(data, 0)
    assert [record for _, record in found][0]["i"] == 12


def test_count_slots_follow_the_kinds():
    assert [journal.count_slot(k, s) for k in ("job", "task", "tasks")
            for s in ("done", "failed", "cancelled")] == [0, 1, 2, 3, 4, 5, 3, 4, 5]
    assert journal.count_slot("array", "done") is None
    assert journal.count_slot("job", None) is None


@pytest.mark.parametrize("name", ["plain.conf", "ünïcödé.conf", 'quo"te.conf',
                                  "bad\udcffbyte"])
def test_needles_match_names_as_written(name):
    job = rk.job_filed(base_record(), name, "failed")
    assert journal.needle("name", name) in journal.frame(job)
