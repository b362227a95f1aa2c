"""What leaves jobqueue/ for failed/ without running: files that are not jobs, invalid
arrays, jobs cut short --max-attempts times; and claims in failed/ or cancelled/ that a
process died before filing.

A file is claimed first (renamed to a private `.NAME.<nonce>.part` in failed/, DESIGN.md
rule 2), then recorded and filed: something that cannot be moved gets one warning, not a
record every cycle.
"""
import logging
import os
import stat
import time

from .. import defaults, faults, folders, moves, names, record_kinds, records
from ..jobfile import kind_of
from ..layout import display, hostname
from ..fsops import try_rename

log = logging.getLogger("fjd.dispatcher")


def exhausted_reason(queue_name):
    if moves.died_with_worker(queue_name):
        return ("its worker died while running it %d times; see --max-attempts"
                % queue_name.attempts)
    if moves.sent_stop_signal(queue_name):
        return ("it was cut short %d times, the last time because it sent a stop "
                "signal to its own worker; see --max-attempts" % queue_name.attempts)
    return ("it was cut short %d times (its worker stopped or died while running it); "
            "see --max-attempts" % queue_name.attempts)


def odd_reason(mode):
    """Why an entry of jobqueue/ that is not a regular file is no job."""
    if stat.S_ISLNK(mode):
        return ("it is a symbolic link; fjd does not follow links in jobqueue/ "
                "(queue a copy of the file instead)")
    return "it is %s, not a job file" % kind_of(mode)


class Rejects:
    """Files the dispatcher fails: the names it could not move (tried again now and then),
    and the filings that wait for their folder to become writable."""

    def __init__(self, layout, journal, forget, max_attempts):
        self.layout = layout
        self.journal = journal  # the dispatcher's DispatcherJournal
        self.forget = forget  # drops a name from the listing's priorities
        self.max_attempts = max_attempts
        self.unmovable = {}  # names in jobqueue/ that could not be moved -> when (monotonic)
        self.warned = set()  # ... and whose warning was given (once)
        self.waiting = []  # Filings that could not be completed yet (retried by maintain)

    def hold(self, filing):
        """A filing to finish as soon as its folder can be written."""
        self.waiting.append(filing)

    def being_filed(self):
        """The paths of the files whose filings wait."""
        return {filing.path for filing in self.waiting}

    def reject_odd(self, odd):
        for name, mode in odd:
            self.reject(name, mode)

    def reject(self, name, mode):
        """Move something that is not a job file to failed/, with the reason."""
        if self.is_unmovable(name):
            return
        self.fail_file(name, odd_reason(mode))

    def cannot_move(self, name, what, error):
        """Something in jobqueue/ that we may not move (another user's file in a sticky
        folder, or failed/ unwritable): left where it is, with one warning, and tried again
        only every UNMOVABLE_RETRY seconds (the folder may become writable)."""
        self.unmovable[name] = time.monotonic()
        self.forget(name)
        if name not in self.warned:
            self.warned.add(name)
            log.warning("cannot %s %s: %s; it stays in jobqueue/ (its owner can remove it; "
                        "fjd tries again now and then)", what, display(name),
                        faults.describe(error))

    def is_unmovable(self, name):
        since = self.unmovable.get(name)
        if since is None:
            return False
        if time.monotonic() - since < defaults.UNMOVABLE_RETRY:
            return True
        del self.unmovable[name]
        return False

    def fail_if_exhausted(self, name, queue_name=None):
        """A job (or a task) cut short --max-attempts times fails instead of running again;
        True when it did."""
        queue_name = queue_name or names.parse(name)
        if queue_name.attempts < self.max_attempts:
            return False
        self.fail_exhausted(name, queue_name)
        return True

    def fail_exhausted(self, name, queue_name):
        reason = exhausted_reason(queue_name)
        if not queue_name.is_tasks:
            return self.fail_file(name, reason, attempt=queue_name.attempts,
                                  key=record_kinds.exhausted_key(name))
        record = record_kinds.task_exhausted(
            queue_name.original, queue_name.uid, queue_name.first, reason,
            queue_name.attempts, time.time(), record_kinds.exhausted_key(name))
        try:
            self.journal.append(record)
            target = moves.exhausted_range(queue_name)
            folders.rename(os.path.join(self.layout.jobqueue, name),
                           os.path.join(self.layout.arrays, target))
        except OSError as error:
            log.warning("cannot fail %s: %s", display(name), error.strerror)
            return
        log.warning("%s failed: %s", display(names.task_name(queue_name.original,
                                                           queue_name.first)), reason)

    def fail_file(self, name, reason, attempt=None, key=None):
        """Move something from jobqueue/ to failed/ with a record of why: claimed first."""
        if self.is_unmovable(name):
            return
        queue_name = names.parse(name)
        claim = os.path.join(self.layout.failed, moves.claim_name(name, names.nonce(3)))
        try:
            if not try_rename(os.path.join(self.layout.jobqueue, name), claim):
                return  # gone meanwhile
        except OSError as error:
            if faults.root_gone(error):
                raise
            return self.cannot_move(name, "move to failed/ (%s)" % reason, error)
        record = record_kinds.job_rejected(
            name, queue_name.original, reason, hostname(),
            queue_name.attempts if attempt is None else attempt, time.time(),
            key or record_kinds.claim_key(record_kinds.FAILED, os.path.basename(claim)))
        filing = records.Filing(self.layout, self.journal, claim, queue_name.original,
                                record_kinds.FAILED, record)
        try:
            final = filing.advance()
        except OSError as error:
            log.warning("cannot file %s in failed/ (%s): %s; it waits there as %s",
                        display(name), reason, faults.describe(error), display(claim))
            self.hold(filing)
            return
        if final:
            log.warning("%s -> failed/%s: %s", display(name), display(final), reason)


class Claims:
    """Claims in failed/ (a dispatcher's) or cancelled/ (`fjd cancel`'s) whose claimer died
    before filing them: those seen at start are filed by the lock holder once
    CLAIM_PATIENCE has passed (a live claimer files within milliseconds)."""

    def __init__(self, layout, journal):
        self.layout = layout
        self.journal = journal
        self.since = None  # when the claims were seen (monotonic)
        self.seen = set()  # (state, claim name) seen at start, not adopted yet

    def orphans(self):
        """(state, claim name) of the files claimed into failed/ or cancelled/ (renamed to
        a private .NAME.nonce.part there) and not filed yet."""
        for state in (record_kinds.FAILED, record_kinds.CANCELLED):
            for name in folders.listdir(self.layout.folder(state)):
                if moves.is_claim(name):
                    yield state, name

    def note(self):
        """Take note of the claims there are now (at start)."""
        self.since, self.seen = time.monotonic(), set(self.orphans())

    def adopt(self):
        """File, with a record that says so, the claims noted CLAIM_PATIENCE ago that are
        still there."""
        if not self.seen or time.monotonic() - self.since < defaults.CLAIM_PATIENCE:
            return
        seen, self.since, self.seen = self.seen, time.monotonic(), set()
        for state, name in self.orphans():
            if (state, name) in seen:
                self.adopt_one(state, name)

    def adopt_one(self, state, name):
        folder = self.layout.folder(state)
        original = moves.claimed_original(name)
        record = record_kinds.orphan_claim(
            original, state, time.time(), "%s by a process that died before it could file "
            "it" % ("rejected" if state == record_kinds.FAILED else "cancelled"),
            record_kinds.claim_key(state, name))
        filing = records.Filing(self.layout, self.journal, os.path.join(folder, name),
                                original, state, record)
        if filing.advance():
            log.warning("filed %s, left by a process that died, in %s/%s",
                        display(name), state, display(filing.final))
