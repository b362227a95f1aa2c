"""fjd.worker.outcomes and the record fields built from them: readers of journals and
heartbeats search for byte patterns, so the key order is part of the contract."""
import json

from fjd.execute import Cancelled, Withdrawn
from fjd.worker.job import with_result
from fjd.worker.outcomes import Heartbeat, RunResult, with_runs


def test_a_heartbeat_keeps_its_key_order_and_leaves_out_what_is_not_there():
    beat = Heartbeat(3, "h-1-abc", "h", 1, None, None, None, None, None)
    assert list(beat.payload()) == ["beat", "worker", "host", "pid", "job", "run"]
    held = beat._replace(job="j", run=2, blocked="cannot file", held={"a": 1},
                         hints=[["127.0.0.1", 9]])
    assert list(held.payload()) == ["beat", "worker", "host", "pid", "job", "run", "blocked",
                                    "held", "hints"]
    assert json.loads(json.dumps(held.payload()))["held"] == {"a": 1}


def test_a_run_result_comes_from_the_runners_outcome():
    done = RunResult.of({"pid": 5, "lingering": False, "exit_status": 0, "signal": None,
                         "reason": None}, {"stdout": None, "stderr": None})
    assert done.succeeded and done.final and not done.timed_out and done.runs is None
    late = RunResult.of({"exit_status": None, "signal": None, "timed_out": True,
                         "reason": "timed out"}, {})
    assert late.timed_out and not late.final
    missing = RunResult.of({"exit_status": None, "signal": None, "cannot_start": True,
                            "reason": "program not found"}, {})
    assert missing.final and not missing.succeeded


def test_retries_are_summarised_on_the_last_run_only_when_there_were_several():
    first = RunResult(1, None, "exited with status 1", False, False, False, {}, None)
    second = first._replace(exit_status=0, reason=None)
    assert with_runs([second]) is second
    last = with_runs([first, second])
    assert last.exit_status == 0
    assert last.runs == [{"exit_status": 1, "signal": None, "reason": "exited with status 1"},
                         {"exit_status": 0, "signal": None, "reason": None}]


def test_a_jobs_record_takes_the_result_in_the_order_it_always_had():
    spans = {"stdout": ["w.out", 0, 3], "stderr": None}
    result = RunResult(None, None, "timed out", True, False, False, spans, [{"x": 1}])
    record = {"queue": "q", "retries": 0}
    ran = with_result(record, result, "timed out (hint)", files=False)
    assert list(ran) == ["queue", "retries", "exit_status", "signal", "timed_out",
                         "reason", "stdout", "stderr", "runs"]
    assert ran["reason"] == "timed out (hint)" and list(record) == ["queue", "retries"]
    plain = with_result({"queue": "q"}, result._replace(timed_out=False, runs=None), None,
                        files=True)
    assert list(plain) == ["queue", "exit_status", "signal", "reason"]


def test_a_cancel_is_a_withdrawal_that_says_so():
    assert isinstance(Cancelled(), Withdrawn) and str(Cancelled()) == "cancelled"
