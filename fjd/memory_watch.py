"""The resident memory of a job's process group, for a job that asked for memory
([control] memory): read from /proc about once a second while it runs, and the reason it is
stopped when it uses more (DESIGN.md, "Resources"). Linux only; elsewhere nothing is
measured and nothing is stopped."""
import os

from .resources import format_size

CHECK_EVERY = 0.5  # seconds between looks at a job's memory
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def descendants(pid):
    """pid and the processes it started, and theirs (/proc/PID/task/TID/children), or None
    where the kernel does not say (then every process is looked at)."""
    found, todo = [], [str(pid)]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir("/proc/%s/task" % current)
        except OSError:
            continue
        for task in tasks:
            try:
                with open("/proc/%s/task/%s/children" % (current, task), "rb") as handle:
                    todo.extend(child.decode() for child in handle.read().split())
            except FileNotFoundError:
                if current == str(pid):
                    return None  # no children files in this kernel
            except OSError:
                continue
    return found


def group_rss(pgid):
    """Bytes resident in the processes of process group pgid (0 when none is found): the
    group leader's descendants that are still in the group (a process that left it left
    the job too). A process's own stat line says its group (field 5) and its resident
    pages (field 24)."""
    total = 0
    pids = descendants(pgid)
    if pids is None:
        try:
            pids = [entry for entry in os.listdir("/proc") if entry.isdigit()]
        except OSError:
            return 0
    for pid in pids:
        try:
            with open("/proc/%s/stat" % pid, "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        try:
            if int(fields[2]) == pgid:
                total += int(fields[21]) * _PAGE
        except (IndexError, ValueError):
            continue
    return total


def over_limit_reason(used, limit):
    """`used 4.3 GB of memory, more than the 4 GB it asked for`."""
    return "used %s of memory, more than the %s it asked for; its process group was " \
           "killed" % (format_size(used), format_size(limit))
