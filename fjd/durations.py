"""Durations as people and Slurm write them: ``90s``, ``20m``, ``1h30m``, ``2d``, ``90``
(minutes, as Slurm reads a bare number), ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``,
``D-HH:MM:SS``. One parser for `[control] time_request`, `fjd submit --time-request` and
`fjd workers auto --time`, so that a job's request and an allocation's limit are compared
in the same seconds.

Pure functions; nothing of fjd is imported here (jobfile.py checks the key with it).
"""
import re

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_WORDS = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?:in)?)?(?:(\d+)s)?\Z")
_SLURM = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?\Z")
FORMS = "20m, 1h30m, 90s, 2d, 90 (minutes), 1:30:00 or 1-00:00:00"


def parse_duration(text):
    """Whole seconds of a duration (at least 1); ValueError with the forms it takes."""
    raw = str(text).strip().lower().replace(" ", "")
    seconds = _words(raw) if raw and not raw[-1:].isdigit() else slurm_seconds(raw)
    if seconds is None or seconds < 1:
        raise ValueError("%r is not a duration (write %s)" % (str(text).strip(), FORMS))
    return seconds


def _words(raw):
    found = _WORDS.match(raw)
    if not found or not any(found.groups()):
        return None
    days, hours, minutes, seconds = (int(x or 0) for x in found.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def slurm_seconds(text):
    """Seconds of a Slurm time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS); None if
    it is not one."""
    found = _SLURM.match((text or "").strip())
    if not found:
        return None
    days, first, second, third = found.groups()
    numbers = [int(first)] + [int(x) for x in (second, third) if x is not None]
    if days is not None:
        hours, minutes, seconds = (numbers + [0, 0])[:3]
        return int(days) * 86400 + hours * 3600 + minutes * 60 + seconds
    if len(numbers) == 1:
        return numbers[0] * 60
    if len(numbers) == 2:
        return numbers[0] * 60 + numbers[1]
    return numbers[0] * 3600 + numbers[1] * 60 + numbers[2]


def slurm_time(seconds):
    """A Slurm --time for whole seconds: D-HH:MM:SS or HH:MM:SS."""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    text = "%02d:%02d:%02d" % (rest // 3600, rest % 3600 // 60, rest % 60)
    return "%d-%s" % (days, text) if days else text


def words(seconds):
    """A person's words for a duration: 1h30m, 20m, 45s, 2d3h."""
    seconds = int(round(seconds))
    if seconds <= 0:
        return "0s"
    parts = []
    for unit in "dhms":
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append("%d%s" % (count, unit))
    return "".join(parts[:2])
