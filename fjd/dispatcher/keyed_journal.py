"""The dispatcher's own journal, whose records carry keys: a record is never written twice
when a dispatcher died between recording something and doing it (DESIGN.md, "Records")."""
import os

from .. import journal, record_kinds


class DispatcherJournal:
    """The dispatcher's own journal (made on first use) and the keys of the records that
    dispatchers before it wrote, so that a record is never written twice when a dispatcher
    died between recording something and doing it."""

    def __init__(self, layout, writer_id, header):
        self.layout = layout
        self.writer = journal.JournalWriter(layout.records, writer_id, header)
        self.keys = None

    def seen(self, key):
        if self.keys is None:
            self.keys = set()
            for path in journal.journal_paths(self.layout.records):
                if not os.path.basename(path).startswith(("dispatcher-", "cancel-")) or \
                        path == self.writer.path:
                    continue
                for _, record in journal.find(path, [record_kinds.HAS_KEY]):
                    self.keys.add(record.get("key"))
        return key in self.keys

    def append(self, record, size=1):
        """Append a record unless one with its key was written before; the offset or None."""
        key = record.get("key")
        if key is not None:
            if self.seen(key):
                return None
            self.keys.add(key)
        return self.writer.append(record, size)

    def close(self):
        self.writer.close()
