"""When the filesystem fails: one log line per condition, back off, carry on when it clears.

A full disk, an unwritable folder, a vanished mount or a stale NFS handle makes file
operations fail with OSError (ENOSPC, EDQUOT, EACCES, EPERM, EROFS, EXDEV, EIO, ENOTCONN,
ESTALE, ...). A daemon never dies of it: the failed step is given up for now (every step is
a rename that can simply be tried again), the condition is logged once, not per retry, the
daemon waits a little longer each time (at most defaults.FAULT_MAX_DELAY seconds, so it carries on within
seconds once the condition clears), and says so when it works again (DESIGN.md, "Faults").
"""
import errno
import os

from . import defaults, folders
from .layout import display

# conditions that may mean the queue root itself is gone (unmounted, replaced)
ROOT_GONE = (errno.ENOENT, errno.ENOTCONN, errno.ESTALE, errno.EIO, errno.ENODEV)


def describe(error):
    what = error.strerror or str(error)
    name = errno.errorcode.get(error.errno, "")
    where = " (%s)" % display(error.filename) if getattr(error, "filename", None) else ""
    return "%s%s%s" % (what, " [%s]" % name if name else "", where)


class Faults:
    """The conditions a daemon is in, keyed by what it was doing and the error number."""

    def __init__(self, log):
        self.log = log
        self.active = {}  # (what, errno) -> message
        self.delay = defaults.FAULT_FIRST_DELAY

    def failed(self, what, error):
        """Note a failure; logs it the first time it happens. Returns the delay to wait."""
        key = (what, getattr(error, "errno", None))
        folders.drop()  # an open folder may be the stale one: go by path again
        if key not in self.active:
            self.active[key] = describe(error)
            self.log.error("cannot %s: %s; trying again every few seconds", what,
                           self.active[key])
        else:
            self.delay = min(self.delay * 2, defaults.FAULT_MAX_DELAY)
        return self.delay

    def cleared(self, what):
        """The thing works again: say so for each condition it was in. True if it was in
        one."""
        done = [key for key in self.active if key[0] == what]
        for key in done:
            self.log.warning("%s works again (it failed with: %s)", what, self.active.pop(key))
        if not self.active:
            self.delay = defaults.FAULT_FIRST_DELAY
        return bool(done)

    def __bool__(self):
        return bool(self.active)


def root_gone(error):
    return getattr(error, "errno", None) in ROOT_GONE


def waiting_for_root(layout, expected, log, waker, state):
    """Called when the root may be gone: True while it is (after waiting a little), False
    when it is there. state is a dict the caller keeps, to log the condition once."""
    if layout.present(expected):
        if state.get("gone"):
            log.warning("the queue root %s is back; carrying on", display(layout.root))
            state["gone"] = False
        return False
    if not state.get("gone"):
        state["gone"] = True
        log.error("the queue root %s is gone (unmounted, or replaced by another folder: its "
                  "%s is missing); waiting for it to come back, creating nothing there",
                  display(layout.root), os.path.basename(layout.identity_path))
    waker.sleep(1.0)
    return True
