"""What a report shows, added up one run at a time (memory bounded, whatever the runs).

A run arrives as ``add(kind, lane, start, end, outcome, size, detail, reason)`` (or many
task runs of one lane at once, ``add_tasks``): job or task, its worker's lane, its times,
its outcome (OUTCOMES), how many tasks it stands for, a `detail` that is only looked into
for the runs drawn one by one or shown as examples (scan.describe), and its reason. Up to
BAR_LIMIT runs are kept as bars; past that, every lane's occupancy is added up in BINS
time bins instead (the bars kept so far are added to them and forgotten).
"""
import math

OUTCOMES = ("done", "failed", "timeout", "cancelled")
BAR_LIMIT = 20000
BINS = 600  # time bins across the run, for throughput, busy workers and big timelines
HIST_BINS = 48  # durations, log scale, from HIST_LOW seconds up by a factor of 2 ** 0.5
HIST_LOW = 0.001
EXAMPLES = 3
MAX_REASONS = 200  # distinct reasons kept apart; the rest are counted as "other reasons"
OTHER_REASONS = "(other reasons)"


class Lane:
    """One worker's row in the timeline."""

    def __init__(self, worker, host, number):
        self.worker = worker
        self.host = host
        self.number = number
        self.first = None
        self.last = None
        self.busy = 0.0
        self.runs = 0
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.cells = None  # [bin][outcome index] busy seconds, once the picture is binned


class Failures:
    """Failures grouped by reason, with a few examples of each."""

    def __init__(self):
        self.groups = {}  # reason -> [count, [detail, ...]]

    def add(self, reason, size, detail):
        key = reason or "(no reason recorded)"
        group = self.groups.get(key)
        if group is None:
            if len(self.groups) >= MAX_REASONS:
                key = OTHER_REASONS
                group = self.groups.setdefault(key, [0, []])
            else:
                group = self.groups[key] = [0, []]
        group[0] += size
        if len(group[1]) < EXAMPLES:
            group[1].append(detail)

    def biggest(self):
        return sorted(self.groups.items(), key=lambda item: -item[1][0])


class Picture:
    """The aggregate of every run in the report; t0..t1 the time span its bins cover."""

    def __init__(self, t0, t1):
        self.t0 = t0
        self.t1 = max(t1, t0 + 1e-3)
        self.width = (self.t1 - self.t0) / BINS
        self.lanes = {}
        self.bars = []  # (lane, start, end, outcome index, detail) while not binned
        self.binned = False
        self.finished = [0] * BINS  # runs ended per bin
        self.busy = [0.0] * BINS  # busy seconds of all workers per bin
        self.counts = {"job": dict.fromkeys(OUTCOMES, 0), "task": dict.fromkeys(OUTCOMES, 0)}
        self.hist = {"done": [0] * HIST_BINS, "failed": [0] * HIST_BINS}
        self.failures = Failures()
        self.first = None
        self.last = None
        self.unplaced = 0  # runs with no worker or no start: counted, not drawn

    def lane(self, worker, host):
        lane = self.lanes.get(worker)
        if lane is None:
            lane = self.lanes[worker] = Lane(worker, host, len(self.lanes))
        return lane

    def add(self, kind, lane, start, end, outcome, size, detail, reason=None):
        """One run. kind: 'job' or 'task'; lane: a Lane or None; outcome: index in
        OUTCOMES; start/end: seconds or None."""
        self.counts[kind][OUTCOMES[outcome]] += size
        if outcome != 0 and outcome != 3:
            self.failures.add(reason, size, detail)
        if end is not None:
            if self.last is None or end > self.last:
                self.last = end
            spot = int((end - self.t0) / self.width)
            self.finished[min(BINS - 1, max(0, spot))] += size
        if start is None or end is None or lane is None:
            self.unplaced += size
            return
        if self.first is None or start < self.first:
            self.first = start
        duration = end - start
        self.duration(outcome, duration)
        lane.runs += 1
        lane.counts[OUTCOMES[outcome]] += 1
        lane.busy += duration
        if lane.first is None or start < lane.first:
            lane.first = start
        if lane.last is None or end > lane.last:
            lane.last = end
        self.spread(self.busy, start, end, None)
        if self.binned:
            self.ensure_cells(lane)
            self.spread(lane.cells, start, end, outcome)
        else:
            self.bars.append((lane, start, end, outcome, detail))
            if len(self.bars) > BAR_LIMIT:
                self.to_bins()

    def add_tasks(self, lane, runs):
        """Task runs of one lane, each (start, end, outcome, detail, reason): what add()
        does, in one tight loop (a million runs)."""
        t0, width, top = self.t0, self.width, BINS - 1
        finished, busy, log2 = self.finished, self.busy, math.log2
        hists = (self.hist["done"], self.hist["failed"])
        tally = [0] * len(OUTCOMES)
        first, last, total = lane.first, lane.last, 0.0
        for start, end, outcome, detail, reason in runs:
            tally[outcome] += 1
            if outcome == 1 or outcome == 2:
                self.failures.add(reason, 1, detail)
            spot = int((end - t0) / width)
            finished[top if spot > top else 0 if spot < 0 else spot] += 1
            seconds = end - start
            total += seconds
            if first is None or start < first:
                first = start
            if last is None or end > last:
                last = end
            rung = 0 if seconds <= HIST_LOW else int(2 * log2(seconds / HIST_LOW)) + 1
            hists[outcome != 0][HIST_BINS - 1 if rung >= HIST_BINS else rung] += 1
            low = int((start - t0) / width)
            if low == spot and 0 <= spot <= top:
                busy[spot] += seconds
            else:
                self.spread(busy, start, end, None)
            if self.binned:
                if lane.cells is None:
                    self.ensure_cells(lane)
                if low == spot and 0 <= spot <= top:
                    lane.cells[spot][outcome] += seconds
                else:
                    self.spread(lane.cells, start, end, outcome)
            else:
                self.bars.append((lane, start, end, outcome, detail))
                if len(self.bars) > BAR_LIMIT:
                    self.to_bins()
        self.tasks_done(lane, tally, first, last, total)

    def tasks_done(self, lane, tally, first, last, total):
        """add_tasks' totals, added once per batch."""
        counts = self.counts["task"]
        for outcome, count in enumerate(tally):
            counts[OUTCOMES[outcome]] += count
            lane.counts[OUTCOMES[outcome]] += count
        lane.runs += sum(tally)
        lane.busy += total
        lane.first, lane.last = first, last
        if first is not None and (self.first is None or first < self.first):
            self.first = first
        if last is not None and (self.last is None or last > self.last):
            self.last = last

    def duration(self, outcome, seconds):
        spot = 0 if seconds <= HIST_LOW else int(2 * math.log2(seconds / HIST_LOW)) + 1
        self.hist["done" if outcome == 0 else "failed"][min(HIST_BINS - 1, spot)] += 1

    def spread(self, cells, start, end, outcome):
        """Add the span start..end to the bins it covers (cells[bin], or cells[bin][outcome])."""
        width, t0 = self.width, self.t0
        first = min(BINS - 1, max(0, int((start - t0) / width)))
        last = min(BINS - 1, max(0, int((end - t0) / width)))
        if first == last:
            if outcome is None:
                cells[first] += end - start
            else:
                cells[first][outcome] += end - start
            return
        for spot in range(first, last + 1):
            low = max(start, t0 + spot * width)
            high = min(end, t0 + (spot + 1) * width)
            if high > low:
                if outcome is None:
                    cells[spot] += high - low
                else:
                    cells[spot][outcome] += high - low

    def to_bins(self):
        """Too many bars to draw: every lane's occupancy in time bins from now on."""
        self.binned = True
        for lane in self.lanes.values():
            lane.cells = [[0.0] * len(OUTCOMES) for _ in range(BINS)]
        for lane, start, end, outcome, _ in self.bars:
            self.spread(lane.cells, start, end, outcome)
        self.bars = []

    def ensure_cells(self, lane):
        if self.binned and lane.cells is None:
            lane.cells = [[0.0] * len(OUTCOMES) for _ in range(BINS)]

    def sorted_lanes(self):
        """Lanes grouped by host, each host's workers by their first run."""
        return sorted(self.lanes.values(),
                      key=lambda l: (l.host or "", l.first if l.first is not None else 0,
                                     l.worker or ""))

    def hosts(self):
        """{host: totals of its lanes} for the table per host."""
        table = {}
        for lane in self.lanes.values():
            row = table.setdefault(lane.host or "?", {"workers": 0, "runs": 0, "busy": 0.0,
                                                      "first": None, "last": None,
                                                      **dict.fromkeys(OUTCOMES, 0)})
            row["workers"] += 1
            row["runs"] += lane.runs
            row["busy"] += lane.busy
            for outcome in OUTCOMES:
                row[outcome] += lane.counts[outcome]
            for key, pick in (("first", min), ("last", max)):
                value = getattr(lane, key)
                if value is not None:
                    row[key] = value if row[key] is None else pick(row[key], value)
        return table

    def worker_time(self):
        """Seconds the workers were there (first to last run of each lane)."""
        return sum(l.last - l.first for l in self.lanes.values() if l.first is not None)
