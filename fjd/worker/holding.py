"""Holding a finished result until it can be filed.

When a result cannot be filed (a full disk, an unwritable folder, a vanished mount), the
worker keeps it, says so once in its log and its heartbeat, takes no new work, and tries
again until it can: a finished job is never run again because its result could not be
filed. Asked to stop meanwhile, it leaves the result in its heartbeat (Stuck).
"""
import logging

from .. import defaults, record_kinds, records
from ..layout import display
from .outcomes import Stuck

log = logging.getLogger("fjd.worker")


class ResultHolder:
    """Retries each step of filing a result until it works; counts the results filed."""

    def __init__(self, presence, journals):
        self.presence = presence
        self.journals = journals
        self.unfiled = None  # inbox name whose result is held when we must stop
        self.finished = 0

    def retry_until_filed(self, action, what, held=None):
        """Do action (a step of filing a result) until it works. While it fails with an
        OSError, say so once, keep the result (held) in the heartbeat, and try again every
        few seconds; FileNotFoundError of the job itself is for the caller. Raises Stuck if
        asked to stop meanwhile."""
        delay = defaults.RETRY_FIRST
        condition = None
        while True:
            try:
                result = action()
            except OSError as error:
                if isinstance(error, FileNotFoundError) and condition is None and \
                        self.presence.root_present():
                    raise
                if self.presence.waiting_for_root(error):  # says so once, waits
                    self.presence.show_held("the queue root is gone", held)
                    self.presence.beat()
                    self.stop_if_asked()
                    continue
                condition = self.say_blocked(condition, error, what, held)
                self.stop_if_asked()
                self.presence.wait_beating(delay)
                delay = min(delay * 2, defaults.RETRY_MAX)
                continue
            if self.presence.root_came_back():
                condition = condition or ("root", what)
            if condition is not None:
                log.info("%s worked again; carrying on", what)
                self.presence.show_held(None, None)
                self.journals.reopen()
                self.presence.beat(force=True)
            return result

    def say_blocked(self, condition, error, what, held):
        """Log and beat once per new condition (errno and step); the condition now."""
        key = (error.errno, what)
        if key != condition:
            blocked = "cannot %s: %s" % (what, error.strerror or error)
            self.presence.show_held(blocked, held)
            log.error("%s; holding the result and trying again until it works", blocked)
            self.presence.beat(force=True)
        return key

    def stop_if_asked(self):
        if self.presence.waker.stopping:
            self.unfiled = self.presence.job
            raise Stuck()

    def file(self, filing, seconds):
        """Run a records.Filing to its end; returns the final name or None."""
        held = record_kinds.held_result(filing.record, filing.state)
        final = self.retry_until_filed(
            filing.advance, "file %s in %s/" % (display(filing.original), filing.state), held)
        self.finished += 1
        if final is not None:
            records.log_filed(final, filing.state, filing.record.get("reason"), seconds)
        return final

    def count_finished(self):
        self.finished += 1
