"""Executor(workers=N) leaves no daemons behind: a caller SIGKILLed in the middle of a map,
its dispatcher and workers stop by themselves (--exit-with) and the queue keeps every
call (what they were running goes back to jobqueue/, and runs once daemons serve again)."""
import json
import os
import select
import signal
import subprocess
import time

import pytest

from conftest import PYTHON, REPO, fjd_cli, fjd_env, wait_for
from fjd.exit_with import ExitWith

CALLER = """
import json, sys, time
sys.path[:0] = [%r, %r]
import fjd, executor_funcs as funcs
if __name__ == "__main__":
    ex = fjd.Executor(root=sys.argv[1], workers=2)
    results = ex.map(funcs.square_slowly, range(300), [0.02] * 300)
    next(results)
    daemons = [p.pid for p in ex.daemons.workers + [ex.daemons.dispatcher]]
    print(json.dumps(daemons), flush=True)
    time.sleep(600)
"""


def gone(pid):
    """Whether a process has ended (a zombie nobody reaped counts as ended)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def tasks_done(root):
    return json.loads(fjd_cli(root, "status", "--json").stdout)["tasks"]["done"]


def test_exit_with_sees_a_process_end():
    child = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(30)"])
    watched = ExitWith(child.pid)
    assert not watched.gone()
    child.kill()
    child.wait()
    assert watched.gone(now=1e9)
    assert ExitWith(os.getpid()).gone() is False


@pytest.mark.slow
def test_sigkilled_caller_leaves_no_daemons_and_loses_nothing(queue, tmp_path):
    script = tmp_path / "caller.py"
    script.write_text(CALLER % (REPO, os.path.dirname(os.path.abspath(__file__))))
    caller = subprocess.Popen([PYTHON, str(script), queue.root], stdout=subprocess.PIPE,
                              env=fjd_env(), cwd=str(tmp_path))
    try:
        ready, _, _ = select.select([caller.stdout], [], [], 60)
        assert ready, "the caller printed nothing"
        daemons = json.loads(caller.stdout.readline())
    finally:
        caller.send_signal(signal.SIGKILL)
        caller.wait()
    killed = time.monotonic()
    wait_for(lambda: all(gone(pid) for pid in daemons), 15,
             message="the daemons of the killed caller to exit")
    print("daemons gone %.1f s after the caller" % (time.monotonic() - killed))
    assert queue.in_inboxes() == []  # (what they ran went back, or was filed)
    queue.dispatcher()
    queue.worker()
    wait_for(lambda: tasks_done(queue.root) >= 300, 60, message="every call done")
    assert tasks_done(queue.root) == 300
