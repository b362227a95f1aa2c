"""The report as one self-contained HTML page: CSS, SVG and text inline, and nothing
fetched (no fonts, scripts or images), so it reads offline and as an attachment."""
import time
from html import escape

from .charts import clock, histogram, over_time, timeline
from .picture import BAR_LIMIT, OUTCOMES

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 6px}
table{border-collapse:collapse;margin:4px 0}td,th{padding:2px 8px;border-bottom:1px solid #ddd;
text-align:right;vertical-align:top}th{background:#f3f3f3}td.l,th.l{text-align:left}
.o0{fill:#2e9e44;background:#2e9e44}.o1{fill:#d62728;background:#d62728}
.o2{fill:#ff8c00;background:#ff8c00}.o3{fill:#8c8c8c;background:#8c8c8c}
.lanebg{fill:#f4f4f4}.grid{stroke:#ddd}.host{stroke:#555;stroke-width:1}
svg text{font-size:11px;fill:#333}.finished{fill:#4a7bd0}.busy{fill:none;stroke:#c05000;
stroke-width:1.5}.finished-key{fill:#4a7bd0}.busy-key{fill:#c05000}
.key-box{display:inline-block;width:10px;height:10px;margin:0 3px 0 10px}
.none{color:#777}.muted{color:#666}code{font-size:12px}
"""


def render(picture, title, describe, note=""):
    """The page. describe(detail): a dict of a run (scan.describe)."""
    sections = [
        "<h1>%s</h1>" % escape(title),
        '<p class="muted">%s</p>' % escape(note) if note else "",
        summary(picture),
        "<h2>Timeline: a lane per worker, grouped by host</h2>",
        legend(picture),
        timeline(picture, lambda lane, start, end, outcome, detail: bar_text(
            describe(detail), lane, start, end, outcome)),
        "<h2>Finished runs and busy workers over time</h2>",
        over_time(picture),
        "<h2>Durations (done and failed apart)</h2>",
        '<p><span class="key-box o0"></span>done<span class="key-box o1"></span>failed</p>',
        histogram(picture),
        "<h2>Failures by reason</h2>",
        failures(picture, describe),
        "<h2>Hosts</h2>",
        hosts(picture),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>%s</title><style>%s</style></head><body>\n%s\n</body></html>\n"
            % (escape(title), STYLE, "\n".join(s for s in sections if s)))


def legend(picture):
    keys = "".join('<span class="key-box o%d"></span>%s' % (n, name)
                   for n, name in enumerate(OUTCOMES))
    if picture.binned:
        how = ("More than %d runs: each lane shows, per %s, the share of the time its "
               "worker spent on runs of each outcome." % (BAR_LIMIT, clock(picture.width)))
    else:
        how = "A bar per run; hover for its name, parameters, duration and reason."
    return '<p>%s <span class="muted">%s</span></p>' % (keys, escape(how))


def bar_text(run, lane, start, end, outcome):
    params = " ".join("%s=%s" % kv for kv in run["params"].items())
    text = "%s%s\n%s, %s on %s" % (run["name"], " (%s)" % params if params else "",
                                    OUTCOMES[outcome], clock(end - start), lane.worker)
    if run.get("reason"):
        text += "\n" + run["reason"]
    if run.get("attempt") and run["attempt"] != 1:
        text += "\nattempt %s" % run["attempt"]
    return text


def summary(picture):
    rows = []
    for kind in ("job", "task"):
        counts = picture.counts[kind]
        total = sum(counts.values())
        if total:
            rows.append('<tr><th class="l">%ss</th><td>%d</td>%s</tr>' % (
                kind, total, "".join('<td>%d %s</td>' % (counts[o], o) for o in OUTCOMES)))
    first, last = picture.first, picture.last
    wall = (last - first) if first is not None and last is not None else None
    finished = sum(sum(c.values()) for c in picture.counts.values())
    busy = sum(lane.busy for lane in picture.lanes.values())
    there = picture.worker_time()
    facts = [("wall time", clock(wall)),
             ("from", stamp(first)), ("to", stamp(last)),
             ("throughput", "%.1f runs/s" % (finished / wall) if wall else "?"),
             ("workers", "%d on %s" % (len(picture.lanes), plural(len(picture.hosts()),
                                                                  "host"))),
             ("time the workers spent running jobs",
              "%.0f%% (%s of %s)" % (100 * busy / there, clock(busy), clock(there))
              if there else "?")]
    if picture.unplaced:
        facts.append(("runs without a worker or start (not drawn)", str(picture.unplaced)))
    return ('<h2>Summary</h2><table class="summary">%s</table><table class="facts">%s'
            '</table>' % ("".join(rows), "".join(
                '<tr><th class="l">%s</th><td class="l">%s</td></tr>' % (escape(k), escape(v))
                for k, v in facts)))


def plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def stamp(seconds):
    if seconds is None:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def failures(picture, describe):
    groups = picture.failures.biggest()
    if not groups:
        return '<p class="none">No failures.</p>'
    rows = []
    for reason, (count, examples) in groups:
        shown = []
        for detail in examples:
            run = describe(detail)
            params = ", ".join("%s=%s" % kv for kv in run["params"].items())
            extra = [params] if params else []
            if run.get("exit_status") is not None:
                extra.append("exit status %s" % run["exit_status"])
            if run.get("signal"):
                extra.append("signal %s" % run["signal"])
            if run.get("worker"):
                extra.append(run["worker"])
            shown.append("<code>%s</code> %s" % (escape(run["name"]),
                                                 escape("; ".join(extra))))
        rows.append('<tr><td class="l">%s</td><td>%d</td><td class="l">%s</td></tr>'
                    % (escape(reason), count, "<br>".join(shown)))
    return ('<table class="failures"><tr><th class="l">reason</th><th>runs</th>'
            '<th class="l">examples</th></tr>%s</table>' % "".join(rows))


def hosts(picture):
    table = picture.hosts()
    if not table:
        return '<p class="none">No worker ran anything.</p>'
    rows = []
    for host, row in sorted(table.items()):
        there = (row["last"] - row["first"]) * row["workers"] if row["first"] is not None \
            else 0
        rows.append('<tr><td class="l">%s</td><td>%d</td><td>%d</td>%s<td>%s</td>'
                    '<td>%s</td><td>%s</td></tr>' % (
                        escape(host), row["workers"], row["runs"],
                        "".join("<td>%d</td>" % row[o] for o in OUTCOMES), clock(row["busy"]),
                        clock(row["busy"] / row["runs"]) if row["runs"] else "?",
                        "%.0f%%" % (100 * row["busy"] / there) if there else "?"))
    return ('<table class="hosts"><tr><th class="l">host</th><th>workers</th><th>runs</th>%s'
            '<th>busy</th><th>mean run</th><th>busy share</th></tr>%s</table>'
            % ("".join("<th>%s</th>" % o for o in OUTCOMES), "".join(rows)))

