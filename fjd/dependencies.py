"""Dependencies between jobs and arrays, as pure functions (DESIGN.md, "Dependencies").

A job file says what it waits for in ``[control]``::

    after: prepare.conf sweep.conf#3     every one done (an array: every task done)
    after_finished: sweep.conf           every one finished, whatever the outcome
    after_each: sweep.conf               (an array) task N after task N of sweep.conf

Names are separated by blanks or commas; ``NAME#N`` is one task of an array. What the
dispatcher does with a waiting job follows from the states of what it names (verdict):
release it, cancel it (a dependency of ``after`` failed or was cancelled), or wait. Nothing
here touches the filesystem.
"""
import collections
import re

from .jobfile import JobError, parse_config
from .names import parse_task_name

AFTER, AFTER_FINISHED, AFTER_EACH = "after", "after_finished", "after_each"
KEYS = (AFTER, AFTER_FINISHED, AFTER_EACH)
DONE, FAILED, CANCELLED = "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
RELEASE, CANCEL, WAIT = "release", "cancel", "wait"

_SECTION = re.compile(rb"^\[([^\]\n]*)\]", re.MULTILINE)
_CONTROL = re.compile(rb"^\[\s*control\s*\][^\n]*\n?", re.MULTILINE | re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s,]+")


class Dependencies(collections.namedtuple("Dependencies", KEYS)):
    """The names a job waits for, by key (tuples of names, in the order given)."""

    def __bool__(self):
        return bool(self.after or self.after_finished or self.after_each)

    def targets(self):
        """Every name waited for, once each, in order."""
        seen = []
        for name in self.after + self.after_finished + self.after_each:
            if name not in seen:
                seen.append(name)
        return seen

    def control_lines(self):
        """(key, value) of the [control] lines that say this."""
        return [(key, " ".join(names)) for key, names in zip(KEYS, self) if names]


NONE = Dependencies((), (), ())


def split_names(value):
    """The names in an ``after`` value: blanks or commas between them."""
    return tuple(name for name in _SEPARATORS.split(value or "") if name)


def make(after=(), after_finished=(), after_each=()):
    """Dependencies from names or strings of names (a str is split)."""
    def names_of(value):
        if value is None:
            return ()
        if isinstance(value, str):
            return split_names(value)
        found = ()
        for item in value:
            found += split_names(str(item))
        return found
    return Dependencies(names_of(after), names_of(after_finished), names_of(after_each))


def may_declare(head):
    """Whether a job file's first bytes may hold after keys (a cheap test first)."""
    return b"after" in head.lower()


def parse_head(head):
    """The Dependencies a job file's first bytes declare in [control] (read as the worker
    reads the file: a later value wins, keys are not case-sensitive); NONE when there are
    none or the file is no valid job (its worker says why)."""
    if not may_declare(head):
        return NONE
    cut = len(head)
    for section in _SECTION.finditer(head):
        if section.group(1).strip().lower() == b"params":
            cut = section.start()
            break
    if cut == len(head) and not head.endswith(b"\n"):
        cut = head.rfind(b"\n") + 1  # a head cut short mid-line
    try:
        parser = parse_config(head[:cut])
    except JobError:
        return NONE
    if not parser.has_section("control"):
        return NONE
    control = parser["control"]
    return Dependencies(*(split_names(control.get(key, "")) for key in KEYS))


def add_to_job(data, dependencies):
    """A job file's bytes with the after keys written at the top of its [control] section
    (a job file without one gets none: its worker fails it and says why)."""
    lines = "".join("%s: %s\n" % kv for kv in dependencies.control_lines()).encode()
    match = _CONTROL.search(data)
    if match is None or not lines:
        return data
    head = data[:match.end()]
    if not head.endswith(b"\n"):
        head += b"\n"
    return head + lines + data[match.end():]


def split_target(name):
    """(job or array name, task index or None) of a name waited for."""
    task = parse_task_name(name)
    return task if task is not None else (name, None)


def satisfies(key, state):
    """Whether a dependency in state lets a waiter of key go (after: done; after_finished:
    any end; after_each: the array has ended, and its failed tasks cancel the waiter's)."""
    return state == DONE if key == AFTER else state in FINISHED


def verdict(dependencies, states):
    """(RELEASE | CANCEL | WAIT, the name that cancels, its state) for a waiting job whose
    dependencies are in states (name -> done/failed/cancelled, or None: not finished)."""
    for name in dependencies.after:
        state = states.get(name)
        if state in (FAILED, CANCELLED):
            return CANCEL, name, state
    for key, names in zip(KEYS, dependencies):
        for name in names:
            if not satisfies(key, states.get(name)):
                return WAIT, None, None
    return RELEASE, None, None


def cancel_reason(name, state):
    """Why a waiting job was cancelled: ``dependency NAME failed`` (or ``was cancelled``)."""
    return "dependency %s %s" % (name, "failed" if state == FAILED else "was cancelled")


def unknown_reason(key, name):
    return "%s: names %s, which is not in this queue" % (key, name)


def cycle_reason(path):
    return "dependency cycle: " + " -> ".join(path)


def find_cycle(start, edges):
    """A path [start, ..., start] through edges (name -> names it waits for) when start
    waits on itself, however indirectly; else None. Iterative: chains may be long."""
    parents = {start: None}
    stack = [start]
    while stack:
        node = stack.pop()
        for nxt in edges.get(node, ()):
            if nxt == start:
                path = []
                while node is not None:
                    path.append(node)
                    node = parents[node]
                return path[::-1] + [start]
            if nxt not in parents:
                parents[nxt] = node
                stack.append(nxt)
    return None
