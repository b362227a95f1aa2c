"""fjd submit -- COMMAND, fjd state and fjd wait (issue 31): exact arguments, every state
word, wait's exit statuses, and 1,000 names in under a second."""
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import PYTHON, assert_no_traceback, fjd_env, wait_for
from fjd import job_states
from fjd.command_job import CommandJob, control_lines
from fjd.jobfile import command_line, parse_job
from fjd.layout import Layout

NASTY = ["a b", "it's", 'say "hi"', "$HOME", "${x}", "$1", "{seed}", "{jobfile}", "~",
         "~/x", "*", "a;b|c&&d", "back\\slash", "", " lead", "trail ", "tab\there",
         "line\nbreak", "cr\rlf", "é ü 日本", "--", "-n", "#not-a-comment", "%(x)s", "[control]"]
SAVE_ARGS = ("import json, os, sys; "
             "json.dump([os.getcwd()] + sys.argv[1:], open('args.json', 'w'))")


def fjd(root, *args, cwd=None, timeout=60):
    """python -m fjd --root ROOT ARGS (the root before the command: words after -- are the
    job's)."""
    result = subprocess.run([PYTHON, "-m", "fjd", "--root", str(root)] + list(args),
                            cwd=str(cwd or root), env=fjd_env(), timeout=timeout,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    result.out = result.stdout.decode("utf-8", "replace")
    result.err = result.stderr.decode("utf-8", "replace")
    assert_no_traceback(result.out + result.err)
    return result


def submit(root, *args, cwd=None):
    result = fjd(root, "submit", *args, cwd=cwd)
    assert result.returncode == 0, result.err
    assert result.err == "" and result.out.count("\n") == 1, (result.out, result.err)
    return result.out.strip()


def state(root, *names, format_="words"):
    result = fjd(root, "state", "--format", format_, *names)
    assert result.returncode == 0, result.err
    return result.out.split("\n")[:-1]


def test_the_words_come_back_exactly_from_the_job_file():
    for words in [["prog"] + NASTY, ["/bin/echo", "plain", "words"], ["x", "{jobfile}"]]:
        lines = control_lines(words)
        data = ("[control]\n" + "".join("%s: %s\n" % kv for kv in lines)).encode()
        spec = parse_job(data)
        assert command_line(spec.argv, "/q/jobpod/w/JOB", spec.settings.jobfile) == words
    # plain words stay plain: an older worker runs them too
    assert [key for key, _ in control_lines(["/bin/echo", "a b", "$x"])] == \
        ["executable", "jobfile"]


def test_a_script_given_by_a_relative_path_runs_where_it_lies(tmp_path):
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    job = CommandJob(["run.sh", "x"], str(tmp_path))
    assert job.words == [str(tmp_path / "run.sh"), "x"]
    assert CommandJob(["./sub/../run.sh"], str(tmp_path)).words[0] == str(tmp_path / "run.sh")
    assert CommandJob(["python3", "-c", "1"], str(tmp_path)).words[0] == "python3"
    assert job.label() == "run.sh"


def test_submit_command_runs_nasty_arguments_exactly_in_the_submitting_folder(queue, tmp_path):
    queue.dispatcher()
    queue.worker()
    here = tmp_path / "project dir $x"
    here.mkdir()
    name = submit(queue.root, "--timeout", "60", "--", PYTHON, "-c", SAVE_ARGS, *NASTY,
                  cwd=here)
    result = fjd(queue.root, "wait", "--timeout", "30", name)
    assert result.returncode == 0, result.err + queue.all_logs()
    assert result.out == "" and result.err == ""
    saved = json.loads((here / "args.json").read_text())
    assert saved == [str(here)] + NASTY
    assert state(queue.root, name) == ["done"]
    shown = fjd(queue.root, "show", name)
    assert shown.returncode == 0 and name in shown.out, shown.out + shown.err
    # --workdir (relative to the submitting folder) and a script run where it lies
    (here / "sub").mkdir()
    script = here / "sub" / "tell.sh"
    script.write_text("#!/bin/sh\npwd > where.txt\necho \"$@\" >> where.txt\n")
    script.chmod(0o755)
    name = submit(queue.root, "--workdir", "..", "--", "./tell.sh", "one", cwd=here / "sub")
    assert fjd(queue.root, "wait", name).returncode == 0
    assert (here / "where.txt").read_text() == "%s\none\n" % here


def test_submit_command_refuses_what_does_not_fit(queue):
    for args in (["--"], ["--exe", "true", "--", "x"], ["--param", "a=1,2", "--", "x"],
                 ["-n", "2", "--", "x"], ["--after", "nothing-here", "--", "x"]):
        result = fjd(queue.root, "submit", *args)
        assert result.returncode == 2 and result.out == "" and "fjd submit" in result.err, \
            (args, result.err)
    assert queue.queued() == []


@pytest.mark.slow
def test_every_state_word_and_the_exit_statuses_of_wait(queue):
    gate = queue.path("gate")
    waits_for_gate = "import os, time\nwhile not os.path.exists(%r): time.sleep(0.02)" % gate
    queued = submit(queue.root, "--", "true")
    waiting = submit(queue.root, "--after", queued, "--", "true")
    assert state(queue.root, queued, waiting) == ["queued", "waiting"]
    cancelled = submit(queue.root, "--", "true")
    assert fjd(queue.root, "cancel", cancelled).returncode == 0
    queue.dispatcher()
    queue.worker()
    queue.worker()
    assert fjd(queue.root, "wait", "--timeout", "30", queued, waiting).returncode == 0
    running = submit(queue.root, "--", PYTHON, "-c", waits_for_gate)
    failed = submit(queue.root, "--", PYTHON, "-c", "raise SystemExit(3)")
    wait_for(lambda: state(queue.root, running) == ["running"], 20, message="running")
    assert fjd(queue.root, "wait", failed).returncode == 1
    names = [queued, waiting, running, failed, cancelled, "no-such-job", "../done/x", "x#2"]
    words = ["done", "done", "running", "failed", "cancelled", "unknown", "unknown",
             "unknown"]
    assert state(queue.root, *names) == words
    assert state(queue.root, *names, format_="snakemake") == \
        [job_states.SNAKEMAKE[word] for word in words]
    assert state(queue.root, running, format_="snakemake") == ["running"]
    started = time.monotonic()
    result = fjd(queue.root, "wait", "--timeout", "0.5", running, queued)
    assert result.returncode == 124 and time.monotonic() - started < 10, result.err
    result = fjd(queue.root, "wait", queued, cancelled, "no-such-job")
    assert result.returncode == 1
    assert "%s cancelled" % cancelled in result.err and "no-such-job is no job" in result.err
    open(gate, "w").close()
    result = fjd(queue.root, "wait", "--all", "--timeout", "30")
    assert result.returncode == 0 and result.err == "", result.err
    assert state(queue.root, running) == ["done"]


def test_states_of_an_array_and_its_tasks(queue):
    result = fjd(queue.root, "submit", "--exe", "%s -c 'raise SystemExit($i == 2)'" % PYTHON,
                 "--param", "i=1..3")
    array = result.out.strip()
    assert state(queue.root, array, array + "#2", array + "#9") == ["queued"] * 3
    queue.dispatcher()
    queue.worker()
    assert fjd(queue.root, "wait", "--timeout", "30", array).returncode == 1
    assert state(queue.root, array, array + "#1", array + "#2") == ["failed", "done", "failed"]
    assert fjd(queue.root, "wait", array + "#3").returncode == 0


def test_a_thousand_names_in_under_a_second_without_listing_done(queue, monkeypatch):
    layout = Layout(queue.root)
    layout.ensure()
    names = []
    for number in range(1000):
        name = "20261207-000000.000000-abcdef-%06ds-job" % number
        folder = ("done", "failed", "cancelled", "jobqueue")[number % 4]
        open(os.path.join(queue.root, folder, name), "w").close()
        names.append(name)
    for number in range(5000):  # done/ is big; it must not matter
        open(os.path.join(queue.root, "done", "old-%d" % number), "w").close()
    listed = []
    real_list_names = Layout.list_names

    def list_names(self, path):
        listed.append(os.path.basename(path))
        return real_list_names(self, path)
    monkeypatch.setattr(Layout, "list_names", list_names)
    started = time.monotonic()
    words = job_states.states(layout, names + ["nothing"])
    assert time.monotonic() - started < 1.0
    assert words == [("done", "failed", "cancelled", "queued")[n % 4] for n in range(1000)] + \
        ["unknown"]
    assert not {"done", "failed", "cancelled"} & set(listed), listed
    started = time.monotonic()
    assert state(queue.root, *names)[:4] == ["done", "failed", "cancelled", "queued"]
    print("fjd state of 1000 names: %.2f s (with the interpreter's start)"
          % (time.monotonic() - started), file=sys.stderr)


def test_wait_looks_no_faster_than_the_dispatcher_on_that_mount():
    from types import SimpleNamespace
    from fjd.commands.wait import poll_pause
    from fjd.defaults import DISPATCHER_INTERVAL, LOCAL, SHARED
    local, shared = SimpleNamespace(shared=False), SimpleNamespace(shared=True)
    assert poll_pause(local, 0) == DISPATCHER_INTERVAL
    assert poll_pause(local, 3600) == LOCAL.queue_poll == poll_pause(local, 0, True)
    assert poll_pause(shared, 0) == SHARED.queue_poll
    assert SHARED.queue_poll < poll_pause(shared, 3600) <= 5.0
