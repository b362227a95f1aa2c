"""The command examples in the documentation run as written.

Runs every ```sh and ```python block of README.md (or of the file in $FJD_DOCS) in order, in one empty folder, as a person following the text would, with `fjd`
on the PATH. A block right after a line ``<!-- not run by the test: why -->`` is skipped.
Each block must exit with status 0 and print no traceback.
"""
import os
import re
import stat
import subprocess
import sys

import pytest

from conftest import REPO, assert_no_traceback, fjd_env

DOCS = os.environ.get("FJD_DOCS") or os.path.join(REPO, "README.md")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
SKIP = "<!-- not run by the test"


def blocks(text):
    """(language, code, line number, skipped) of each fenced block."""
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        line = text.count("\n", 0, match.start()) + 1
        found.append((match.group(1), match.group(2), line, before.startswith(SKIP)))
    return found


@pytest.fixture
def shell_env(tmp_path):
    """PATH with an `fjd` that runs this checkout, and fjd importable from Python."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "fjd"
    shim.write_text("#!%s\nimport sys\nsys.path.insert(0, %r)\nfrom fjd.cli import main\n"
                    "sys.exit(main())\n" % (sys.executable, REPO))
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    python3 = bin_dir / "python3"  # the examples say python3: make it this Python
    python3.symlink_to(sys.executable)
    return fjd_env({"PATH": str(bin_dir) + os.pathsep + os.environ.get("PATH", "")})


@pytest.mark.skipif(not os.path.exists(DOCS), reason="no %s" % DOCS)
def test_examples_run_as_written(tmp_path, shell_env):
    with open(DOCS) as handle:
        text = handle.read()
    work = tmp_path / "work"
    work.mkdir()
    ran = 0
    try:
        for language, code, line, skipped in blocks(text):
            if skipped or language not in ("sh", "bash", "python"):
                continue
            if language == "python":
                argv = [sys.executable, "-c", code]
            else:
                argv = ["bash", "-e", "-o", "pipefail", "-c", code]
            result = subprocess.run(argv, cwd=str(work), env=shell_env, timeout=120,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
            output = result.stdout.decode("utf-8", "replace")
            assert result.returncode == 0, "%s line %d failed (%d):\n%s\n--- output:\n%s" % (
                os.path.basename(DOCS), line, result.returncode, code, output)
            assert_no_traceback(output)
            ran += 1
    finally:
        subprocess.run(["fjd", "workers", "stop", "--timeout", "10", "--silent-after", "2"],
                       cwd=str(work), env=shell_env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    assert ran >= 5
    # what the examples did, as the text says
    names = lambda folder: sorted(os.listdir(str(work / folder)))  # noqa: E731
    # done: the --repeat 3 array, the two --split jobs, job.conf, the Python API's array,
    # fjd run's alpha=1..4 array and the --repeat 4 array of `fjd workers`
    assert len(names("done")) == 7
    assert names("jobqueue") == [] and names("jobpod") == [] and names("arrays") == []
    # cancelled: the sweep whose two retried failures were cancelled, the --alpha 9 job
    assert len(names("cancelled")) == 2
    assert names("failed") == []
