"""Ranges of an array's tasks as file names: splitting, repairing and merging them.

Every name of an array (``sweep.conf@t101-200.u3f9c2a71~...``) is a hard link of the one
array file and stands for a range of its tasks. A range is split without ever being
covered twice for long, and never left uncovered: the parts before the last are linked
first, then the original name is renamed to the last part, all in one folder. A crash in
between leaves two names in that folder whose ranges overlap as a prefix; repair() trims
the longer one, and the same result comes out whoever finishes the job. Only then do parts
move between folders, each by one rename (DESIGN.md, "Array jobs").
"""
import errno
import os

from . import moves, names
from .layout import display, log


def split(folder, name, parts):
    """Split the range called name in folder into parts, moves.Piece of QueueName fields
    (first, last, attempts, offset, flags, ...) that cover its range in order. Returns
    the new names in the same order. A part whose name exists
    already (a split that was cut short and is being done again) is taken as made."""
    made = moves.piece_names(names.parse(name), parts)
    linked = []
    for new in made[:-1]:
        try:
            os.link(os.path.join(folder, name), os.path.join(folder, new))
            linked.append(new)
        except FileExistsError:
            pass
    if made[-1] != name:
        try:
            os.rename(os.path.join(folder, name), os.path.join(folder, made[-1]))
        except FileNotFoundError:
            # somebody took the whole range meanwhile (fjd cancel): our parts must go
            for new in linked:
                try:
                    os.unlink(os.path.join(folder, new))
                except OSError:
                    pass
            raise
    return made


def repair(folder, found):
    """Fix ranges of an array that overlap in folder because a split or a merge was cut
    short; found: the names in folder. Returns the names left. For two overlapping ranges
    (sorted by first task):

    * same first task: the longer one, if unfinished, keeps only what follows the shorter
      (a split cut short); a range inside a finished one goes (a merge cut short, or a
      split of a finished range that never happened);
    * a range inside a finished range that starts earlier goes too.

    Any other overlap cannot come from fjd; it is logged and left alone.
    """
    left = set(found)
    changed = True
    while changed:
        changed = False
        ranges = sorted(((names.parse(n), n) for n in left),
                        key=lambda item: (item[0].uid or "", item[0].first or 0,
                                          item[0].last or 0))
        ranges = [item for item in ranges if item[0].is_tasks]
        for (a, a_name), (b, b_name) in zip(ranges, ranges[1:]):
            if a.uid != b.uid or b.first > a.last:
                continue
            if a.first == b.first and not b.finished and b.last > a.last:
                rest = moves.repaired_rest(a, b)
                if _rename(folder, b_name, rest):
                    left.discard(b_name)
                    left.add(rest)
                    changed = True
                    break
            elif b.finished and a.first == b.first and a.last <= b.last:
                if _drop(folder, a_name, b_name):
                    left.discard(a_name)
                    changed = True
                    break
            elif a.finished and b.last <= a.last:
                if _drop(folder, b_name, a_name):
                    left.discard(b_name)
                    changed = True
                    break
            else:
                log.warning("%s overlaps %s in %s and cannot be repaired; left alone",
                            display(b_name), display(a_name), display(folder))
    return sorted(left)


def _rename(folder, name, new):
    try:
        os.rename(os.path.join(folder, name), os.path.join(folder, new))
        log.info("finished an interrupted split: %s -> %s", display(name), display(new))
        return True
    except OSError as error:
        log.warning("cannot finish the split of %s: %s", display(name), error.strerror)
        return False


def _drop(folder, name, keeper, quiet=False):
    """Remove a redundant name of the array file (its tasks are covered by keeper)."""
    try:
        os.unlink(os.path.join(folder, name))
        if not quiet:
            log.info("removed %s: its tasks are covered by %s", display(name),
                     display(keeper))
        return True
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ESTALE):
            return True
        log.warning("cannot remove %s: %s", display(name), error.strerror)
        return False


def merge(folder, a_name, b_name):
    """Merge two adjacent finished ranges of one array in folder into one name: the first
    is renamed to the union, then the second removed (a crash in between leaves a range
    inside another, which repair() removes). Returns the merged name."""
    union = moves.merged(names.parse(a_name), names.parse(b_name))
    os.rename(os.path.join(folder, a_name), os.path.join(folder, union))
    _drop(folder, b_name, union, quiet=True)
    return union
