"""Arrays in jobqueue/: a new array file is given its id and the range of all its tasks;
ranges are split into the pieces handed out (hard links named for the range, tickets.py);
finished ranges found in the queue go to arrays/."""
import logging
import os

from .. import arrays, folders, moves, names, tickets
from ..jobfile import JobError
from ..layout import display

log = logging.getLogger("fjd.dispatcher")


class ArrayRanges:
    """The arrays' specs (array id -> ArraySpec), read once, for the row offsets of table
    arrays' ranges."""

    def __init__(self, layout, listing, rejects, max_job_bytes):
        self.layout = layout
        self.listing = listing
        self.rejects = rejects  # an invalid array file goes to failed/
        self.max_job_bytes = max_job_bytes
        self.specs = {}  # array id -> ArraySpec, for ranges of table arrays

    def start(self, name):
        """Give a new array file its id and the range of all its tasks (one rename); the
        new name, or None when the file is not a valid array (it goes to failed/)."""
        path = os.path.join(self.layout.jobqueue, name)
        try:
            fd = folders.open_at(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            spec = arrays.read_spec(fd, self.max_job_bytes)
        except JobError as error:
            self.rejects.fail_file(name, str(error))
            return None
        except OSError as error:
            log.warning("cannot read the array %s: %s", display(name), error.strerror)
            return None
        finally:
            os.close(fd)
        queue_name = names.parse(name)
        uid = names.nonce()
        self.specs[uid] = spec
        ranged = moves.array_range(queue_name.original, spec.count, uid, spec.data_offset)
        try:
            folders.rename(path, os.path.join(self.layout.jobqueue, ranged))
        except OSError as error:
            log.warning("cannot start the array %s: %s", display(name), error.strerror)
            return None
        self.listing.inherit_priority(ranged, name)
        log.info("array %s: %d tasks, id %s", display(queue_name.original), spec.count, uid)
        return ranged

    def split_off(self, name, queue_name, size):
        """The first `size` tasks of a queued range, to hand out now; the rest goes back to
        the front of the queue (split off within jobqueue/, see tickets.py). None if the
        range is gone."""
        if size >= queue_name.size:
            return name
        cut = queue_name.first + size
        offset = None
        if queue_name.offset is not None:
            offset = self.row_offset(name, queue_name, cut)
        try:
            piece, rest = tickets.split(self.layout.jobqueue, name,
                                        moves.handed_out(queue_name, cut, offset))
        except FileNotFoundError:
            return None  # cancelled meanwhile
        except OSError as error:
            log.warning("cannot split %s: %s; handing it out whole", display(name),
                        error.strerror)
            return name
        self.listing.pending.appendleft(rest)
        self.listing.inherit_priority(rest, name)
        self.listing.inherit_priority(piece, name)
        return piece

    def row_offset(self, name, queue_name, task):
        """Where the row of task starts in a table array (to name the rest of a range)."""
        try:
            fd = folders.open_at(os.path.join(self.layout.jobqueue, name),
                                 os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            spec = self.specs.get(queue_name.uid)
            if spec is None:
                spec = self.specs[queue_name.uid] = arrays.read_spec(fd, self.max_job_bytes)
            return spec.row_offset(fd, task, queue_name.first, queue_name.offset)
        except (OSError, JobError):
            return None
        finally:
            os.close(fd)

    def move_finished(self, name):
        """A finished range in jobqueue/ (put back by hand?) belongs in arrays/."""
        try:
            folders.rename(os.path.join(self.layout.jobqueue, name),
                           os.path.join(self.layout.arrays, name))
        except OSError:
            pass
