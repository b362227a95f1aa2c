"""The report's pictures as inline SVG: the timeline, throughput and busy workers, and the
histogram of durations. Every mark has an SVG <title>, the browser's own tooltip, so the
page needs no script; colours come from the page's CSS classes (o0..o3, OUTCOMES order).
"""
from html import escape

from .picture import BINS, HIST_BINS, HIST_LOW, OUTCOMES

WIDTH = 1100  # drawing width of the time axis, px
LABEL = 220  # the lane labels' column
TOP = 22  # the time axis' labels
MAX_TIMELINE = 2400  # px of lanes at most; more lanes get thinner


def clock(seconds):
    """A duration for people: 0.25 s, 3 min 4 s, 2 h 5 min."""
    if seconds is None:
        return "?"
    if seconds < 60:
        return "%.3g s" % seconds
    if seconds < 3600:
        return "%d min %d s" % divmod(int(seconds), 60)
    return "%d h %d min" % (int(seconds) // 3600, int(seconds) % 3600 // 60)


def axis(picture, height, left=LABEL):
    """Ticks and labels of the time axis (time since the start of the picture)."""
    span = picture.t1 - picture.t0
    parts = []
    for number in range(11):
        x = left + WIDTH * number / 10
        parts.append('<line class="grid" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>'
                     % (x, TOP - 4, x, height))
        parts.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                     % (x, TOP - 8, escape(clock(span * number / 10))))
    return parts


def timeline(picture, describe_bar):
    """One lane per worker, grouped by host: a bar per run, or per time bin the share of
    the bin the worker spent on each outcome. describe_bar(bar): its tooltip text."""
    lanes = picture.sorted_lanes()
    if not lanes:
        return '<p class="none">No run has a worker and a start time to draw.</p>'
    lane_h = max(3, min(16, MAX_TIMELINE // len(lanes)))
    height = TOP + lane_h * len(lanes) + 4
    scale = WIDTH / (picture.t1 - picture.t0)
    parts = ['<svg class="timeline" width="%d" '
             'height="%d" viewBox="0 0 %d %d">' % (LABEL + WIDTH + 40, height,
                                                   LABEL + WIDTH + 40, height)]
    parts += axis(picture, height)
    row = {}
    host = object()
    for number, lane in enumerate(lanes):
        y = TOP + number * lane_h
        row[lane.worker] = y
        if lane.host != host:
            host = lane.host
            parts.append('<line class="host" x1="0" y1="%d" x2="%d" y2="%d"/>'
                         % (y, LABEL + WIDTH, y))
        parts.append('<g class="lane" data-worker="%s"><title>%s on %s: %d runs, busy %s'
                     '</title><rect class="lanebg" x="%d" y="%d" width="%d" height="%d"/>'
                     '<text x="4" y="%d">%s</text></g>'
                     % (escape(lane.worker or ""), escape(lane.worker or "?"),
                        escape(lane.host or "?"), lane.runs, clock(lane.busy), LABEL, y,
                        WIDTH, max(1, lane_h - 1), y + min(lane_h, 12) - 1,
                        escape(short(lane.host, lane.worker)) if lane_h >= 9 else ""))
    if picture.binned:
        parts += binned_lanes(picture, lanes, row, lane_h)
    else:
        for lane, start, end, outcome, detail in picture.bars:
            x = LABEL + (start - picture.t0) * scale
            parts.append('<rect class="bar o%d" x="%.1f" y="%d" width="%.2f" height="%d">'
                         '<title>%s</title></rect>'
                         % (outcome, x, row[lane.worker] + 1, max(0.6, (end - start) * scale),
                            max(1, lane_h - 3),
                            escape(describe_bar(lane, start, end, outcome, detail))))
    parts.append("</svg>")
    return "\n".join(parts)


def short(host, worker):
    """A lane's label: the worker id without its host, which the group shows."""
    worker = worker or "?"
    if host and worker.startswith(host + "-"):
        worker = worker[len(host) + 1:]
    return "%s %s" % (host or "?", worker)


def binned_lanes(picture, lanes, row, lane_h):
    """Each lane as one path per outcome: per bin a column as tall as the share of the
    bin the worker spent on runs of that outcome (stacked)."""
    cell = WIDTH / BINS
    parts = []
    for lane in lanes:
        if lane.cells is None:
            continue
        paths = [[] for _ in OUTCOMES]
        bottom = row[lane.worker] + lane_h - 1
        tall = max(1, lane_h - 2)
        for spot, shares in enumerate(lane.cells):
            filled = 0.0
            for outcome, seconds in enumerate(shares):
                if seconds <= 0:
                    continue
                share = min(1.0, seconds / picture.width)
                h = share * tall if outcome == 0 else max(1.5, share * tall)  # (seen)
                paths[outcome].append("M%.1f %.2fh%.2fv%.2fh-%.2fz" % (
                    LABEL + spot * cell, bottom - filled - h, cell, h, cell))
                filled += h
        for outcome, path in enumerate(paths):
            if path:
                parts.append('<path class="bin o%d" d="%s"><title>%s: %s time</title></path>'
                             % (outcome, "".join(path), escape(lane.worker or "?"),
                                OUTCOMES[outcome]))
    return parts


def over_time(picture):
    """Finished runs per time bin (bars) and busy workers (a line)."""
    height, plot = 170, 130
    top_finished = max(picture.finished) or 1
    busy = [b / picture.width for b in picture.busy]
    top_busy = max(busy) or 1
    cell = WIDTH / BINS
    parts = ['<svg class="overtime" width="%d" '
             'height="%d">' % (LABEL + WIDTH + 40, height)]
    parts += axis(picture, TOP + plot)
    bars = []
    for spot, count in enumerate(picture.finished):
        if count:
            h = plot * count / top_finished
            bars.append("M%.1f %.1fh%.2fv%.1fh-%.2fz" % (LABEL + spot * cell, TOP + plot - h,
                                                       cell, h, cell))
    parts.append('<path class="finished" d="%s"><title>finished runs per %s (at most %d)'
                 '</title></path>' % ("".join(bars), clock(picture.width), top_finished))
    points = " ".join("%.1f,%.1f" % (LABEL + (spot + 0.5) * cell,
                                     TOP + plot - plot * value / top_busy)
                      for spot, value in enumerate(busy))
    parts.append('<polyline class="busy" points="%s"><title>busy workers (at most %.1f)'
                 '</title></polyline>' % (points, top_busy))
    parts.append('<text x="4" y="%d" class="key finished-key">finished per %s: max %d</text>'
                 % (TOP + 14, escape(clock(picture.width)), top_finished))
    parts.append('<text x="4" y="%d" class="key busy-key">busy workers: max %.1f</text>'
                 % (TOP + 32, top_busy))
    parts.append("</svg>")
    return "\n".join(parts)


def histogram(picture):
    """Durations of done and failed runs, log scale (bins a factor of 2 ** 0.5 apart)."""
    height, plot, width = 190, 140, 900
    done, failed = picture.hist["done"], picture.hist["failed"]
    used = [i for i in range(HIST_BINS) if done[i] or failed[i]]
    if not used:
        return '<p class="none">No run with a duration.</p>'
    low, high = max(0, used[0] - 1), min(HIST_BINS - 1, used[-1] + 1)
    top = max(max(done), max(failed)) or 1
    step = width / (high - low + 1)
    parts = ['<svg class="histogram" width="%d" '
             'height="%d">' % (width + 60, height)]
    for spot in range(low, high + 1):
        x = 40 + (spot - low) * step
        lower = 0 if spot == 0 else HIST_LOW * 2 ** ((spot - 1) / 2)
        upper = HIST_LOW * 2 ** (spot / 2)
        for series, counts, shift in (("o0", done, 0), ("o1", failed, step / 2)):
            if counts[spot]:
                h = plot * counts[spot] / top
                parts.append('<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f">'
                             '<title>%d %s from %s to %s</title></rect>'
                             % (series, x + shift, 10 + plot - h, step / 2 - 1, h,
                                counts[spot], "done" if shift == 0 else "failed",
                                clock(lower), clock(upper)))
        if (spot - low) % max(1, (high - low + 1) // 8) == 0:
            parts.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                         % (x, 10 + plot + 16, escape(clock(lower))))
    parts.append("</svg>")
    return "\n".join(parts)
