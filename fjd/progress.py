"""The dispatcher's live progress line on a terminal: done / total, failed, rate, ETA.

Only when stderr is a terminal; otherwise the log lines say everything. Counting done/ for
every redraw would cost a listing of a possibly huge folder, so the line is derived from
what the dispatcher knows: jobs it handed out, jobs still in inboxes, jobs queued, and a
listing of failed/ (small, as a rule) and done/ only once at start.
"""
import collections
import logging
import sys
import time

from .fsops import list_names


class _ClearLineFilter(logging.Filter):
    """Wipe the progress line before a log line is printed over it."""

    def __init__(self, progress):
        super().__init__()
        self.progress = progress

    def filter(self, record):
        self.progress.clear()
        return True


class DispatcherProgressLine:
    """The dispatcher's live line on a terminal (finished / total, rate, ETA)."""

    def __init__(self, layout, stream=None, every=0.5, enabled=None):
        self.layout = layout
        self.stream = stream or sys.stderr
        self.every = every
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.shown = False
        self.last_draw = None
        self.recent = RecentRate()
        self.filter = None
        if self.enabled:
            self.done_before = len(list_names(layout.done))
            self.failed_before = len(list_names(layout.failed))
            self.filter = _ClearLineFilter(self)
            for handler in logging.getLogger().handlers:
                handler.addFilter(self.filter)

    def clear(self):
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False

    def update(self, assigned, returned, queued, in_inboxes, force=False):
        """Redraw at most every `every` seconds."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and self.last_draw is not None and now - self.last_draw < self.every:
            return
        self.last_draw = now
        finished = max(0, assigned - returned - in_inboxes)
        self.recent.add(now, finished)
        failed = max(0, len(list_names(self.layout.failed)) - self.failed_before)
        total = self.done_before + self.failed_before + finished + in_inboxes + queued
        done_total = self.done_before + self.failed_before + finished
        rate = self.recent.rate()
        left = queued + in_inboxes
        eta = format_seconds(left / rate) if rate > 0 and left else ("-" if left else "0 s")
        line = ("fjd: %d/%d finished, %d failed, %d running or assigned, %d queued, "
                "%.1f jobs/s, ETA %s" % (done_total, total, failed, in_inboxes, queued, rate,
                                         eta))
        self.stream.write("\r\033[K" + line)
        self.stream.flush()
        self.shown = True

    def close(self):
        """Leave the last line standing."""
        if self.enabled:
            if self.shown:
                self.stream.write("\n")
                self.stream.flush()
                self.shown = False
            for handler in logging.getLogger().handlers:
                handler.removeFilter(self.filter)


class RecentRate:
    """Jobs per second over the last WINDOW seconds of the caller's monotonic clock: the
    rate of now, which falls to 0 when the work stops, not the average since the start."""

    WINDOW = 10.0

    def __init__(self):
        self.samples = collections.deque()  # (monotonic time, jobs finished so far)

    def add(self, now, finished):
        self.samples.append((now, finished))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.WINDOW:
            self.samples.popleft()

    def rate(self):
        if len(self.samples) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self.samples[0], self.samples[-1]
        return max(0.0, (n1 - n0) / (t1 - t0)) if t1 > t0 else 0.0


def format_seconds(seconds):
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return "%d s" % seconds
    if seconds < 3600:
        return "%d min %02d s" % divmod(seconds, 60)
    hours, rest = divmod(seconds, 3600)
    return "%d h %02d min" % (hours, rest // 60)
