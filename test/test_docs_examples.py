"""The examples in the documentation run as written, and its links lead somewhere.

Every ```sh and ```python block of a page (README.md, and each page of docs/ that has any)
runs in order, in an empty folder of the page's own, as a person following the text would,
with `fjd` on the PATH. A block right after a line ``<!-- not run by the test: why -->`` is
skipped. Each block must exit with status 0 and print no traceback; then the page's check
below asserts what its examples left in the folder. $FJD_DOCS (a path) runs that page only.
"""
import contextlib
import glob
import io
import json
import os
import re
import stat
import subprocess
import sys

import pytest

from conftest import REPO, assert_no_traceback, fjd_env, kill_leftovers
from fjd import cli

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
SKIP = "<!-- not run by the test"
RUNNABLE = ("sh", "bash", "python")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def blocks(text):
    """(language, code, line number, skipped) of each fenced block."""
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        line = text.count("\n", 0, match.start()) + 1
        found.append((match.group(1), match.group(2), line, before.startswith(SKIP)))
    return found


def runnable(text):
    return [b for b in blocks(text) if b[0] in RUNNABLE and not b[3]]


def all_pages():
    """README.md and docs/*.md, as paths relative to the repository."""
    return ["README.md"] + sorted(os.path.relpath(p, REPO)
                                  for p in glob.glob(os.path.join(REPO, "docs", "*.md")))


def pages_with_examples():
    if os.environ.get("FJD_DOCS"):
        return [os.environ["FJD_DOCS"]]
    return [p for p in all_pages() if runnable(read(os.path.join(REPO, p)))]


# == what each page's examples leave behind ==================================================

def names(work, folder):
    return sorted(os.listdir(str(work / folder)))


def empty_queue(work):
    for folder in ("jobqueue", "jobpod", "arrays"):
        assert names(work, folder) == [], folder


def check_readme(work, outputs):
    # the tour: one sweep, fixed and retried, in done/; the 101,000-task sweep cancelled
    empty_queue(work)
    assert len(names(work, "done")) == 1 and names(work, "failed") == []
    assert len(names(work, "cancelled")) == 1
    assert len(names(work, "results")) == 9
    assert "alpha must not be negative" in "".join(outputs)
    status = json.loads((work / "status.json").read_text())
    assert status["tasks"] == {"done": 9, "failed": 0, "cancelled": 0}


def check_commands(work, outputs):
    empty_queue(work)
    # done: the --repeat 3 array, the two --split jobs, job.conf, the Python API's array,
    # fjd run's alpha=1..4 array and the --repeat 4 array of `fjd workers`
    assert len(names(work, "done")) == 7
    # cancelled: the sweep whose two retried failures were cancelled, the --alpha 9 job
    assert len(names(work, "cancelled")) == 2
    assert names(work, "failed") == []


def check_jobs_and_arrays(work, outputs):
    empty_queue(work)
    done = names(work, "done")
    assert "shapes.conf" in done and "square.conf" in done and len(done) == 6
    # the pipeline: prepare, a sweep after it, post-processing after each task, reduce
    assert names(work, "waiting") == [] and names(work, "cancelled") == []
    assert (work / "pipeline" / "total.txt").read_text() == "104\n"
    assert "waiting" in outputs[-1]
    areas = {name: (work / "out" / name).read_text() for name in names(work, "out")}
    assert areas == {"square.txt": "9\n", "wide.txt": "4\n", "tall.txt": "5\n"}


def check_records(work, outputs):
    empty_queue(work)
    assert (work / "runs.csv").read_text().count("\n") == 3  # a header and two tasks
    assert "<svg" in (work / "report.html").read_text()
    assert names(work, "done") == [] and len(names(work, "failed")) == 1
    assert "#2 failed exited with status 1" in outputs[-1]
    assert "#1 done None" in outputs[-1]


def check_resources(work, outputs):
    empty_queue(work)
    assert len(names(work, "done")) == 1 and names(work, "failed") == []
    assert outputs[-1].strip().splitlines()[-1] in ("seed 1 on GPU 0", "seed 1 on GPU 1")


def check_workflows(work, outputs):
    # fjd submit --, state, wait: two jobs done, the greeting as written
    empty_queue(work)
    assert len(names(work, "done")) == 2 and names(work, "failed") == []
    assert (work / "greeting.txt").read_text() == "hello, $USER's world\n"
    assert "queued\nwaiting\n" in "".join(outputs) and "done\ndone\n" in "".join(outputs)


def check_python(work, outputs):
    assert "1024" in outputs[0] and "raised remotely: division by zero" in outputs[0]
    assert "ZeroDivisionError: division by zero" in outputs[0]  # (fjd status's line)


CHECKS = {
    "docs/python.md": check_python,
    "README.md": check_readme,
    "docs/resources.md": check_resources,
    "docs/commands.md": check_commands,
    "docs/jobs-and-arrays.md": check_jobs_and_arrays,
    "docs/records.md": check_records,
    "docs/workflows.md": check_workflows,
}


# == running them ============================================================================

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


def run_block(language, code, work, env):
    """Run one block in work; its exit status and its output."""
    if language == "python":
        argv = [sys.executable, "-c", code]
    else:
        argv = ["bash", "-e", "-o", "pipefail", "-c", code]
    result = subprocess.run(argv, cwd=str(work), env=env, timeout=120,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    return result.returncode, result.stdout.decode("utf-8", "replace")


@pytest.mark.parametrize("page", pages_with_examples())
def test_examples_run_as_written(page, tmp_path, shell_env):
    path = os.path.join(REPO, page)
    work = tmp_path / "work"
    work.mkdir()
    outputs = []
    try:
        for language, code, line, _ in runnable(read(path)):
            status, output = run_block(language, code, work, shell_env)
            assert status == 0, "%s line %d failed (%d):\n%s\n--- output:\n%s" % (
                page, line, status, code, output)
            assert_no_traceback(output)
            outputs.append(output)
    finally:
        subprocess.run(["fjd", "workers", "stop", "--timeout", "10", "--silent-after", "2"],
                       cwd=str(work), env=shell_env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        kill_leftovers(work)
    assert outputs, "%s has no runnable examples" % page
    check = CHECKS.get(os.path.relpath(path, REPO))
    assert check or os.environ.get("FJD_DOCS"), (
        "%s has examples: say in CHECKS what they leave behind" % page)
    if check:
        check(work, outputs)


# == links ===================================================================================

def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, blanks to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(text):
    """The anchors of a page's headings, ATX (## Title) and setext (Title / ---)."""
    headings = re.findall(r"^#{1,6} +(.+?) *#*$", text, re.M)
    headings += re.findall(r"^([^\n`|<>*-][^\n]*)\n(?:=+|-+) *$", text, re.M)
    return {slug(h) for h in headings}


def test_links_between_pages_lead_somewhere():
    broken = []
    for page in all_pages():
        text = read(os.path.join(REPO, page))
        text = FENCE.sub("", text)
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # http:, mailto: ...
            file_part, _, anchor = target.partition("#")
            where = os.path.normpath(os.path.join(REPO, os.path.dirname(page), file_part)) \
                if file_part else os.path.join(REPO, page)
            if not os.path.exists(where):
                broken.append("%s: %s (no such file)" % (page, target))
            elif anchor and where.endswith(".md") and anchor not in anchors(read(where)):
                broken.append("%s: %s (no such heading)" % (page, target))
    assert not broken, "\n".join(broken)


# == options =================================================================================

COMMANDS = [[], ["submit"], ["run"], ["status"], ["show"], ["records"], ["report"],
            ["retry"], ["cancel"],
            ["dispatcher"], ["worker"], ["workers"], ["workers", "start"],
            ["workers", "list"], ["workers", "stop"], ["workers", "auto"]]
# options in the pages that are not fjd's: the stand-in program's, sbatch's
FOREIGN = {"--alpha", "--seed", "--partition", "--account", "--ntasks", "--x",
           "--cpus-per-task", "--gpus-per-task", "--mem-per-cpu", "--me", "--name"}


def help_text(command):
    """What `fjd COMMAND --help` prints (in this process: 13 interpreters cost seconds)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli.main(command + ["--help"])
    return out.getvalue()


def declared_options():
    """Every long option some `fjd ... --help` declares."""
    found = set()
    for command in COMMANDS:
        found |= set(re.findall(r"^ +(?:-\w, )?(--[\w-]+)", help_text(command), re.M))
    return found


def test_the_command_pages_name_every_option_and_no_other():
    text = read(os.path.join(REPO, "docs", "commands.md"))
    text += read(os.path.join(REPO, "docs", "clusters.md"))
    mentioned = set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", text))
    declared = declared_options()
    assert declared - mentioned == set(), "options the docs leave out"
    assert mentioned - declared - FOREIGN == set(), "options that do not exist"


def test_readme_is_short_and_the_guide_has_its_pages():
    assert len(read(os.path.join(REPO, "README.md")).splitlines()) <= 260
    index = read(os.path.join(REPO, "docs", "README.md"))
    for page in all_pages()[1:]:
        name = os.path.basename(page)
        assert name == "README.md" or "(%s)" % name in index, "docs/README.md omits " + name
