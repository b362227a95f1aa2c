"""Smoke test of the benchmark harness: it runs and prints its ratio lines.

Speed is measured by ``python bench/run.py``, never asserted here: this only checks that the
harness works end to end on a tiny throughput run (fjd, xargs, and GNU parallel when it is
installed; the test never installs it).
"""
import glob
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_quick_throughput_prints_ratios(tmp_path):
    results = tmp_path / "results"
    argv = [sys.executable, os.path.join(REPO, "bench", "run.py"), "--quick",
            "--only", "throughput", "--jobs", "30", "--repeat", "1", "--settle", "0.3",
            "--no-install", "--tmp", str(tmp_path), "--results-dir", str(results)]
    env = dict(os.environ)
    env.pop("FJD_ROOT", None)
    proc = subprocess.run(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert "jobs per second: fjd " in out, out
    assert "ratio fjd / xargs -P2: " in out, out
    assert "ratio fjd / GNU parallel -j2: " in out, out
    assert "| Measure | Target | Result | |" in out, out
    assert "Traceback" not in out + err, out + err
    written = glob.glob(str(results / "*.json"))
    assert len(written) == 1, written
    with open(written[0]) as handle:
        report = json.load(handle)
    fjd = report["results"]["throughput"]["fjd"]["runs"][0]
    assert fjd["done"] == 30 and fjd["failed"] == 0, fjd
    assert report["machine"]["cores"] >= 1
    # the temp queue roots are cleaned up
    assert not glob.glob(str(tmp_path / "fjd-bench-*")), os.listdir(str(tmp_path))


@pytest.mark.slow
def test_bench_array_scenarios_run(tmp_path):
    """The scenarios of array jobs and journals run end to end at tiny sizes and store their
    results (their numbers and PASS/MISS are not checked: that is the bench's job)."""
    results = tmp_path / "results"
    argv = [sys.executable, os.path.join(REPO, "bench", "run.py"), "--quick",
            "--only", "arrays,submit,files,status,bigarray", "--repeat", "1",
            "--array-tasks", "40", "--sweep", "5x10", "--array-sweep", "10x10",
            "--files-tasks", "60", "--files-sample", "3", "--split-sizes", "10,20",
            "--status-records", "3000", "--bigarray-tasks", "100000",
            "--bigarray-seconds", "1", "--settle", "0.3", "--no-install",
            "--tmp", str(tmp_path), "--results-dir", str(results)]
    env = dict(os.environ)
    env.pop("FJD_ROOT", None)
    proc = subprocess.run(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=200)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert "Traceback" not in out + err, out + err
    assert "ratio fjd array tasks / xargs -P2" in out, out
    written = glob.glob(str(results / "*.json"))
    assert len(written) == 1, written
    with open(written[0]) as handle:
        found = json.load(handle)["results"]
    for name in ("arrays", "files", "status", "bigarray"):
        assert found[name]["available"], found[name]
    assert found["arrays"]["fjd"]["runs"][0]["records"] == 40, found["arrays"]
    assert found["files"]["printing"]["outputs"]["checked"] == 2 * 5, found["files"]
    assert found["submit"]["split"] and found["submit"]["array"]["tasks"] == 100
    assert found["status"]["filled"]["tasks"] == 3000
    assert not glob.glob(str(tmp_path / "fjd-bench-*")), os.listdir(str(tmp_path))


@pytest.mark.slow
def test_task_cpu_prints_the_split_local_and_over_sshfs():
    """bench/task_cpu.py (docs/speed.md's CPU split of an array task) runs end to end."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import hosts
    why = hosts.cached_unavailable_reason()
    if why:
        pytest.skip(why)
    proc = subprocess.run([sys.executable, os.path.join(REPO, "bench", "task_cpu.py"),
                           "--rounds", "1", "--tasks", "200", "--workers", "2"], cwd=REPO,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=180)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    for line in ("local 1 ", "sshfs 1 ", "median sshfs ", "sshfs / local: "):
        assert line in out, out
    assert "Traceback" not in out + err, out + err
    scratch = os.path.join(REPO, "bench", "tmp")
    assert not [n for n in (os.listdir(scratch) if os.path.isdir(scratch) else [])
                if n.startswith("fjd-task-cpu-")], "left its folder behind"


@pytest.mark.slow
def test_record_floor_prints_the_ceilings():
    """bench/record_floor.py (docs/speed.md's floor of an array task over sshfs) runs end to
    end, with the request-logging sftp server of bench/shared.py, and leaves nothing
    behind."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import hosts
    why = hosts.cached_unavailable_reason()
    if why:
        pytest.skip(why)
    proc = subprocess.run([sys.executable, os.path.join(REPO, "bench", "record_floor.py"),
                           "--rounds", "1", "--count", "100", "--tasks", "200",
                           "--workers", "2", "--server", "logging"],
                          cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=150)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    for line in ("medians: a record costs ", "ceiling from the record alone: ",
                 "ceiling from the record and the output journals' flushes: "):
        assert line in out, out
    assert "Traceback" not in out + err, out + err
    scratch = os.path.join(REPO, "bench", "tmp")
    assert not [n for n in (os.listdir(scratch) if os.path.isdir(scratch) else [])
                if n.startswith("fjd-record-floor-")], "left its folder behind"


def test_shared_ratios_are_the_median_of_interleaved_rounds():
    """bench/sharedfs.py pairs each sshfs run with the local run just before it and
    reports the median of those ratios (sharedfs_figures); a round that did not finish
    fails the ratio instead of dropping out; the report shows every round."""
    sys.path.insert(0, os.path.join(REPO, "bench"))
    import rows_shared
    import sharedfs_figures as figures
    rounds = [{"local_jobs": 1000.0, "jobs": 400.0, "local_array": 2000.0, "array": 1300.0},
              {"local_jobs": 800.0, "jobs": 400.0, "local_array": 1400.0, "array": 1190.0},
              {"local_jobs": 1000.0, "jobs": 350.0, "local_array": 1800.0, "array": 1260.0}]
    assert figures.round_ratios(rounds, "array") == [0.65, 0.85, 0.7]
    assert figures.median_ratio(rounds, "array") == 0.7
    assert figures.median_ratio(rounds, "jobs") == 0.4
    unfinished = rounds + [dict(rounds[0], array=None)]
    assert figures.round_ratios(unfinished, "array")[-1] is None
    assert figures.median_ratio(unfinished, "array") is None
    assert figures.median_ratio([], "array") is None

    busy = {"size": 5000, "completed": True, "per_s": 1300.0, "per_unit": 1.4,
            "by_host_per_unit": {"alpha": 0.2, "beta": 0.6, "gamma": 0.6},
            "types_per_unit": {"write": 1.0, "lstat": 0.4},
            "cpu_ms_per_unit_by_host": {"beta": 0.2}}
    shared = {"sizes": {"workers": 4, "added_workers": 4}, "udp_block": "x",
              "local": {"workers": 4, "jobs": {"per_s": 1000.0}, "array": {"per_s": 2000.0}},
              "variants": {"recommended": {
                  "options": "dir_cache=no", "array": busy, "rounds": rounds,
                  "ratio_vs_local": {k: figures.median_ratio(rounds, k)
                                     for k in ("jobs", "array")},
                  "ratios_by_round": {k: figures.round_ratios(rounds, k)
                                      for k in ("jobs", "array")}}}}
    rows = rows_shared.shared_rows(shared)
    ratio = [row for row in rows if "array tasks/s, ratio" in row[0]]
    assert len(ratio) == 1, rows
    assert "median of 3 rounds" in ratio[0][0], ratio
    assert ratio[0][2].startswith("0.70x (rounds 0.65x, 0.85x, 0.70x"), ratio
    assert ratio[0][3] == "MISS", ratio
    text = rows_shared.shared_text(shared)
    assert "round 2: 800 / 400 = 0.50x; 1,400 / 1,190 = 0.85x" in text, text


def test_bench_list_prints_the_table_of_scenarios():
    """--list prints the table the runner walks: every scenario with its sizes."""
    proc = subprocess.run([sys.executable, os.path.join(REPO, "bench", "run.py"), "--list"],
                          cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, out + proc.stderr.decode("utf-8", "replace")
    for name in ("throughput", "arrays", "latency", "idle", "submit", "files", "status",
                 "bigarray", "million", "runbig", "scale", "shared"):
        assert "\n%s " % name in "\n" + out, out
    assert "--jobs 2000 (--quick: 200)" in out, out


@pytest.mark.slow
def test_bench_compare_runs_both_sides_and_removes_its_worktree(tmp_path):
    """--compare HEAD runs the throughput scenario on a temporary git worktree of HEAD and
    on the working tree, prints the medians, the ratio and the fjd / xargs ratio of each
    side, and removes the worktree."""
    argv = [sys.executable, os.path.join(REPO, "bench", "run.py"), "--compare", "HEAD",
            "--rounds", "1", "--quick", "--only", "throughput", "--jobs", "30",
            "--settle", "0.3", "--no-install", "--tmp", str(tmp_path),
            "--results-dir", str(tmp_path / "results")]
    env = dict(os.environ)
    env.pop("FJD_ROOT", None)
    proc = subprocess.run(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=240)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert "Traceback" not in out + err, out + err
    assert "after / before" in out, out
    row = [line for line in out.splitlines() if line.startswith("single-file jobs/s")]
    assert len(row) == 1 and ("PASS" in row[0] or "MISS" in row[0]), out
    for side in ("before", "after"):
        assert "fjd / xargs -P2, %s (>= 0.75)" % side in out, out
    # each side ran from its own tree: the before side's daemons from the worktree
    assert "compare: round 1, before (%s" % tmp_path in err, err
    assert "compare: round 1, after (%s)" % REPO in err, err
    assert "  single-file jobs/s: before " in out, out
    saved = glob.glob(str(tmp_path / "results" / "*-compare.json"))
    assert len(saved) == 1, saved
    with open(saved[0]) as handle:
        per_round = json.load(handle)["per_round"]
    assert len(per_round["single-file jobs/s"]["before"]) == 1, per_round
    worktrees = subprocess.run(["git", "-C", REPO, "worktree", "list"],
                               stdout=subprocess.PIPE).stdout.decode()
    assert str(tmp_path) not in worktrees, worktrees
    assert not glob.glob(str(tmp_path / "fjd-bench-*")), os.listdir(str(tmp_path))


@pytest.mark.slow
def test_bench_deps_prints_its_figures(tmp_path):
    """bench/deps.py (issue 23) at tiny sizes: every scenario prints its line."""
    argv = [sys.executable, os.path.join(REPO, "bench", "deps.py"), "--quick",
            "--chain", "20", "--independent", "30", "--waiting", "50", "--each-tasks", "20",
            "--after-tasks", "50", "--idle-seconds", "1", "--tmp", str(tmp_path)]
    env = dict(os.environ)
    env.pop("FJD_ROOT", None)
    proc = subprocess.run(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, out + proc.stderr.decode("utf-8", "replace")[-3000:]
    figures = {line.split()[0]: json.loads(line.split(None, 1)[1])
               for line in out.splitlines() if line.strip()}
    assert figures["chain"]["links"] == 20 and figures["chain"]["links_per_second"] > 0
    assert figures["waiting"]["waiting"] == 50 and figures["waiting"]["ratio"] > 0
    assert figures["each"]["speed_ratio"] > 0
    assert figures["after"]["start_delay_seconds"] < 10
