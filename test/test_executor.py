"""fjd.Executor end to end: real daemons, real call runners, results read back by offset."""
import concurrent.futures
import os
import pickle
import signal
import sys

import pytest

import fjd
from conftest import fjd_cli, wait_for
import executor_funcs as funcs
from fjd.executor import frames
from fjd.executor.payload import CallFailed, RemoteTraceback, UnsafeFile


def start(queue, workers=2, *dispatcher_args):
    queue.dispatcher("--worker-timeout", "2", *dispatcher_args)
    return [queue.worker() for _ in range(workers)]


@pytest.fixture
def served(queue):
    """A queue with a dispatcher and two workers, and an executor on it."""
    start(queue)
    with fjd.Executor(root=queue.root) as ex:
        yield queue, ex


def test_import_fjd_stays_light():
    code = "import sys, fjd; assert 'fjd.executor.executor' not in sys.modules; " \
           "assert fjd.Executor.__name__ == 'Executor'"
    assert os.system("%s -c %r" % (sys.executable, code)) == 0


def test_submit_results_and_exceptions(served):
    queue, ex = served
    assert ex.submit(pow, 2, 10).result(timeout=20) == 1024
    assert ex.submit(funcs.add, 1, y=2).result(timeout=20) == 3
    assert ex.submit(funcs.nested, 3).result(timeout=20) == funcs.nested(3)
    assert ex.submit(funcs.big, 1 << 20).result(timeout=20) == b"x" * (1 << 20)
    assert [len(b) for b in ex.map(funcs.big, [1 << 17] * 3)] == [1 << 17] * 3
    failing = ex.submit(funcs.divide, 1, 0)
    with pytest.raises(ZeroDivisionError) as raised:
        failing.result(timeout=20)
    cause = raised.value.__cause__
    assert isinstance(cause, RemoteTraceback) and "in divide" in str(cause)
    assert isinstance(failing.exception(), ZeroDivisionError)
    custom = ex.submit(funcs.Custom.__call__ if False else _raise_custom)
    with pytest.raises(funcs.Custom):
        custom.result(timeout=20)
    # a failed call is a failed job with its exception's line
    wait_for(lambda: len(queue.failed()) == 2, message="two failed jobs")
    status = fjd_cli(queue.root, "status")
    assert "ZeroDivisionError: division by zero" in status.out


def _raise_custom():
    raise funcs.Custom("mine")


def test_unpicklable_call_raises_at_submit(queue):
    with fjd.Executor(root=queue.root) as ex:
        with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
            ex.submit(lambda: 1)
        with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
            ex.submit(funcs.square, lambda: 1)
        assert queue.queued() == []


def test_wait_and_as_completed(served):
    _, ex = served
    futures = [ex.submit(funcs.slow, 0.01 * (i % 3), i) for i in range(12)]
    done, not_done = concurrent.futures.wait(futures, timeout=30)
    assert not not_done and len(done) == 12
    again = [ex.submit(funcs.square, i) for i in range(10)]
    seen = sorted(f.result() for f in concurrent.futures.as_completed(again, timeout=30))
    assert seen == sorted(i * i for i in range(10))


def test_calls_run_in_a_long_lived_runner(served):
    _, ex = served
    pids = {ex.submit(funcs.pid).result(timeout=20) for _ in range(12)}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    assert ex.submit(funcs.cwd).result(timeout=20) == os.getcwd()


def test_map_in_order_with_chunks(served):
    _, ex = served
    assert list(ex.map(funcs.square, range(300))) == [i * i for i in range(300)]
    assert list(ex.map(funcs.add, range(50), range(60), chunksize=7)) == \
        [2 * i for i in range(50)]
    assert list(ex.map(funcs.square, [])) == []
    results = ex.map(funcs.divide, [1, 2, 3, 4], [1, 1, 0, 1])
    assert next(results) == 1 and next(results) == 2
    with pytest.raises(ZeroDivisionError):
        next(results)


def test_map_files_are_few(served):
    queue, ex = served
    assert list(ex.map(funcs.square, range(2500), chunksize=2)) == \
        [i * i for i in range(2500)]
    folder = os.listdir(os.path.join(queue.root, "calls"))
    assert len(folder) == 1
    files = os.listdir(os.path.join(queue.root, "calls", folder[0]))
    assert sorted(f for f in files if f.startswith("map-")) == ["map-1.idx", "map-1.items"]
    assert len([f for f in files if f.startswith("results-")]) <= 2


def test_timeout_and_retries_fail_the_call(queue):
    start(queue, 1)
    with fjd.Executor(root=queue.root, timeout=0.5, retries=1) as ex:
        late = ex.submit(funcs.slow, 30)
        with pytest.raises(CallFailed, match="timed out"):
            late.result(timeout=30)
        assert ex.submit(funcs.square, 3).result(timeout=20) == 9  # (a new runner)


def test_cancel_a_queued_call(queue):
    with fjd.Executor(root=queue.root) as ex:  # (no workers yet: the calls stay queued)
        first, second = ex.submit(funcs.square, 2), ex.submit(funcs.square, 3)
        assert first.cancel() and first.cancelled()
        assert len(queue.names("cancelled")) == 1
        start(queue, 1)
        assert second.result(timeout=20) == 9
        assert not second.cancel()


def test_shutdown_cancel_futures(queue):
    ex = fjd.Executor(root=queue.root)
    futures = [ex.submit(funcs.square, i) for i in range(3)]
    ex.shutdown(wait=True, cancel_futures=True)
    assert all(f.cancelled() for f in futures)
    with pytest.raises(RuntimeError):
        ex.submit(funcs.square, 1)


@pytest.mark.slow
def test_sigkilled_worker_mid_call_result_once(queue, tmp_path):
    workers = start(queue, 2)
    marker = str(tmp_path / "started")
    with fjd.Executor(root=queue.root) as ex:
        future = ex.submit(funcs.touch_then_sleep, marker, 1.0, "once")
        wait_for(lambda: os.path.exists(marker), 20, message="the call to start")
        running = [w for w in workers if _runs_a_job(queue, w)]
        assert len(running) == 1
        running[0].proc.send_signal(signal.SIGKILL)
        running[0].proc.wait()
        assert future.result(timeout=30) == "once"
        squares = list(ex.map(funcs.square, range(40)))
        assert squares == [i * i for i in range(40)]


def _runs_a_job(queue, worker):
    for inbox in queue.names("jobpod"):
        if "-%d-" % worker.pid in inbox:
            return bool(queue.names(os.path.join("jobpod", inbox)))
    return False


def test_foreign_results_file_refused(queue):
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to another user")
    with fjd.Executor(root=queue.root) as ex:
        future = ex.submit(funcs.square, 2)  # (no worker: it stays queued)
        path = os.path.join(ex.folder.path, ".intruder")
        with open(path, "wb") as handle:
            handle.write(frames.frame("c0", pickle.dumps((True, 5, None, ""))))
        os.chown(path, 12345, 12345)
        os.rename(path, os.path.join(ex.folder.path, "results-intruder"))
        with pytest.raises(UnsafeFile, match="belongs to uid 12345"):
            future.result(timeout=10)


@pytest.mark.slow
def test_workers_started_and_stopped(tmp_path):
    root = str(tmp_path / "q")
    with fjd.Executor(root=root, workers=2) as ex:
        assert ex.submit(pow, 3, 3).result(timeout=30) == 27
        daemons = ex.daemons
        procs = daemons.workers + [daemons.dispatcher]
    assert all(p.poll() is not None for p in procs)


@pytest.mark.slow
def test_a_call_cancelled_from_outside_fails(queue):
    with fjd.Executor(root=queue.root) as ex:  # (no workers: it stays queued)
        future = ex.submit(funcs.square, 2)
        fjd_cli(queue.root, "cancel", future.queue_name)
        with pytest.raises(CallFailed, match="cancelled"):
            future.result(timeout=20)
        results = ex.map(funcs.square, range(5))
        wait_for(lambda: queue.queued(), message="the map's array")
        fjd_cli(queue.root, "cancel", queue.queued()[0])
        queue.dispatcher()
        with pytest.raises(CallFailed, match="cancelled"):
            list(results)


def test_map_timeout_and_early_close_cancel_queued_tasks(queue):
    with fjd.Executor(root=queue.root) as ex:  # (no workers: the tasks stay queued)
        results = ex.map(funcs.square, range(5), timeout=0.3)
        with pytest.raises(concurrent.futures.TimeoutError):
            next(results)
        results.close()
        wait_for(lambda: len(queue.names("cancelled")) == 1, message="the array cancelled")
        assert queue.queued() == []


@pytest.mark.slow
def test_workers_beside_a_running_dispatcher(queue):
    queue.dispatcher()
    wait_for(lambda: os.path.exists(queue.path("dispatcher.lock")), message="the lock")
    with fjd.Executor(root=queue.root, workers=1) as ex:
        assert ex.daemons.dispatcher is None  # (the running one serves the calls)
        assert list(ex.map(funcs.square, range(20))) == [i * i for i in range(20)]
        worker = ex.daemons.workers[0]
    assert worker.poll() is not None
