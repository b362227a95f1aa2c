"""The fjd command as a user meets it: queue roots that are missing or odd, usage errors
that name the subcommand, help texts that mention no hidden option, exit statuses, commands
that take no job file, how many workers `fjd run` starts, input errors of `fjd submit`, and
the recent rate of the progress lines.

Real processes through ``python -m fjd`` (and ``python dispatcher.py``/``worker.py``); the
progress lines are driven in-process with a fake clock, their process test is marked slow.
"""
import configparser
import io
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import types

import pytest

from conftest import PYTHON, REPO, assert_no_traceback, fjd_cli, fjd_env, fjd_in_process, py

import fjd
from fjd import progress
from fjd.layout import Layout

# the hint the worker adds when a command failed over the job file's path fjd appended
APPENDED = "last argument"


def fjd_run(*args, cwd, env=None, timeout=60, **popen_options):
    """``python -m fjd ARGS`` as given (no --root added, unlike conftest.fjd_cli); the
    CompletedProcess also has .out and .err as text, and no traceback."""
    result = subprocess.run([PYTHON, "-m", "fjd"] + [str(a) for a in args], cwd=str(cwd),
                            env=fjd_env() if env is None else env, timeout=timeout,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **popen_options)
    result.out = result.stdout.decode("utf-8", "replace")
    result.err = result.stderr.decode("utf-8", "replace")
    assert_no_traceback(result.out + result.err)
    return result


def listing(path):
    try:
        return sorted(os.listdir(str(path)))
    except FileNotFoundError:
        return []


def array_name(root, folder="done"):
    """The one array (or job) file that ended in folder."""
    [name] = listing(os.path.join(str(root), folder))
    return name


def workers_started(root):
    """The worker logs `fjd run` made in logs/run-*/: one per worker it started."""
    [run_logs] = listing(os.path.join(str(root), "logs"))
    return [n for n in listing(os.path.join(str(root), "logs", run_logs))
            if n.startswith("worker-")]


def said_workers(err):
    found = re.search(r"fjd run: \d+ jobs?, (\d+) workers?; logs in", err)
    assert found, err
    return int(found.group(1))


# == 1. the queue root ========================================================================

READERS = [
    (("submit", "--exe", "true"), "submit"),
    (("status",), "status"),
    (("show", "job.conf"), "show"),
    (("retry", "--all"), "retry"),
    (("cancel", "--all"), "cancel"),
    (("workers", "list"), "workers list"),
    (("workers", "stop"), "workers stop"),
    (("workers", "start", "1"), "workers start"),
]


@pytest.mark.parametrize("command, label", READERS, ids=[r[1] for r in READERS])
def test_a_missing_root_is_an_error_and_nothing_is_created(tmp_path, command, label):
    missing = tmp_path / "typo"
    result = fjd_cli(missing, *command, cwd=tmp_path)
    assert result.returncode == 1, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fjd %s: " % label), result.err
    assert str(missing) in lines[0] and "does not exist" in lines[0]
    assert "--root" in lines[0] and "FJD_ROOT" in lines[0]  # what to do about it
    assert result.out == ""
    assert not os.path.lexists(missing)
    assert listing(tmp_path) == []


def test_fjd_run_creates_a_missing_root(tmp_path):
    root = tmp_path / "new" / "queue"
    result = fjd_cli(root, "run", "--exe", "true", "--workers", "1", cwd=tmp_path)
    assert result.returncode == 0, (result.out, result.err)
    assert "fjd run: created the queue root %s" % root in result.err
    assert listing(root / "done")


@pytest.mark.parametrize("argv", [
    [PYTHON, "-m", "fjd", "dispatcher", "--exit-when-done"],
    [PYTHON, os.path.join(REPO, "dispatcher.py"), "--exit-when-done"],
    [PYTHON, os.path.join(REPO, "worker.py"), "--lifetime", "0.2"],
], ids=["fjd dispatcher", "dispatcher.py", "worker.py"])
def test_the_daemons_create_a_missing_root(tmp_path, argv):
    root = tmp_path / "new"
    result = subprocess.run(argv + ["--root", str(root)], cwd=str(tmp_path), env=fjd_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=30)
    err = result.stderr.decode()
    assert_no_traceback(err)
    assert result.returncode == 0, err
    assert "created the queue root %s" % root in err
    assert os.path.isdir(root / "jobqueue")


def test_submit_into_an_existing_empty_folder_makes_the_queue(tmp_path):
    result = fjd_cli(tmp_path, "submit", "--exe", "true")
    assert result.returncode == 0, result.err
    assert listing(tmp_path / "jobqueue") == result.out.split()
    for folder in ("done", "failed", "jobpod", "workerqueue"):
        assert os.path.isdir(tmp_path / folder)


def test_a_file_where_a_queue_folder_belongs(tmp_path):
    (tmp_path / "done").write_text("not a folder")
    result = fjd_cli(tmp_path, "submit", "--exe", "true")
    assert result.returncode == 1, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fjd submit: "), result.err
    assert str(tmp_path / "done") in lines[0] and "not a folder" in lines[0]
    assert listing(tmp_path / "jobqueue") == []
    with pytest.raises(fjd.QueueError, match="not a folder"):
        fjd.submit("true", root=str(tmp_path))
    assert listing(tmp_path / "jobqueue") == []


def test_status_of_things_that_are_not_queue_roots(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "file").write_text("x")
    plain = fjd_cli(tmp_path / "plain", "status", cwd=tmp_path)
    assert plain.returncode == 1 and "not a queue root" in plain.err
    assert listing(tmp_path / "plain") == []
    a_file = fjd_cli(tmp_path / "file", "status", cwd=tmp_path)
    assert a_file.returncode == 1 and "not a folder" in a_file.err


# == 2. usage errors and where --root goes =====================================================

USAGE = [
    (("status",), "fjd status"),
    (("workers", "start"), "fjd workers start"),
    (("workers", "list"), "fjd workers list"),
    (("workers", "stop"), "fjd workers stop"),
    (("workers",), "fjd workers"),
    (("submit", "--exe", "true"), "fjd submit"),
    (("run", "--exe", "true"), "fjd run"),
    (("show", "job.conf"), "fjd show"),
    (("retry", "--all"), "fjd retry"),
    (("cancel", "--all"), "fjd cancel"),
    (("dispatcher",), "fjd dispatcher"),
    (("worker",), "fjd worker"),
]


@pytest.mark.parametrize("command, label", USAGE, ids=[u[1] for u in USAGE])
def test_usage_errors_name_the_subcommand(tmp_path, command, label):
    # in a process of its own for the daemons and one command, else in this one
    # (conftest.fjd_in_process)
    in_a_process = command[0] in ("dispatcher", "worker", "status")
    result = (fjd_cli if in_a_process else fjd_in_process)(tmp_path, *(command + ("--bogus",)))
    assert result.returncode == 2, (result.out, result.err)
    assert result.err.startswith("usage: %s " % label), result.err
    assert "%s: error: unrecognized arguments: --bogus" % label in result.err
    assert listing(tmp_path) == []  # nothing was made, nothing was started


def test_root_before_the_subcommand(tmp_path):
    root = tmp_path / "queue"
    elsewhere = tmp_path / "elsewhere"  # the current directory: not a queue root
    elsewhere.mkdir()
    assert fjd_cli(root, "run", "--exe", "true", "-q", cwd=tmp_path).returncode == 0
    before = fjd_run("--root", root, "status", cwd=elsewhere)
    after = fjd_run("status", "--root", root, cwd=elsewhere)
    assert before.returncode == 0, before.err
    assert before.out == after.out and "queue %s" % root in before.out
    assert "done              1" in before.out
    as_json = fjd_run("--root", root, "status", "--json", cwd=elsewhere)
    assert json.loads(as_json.out)["counts"]["done"] == 1
    workers = fjd_run("--root", root, "workers", "list", "--wait", "0", cwd=elsewhere)
    assert workers.returncode == 0 and "0 live workers" in workers.out, workers.err
    missing = fjd_run("--root", tmp_path / "typo", "status", cwd=root)
    assert missing.returncode == 1 and str(tmp_path / "typo") in missing.err
    from_env = fjd_run("status", cwd=elsewhere, env=fjd_env({"FJD_ROOT": str(root)}))
    assert from_env.returncode == 0 and from_env.out == before.out


# == 3. every option a help text names is an option of that command ==========================

COMMANDS = [(), ("dispatcher",), ("worker",), ("submit",), ("run",), ("status",), ("show",),
            ("records",), ("report",), ("retry",), ("cancel",), ("workers",), ("workers", "start"), ("workers", "list"),
            ("workers", "stop")]
OPTION = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")
# options of other programs that a help text names as such
FOREIGN = {("workers", "start"): {"--ntasks"}}  # "the batch job has --ntasks N" (sbatch's)


def help_text(command, in_process=True):
    """`fjd COMMAND --help`, 200 columns wide; in this process (13 interpreters cost seconds
    of CPU) unless in_process is False (test_help_in_a_process_is_the_same)."""
    if in_process:
        result = fjd_in_process(None, *(command + ("--help",)), env={"COLUMNS": "200"})
    else:
        result = fjd_run(*(command + ("--help",)), cwd=REPO, env=fjd_env({"COLUMNS": "200"}))
    assert result.returncode == 0, result.err
    # undo argparse's line breaks after a hyphen ("--no-\n    jobfile")
    return re.sub(r"(?<=\w-)\n\s+", "", result.out)


def declared_options(text):
    """Options shown in the usage lines or heading a line of an options list."""
    usage, _, rest = text.partition("\n\n")
    found = set(OPTION.findall(usage))
    for line in rest.splitlines():
        head = re.match(r"  (-\S.*?)(?:\s{2,}|$)", line)
        if head:
            found.update(OPTION.findall(head.group(1)))
    return found


def mentioned_options(text):
    """Options named anywhere in a help text, leaving out what belongs to other programs:
    the quoted command of an example (`fjd submit --exe 'sim.py --alpha 1'`), what follows
    "sbatch", and the value of --opt=VALUE."""
    lines = []
    for line in text.splitlines():
        if line.lstrip().startswith("fjd "):
            line = re.sub(r"'[^']*'|\"[^\"]*\"", "''", line)
        lines.append(line)
    text = "\n".join(lines)
    text = re.sub(r"\bsbatch --[\w-]+", "sbatch", text)
    text = re.sub(r"(--[\w-]+)=\S+", r"\1", text)
    return set(OPTION.findall(text))


@pytest.fixture(scope="module")
def helps():
    return {command: help_text(command) for command in COMMANDS}


@pytest.mark.parametrize("command", [(), ("workers", "start")], ids=["fjd", "workers start"])
def test_help_in_a_process_is_the_same(helps, command):
    assert help_text(command, in_process=False) == helps[command]


@pytest.mark.parametrize("command", COMMANDS[1:], ids=[" ".join(c) for c in COMMANDS[1:]])
def test_help_mentions_no_hidden_option(helps, command):
    text = helps[command]
    known = declared_options(text) | {"--help"} | FOREIGN.get(command, set())
    assert mentioned_options(text) - known == set(), text


def test_top_level_help_mentions_only_options_of_some_command(helps):
    known = {"--help"}
    for command, text in helps.items():
        known |= declared_options(text)
    assert mentioned_options(helps[()]) - known == set(), helps[()]


def test_the_help_check_sees_wrapped_and_hidden_options():
    """The helpers above: a wrapped option is read whole, an example's own options and
    sbatch's are not fjd's, and an option only in the prose is caught."""
    text = ("usage: fjd x [-h] [--no-jobfile] [--sbatch-option OPT]\n\ndesc\n\noptions:\n"
            "  --no-jobfile   do not\n"
            "  --sbatch-option OPT  pass OPT (write --sbatch-option=--x=y; sbatch --time)\n"
            "examples:\n  fjd x --exe 'sim.py --alpha 1' --hidden\n")
    assert declared_options(text) == {"--no-jobfile", "--sbatch-option"}
    assert mentioned_options(text) == {"--no-jobfile", "--sbatch-option", "--exe",
                                       "--hidden"}


# == 4. exit statuses of fjd status ===========================================================

def test_status_help_and_docs_state_the_exit_statuses(helps):
    statement = re.search(r"Exit status: (.*?)\.", helps[("status",)].replace("\n", " "))
    assert statement, helps[("status",)]
    for status in ("0", "1", "2"):
        assert re.search(r"\b%s\b" % status, statement.group(1)), statement.group(0)
    with open(os.path.join(REPO, "docs", "commands.md"), encoding="utf-8") as handle:
        commands = " ".join(handle.read().split())
    found = re.search(r"Exit status: 0 [^.]*\b1 [^.]*\b2 [^.]*\.", commands)
    assert found, "docs/commands.md states no exit statuses"


def test_status_exit_statuses(tmp_path):
    """Each status once as a process's exit status, the other cases in this process
    (conftest.fjd_in_process)."""
    (tmp_path / "jobqueue").mkdir()
    assert fjd_cli(tmp_path, "status").returncode == 0
    assert fjd_in_process(tmp_path, "status", "--json").returncode == 0
    assert fjd_cli(tmp_path / "missing", "status", cwd=tmp_path).returncode == 1
    (tmp_path / "plain").mkdir()
    assert fjd_in_process(tmp_path / "plain", "status", cwd=tmp_path).returncode == 1
    watch = fjd_cli(tmp_path, "status", "--watch", "0")
    assert watch.returncode == 2 and "--watch" in watch.err and watch.out == ""
    assert fjd_in_process(tmp_path, "status", "--watch", "soon").returncode == 2
    frames = fjd_in_process(tmp_path, "status", "--watch", "0.1", "--frames", "2")
    assert frames.returncode == 0 and frames.out.count("queue %s" % tmp_path) == 2


# == 5. commands that take no job file ========================================================

@pytest.fixture(scope="module")
def sleeps(tmp_path_factory):
    """`fjd run --exe 'sleep 0.1' --repeat 3 --workers 2`: (result, root, array name)."""
    base = tmp_path_factory.mktemp("sleeps")
    root = base / "root"
    result = fjd_cli(root, "run", "--exe", "sleep 0.1", "--repeat", "3", "--workers", "2",
                     cwd=base, env=fjd_env({"LC_ALL": "C"}), timeout=90)
    return result, root, array_name(root, "failed")


def test_sleep_gets_the_job_file_as_an_extra_argument_and_fails(sleeps):
    result, root, name = sleeps
    assert result.returncode == 1, (result.out, result.err)
    assert "3 jobs finished" in result.out and "0 done, 3 failed" in result.out
    state = json.loads(fjd_cli(root, "status", "--json").out)
    assert state["counts"]["failed"] == 3 and state["counts"]["done"] == 0
    for task in (1, 2, 3):
        stderr = fjd_cli(root, "show", "%s#%d" % (name, task), "--stderr")
        assert stderr.returncode == 0
        assert "invalid time interval" in stderr.out, stderr.out


def test_a_failed_task_says_the_path_was_appended_and_how_to_avoid_it(sleeps):
    _, root, name = sleeps
    show = fjd_cli(root, "show", "%s#1" % name)
    reason = re.search(r"^reason: (.*)$", show.out, re.M).group(1)
    assert APPENDED in reason, reason
    assert "jobfile: none" in reason or "--no-jobfile" in reason
    assert "{jobfile}" in reason
    status = fjd_cli(root, "status").out
    task_lines = [line for line in status.splitlines() if "%s#" % name in line]
    assert len(task_lines) == 3 and all(APPENDED in line for line in task_lines), status


def test_a_failed_array_lists_its_failed_tasks_only(sleeps):
    result, root, name = sleeps
    assert "(no reason recorded)" not in result.out, result.out
    state = json.loads(fjd_cli(root, "status", "--json").out)
    assert sorted(f["name"] for f in state["failed"]) == \
        ["%s#%d" % (name, i) for i in (1, 2, 3)], state["failed"]
    status = fjd_cli(root, "status").out
    assert "failed (3):" in status and "(no reason recorded)" not in status, status


def test_single_job_failure_says_the_path_was_appended(tmp_path):
    result = fjd_cli(tmp_path, "run", "--exe", "sleep 0.1", "--workers", "1",
                     env=fjd_env({"LC_ALL": "C"}))
    assert result.returncode == 1, (result.out, result.err)
    name = array_name(tmp_path, "failed")
    reason = re.search(r"^reason: (.*)$", fjd_cli(tmp_path, "show", name).out, re.M).group(1)
    assert APPENDED in reason and "jobfile: none" in reason and "{jobfile}" in reason
    assert reason in fjd_cli(tmp_path, "status").out
    assert reason in result.out  # fjd run's summary


def test_no_jobfile_runs_commands_that_take_none(tmp_path):
    result = fjd_cli(tmp_path, "run", "--exe", "sleep 0.1", "--repeat", "3", "--workers", "2",
                     "--no-jobfile")
    assert result.returncode == 0, (result.out, result.err)
    assert "3 done, 0 failed" in result.out


PRINT_ARGS_AND_FILE = ("import json, sys; print(json.dumps(sys.argv[1:])); "
                       "print(open(sys.argv[1]).read())")


def test_jobfile_placeholder_puts_the_path_where_placed(tmp_path):
    exe = py(PRINT_ARGS_AND_FILE, "{jobfile}", "after")
    result = fjd_cli(tmp_path, "run", "--exe", exe, "--param", "x=a,b c", "--workers", "2")
    assert result.returncode == 0, (result.out, result.err)
    name = array_name(tmp_path)
    shown = fjd_cli(tmp_path, "show", "%s#2" % name, "--stdout")
    assert shown.returncode == 0
    first, _, content = shown.out.partition("\n")
    argv = json.loads(first)
    assert len(argv) == 2 and argv[1] == "after", argv  # not appended
    view = configparser.ConfigParser(interpolation=None)
    view.read_string(content)
    assert dict(view["params"]) == {"x": "b c"}
    assert view["control"]["task"] == "2"


def test_the_one_task_job_file_holds_the_command_that_ran(tmp_path):
    exe = py(PRINT_ARGS_AND_FILE, "{jobfile}")
    result = fjd_cli(tmp_path, "run", "--exe", exe, "--param", "x=a,b c", "--workers", "1")
    assert result.returncode == 0, (result.out, result.err)
    shown = fjd_cli(tmp_path, "show", "%s#2" % array_name(tmp_path), "--stdout")
    first, _, content = shown.out.partition("\n")
    view = configparser.ConfigParser(interpolation=None)
    view.read_string(content)
    assert shlex.split(view["control"]["executable"]) == \
        [sys.executable, "-c", PRINT_ARGS_AND_FILE] + json.loads(first)


def test_hand_written_job_files_honour_jobfile_none_and_the_placeholder(queue):
    queue.dispatcher()
    queue.worker()
    queue.job("none.conf", "sleep 0.1", jobfile="none")
    queue.job("placed.conf", py(PRINT_ARGS_AND_FILE, "{jobfile}", "after"),
              params={"x": "42"})
    queue.job("appended.conf", "sleep 0.1")
    queue.wait_finished(3)
    assert queue.done() == ["none.conf", "placed.conf"], queue.all_logs()
    assert queue.failed() == ["appended.conf"]
    first, _, content = queue.output("placed.conf").partition("\n")
    argv = json.loads(first)
    assert len(argv) == 2 and argv[1] == "after"
    assert os.path.basename(argv[0]) == "placed.conf"
    assert "[params]\nx: 42" in content
    reason = queue.reason("appended.conf")
    assert APPENDED in reason and "jobfile: none" in reason and "{jobfile}" in reason


# == 6. how many workers fjd run starts, and its summary =====================================

def test_run_starts_as_many_workers_as_asked(tmp_path):
    assert fjd_cli(tmp_path, "submit", "-q", "--exe", "true").returncode == 0
    result = fjd_cli(tmp_path, "run", "--workers", "3")
    assert result.returncode == 0, (result.out, result.err)
    assert "fjd run: 1 job, 3 workers;" in result.err
    assert len(workers_started(tmp_path)) == 3
    assert re.search(r"finished in \d+\.\d s:", result.out), result.out


def pinned_to(cpus):
    """preexec_fn: run on the first `cpus` CPUs we may use."""
    chosen = set(sorted(os.sched_getaffinity(0))[:cpus])
    return lambda: os.sched_setaffinity(0, chosen)


@pytest.mark.parametrize("cpus, tasks, expected", [(1, 3, 1), (2, 1, 1), (2, 3, 2)])
def test_run_starts_one_worker_per_core_and_per_job(tmp_path, cpus, tasks, expected):
    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < cpus:
        pytest.skip("needs %d CPUs and sched_setaffinity" % cpus)
    result = fjd_run("run", "--root", tmp_path, "--exe", "true", "--repeat", tasks,
                     cwd=tmp_path, preexec_fn=pinned_to(cpus))
    assert result.returncode == 0, (result.out, result.err)
    assert said_workers(result.err) == expected
    assert len(workers_started(tmp_path)) == expected
    assert "%d done" % tasks in result.out


def test_short_run_summary_shows_tenths_of_seconds(tmp_path):
    result = fjd_cli(tmp_path, "run", "--exe", "true", "--workers", "1", "-q")
    assert result.returncode == 0, (result.out, result.err)
    assert re.search(r"^fjd run: 1 job finished in \d+\.\d s: 1 done, 0 failed$",
                     result.out, re.M), result.out
    assert "0:00:0" not in result.out


# == 7. .gitignore ============================================================================

def test_gitignore_lists_logs():
    with open(os.path.join(REPO, ".gitignore"), encoding="utf-8") as handle:
        patterns = {line.strip() for line in handle if line.strip()}
    assert patterns & {"logs", "logs/", "/logs", "/logs/", "logs/*", "/logs/*"}, patterns


# == 8. submit input errors ===================================================================

@pytest.mark.parametrize("args, message", [
    (["--exe", "sim", "--logfile", "out/{seed}.txt", "--param", "a=1,2"],
     "{seed} names no parameter"),
    (["--exe", "sim", "--workdir", "w/{b}"], "{b} names no parameter"),
    (["--exe", "sim $1", "--param", "7"], "give NAME=VALUES"),
    (["--exe", "sim $a", "--param", "a=0.5..2"], "needs a step"),
    (["--exe", "sim $a", "--param", "a=1..3:0"], "step of 0"),
    (["--exe", "sim $a", "--param", "a=1..3:-1"], "never reaches its end"),
    (["--exe", "sim", "--param", "=1,2"], "not a parameter name"),
    (["--exe", "sim", "--param", "1x=1,2"], "not a parameter name"),
    (["--exe", "sim", "--timeout", "-3"], "timeout must be a number"),
    (["--exe", "sim", "--control", "timeout=soon"], "timeout must be a number"),
    (["--exe", "sim", "--control", "tasks=3"], "--param"),
    (["--exe", "sim", "--control", "repeat=3"], "--repeat"),
    (["--exe", "sim", "--repeat", "abc"], "whole number"),
    (["--exe", "sim $a $b", "--param", "a=1..5000", "--param", "b=1..5000", "--split"],
     "leave it out"),
    (["--exe", "sim", "--logfile", "{jobfile}"], "{jobfile} names no parameter"),
])
def test_more_bad_submit_input_exits_2_and_queues_nothing(tmp_path, args, message):
    # in this process (conftest.fjd_in_process): the process's exit status 2 for bad input
    # is test_submit.py's test_bad_input_is_explained_and_nothing_is_queued[args0]
    result = fjd_in_process(tmp_path, "submit", *args)
    assert result.returncode == 2, (result.out, result.err)
    assert message in result.err, result.err
    assert result.out == "" and listing(tmp_path / "jobqueue") == []


@pytest.mark.parametrize("control", ["priority=high", "jobfile=maybe", "output=bogus"])
def test_control_values_a_worker_rejects_are_refused_at_submit(tmp_path, control):
    result = fjd_in_process(tmp_path, "submit", "--exe", "true", "--control", control)
    assert result.returncode == 2, (result.out, result.err)
    assert listing(tmp_path / "jobqueue") == []


# == 9. the recent rate of the progress lines =================================================

class Clock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


def test_dispatcher_progress_line_rate_falls_to_zero_after_work_stops(tmp_path,
                                                                       monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    layout = Layout(str(tmp_path))
    layout.ensure()
    stream = io.StringIO()
    line = progress.DispatcherProgressLine(layout, stream=stream, every=0, enabled=True)
    try:
        def shown(assigned, queued):
            line.update(assigned=assigned, returned=0, queued=queued, in_inboxes=0)
            return stream.getvalue().rsplit("\r\033[K", 1)[-1]
        for second in range(31):  # 10 jobs a second for 30 s
            text = shown(10 * second, 500 - 10 * second)
            clock.now += 1
        assert "10.0 jobs/s" in text and "ETA 20 s" in text, text
        # work stops (no workers left): within the window the rate is 0 and there is no ETA
        for _ in range(int(progress.RecentRate.WINDOW) + 1):
            text = shown(300, 200)
            clock.now += 1
        assert "0.0 jobs/s" in text and "ETA -" in text, text
    finally:
        line.close()


def test_run_progress_text_shows_the_rate_it_is_given():
    from fjd.commands.run import progress_text
    counts = {"done": 5, "failed": 1, "cancelled": 0, "running": 2, "queued": 12}
    assert progress_text(counts, 20, 2.0) == \
        "[fjd] 6/20 finished: 5 done, 1 failed, 2 running, 12 queued | 2.0 jobs/s, ETA 0:00:07"
    assert progress_text(counts, 20, 0.0).endswith("| 0.0 jobs/s, ETA -")
    counts["blocked"] = "cannot file job7.conf in done/: No space left on device"
    assert progress_text(counts, 20, 0.0).endswith(
        "ETA - | blocked: cannot file job7.conf in done/: No space left on device")


@pytest.mark.slow
def test_run_progress_line_on_a_terminal_falls_to_zero_while_a_long_job_runs(tmp_path):
    """Five quick jobs, then one that runs longer than the rate's window: before it ends,
    fjd run's line (redrawn twice a second on a terminal) says 0.0 jobs/s."""
    long_run = progress.RecentRate.WINDOW + 2
    assert fjd_cli(tmp_path, "submit", "-q", "--exe", "true", "--repeat", "5").returncode == 0
    assert fjd_cli(tmp_path, "submit", "-q", "--no-jobfile", "--exe",
                   "sleep %g" % long_run).returncode == 0
    master, slave = os.openpty()
    chunks = []

    def read():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc = subprocess.Popen([PYTHON, "-m", "fjd", "run", "--root", str(tmp_path),
                             "--workers", "1"], cwd=str(tmp_path), env=fjd_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    try:
        out, _ = proc.communicate(timeout=long_run + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert_no_traceback(text)
    assert proc.returncode == 0, (out, text)
    frames = [f.strip() for f in re.split(r"[\r\n]", text) if f.startswith("[fjd] 5/6")]
    rates = [float(re.search(r"\| ([\d.]+) jobs/s", f).group(1)) for f in frames]
    assert rates and max(rates) > 0, frames
    assert rates[-1] == 0.0, frames[-5:]


def test_a_mistyped_command_gets_a_did_you_mean(tmp_path):
    result = subprocess.run([PYTHON, "-m", "fjd", "stauts"], cwd=str(tmp_path), env=fjd_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert result.returncode == 2
    assert result.stderr.decode().strip().splitlines()[-1] == \
        "fjd: error: unknown command 'stauts' (did you mean status?); `fjd --help` lists them"


@pytest.mark.parametrize("script", ["dispatcher.py", "worker.py"])
def test_the_2012_scripts_name_themselves_in_their_help(tmp_path, script):
    result = subprocess.run([PYTHON, os.path.join(REPO, script), "--help"], cwd=str(tmp_path),
                            env=fjd_env(), stdout=subprocess.PIPE, timeout=60)
    assert result.returncode == 0
    assert result.stdout.decode().startswith("usage: python %s " % os.path.join(REPO, script))


def test_submit_refuses_a_folder_that_holds_other_files(tmp_path):
    """`fjd submit --root` on a folder of other files made eight folders in it, while `fjd
    status` there said it is no queue root."""
    (tmp_path / "notes.txt").write_text("mine")
    result = fjd_cli(tmp_path, "submit", "--exe", "true")
    assert result.returncode == 1
    assert "is not a queue root: it has no jobqueue/ folder, and other files" in result.err
    assert sorted(os.listdir(str(tmp_path))) == ["notes.txt"]
