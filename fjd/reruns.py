"""`fjd run` of a sweep that is in the queue already: running the same command line again
(after Ctrl-C, a crash, a lost terminal) picks up where the last run stopped instead of
queuing a second copy beside what is left of the first. A sweep is the same when a file
`fjd submit` named with the same label holds exactly the same bytes (an array's ranges are
hard links of its one file, so they hold them too)."""
import os

from . import names
from .fsops import list_names


def same_sweep(layout, label, data):
    """(unfinished, finished): paths of the sweep's files still to run (queued, waiting, in
    an inbox) and of it finished (done/, failed/, cancelled/), relative to the root."""
    unfinished, finished = [], []
    folders = [("jobqueue", unfinished), ("waiting", unfinished)]
    folders += [(os.path.join("jobpod", w), unfinished) for w in list_names(layout.jobpod)]
    folders += [("done", finished), ("failed", finished), ("cancelled", finished)]
    for folder, found in folders:
        path = os.path.join(layout.root, folder)
        for name in list_names(path) or ():
            if holds(os.path.join(path, name), name, label, data):
                found.append(os.path.join(folder, name))
    return unfinished, finished


def holds(path, name, label, data):
    """Whether the file at path, named name, is a submitted file of label with data."""
    original = names.parse(name).original if "@" in name else name
    if not (names.submitted(original) and original.endswith("-" + label)):
        return False
    try:
        if os.lstat(path).st_size != len(data):
            return False
        with open(path, "rb") as handle:
            return handle.read(len(data) + 1) == data
    except OSError:
        return False
