"""A worker's journals: records/<worker id>.journal (a line per result) and the output
journals .out and .err its jobs write to directly (execute.OutputJournal)."""
import time

from .. import record_kinds, spawn
from ..execute import OutputJournal
from ..journal import JournalWriter


class Journals:
    def __init__(self, layout):
        self.layout = layout
        self.records = self.out = self.err = None
        self.streams_moved = False  # our log left descriptors 1 and 2 (FUSE roots)

    def move_own_streams(self):
        """On FUSE the output journals take descriptors 1 and 2 (jobs inherit them as they
        are): our own stdout and stderr move away first, once."""
        if self.layout.fuse and not self.streams_moved:
            spawn.free_standard_descriptors()
            self.streams_moved = True

    def open(self, worker_id, host, pid):
        self.records = JournalWriter(
            self.layout.records, worker_id,
            record_kinds.writer_info("worker", host, pid, time.time(), self.layout.root),
            direct=self.layout.fuse)
        home = self.layout.fuse and self.streams_moved
        self.out = OutputJournal(self.layout.records, worker_id, "out", 1 if home else None)
        self.err = OutputJournal(self.layout.records, worker_id, "err", 2 if home else None)

    def reopen(self):
        """After a failure, open the journals afresh: a descriptor of a mount that went away
        and came back (sshfs reconnected) keeps failing."""
        for journal in (self.records, self.out, self.err):
            if journal is not None:
                journal.reopen()

    def close(self):
        for journal in (self.records, self.out, self.err):
            if journal is not None:
                journal.close()
