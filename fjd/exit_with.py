"""`--exit-with PID` of `fjd dispatcher` and `fjd worker`: daemons started for one process's
lifetime (fjd.Executor(workers=N)) stop, as on SIGTERM, once that process is gone, also
when it was SIGKILLed and could not stop them. Looked at with the daemon's own beat, at
most every CHECK_EVERY seconds: one signal 0 and, where /proc is, one read of its stat
line (a zombie is gone; a process of the same pid started later is another one)."""
import os
import time

CHECK_EVERY = 0.5


def stat_fields(pid):
    """(state, start time) of a process from /proc/PID/stat, or None without /proc."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], fields[19]


class ExitWith:
    """The process a daemon lives for."""

    def __init__(self, pid):
        self.pid = pid
        fields = stat_fields(pid)
        self.started = fields[1] if fields else None
        self.checked = None

    def gone(self, now=None):
        """Whether the process has ended (looked at no more than every CHECK_EVERY s)."""
        now = time.monotonic() if now is None else now
        if self.checked is not None and now - self.checked < CHECK_EVERY:
            return False
        self.checked = now
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        fields = stat_fields(self.pid)
        if fields is None:
            return self.started is not None  # (/proc was there, the process is not)
        return fields[0] in (b"Z", b"X") or fields[1] != self.started
