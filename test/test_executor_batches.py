"""Done Python calls recorded together (worker/done_runs.py) and outcomes written together
(executor/serve.py): every call still recorded once, and a SIGKILL loses nothing."""
import json
import os
import signal
import time

import pytest

import fjd
from conftest import fjd_cli, wait_for
import executor_funcs as funcs
from fjd import journal, record_kinds
from fjd.executor import CallFailed


def task_lines(root):
    """(task record lines, tasks they stand for) over every journal of the root."""
    lines = covered = 0
    for path in journal.journal_paths(os.path.join(root, "records")):
        for _, record in journal.all_records(path):
            if record.get("k") == record_kinds.TASK:
                lines, covered = lines + 1, covered + 1
            elif record.get("k") == record_kinds.TASKS and record.get("state") == "done":
                lines, covered = lines + 1, covered + record["last"] - record["first"] + 1
    return lines, covered


def tasks_done(root):
    out = fjd_cli(root, "status", "--json")
    return json.loads(out.stdout)["tasks"]["done"]


def test_done_calls_recorded_together_and_each_shown(queue):
    queue.dispatcher()
    queue.worker()
    with fjd.Executor(root=queue.root) as ex:
        assert list(ex.map(funcs.square, range(600))) == [i * i for i in range(600)]
    lines, covered = task_lines(queue.root)
    assert covered == 600 and lines < 600
    assert tasks_done(queue.root) == 600
    status = json.loads(fjd_cli(queue.root, "status", "--json").stdout)
    assert status["throughput"]["jobs_per_second"] > 50  # (each call counts, not each line)
    wait_for(lambda: queue.done(), message="the array filed")
    shown = fjd_cli(queue.root, "show", queue.done()[0] + "#300").stdout
    assert b"state: done" in shown


@pytest.mark.slow
def test_sigkilled_worker_mid_map_each_result_once(queue):
    queue.dispatcher("--worker-timeout", "2")
    workers = [queue.worker() for _ in range(2)]
    count = 3000
    with fjd.Executor(root=queue.root) as ex:
        results = ex.map(funcs.square_slowly, range(count))
        got = [next(results) for _ in range(300)]
        workers[0].proc.send_signal(signal.SIGKILL)
        workers[0].proc.wait()
        got += list(results)
    assert got == [i * i for i in range(count)]
    wait_for(lambda: tasks_done(queue.root) >= count, 30, message="every task recorded")
    assert tasks_done(queue.root) == count
    assert task_lines(queue.root)[1] == count


@pytest.mark.slow
def test_a_slow_call_does_not_hold_the_quick_ones_before_it(queue):
    queue.dispatcher()
    queue.worker()
    with fjd.Executor(root=queue.root, timeout=2) as ex:
        list(ex.map(funcs.square, range(3)))  # (the runner started)
        results = ex.map(funcs.slow, [0, 0, 4], ["a", "b", "c"])
        started = time.monotonic()
        assert next(results) == "a" and next(results) == "b"
        assert time.monotonic() - started < 1.5
        with pytest.raises(CallFailed, match="timed out"):
            next(results)
