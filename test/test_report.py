"""`fjd report` (issue 30): the page of a real sweep parsed (lanes, bars, counts that
match the journals, failures by reason), nothing fetched from outside, time bins past
20,000 runs, and a real headless Chromium that draws the timeline where the records say.
"""
import collections
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from html.parser import HTMLParser

import pytest

from conftest import REPO, fjd_cli
from report_sweep import sweep  # noqa: F401  (the fixture)
from test_records import journal_runs


def journal_paths(root):
    return [os.path.join(root, "records", n) for n in sorted(os.listdir(
        os.path.join(root, "records"))) if n.endswith(".journal")]


class Page(HTMLParser):
    """What a test looks at in the page: lanes, bars and bins, tables, every attribute."""

    def __init__(self):
        super().__init__()
        self.lanes, self.bars, self.bins, self.attributes = [], [], [], []
        self.tags = collections.Counter()
        self.stack, self.cells, self.table, self.tables = [], [], None, {}
        self.text = []
        self.in_bar = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags[tag] += 1
        self.attributes += list(attrs.items())
        classes = (attrs.get("class") or "").split()
        if tag == "rect":
            self.in_bar = "bar" in classes  # (other rects have titles of their own)
        if tag == "g" and "lane" in classes:
            self.lanes.append(attrs["data-worker"])
        elif tag == "rect" and "bar" in classes:
            self.bars.append({"class": classes[1], "y": float(attrs["y"]), "title": ""})
        elif tag == "path" and "bin" in classes:
            self.bins.append(classes[1])
        elif tag == "table":
            self.table = classes[0] if classes else None
            self.tables[self.table] = []
        elif tag == "tr" and self.table:
            self.tables[self.table].append([])
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag == "rect":
            self.in_bar = False
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data):
        self.text.append(data)
        if self.stack[-1:] == ["title"] and self.in_bar and self.bars:
            self.bars[-1]["title"] += data
        elif self.stack and self.stack[-1] in ("td", "th") and self.table and \
                self.tables[self.table]:
            self.tables[self.table][-1].append(data)


def report(root, tmp_path, *args):
    output = str(tmp_path / "report.html")
    result = fjd_cli(root, "report", "-o", output, *args, cwd=tmp_path)
    assert result.returncode == 0, result.err
    with open(output, encoding="utf-8") as handle:
        text = handle.read()
    page = Page()
    page.feed(text)
    return text, page


def test_the_page_draws_every_run_in_its_workers_lane(sweep, tmp_path):  # noqa: F811
    text, page = report(sweep["root"], tmp_path)
    runs = journal_runs(sweep["root"])
    per_worker = collections.Counter(r["worker"] for r in runs if r["start"])
    assert sorted(page.lanes) == sorted(per_worker)
    assert len(page.bars) == len(runs) == 15 and not page.bins
    lane_y = {}
    for bar in page.bars:
        name = bar["title"].split(" (")[0].split("\n")[0]
        worker = bar["title"].split(" on ")[-1].split("\n")[0]
        lane_y.setdefault(worker, set()).add(bar["y"])
        run = [r for r in runs if r["name"] == name and r["worker"] == worker]
        assert run, bar
        state = run[0]["state"]
        expected = "o0" if state == "done" else "o2" if (
            run[0]["reason"] or "").startswith("timed out") else "o1"
        assert bar["class"] == expected, (bar, run)
        if name.startswith("sweep.conf#"):
            task = int(name.split("#")[1])
            assert "i=%d s=%s" % ((task - 1) // 2 + 1, "xy"[(task - 1) % 2]) in bar["title"]
    assert all(len(ys) == 1 for ys in lane_y.values()) and len(
        set.union(*lane_y.values())) == len(page.lanes)  # a lane per worker, one row each
    summary = [row for row in page.tables["summary"]]
    assert ["tasks", "12", "8 done", "2 failed", "2 timeout", "0 cancelled"] in summary
    assert ["jobs", "3", "1 done", "2 failed", "0 timeout", "0 cancelled"] in summary
    failures = {row[0]: int(row[1]) for row in page.tables["failures"][1:]}
    assert failures["exited with status 3"] == 2 and failures["exited with status 7"] == 2
    assert [n for r, n in failures.items() if r.startswith("timed out")] == [2]
    assert "i=3, s=x; exit status 3" in text
    hosts = {row[0]: row for row in page.tables["hosts"][1:]}
    assert sum(int(row[2]) for row in hosts.values()) == 15
    if sweep["other_host"]:
        assert set(hosts) == {"reporthost2", os.uname().nodename.split(".")[0]} or \
            len(hosts) == 2


def test_nothing_is_fetched_from_anywhere(sweep, tmp_path):  # noqa: F811
    text, page = report(sweep["root"], tmp_path)
    assert not page.tags["script"] and not page.tags["img"] and not page.tags["link"]
    for name, value in page.attributes:
        if name in ("src", "href", "xmlns", "action", "srcset", "data"):
            raise AssertionError("%s=%r" % (name, value))
    assert not re.search(r"url\s*\(|@import|https?:|//[a-z0-9]", text, re.I)


def test_array_and_since_narrow_the_page(sweep, tmp_path):  # noqa: F811
    _, page = report(sweep["root"], tmp_path, "--array", "sweep.conf")
    assert len(page.bars) == 12
    assert fjd_cli(sweep["root"], "report", "-o", str(tmp_path / "x.html"), "--since",
                   "soon").returncode == 2
    inside = fjd_cli(sweep["root"], "report", "-o", os.path.join(sweep["root"], "records",
                                                                 "r.html"))
    assert inside.returncode == 2 and not os.path.exists(
        os.path.join(sweep["root"], "records", "r.html"))


def test_past_20000_runs_each_lane_is_drawn_in_time_bins(tmp_path):
    root = str(tmp_path / "big")
    subprocess.run([sys.executable, os.path.join(REPO, "bench", "fill_journals.py"), root,
                    "21000", "--workers", "3", "--fail-every", "50"], check=True,
                   stdout=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=REPO))
    text, page = report(root, tmp_path)
    assert len(page.lanes) == 3 and not page.bars
    assert collections.Counter(page.bins) == {"o0": 3, "o1": 3}
    summary = page.tables["summary"]
    assert ["tasks", "21000", "20580 done", "420 failed", "0 timeout", "0 cancelled"] in summary
    assert len(text) < 1 << 20


# -- a real browser ----------------------------------------------------------------------------

def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def screenshot(browser, page, png, width=1360, height=480):
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    "--window-size=%d,%d" % (width, height), "--screenshot=" + png,
                    "file://" + page], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=120, check=True)


def read_png(path):
    """(width, height, rows of (r, g, b)) of an 8-bit RGB or RGBA PNG, stdlib only."""
    with open(path, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, head = 8, b"", None
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + size]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        at += 12 + size
    width, height, depth, colour, _, _, interlace = head
    assert depth == 8 and colour in (2, 6) and not interlace, head
    step = 3 if colour == 2 else 4
    raw, stride, rows, previous = zlib.decompress(idat), width * step, [], bytearray(
        width * step)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (
            stride + 1)])
        for x in range(stride):
            left = line[x - step] if x >= step else 0
            up, corner = previous[x], previous[x - step] if x >= step else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc
                                      else corner)) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, step)])
        previous = line
    return width, height, rows


GREEN, RED, ORANGE, LANE = (0x2e, 0x9e, 0x44), (0xd6, 0x27, 0x28), (0xff, 0x8c, 0x00), \
    (0xf4, 0xf4, 0xf4)


@pytest.mark.skipif(chromium() is None, reason="no chromium (test/run_tests.sh installs it)")
def test_chromium_draws_the_timeline_where_the_records_say(sweep, tmp_path):  # noqa: F811
    _, page = report(sweep["root"], tmp_path)
    png = str(tmp_path / "report.png")
    screenshot(chromium(), str(tmp_path / "report.html"), png)
    width, height, rows = read_png(png)
    # the lanes: bands of rows that hold a long stretch of the lane background or bars
    lane_rows = [y for y, row in enumerate(rows)
                 if sum(1 for p in row if p in (LANE, GREEN, RED, ORANGE)) > 600]
    bands = []
    for y in lane_rows:
        if bands and y == bands[-1][-1] + 1:
            bands[-1].append(y)
        else:
            bands.append([y])
    assert len(bands) == len(page.lanes), [(b[0], b[-1]) for b in bands]
    colours = [collections.Counter(p for y in band for p in rows[y]) for band in bands]
    lanes = collections.defaultdict(set)  # lane's y in the SVG -> classes of its bars
    for bar in page.bars:
        lanes[bar["y"]].add(bar["class"])
    for classes, counter in zip([lanes[y] for y in sorted(lanes)], colours):
        assert counter[GREEN] + counter[RED] + counter[ORANGE] > 100, counter.most_common(5)
        for cls, colour in (("o0", GREEN), ("o1", RED), ("o2", ORANGE)):
            assert (counter[colour] > 10) == (cls in classes), (cls, counter.most_common(5))


def test_a_torn_last_line_is_skipped_and_nothing_is_written(sweep, tmp_path):  # noqa: F811
    root = str(tmp_path / "copy")
    shutil.copytree(sweep["root"], root)
    _, before = report(root, tmp_path)
    for path in journal_paths(root):  # every writer in the middle of a line
        with open(path, "ab") as handle:
            handle.write(b'{"k":"task","array":"sweep.conf","u":"x","i":99,"run":1,"attem')
    snapshot = {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
                for d, _, files in os.walk(root) for f in files}
    _, after = report(root, tmp_path)
    assert after.bars == before.bars and after.tables == before.tables
    assert {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
            for d, _, files in os.walk(root) for f in files} == snapshot
