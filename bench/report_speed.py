"""How fast `fjd report` and `fjd records` are on a million task records (issue 30).

    python bench/report_speed.py [--tasks 1000000] [--workers 8] [--root DIR] [--keep]

Writes a queue root whose journals hold --tasks task records (bench/fill_journals.py:
ranges of 1000 tasks handed to --workers workers, every 100th task failing), then times,
each as the command a user runs (a fresh `python -m fjd` process):

* `fjd report`: its seconds (target 10) and the page's size (target 5 MB);
* headless Chromium loading the page and taking a screenshot, less the same for an
  empty page (target 3 s), when chromium is installed;
* `fjd records > /dev/null` against a bare loop, in a process of its own, that reads
  the same journals in the same blocks and only parses each line with json.loads
  (target: at least half its speed).

Prints one JSON object with the figures. The root is removed at the end unless --keep
or --root names one that exists already (then it is reused as it is).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BARE_LOOP = r"""
import json, os, sys
count = 0
for name in sorted(os.listdir(sys.argv[1])):
    if not name.endswith(".journal"):
        continue
    with open(os.path.join(sys.argv[1], name), "rb") as handle:
        carry = b""
        while True:
            data = handle.read(1 << 22)
            if not data:
                break
            lines = (carry + data).split(b"\n")
            carry = lines.pop()
            for line in lines:
                json.loads(line.rpartition(b"\t")[0])
                count += 1
print(count)
"""


def timed(argv, **kwargs):
    started = time.monotonic()
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, **kwargs)
    return time.monotonic() - started, result


def env():
    return dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def render_seconds(browser, page, folder):
    """Seconds Chromium takes to load and screenshot page, less an empty page's."""
    def shot(target):
        return timed([browser, "--headless", "--no-sandbox", "--disable-gpu",
                      "--hide-scrollbars", "--window-size=1400,1000",
                      "--screenshot=" + os.path.join(folder, "shot.png"), "file://" + target],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)[0]
    empty = os.path.join(folder, "empty.html")
    with open(empty, "w") as handle:
        handle.write("<!DOCTYPE html><title>empty</title>")
    base = min(shot(empty) for _ in range(2))
    full = min(shot(page) for _ in range(2))
    return round(full - base, 2), round(full, 2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--root")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="fjd-report-speed-")
    root = args.root or os.path.join(folder, "root")
    figures = {"tasks": args.tasks, "workers": args.workers}
    try:
        if not os.path.isdir(os.path.join(root, "records")):
            seconds, _ = timed([sys.executable, os.path.join(REPO, "bench", "fill_journals.py"),
                                root, str(args.tasks), "--workers", str(args.workers)],
                               env=env(), stdout=subprocess.DEVNULL, check=True)
            figures["fill_seconds"] = round(seconds, 1)
        records = os.path.join(root, "records")
        figures["journal_bytes"] = sum(os.path.getsize(os.path.join(records, n))
                                       for n in os.listdir(records) if n.endswith(".journal"))
        page = os.path.join(folder, "report.html")
        seconds, _ = timed([sys.executable, "-m", "fjd", "report", "--root", root, "-o", page],
                           env=env(), stderr=subprocess.DEVNULL, check=True)
        figures["report_seconds"] = round(seconds, 2)
        figures["report_bytes"] = os.path.getsize(page)
        browser = chromium()
        if browser:
            figures["chromium_render_seconds"], figures["chromium_total_seconds"] = \
                render_seconds(browser, page, folder)
        bare, result = timed([sys.executable, "-c", BARE_LOOP, records], env=env(),
                             stdout=subprocess.PIPE, check=True)
        lines = int(result.stdout)
        with open(os.devnull, "wb") as sink:
            mine, _ = timed([sys.executable, "-m", "fjd", "records", "--root", root],
                            env=env(), stdout=sink, check=True)
        figures.update(bare_json_seconds=round(bare, 2), records_seconds=round(mine, 2),
                       lines=lines, bare_lines_per_second=round(lines / bare),
                       records_per_second=round(args.tasks / mine),
                       records_speed_vs_bare=round(bare / mine, 2))
        print(json.dumps(figures))
    finally:
        if args.keep:
            sys.stderr.write("kept %s\n" % folder)
        else:  # (a --root of the caller's is outside folder and stays)
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
