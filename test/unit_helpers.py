"""What several unit test files share: a clock that moves only when told, a file writer,
and the ranges an arrays/ folder holds. Unit tests use no subprocesses, no daemons and no
sleeping; the few that need real files use tmp_path."""
import os

from fjd import names


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def put(path, data):
    """Write data (str or bytes) to path; returns path as a str."""
    path = str(path)
    with open(path, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    return path


def ranges(folder):
    """(first, last, flags) of every name in folder, in task order."""
    parsed = [names.parse(n) for n in os.listdir(folder)]
    return sorted((p.first, p.last, p.flags) for p in parsed)
