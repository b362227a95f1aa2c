"""fjd submit and fjd.submit(): names, content, atomic writes, bad input, speed."""
import configparser
import os
import shlex
import subprocess
import sys
import time

import pytest

from conftest import PYTHON, REPO, fjd_cli, fjd_in_process, wait_for

import fjd
from fjd.job_template import fill, split_values
from fjd.submit import SubmitError


def read_job(path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser


def listing(root):
    return sorted(os.listdir(os.path.join(str(root), "jobqueue")))


def test_repeat_prints_names_in_submission_order(tmp_path):
    result = fjd_cli(tmp_path, "submit", "--exe", "python3 sim.py --fast", "--repeat", "12",
                     "--split")
    assert result.returncode == 0, result.err
    printed = result.out.split()
    assert len(printed) == 12
    assert printed == sorted(printed)
    assert listing(tmp_path) == printed  # no temporary files left behind
    assert "queued 12 jobs" in result.err
    job = read_job(tmp_path / "jobqueue" / printed[0])
    assert job["control"]["executable"] == "python3 sim.py --fast"
    assert not job.has_section("params")
    # a second batch sorts after the first
    again = fjd_cli(tmp_path, "submit", "--exe", "true", "-q", "--split")
    assert again.returncode == 0 and again.out == ""
    names = listing(tmp_path)
    assert names[:12] == printed and len(names) == 13


def test_params_make_the_cartesian_product_with_placeholders(tmp_path):
    result = fjd_cli(tmp_path, "submit", "--exe",
                     "python3 sim.py --alpha $alpha --beta={beta} --first $1 ${beta}x $$HOME",
                     "--param", "alpha=0.1,a b", "--param", "beta=1..3",
                     "--logfile", "data/run-$alpha-{beta}.dat", "--timeout", "30",
                     "--retries", "1", "--control", "priority=5", "--name", "sweep", "--split")
    assert result.returncode == 0, result.err
    names = result.out.split()
    assert len(names) == 6 and all(n.endswith("-sweep.conf") for n in names)
    seen = []
    for name in names:
        job = read_job(tmp_path / "jobqueue" / name)
        alpha, beta = job["params"]["alpha"], job["params"]["beta"]
        seen.append((alpha, beta))
        argv = shlex.split(job["control"]["executable"])
        assert argv == ["python3", "sim.py", "--alpha", alpha, "--beta=%s" % beta,
                        "--first", alpha, "%sx" % beta, "$HOME"]
        assert job["control"]["logfile"] == "data/run-%s-%s.dat" % (alpha, beta)
        assert job["control"]["timeout"] == "30"
        assert job["control"]["retries"] == "1"
        assert job["control"]["priority"] == "5"
    assert seen == [("0.1", "1"), ("0.1", "2"), ("0.1", "3"),
                    ("a b", "1"), ("a b", "2"), ("a b", "3")]


def test_unnamed_param_is_dollar_one_like_the_original(tmp_path):
    result = fjd_cli(tmp_path, "submit", "--exe", "python3 sim.py $1", "--param", "7,8",
                     "--split")
    assert result.returncode == 0, result.err
    jobs = [read_job(tmp_path / "jobqueue" / n) for n in result.out.split()]
    assert [j["control"]["executable"] for j in jobs] == ["python3 sim.py 7",
                                                          "python3 sim.py 8"]
    assert [j["params"]["p1"] for j in jobs] == ["7", "8"]


def test_value_helpers():
    assert split_values("a,b\\,c,,d") == ["a", "b,c", "", "d"]
    assert split_values("3..1") == ["3", "2", "1"]
    assert split_values("0..1:0.25") == ["0.00", "0.25", "0.50", "0.75", "1.00"]
    assert split_values("a..b,../up") == ["a..b", "../up"]
    assert fill("x $a {a} ${a}b $zz {zz} $$", {"a": "1 2"}, ["1 2"], quote=True) == \
        "x '1 2' '1 2' '1 2'b $zz {zz} $"


def test_job_files_are_copied_under_sortable_names(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "job0.conf").write_text("[control]\nexecutable: python3 a.py\n\n[params]\nx: 1\n")
    (src / "job1.conf").write_text("[control]\nexecutable: python3 b.py\n")
    root = tmp_path / "root"
    root.mkdir()
    result = fjd_cli(root, "submit", str(src / "job1.conf"), str(src / "job0.conf"),
                     "--repeat", "2", cwd=str(tmp_path))
    assert result.returncode == 0, result.err
    names = result.out.split()
    assert names == sorted(names) and len(names) == 4
    assert names[0].endswith("-job1.conf") and names[3].endswith("-job0.conf")
    assert (root / "jobqueue" / names[2]).read_text() == (src / "job0.conf").read_text()


@pytest.mark.parametrize("args, message", [
    ([], "nothing to submit"),
    (["--exe", "true", "job.conf"], "not both"),
    (["--exe", "   "], "empty"),
    (["--exe", "python3 'unterminated"], "cannot be split"),
    (["--exe", "x", "--param", "a=1", "--param", "A=2"], "given twice"),
    (["--exe", "x", "--timeout", "soon"], "timeout must be a number"),
    (["--exe", "x", "--retries", "-1"], "retries must be a whole number"),
    (["--exe", "x", "--repeat", "0"], "must be at least 1"),
    (["--exe", "x", "--control", "nokey"], "KEY=VALUE"),
    (["--exe", "x", "--control", "executable=y"], "--exe"),
    (["missing.conf"], "missing.conf"),
    (["bad.conf"], "no [control] section"),
    (["--exe", "sim $nmae", "--param", "name=1,2"], "$nmae names no parameter"),
    (["--exe", "sim {seed}", "--param", "a=1"], "{seed} names no parameter"),
    (["--exe", "sim $2", "--param", "a=1"], "$2 names no parameter"),
    (["--exe", "sim $HOME"], "$HOME names no parameter"),
    (["--exe", "sim", "--logfile", "out/$nope.txt", "--param", "a=1"], "$nope names no"),
    (["--exe", "sim $a", "--param", "a=1.."], "'1..' is not a range"),
    (["--exe", "sim $a", "--param", "a=1..3..2"], "'1..3..2' is not a range"),
    (["--exe", "sim $a", "--param", "a=0.1..0.5"], "needs a step"),
    (["--exe", "sim $a", "--param", "a=5..1:1"], "never reaches its end"),
    (["--exe", "sim", "--param", "a"], "give NAME=VALUES"),
])
def test_bad_input_is_explained_and_nothing_is_queued(tmp_path, args, message):
    (tmp_path / "bad.conf").write_text("[params]\nx: 1\n")
    # the first case in a process of its own, the others in this one (conftest.fjd_in_process)
    run = fjd_cli if args == [] else fjd_in_process
    result = run(tmp_path, "submit", *args)
    assert result.returncode == 2, (result.out, result.err)
    assert message in result.err
    assert not os.path.isdir(tmp_path / "jobqueue") or listing(tmp_path) == []


def test_python_api(tmp_path):
    names = fjd.submit("python3 sim.py --seed {seed}", params={"seed": range(3)},
                       root=str(tmp_path), retries=2, split=True)
    assert len(names) == 3 and names == sorted(names) == listing(tmp_path)
    job = read_job(tmp_path / "jobqueue" / names[2])
    assert job["control"]["executable"] == "python3 sim.py --seed 2"
    assert job["control"]["retries"] == "2"
    assert fjd.submit("true", repeat=2, root=str(tmp_path), name="x y/z")[0].endswith(
        "-x_y_z.conf")
    [array] = fjd.submit("sim {v}", params={"v": ["a,b", "1..3", " x"]}, root=str(tmp_path))
    job = read_job(tmp_path / "jobqueue" / array)
    assert job["control"]["tasks"] == "product"
    from fjd.values import parse_values
    assert list(parse_values(job["params"]["v"])) == ["a,b", "1..3", " x"]
    with pytest.raises(fjd.QueueError):
        fjd.submit("true", root=str(tmp_path / "typo"))
    assert fjd.submit("true", root=str(tmp_path), name=".hidden@a1.part")[0].endswith(
        "-hidden_a1.part.conf")
    with pytest.raises(SubmitError, match="line break"):
        fjd.submit("echo\nrm -rf /", root=str(tmp_path))
    with pytest.raises(SubmitError):
        fjd.submit("true", params={"1bad": [1]}, root=str(tmp_path))
    (tmp_path / "done").rmdir() if (tmp_path / "done").is_dir() else None
    (tmp_path / "done").write_text("a file where a folder belongs")
    with pytest.raises(fjd.QueueError, match="is not a folder"):
        fjd.submit("true", root=str(tmp_path))  # raises, never exits the process


def test_concurrent_submitters_never_collide(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO)
    argv = [PYTHON, "-m", "fjd", "submit", "-q", "--root", str(tmp_path), "--exe", "true",
            "--repeat", "500", "--split"]
    procs = [subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(4)]
    assert [p.wait(60) for p in procs] == [0, 0, 0, 0]
    names = listing(tmp_path)
    assert len(names) == 2000
    assert len({n.rsplit("-", 2)[0] for n in names}) == 4  # four batches


def test_submitted_jobs_run(queue):
    out = queue.path("out")
    os.mkdir(out)
    code = "import sys; open(sys.argv[1] + '/' + sys.argv[2], 'w').write('ok')"
    exe = "%s -c %s %s {x}" % (shlex.quote(sys.executable), shlex.quote(code), shlex.quote(out))
    names = fjd.submit(exe, params={"x": ["a", "b c"]}, root=queue.root)
    assert len(names) == 1  # one array file for the sweep
    queue.dispatcher()
    queue.worker()
    wait_for(lambda: queue.done() == names, message="the array to finish")
    assert sorted(os.listdir(out)) == ["a", "b c"]


@pytest.mark.slow
@pytest.mark.exclusive
def test_hundred_thousand_jobs_in_under_ten_seconds(tmp_path):
    """The speed of fjd's own code, measured on tmpfs when there is one (a busy disk adds
    its own, very variable, cost per file creation)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) \
        else str(tmp_path)
    import tempfile
    import shutil
    root = tempfile.mkdtemp(prefix="fjd-submit-speed-", dir=base)
    try:
        started = time.monotonic()
        result = fjd_cli(root, "submit", "-q", "--exe", "python3 sim.py $a $b",
                         "--param", "a=1..1000", "--param", "b=1..100", "--split",
                         timeout=120)
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.err
        assert len(os.listdir(os.path.join(root, "jobqueue"))) == 100000
        print("100,000 jobs in %.2f s on %s" % (elapsed, base))
        assert elapsed <= 10.0
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_sweep_is_one_array_file_whatever_its_size(tmp_path):
    started = time.monotonic()
    result = fjd_cli(tmp_path, "submit", "--exe", "python3 sim.py --alpha $alpha {seed}",
                     "--param", "alpha=0.1,0.2,-1", "--param", "seed=1..1000000",
                     cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.err
    [name] = result.out.split()
    assert listing(tmp_path) == [name] and name.endswith("-sweep.conf")
    assert "queued an array of 3000000 tasks" in result.err
    assert elapsed < 5  # the target is 1 s for the command itself (bench/ measures it)
    with open(tmp_path / "jobqueue" / name) as handle:
        assert handle.read() == ("[control]\nexecutable: python3 sim.py --alpha $alpha {seed}\n"
                                 "tasks: product\nworkdir: %s\n\n[params]\nalpha: 0.1,0.2,-1\n"
                                 "seed: 1..1000000\n" % tmp_path)


# -- the mark of a plain single job ---------------------------------------------------------

def test_plain_single_jobs_are_marked_and_the_rest_is_not(tmp_path):
    """`000001s`: a single job of default priority, which the dispatcher hands out unread.
    Arrays and jobs with a [control] priority are not marked."""
    from fjd import names
    plain = fjd.submit("true", repeat=2, split=True, root=str(tmp_path))
    urgent = fjd.submit("true", control={"priority": "5"}, split=True, root=str(tmp_path))
    sweep = fjd.submit("true $x", params={"x": [1, 2]}, root=str(tmp_path))
    src = tmp_path / "src"
    src.mkdir()
    (src / "one.conf").write_text("[control]\nexecutable: true\n")
    (src / "late.conf").write_text("[control]\nexecutable: true\nPriority = -3\n")
    (src / "arr.conf").write_text("[control]\nexecutable: true\ntasks: product\n\n"
                                  "[params]\nx: 1,2\n")
    files = fjd.submit(files=[str(src / n) for n in ("one.conf", "late.conf", "arr.conf")],
                       root=str(tmp_path))
    assert all(n.split("-")[3].endswith("s") for n in plain), plain
    assert [names.plain_submitted(n) for n in plain + urgent + sweep + files] == \
        [True, True, False, False, True, False, False]
    assert all(names.submitted(n) for n in plain + urgent + sweep + files)
    assert listing(tmp_path) == sorted(plain + urgent + sweep + files)  # still in order
    # the mark survives fjd's suffixes (a requeued job is still plain), and only fjd
    # submit's shape counts
    requeued = names.requeue_name(plain[0], 1, "d1")
    assert names.plain_submitted(requeued) and names.parse(requeued).original == plain[0]
    for other in ("job0.conf", "000001s-job.conf", "20261124-171800.123456-3f9c2a-s-job.conf",
                  "20261124-171800.123456-3F9C2A-000001s-job.conf"):
        assert not names.plain_submitted(other), other


def test_a_hand_made_file_with_the_plain_mark_is_still_run_right(queue):
    """The mark only saves the dispatcher a read: an array wearing it runs all its tasks
    (its worker finds out), and a priority it carries is simply not looked at."""
    fake = "20261124-171800.123456-3f9c2a-000001s-sweep.conf"
    queue.write(fake, "[control]\nexecutable: true\ntasks: product\n\n[params]\nx: 1..5\n")
    queue.dispatcher()
    queue.worker()
    # (the array's file reaches done/ at the dispatcher's next look at arrays/, up to 30 s)
    wait_for(lambda: len(queue.names("arrays")) == 1, message="the tasks to run")
    assert [queue.task_record(fake, n)["exit_status"] for n in range(1, 6)] == [0] * 5


def test_quiet_prints_nothing(tmp_path):
    result = fjd_cli(tmp_path, "submit", "-q", "--exe", "echo $i", "--param", "i=1..3")
    assert result.returncode == 0 and result.out == "" and result.err == ""
    assert len(os.listdir(str(tmp_path / "jobqueue"))) == 1


def test_a_param_no_placeholder_uses_is_warned_about(tmp_path):
    """`--exe "sim --alpha $alpha"` in double quotes reaches fjd as `sim --alpha `: the
    program would get alpha only from the job file and the environment. Queued, with a
    warning that says why it may be wrong."""
    result = fjd_cli(tmp_path, "submit", "-q", "--exe", "sim --alpha ", "--param", "alpha=1,2",
                     "--param", "seed=1..2", "--logfile", "out-{seed}.txt")
    assert result.returncode == 0
    assert result.err.count("warning") == 1, result.err  # seed is used, by the logfile
    assert "no placeholder in the command uses --param alpha" in result.err
    assert "use single quotes" in result.err
    queued = os.listdir(str(tmp_path / "jobqueue"))
    refused = fjd_cli(tmp_path, "submit", "-q", "--no-jobfile", "--exe", "sim $seed",
                      "--param", "alpha=1,2", "--param", "seed=1..2")
    assert refused.returncode == 2 and "every task would run the same command" in refused.err
    assert "no placeholder in the command uses --param alpha" in refused.err
    assert os.listdir(str(tmp_path / "jobqueue")) == queued  # nothing more queued
    # a command that visibly reads fjd's variables gets its values there: a warning
    env = fjd_cli(tmp_path, "submit", "-q", "--no-jobfile", "--exe",
                  "sh -c 'echo $$FJD_PARAM_alpha'", "--param", "alpha=1,2")
    assert env.returncode == 0 and "gets it only from $FJD_PARAM_alpha" in env.err


def test_submit_says_when_no_dispatcher_serves_the_root(tmp_path):
    result = fjd_cli(tmp_path, "submit", "--exe", "true")
    assert result.returncode == 0
    assert "fjd submit: note: no dispatcher serves this root" in result.err
