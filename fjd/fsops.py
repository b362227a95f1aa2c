"""The filesystem primitives every fjd process shares: claims by rename, listings, whole-file
writes, and reads that cost a shared mount's file server as few requests as can be.

Names (which folder, which file) live in layout.py; the grammar of names in names.py. These
functions know nothing of a queue: they take paths, and follow DESIGN.md's rules for every
file operation (rule 1: a rename that loses is not an error; rule 3: after an error, look).
"""
import errno
import os

from . import folders
from .names import is_ignored

# Errors that mean "somebody else got there first" (DESIGN.md rule 1).
GONE = (errno.ENOENT, errno.ESTALE)


# Filesystems whose other clients' changes this kernel learns late (attribute, listing and
# lookup caches) and on which leases say nothing about other hosts' writers.
LOCAL_FILESYSTEMS = {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "ramfs", "overlay",
                     "zfs", "f2fs", "reiserfs", "jfs", "bcachefs", "vfat", "exfat", "hfsplus"}


def filesystem_type(path):
    """The type of the filesystem holding path, from /proc/self/mountinfo ("" if unknown)."""
    try:
        path = os.path.realpath(path)
        with open("/proc/self/mountinfo", "rb") as handle:
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    best, best_type = "", ""
    for line in lines:
        fields = line.split(" ")
        try:
            mount_point = fields[4].encode().decode("unicode_escape")
            fs_type = fields[fields.index("-", 6) + 1]
        except (IndexError, ValueError):
            continue
        inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, fs_type
    return best_type


def is_shared_filesystem(path):
    """True for NFS, FUSE (sshfs), SMB, cluster filesystems, and any type we do not know
    (an unreadable /proc/self/mountinfo counts as a local disk)."""
    kind = filesystem_type(path)
    return bool(kind) and kind not in LOCAL_FILESYSTEMS


def refresh_listing(path):
    """Make this client's next listing of path fresh on a shared mount.

    sshfs caches listings for 20 s and NFS for up to a minute, but both drop a folder's
    cache when this client changes the folder: creating and removing a dot-name does that,
    unless this process changed the folder since it last listed it (a job moved out, an
    announcement taken), which did the same already.
    """
    if folders.changed_since_listed(path):
        return
    probe = os.path.join(path, ".fjd-refresh-%d-%s" % (os.getpid(), os.urandom(3).hex()))
    try:
        os.close(folders.open_at(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        folders.unlink(probe)
    except OSError:
        pass
    folders.forget_changes(path)


def list_names(path):
    """Names in a folder that are not being written, unsorted; [] if the folder is missing."""
    try:
        with folders.scandir(path) as entries:
            return [e.name for e in entries if not is_ignored(e.name)]
    except FileNotFoundError:
        return []


def try_rename(src, dst):
    """Rename src to dst; False if src is gone (somebody else won). Never overwrites a claim.

    After an error it checks whether the rename happened anyway (NFS retries, rule 3).
    """
    try:
        folders.rename(src, dst)
        return True
    except OSError as error:
        if not folders.lexists(src) and folders.lexists(dst):
            return True
        if error.errno in GONE:
            return False
        raise


def write_file_atomic(path, data, mode=0o644):
    """Write bytes under a temporary dot-name, then rename into place (replacing path).

    Readers see the old content or the new, never a part; a failed write leaves no
    temporary file behind."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, ".%s.%d.%s.tmp" % (name[:200], os.getpid(),
                                                     os.urandom(3).hex()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_scratch = []  # one memfd per process for read_spliced, reused


def read_spliced(fd, limit):
    """Up to limit bytes of an open file by sendfile into a memory file (no read(), so no
    attribute request on FUSE); None where that cannot be done (the caller reads)."""
    if not hasattr(os, "memfd_create") or not hasattr(os, "sendfile"):
        return None
    try:
        if not _scratch:
            _scratch.append(os.memfd_create("fjd-job", getattr(os, "MFD_CLOEXEC", 1)))
        scratch = _scratch[0]
        os.lseek(scratch, 0, os.SEEK_SET)
        got = 0
        while got < limit:
            sent = os.sendfile(scratch, fd, got, min(limit - got, 1 << 20))
            if not sent:
                break
            got += sent
        data = os.pread(scratch, got, 0)
        os.ftruncate(scratch, 0)
        return data
    except OSError:
        return None


def write_all(fd, data):
    """Write all of data to fd (os.write may write less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
