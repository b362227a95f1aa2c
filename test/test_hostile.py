"""Bad and careless input never stops a daemon (issue 2, point 5).

Every case is dropped into one queue together with good jobs; afterwards each good job is
done, each bad one is in failed/ with a one-line reason a person understands, nothing is lost,
both daemons are still alive, and no traceback was logged.
"""
import os
import signal
import stat
import threading
import time

import pytest

from conftest import PYTHON, assert_no_traceback, wait_for

NOT_EXECUTABLE = "not-executable.sh"
NO_SHEBANG = "no-shebang.sh"

# name -> (content, expected folder, words the reason must contain)
FAILING = {
    "empty.conf": (b"", "failed", "empty"),
    "blank.conf": (b"  \n\n\t\n", "failed", "empty"),
    "garbage.bin": (bytes(range(256)) * 40, "failed", "binary"),
    "garbage-text.conf": (b"\xde\xad\xbe\xef this is not ini\n", "failed", "not an INI"),
    "nocontrol.conf": (b"[params]\nparam1: x\n", "failed", "no [control] section"),
    "noexe.conf": (b"[control]\nlogfile: x.dat\n", "failed", "no 'executable'"),
    "emptyexe.conf": (b"[control]\nexecutable:\n", "failed", "executable is empty"),
    "notfound.conf": (b"[control]\nexecutable: no-such-program-fjd --flag\n", "failed",
                      "program not found: no-such-program-fjd"),
    "notexec.conf": (("[control]\nexecutable: ./%s\n" % NOT_EXECUTABLE).encode(), "failed",
                     "not executable"),
    "noshebang.conf": (("[control]\nexecutable: ./%s\n" % NO_SHEBANG).encode(), "failed",
                       "exec format error"),
    "quotes.conf": (b"[control]\nexecutable: echo 'unbalanced\n", "failed",
                    "no closing quotation"),
    "exit3.conf": (("[control]\nexecutable: %s -c \"import sys; sys.exit(3)\"\n"
                    % PYTHON).encode(), "failed", "exited with status 3"),
    "killed.conf": (("[control]\nexecutable: %s -c \"import os; os.kill(os.getpid(), 9)\"\n"
                     % PYTHON).encode(), "failed", "killed by SIGKILL"),
    "badtimeout.conf": (b"[control]\nexecutable: true\ntimeout: soon\n", "failed",
                        "timeout must be a number"),
    "badline.conf": (b"[control]\nexecutable: true\nthis line has no delimiter\n", "failed",
                     "neither 'key: value'"),
}

RUNNING = {
    "latin1.conf": (b"[control]\nexecutable: true\n\n[params]\nname: caf\xe9 \xff\xfe\n",
                    "done"),
    "dupsections.conf": (b"[control]\nexecutable: false\n[control]\nexecutable: true\n",
                         "done"),
    "percent.conf": (b"[control]\nexecutable: echo 100%\n\n[params]\np: %(x)s %%\n", "done"),
    "bom.conf": (b"\xef\xbb\xbf[control]\nexecutable: true\n", "done"),
    "crlf.conf": (b"[control]\r\nexecutable: true\r\n", "done"),
    "with space.conf": (b"[control]\nexecutable: true\n", "done"),
    "new\nline.conf": (b"[control]\nexecutable: true\n", "done"),
    "\u00fcnic\u00f8de-\u4e2d\u6587-\U0001f600.conf": (b"[control]\nexecutable: true\n", "done"),
    "$(touch PWNED).conf": (b"[control]\nexecutable: true\n", "done"),
    "; touch PWNED2 ;.conf": (b"[control]\nexecutable: echo `touch PWNED3`\n", "done"),
    "x" * 235 + ".conf": (b"[control]\nexecutable: true\n", "done"),
    "missingdir.conf": (b"[control]\nexecutable: true\nlogfile: no/such/dir/out.dat\n", "done"),
}

GOOD = ["good%02d.conf" % i for i in range(6)]


def write_raw(queue, name, data):
    queue.write(name, data)


@pytest.fixture
def hostile_queue(queue):
    path = queue.path(NOT_EXECUTABLE)
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\necho hi\n")
    os.chmod(path, 0o644)
    path = queue.path(NO_SHEBANG)
    with open(path, "w") as handle:
        handle.write("echo hi\n")
    os.chmod(path, 0o755)
    return queue


def test_hostile_files_mixed_with_good_jobs(hostile_queue):
    queue = hostile_queue
    dispatcher = queue.dispatcher()
    worker = queue.worker()
    for i, name in enumerate(GOOD[:3]):
        queue.job(name, "true")
    for name, (content, _, _) in FAILING.items():
        write_raw(queue, name, content)
    for name, (content, _) in RUNNING.items():
        write_raw(queue, name, content)
    # non-UTF-8 bytes in the file name itself
    raw = os.open(os.path.join(os.fsencode(queue.path("jobqueue")), b"raw-\xff\xfe.conf"),
                  os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(raw, b"[control]\nexecutable: true\n")
    os.close(raw)
    # a 50 MB job file: fails unread, quickly
    with open(queue.path("jobqueue", ".big.tmp"), "wb") as handle:
        handle.write(b"[control]\nexecutable: true\n[params]\nx: " + b"y" * (50 * 2 ** 20) + b"\n")
    os.rename(queue.path("jobqueue", ".big.tmp"), queue.path("jobqueue", "big.conf"))
    # things that are not job files
    target = queue.job("linktarget.conf.part", "true")  # ignored: ends in .part
    os.symlink(target, queue.path("jobqueue", "symlink.conf"))
    os.symlink("/nonexistent/target", queue.path("jobqueue", "dangling.conf"))
    os.mkdir(queue.path("jobqueue", "a-directory.conf"))
    os.mkfifo(queue.path("jobqueue", "fifo.conf"))
    # names fjd leaves alone
    queue.write(".hidden.conf", "[control]\nexecutable: true\n")
    queue.write("upload.conf.tmp", "[control]\nexecutable: true\n")
    for name in GOOD[3:]:
        queue.job(name, "true")

    expected_failed = set(FAILING) | {"big.conf", "symlink.conf", "dangling.conf",
                                      "a-directory.conf", "fifo.conf"}
    expected_done = set(GOOD) | set(RUNNING) | {os.fsdecode(b"raw-\xff\xfe.conf")}
    total = len(expected_failed) + len(expected_done)
    queue.wait_finished(total, timeout=60)
    time.sleep(0.3)

    done, failed = set(queue.done()), set(queue.failed())
    long_name = "x" * 235 + ".conf"
    assert done == expected_done, (done ^ expected_done)
    assert failed == expected_failed, (failed ^ expected_failed)
    for name, (_, _, words) in FAILING.items():
        reason = queue.reason(name)
        assert words.lower() in reason.lower(), (name, reason)
        assert "\n" not in reason
    assert "too large" in queue.reason("big.conf")
    assert "symbolic link" in queue.reason("symlink.conf")
    assert "symbolic link" in queue.reason("dangling.conf")
    assert "directory" in queue.reason("a-directory.conf")
    assert "FIFO" in queue.reason("fifo.conf")
    assert stat.S_ISDIR(os.lstat(queue.path("failed", "a-directory.conf")).st_mode)
    assert os.path.islink(queue.path("failed", "symlink.conf"))
    assert os.path.exists(target), "the link target must not move"
    assert long_name in done
    assert os.path.isdir(queue.path("no", "such", "dir"))
    # nothing ran through a shell
    for marker in ("PWNED", "PWNED2", "PWNED3"):
        assert not os.path.exists(queue.path(marker))
        assert not os.path.exists(os.path.join(os.getcwd(), marker))
    # ignored names stay where they are
    assert sorted(os.listdir(queue.path("jobqueue"))) == [
        ".hidden.conf", "linktarget.conf.part", "upload.conf.tmp"]
    # the daemons survived all of it and still serve
    assert dispatcher.alive() and worker.alive()
    queue.job("after.conf", "true")
    wait_for(lambda: "after.conf" in queue.done(), message="a job after the hostile ones")
    for daemon in (dispatcher, worker):
        assert daemon.stop(signal.SIGINT) == 0
        assert_no_traceback(daemon.log())
    logs = queue.all_logs()
    for name in FAILING:
        assert name in logs, "the log names each failed job"


def test_job_written_in_place_is_not_dispatched_early(queue):
    """A writer opens jobqueue/x.conf, writes half, waits a second, then finishes."""
    queue.dispatcher()
    queue.worker()
    wait_for(lambda: queue.names("workerqueue"), message="worker announced")

    def slow_writer():
        with open(queue.path("jobqueue", "inplace.conf"), "w") as handle:
            handle.write("[control]\n")
            handle.flush()
            time.sleep(1.0)
            handle.write("executable: true\nlogfile: inplace.dat\n")

    thread = threading.Thread(target=slow_writer)
    thread.start()
    thread.join()
    queue.wait_finished(1)
    assert queue.done() == ["inplace.conf"], queue.failed() and queue.reason("inplace.conf")


def test_original_style_unsafe_writer(queue):
    """The 2012 create_jobs.py wrote files in place with open(..., 'w'): still fine."""
    queue.dispatcher()
    for i in range(3):
        queue.worker()
    for i in range(30):
        with open(queue.path("jobqueue", "plain%02d.conf" % i), "w") as handle:
            handle.write("[control]\n")
            handle.flush()
            handle.write("executable: true\n")
    queue.wait_finished(30)
    assert len(queue.done()) == 30 and queue.failed() == []
