"""Job files written the way a user's tool writes them: under a dot-name, then renamed into
jobqueue/ (the rename is what makes a job visible to the dispatcher), as fast as Python can,
for the scenarios that time fjd without its `fjd submit` (throughput, million, runbig).
Standard library only.
"""
import os
import time

from harness import JOB, say


def write_jobs(folder, names, data=JOB):
    """Write job files the safe way (dot-name, then rename), as fast as Python can.

    Returns the seconds it took. The rename is what makes a job visible to the dispatcher.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    opn, wrt, cls, ren = os.open, os.write, os.close, os.rename
    try:
        started = time.monotonic()
        for name in names:
            tmp = "." + name + ".tmp"
            fd = opn(tmp, flags, 0o644, dir_fd=dir_fd)
            wrt(fd, data)
            cls(fd)
            ren(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return time.monotonic() - started
    finally:
        os.close(dir_fd)


def fill_queue(folder, total, chunk=100000):
    """Write `total` no-op job files into folder in chunks, saying how far it got when there
    is more than one chunk (a big queue takes a while); returns the seconds it took."""
    write_s = 0.0
    for first in range(0, total, chunk):
        names = ["job%07d.conf" % i for i in range(first, min(total, first + chunk))]
        write_s += write_jobs(folder, names)
        if total > chunk:
            say("  %d written (%.0f files/s)" % (first + len(names),
                                                 (first + len(names)) / write_s))
    return write_s


def room_for(folder, files):
    """Whether folder's filesystem has the inodes and the space for this many job files."""
    need_inodes, need_bytes = int(files * 1.05) + 1000, files * 4096 * 2
    vfs = os.statvfs(folder)
    return not (vfs.f_favail and vfs.f_favail < need_inodes
                or vfs.f_bavail * vfs.f_frsize < need_bytes)


def stage_jobs(folder, names, data=JOB):
    """Write job files under their temporary dot-names only (the dispatcher ignores them)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            fd = os.open("." + name + ".tmp", flags, 0o644, dir_fd=dir_fd)
            os.write(fd, data)
            os.close(fd)
    finally:
        os.close(dir_fd)


def publish_jobs(folder, names):
    """Rename staged dot-names to their job names; returns the seconds it took."""
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    ren = os.rename
    try:
        started = time.monotonic()
        for name in names:
            ren("." + name + ".tmp", name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return time.monotonic() - started
    finally:
        os.close(dir_fd)
