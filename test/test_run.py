"""fjd run: submit, run with local workers, stop when drained, summary, callback, Ctrl-C."""
import functools
import json
import os
import signal
import subprocess
import time

import pytest

import conftest
from conftest import PYTHON, assert_no_traceback, fjd_env, py, wait_for

# starting and stopping workers can take longer than conftest's default minute
fjd_cli = functools.partial(conftest.fjd_cli, timeout=90)


def daemons_of(root):
    """pids of fjd processes still serving root."""
    needle = os.fsencode(str(root))
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as handle:
                cmdline = handle.read()
            with open("/proc/%s/stat" % name) as handle:
                zombie = handle.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if needle in cmdline and b"fjd" in cmdline and not zombie:
            found.append(int(name))
    return found


def test_run_params_summary_callback_and_exit_status(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    job = py("import sys; open(sys.argv[1] + '/' + sys.argv[2], 'w').write('x'); "
             "sys.exit(int(sys.argv[2]))", str(out), "$code")
    callback = py("import os, sys; open(sys.argv[1], 'w').write(' '.join(os.environ[k] for "
                  "k in ('FJD_DONE', 'FJD_FAILED', 'FJD_CANCELLED')))", str(tmp_path / "cb"))
    result = fjd_cli(tmp_path / "root", "run", "--exe", job, "--param", "code=0,0,3,0",
                     "--workers", "2", "--callback", callback, cwd=tmp_path)
    assert result.returncode == 1, (result.out, result.err)
    assert "4 jobs finished" in result.out and "3 done, 1 failed" in result.out
    assert "exited with status 3" in result.out
    assert (tmp_path / "cb").read_text() == "3 1 0"
    assert sorted(os.listdir(out)) == ["0", "3"]
    root = tmp_path / "root"
    assert os.listdir(root / "jobqueue") == [] and os.listdir(root / "jobpod") == []
    assert daemons_of(root) == []
    assert "queued an array of 4 tasks" in result.err and "2 workers" in result.err
    # the sweep was one array file: it ends in failed/ (one task failed), with a record per
    # task in the workers' journals and nothing else in records/
    assert len(os.listdir(root / "failed")) == 1
    assert all(n.endswith((".journal", ".out", ".err")) for n in os.listdir(root / "records"))


def test_run_processes_what_is_queued_and_exits_zero(tmp_path):
    assert fjd_cli(tmp_path, "submit", "-q", "--exe", py("pass"), "--repeat", "6").returncode \
        == 0
    result = fjd_cli(tmp_path, "run", "--workers", "3", "--quiet")
    assert result.returncode == 0, (result.out, result.err)
    assert "6 jobs finished" in result.out and "6 done, 0 failed" in result.out
    assert result.err == ""
    assert len(os.listdir(tmp_path / "done")) == 1  # one array file of 6 tasks
    assert daemons_of(tmp_path) == []
    # a worker log per worker, kept under logs/
    [run_logs] = os.listdir(tmp_path / "logs")
    assert sorted(os.listdir(tmp_path / "logs" / run_logs)) == [
        "dispatcher.log", "worker-1.log", "worker-2.log", "worker-3.log"]


def test_nothing_to_do_and_bad_usage(tmp_path):
    empty = fjd_cli(tmp_path, "run")
    assert empty.returncode == 0 and "nothing to do" in empty.err
    bad = fjd_cli(tmp_path, "run", "--workers", "0", "--exe", "true")
    assert bad.returncode == 2 and "at least 1" in bad.err
    unsplittable = fjd_cli(tmp_path, "run", "--exe", "'oops")
    assert unsplittable.returncode == 2 and "cannot be split" in unsplittable.err
    failing_callback = fjd_cli(tmp_path, "run", "--exe", py("pass"), "--callback",
                               "no-such-program-here")
    assert failing_callback.returncode == 1
    assert "cannot run the callback no-such-program-here" in failing_callback.err


def test_ctrl_c_hands_the_running_job_back(tmp_path):
    started = tmp_path / "started"
    proc = subprocess.Popen(
        [PYTHON, "-m", "fjd", "run", "--root", str(tmp_path / "root"), "--exe",
         py("import sys, time; open(sys.argv[1], 'w').close(); time.sleep(60)", str(started)),
         "--workers", "1"], cwd=str(tmp_path), env=fjd_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: started.exists(), 20, message="the job to start")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert b"interrupted; 1 job left" in out
    assert_no_traceback((out + err).decode())
    [queued] = os.listdir(tmp_path / "root" / "jobqueue")
    assert "@a1." not in queued  # handed back by the stopping worker: Ctrl-C is no attempt
    assert daemons_of(tmp_path / "root") == []


def test_help_and_unknown_command():
    result = subprocess.run([PYTHON, "-m", "fjd", "--help"], env=fjd_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    text = result.stdout.decode()
    for command in ("submit", "status", "run", "retry", "cancel", "workers"):
        assert command in text
    bogus = subprocess.run([PYTHON, "-m", "fjd", "bogus"], env=fjd_env(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    assert bogus.returncode == 2 and b"unknown command 'bogus'" in bogus.stderr
    for args in (["run", "--help"], ["workers", "start", "--help"], ["status", "--help"]):
        shown = subprocess.run([PYTHON, "-m", "fjd"] + args, env=fjd_env(), stdout=subprocess.PIPE)
        assert shown.returncode == 0 and b"example" in shown.stdout
    workers = subprocess.run([PYTHON, "-m", "fjd", "workers"], env=fjd_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert workers.returncode == 2 and b"start" in workers.stderr


def test_run_json_status_after(tmp_path):
    fjd_cli(tmp_path, "run", "--exe", py("import sys; sys.exit(1)"), "--quiet")
    state = json.loads(fjd_cli(tmp_path, "status", "--json").out)
    assert state["counts"]["failed"] == 1 and state["failed"][0]["reason"] == \
        "exited with status 1"
    assert state["running"] == [] and state["workers"]["inboxes"] == 0
    time.sleep(0)


def test_running_the_same_sweep_again_picks_up_where_it_stopped(tmp_path):
    """Ctrl-C in the middle of a sweep, then the same `fjd run` again: what was left runs,
    nothing that finished runs twice, no second copy is queued, and it says so; once more:
    nothing runs; --again runs the sweep anew."""
    root, marks, hold = tmp_path / "root", tmp_path / "marks", tmp_path / "hold"
    marks.mkdir()
    hold.touch()
    task = tmp_path / "task.py"
    task.write_text("import os, sys, time\ni = sys.argv[3]\n"
                    "open(os.path.join(sys.argv[1], '%s.%d' % (i, os.getpid())), 'w').close()\n"
                    "while i == '3' and os.path.exists(sys.argv[2]):\n    time.sleep(0.05)\n")
    argv = [PYTHON, "-m", "fjd", "run", "--root", str(root), "--no-jobfile", "--workers", "1",
            "--exe", " ".join([PYTHON, str(task), str(marks), str(hold), "{i}"]),
            "--param", "i=1..5"]

    def fjd_run(*extra):
        return subprocess.run(argv + list(extra), cwd=str(tmp_path), env=fjd_env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)

    def runs():
        return sorted(name.split(".")[0] for name in os.listdir(str(marks)))
    proc = subprocess.Popen(argv, cwd=str(tmp_path), env=fjd_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: "3" in runs(), 30, message="task 3 to start")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert runs() == ["1", "2", "3"]
    hold.unlink()
    resumed = fjd_run()
    assert resumed.returncode == 0, resumed.stderr
    assert b"this sweep is in the queue already" in resumed.stderr, resumed.stderr
    assert runs() == ["1", "2", "3", "3", "4", "5"]  # (3 was cut short: it runs again)
    done = os.listdir(str(root / "done"))
    assert len(done) == 1 and os.listdir(str(root / "jobqueue")) == []
    once_more = fjd_run()
    assert b"this sweep ran to its end before" in once_more.stderr, once_more.stderr
    assert runs() == ["1", "2", "3", "3", "4", "5"]
    anew = fjd_run("--again")
    assert anew.returncode == 0, anew.stderr
    assert runs() == ["1", "1", "2", "2", "3", "3", "3", "4", "4", "5", "5"]


def test_an_exe_job_runs_where_it_was_submitted(tmp_path):
    """Submitted from proj/ (whose name holds placeholder characters), run by workers
    started in its parent: the job finds proj/sim.py and runs in proj/ (or in --workdir
    taken from there); a hand-written job file keeps the 2012 rule (the worker's)."""
    proj = tmp_path / "p$x{y}"
    (proj / "sub").mkdir(parents=True)
    (proj / "sim.py").write_text("import os\nopen('where', 'w').write(os.getcwd())\n")
    root = tmp_path / "root"
    root.mkdir()
    for script, extra in (("sim.py", []), ("../sim.py", ["--workdir", "sub"])):
        submitted = fjd_cli(root, "submit", "-q", "--no-jobfile", "--exe", "python3 %s "
                            "$$HOME" % script, *extra, cwd=proj)  # $$: a literal $
        assert submitted.returncode == 0, submitted.err
    (tmp_path / "hand.py").write_text("import os\nopen('where', 'w').write(os.getcwd())\n")
    (root / "jobqueue" / "hand.conf").write_text(
        "[control]\nexecutable: %s hand.py\njobfile: none\n" % PYTHON)
    result = fjd_cli(root, "run", "--workers", "1", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, (result.out, result.err)
    assert (proj / "where").read_text() == str(proj)
    assert (proj / "sub" / "where").read_text() == str(proj / "sub")
    assert (tmp_path / "where").read_text() == str(tmp_path)


@pytest.mark.slow
def test_run_after_its_daemons_were_sigkilled_reports_old_failures_and_exits_1(tmp_path):
    """fjd run and its daemons SIGKILLed mid-sweep, after a task failed: the same fjd run
    again finishes the sweep (the recovery puts the cut-short task back) and, since its
    summary counts the failure of the first run, exits 1 and names it."""
    root, hold = tmp_path / "root", tmp_path / "hold"
    hold.touch()
    task = tmp_path / "task.py"
    task.write_text("import os, sys, time\ni = sys.argv[2]\n"
                    "while i == '4' and os.path.exists(sys.argv[1]):\n    time.sleep(0.05)\n"
                    "sys.exit(3 if i == '2' else 0)\n")
    argv = [PYTHON, "-m", "fjd", "run", "--root", str(root), "--no-jobfile", "--workers", "1",
            "--exe", " ".join([PYTHON, str(task), str(hold), "{i}"]), "--param", "i=1..5"]
    proc = subprocess.Popen(argv, cwd=str(tmp_path), env=fjd_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def failed():
            records = root / "records"
            return records.is_dir() and any(b'"exit_status":3' in (records / n).read_bytes()
                                            for n in os.listdir(str(records))
                                            if n.endswith(".journal"))
        wait_for(failed, 30, message="task 2 to fail")
        for pid in daemons_of(root) + [proc.pid]:
            os.kill(pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: daemons_of(root) == [], 10, message="the daemons to die")
    hold.unlink()
    again = subprocess.run(argv, cwd=str(tmp_path), env=fjd_env(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=90)
    out = again.stdout.decode()
    assert again.returncode == 1, (out, again.stderr)
    assert "1 task of this sweep failed in an earlier run" in out
    assert "#2: exited with status 3" in out and "    params: i=2" in out
    once_more = subprocess.run(argv, cwd=str(tmp_path), env=fjd_env(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=90)
    assert once_more.returncode == 1 and b"#2: exited with status 3" in once_more.stdout
