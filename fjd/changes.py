"""Whether an idle dispatcher's empty jobqueue/ on a shared mount needs listing again.

A fresh listing there costs the file server a dozen requests (a dot-file created and
removed so that the client drops its cached listing, then the listing itself); a stat of
the folder costs one. A name arriving changes the folder's mtime, so while the stat shows
the folder as it was, nothing arrived and the listing can wait. Three things keep that
safe (DESIGN.md, "Quiet idling on a shared mount"):

* SFTP and many NFS servers give whole-second mtimes, so a name added in the second of the
  stat that saw the folder does not change what later stats show. The stat is trusted only
  once two listings at least CHANGE_SETTLE seconds apart saw the same stat (the later one made
  without the dot-file, which itself changes the mtime): anything added after that falls
  in a later second. Until the confirming listing is due, a poll that finds the stat as
  the last listing left it lists nothing.
* A mount may answer a stat from a cache (sshfs's own cache, NFS attribute caching). A
  full fresh listing is still made every CHANGE_BACKSTOP seconds; when it finds jobs that an
  unchanged stat did not announce, the stat is not trusted for CHANGE_DISTRUST seconds (the
  dispatcher then lists afresh at every poll, as without this gate).
* A hint (a submitter's or a worker's datagram) always makes a fresh listing; this gate
  only decides what an idle poll without one does.
"""
import os

from . import defaults

SKIP = "skip"  # the stat shows the folder as last confirmed: no listing
CONFIRM = "confirm"  # list without the dot-file trick, to confirm the stat
FRESH = "fresh"  # list afresh (the dot-file trick, then the listing)
BACKSTOP_DUE = "backstop"  # list afresh although the stat says nothing changed


def signature(stat_result):
    """What of a folder's stat changes when a name is added or removed (never atime)."""
    return (stat_result.st_ino, stat_result.st_mtime_ns, stat_result.st_ctime_ns,
            stat_result.st_size, stat_result.st_nlink)


class ChangeGate:
    """Decides, from one stat, how an idle poll looks at an empty folder (see the module's
    docstring); stat() returns the folder's signature, or None when it cannot be read."""

    def __init__(self, stat, settle=defaults.CHANGE_SETTLE,
                 backstop=defaults.CHANGE_BACKSTOP, distrust=defaults.CHANGE_DISTRUST):
        self.stat = stat
        self.settle = settle
        self.backstop = backstop
        self.distrust = distrust
        self.candidate = None  # (signature, time it was first seen before a listing)
        self.confirmed = None  # a signature two listings CHANGE_SETTLE apart saw
        self.last_fresh = None  # time of the last fresh listing
        self.distrusted_until = None

    def trusted(self, now):
        return self.distrusted_until is None or now >= self.distrusted_until

    def decide(self, now):
        """SKIP, CONFIRM, FRESH or BACKSTOP_DUE for an idle poll at now."""
        if not self.trusted(now) or self.candidate is None:
            return FRESH
        current = self.stat()
        if current is None:
            return FRESH
        if current == self.confirmed:
            if self.last_fresh is not None and now - self.last_fresh >= self.backstop:
                return BACKSTOP_DUE
            return SKIP
        if current == self.candidate[0]:
            # unchanged since the last listing: confirm it once the second is surely over
            # (a name added in it would not show in the stat), and till then wait
            return CONFIRM if now - self.candidate[1] >= self.settle else SKIP
        return FRESH

    def before_listing(self, now, fresh):
        """Called right before every listing of the folder (after the dot-file trick when
        fresh): the stat taken here is what the listing is known to cover."""
        if fresh:
            self.last_fresh = now
        current = self.stat()
        if current is None:
            self.candidate = self.confirmed = None
            return
        if fresh or self.candidate is None or current != self.candidate[0]:
            # the folder changed (our own dot-file included) in this second: anything
            # added later in it would leave the mtime as it is, so wait for a confirmation
            self.candidate = (current, now)
            if current != self.confirmed:
                self.confirmed = None
        elif now - self.candidate[1] >= self.settle:
            self.confirmed = current

    def missed(self, now):
        """A backstop listing found jobs although the stat said nothing changed: this
        mount's stat comes from a cache."""
        self.distrusted_until = now + self.distrust
        self.candidate = self.confirmed = None


def folder_signature(path, lstat=os.lstat):
    """signature() of path, or None when it cannot be read."""
    try:
        return signature(lstat(path))
    except OSError:
        return None
