"""Filing finished jobs (DESIGN.md, "Records").

A finished single job is filed in two steps: its record goes into the writer's journal
(records/<writer>.journal), then the job file moves into done/, failed/ or cancelled/ under
a name nobody has: the original name, else NAME~2, ... The move never replaces anything
(renameat2 RENAME_NOREPLACE, or link + unlink where that is missing, as on NFS and sshfs),
so the folder itself decides who gets a name. If a worker dies between the two steps, the
dispatcher finds the record and finishes the move: a finished job is never run again.

Finding records again is record_search.py's.
"""
import ctypes
import errno
import os
import platform

from . import folders, moves, names, record_kinds
from .libc import libc_function
from .layout import display, log
from .fsops import filesystem_type

STATES = record_kinds.STATES


# -- moving without replacing -----------------------------------------------------------------

_RENAMEAT2 = {"x86_64": 316, "aarch64": 276, "ppc64le": 357, "s390x": 347, "riscv64": 276,
              "i686": 353, "armv7l": 382}.get(platform.machine())
RENAME_NOREPLACE = 1
AT_FDCWD = -100
_no_renameat2 = set()  # target folders whose filesystem refused RENAME_NOREPLACE (sshfs)
_no_fd_link = set()  # target folders where a link by descriptor cannot be made


class OpenSource:
    """The open descriptor of a file about to be moved with move_noreplace, which may link
    the file by it (and closes it then); close() is safe to call again."""

    def __init__(self, fd):
        self.fd = fd

    def close(self):
        fd, self.fd = self.fd, None
        if fd is not None:
            folders.close_quietly(fd)


def move_noreplace(source, target, opened=None):
    """Move source to target unless target exists: FileExistsError if it does,
    FileNotFoundError if source is gone.

    renameat2(RENAME_NOREPLACE) does it in one step where the filesystem has it (ext4, xfs,
    btrfs, tmpfs); elsewhere (NFS, sshfs) a hard link claims the name, which fails if it is
    taken, and the old name is removed after. Between the two steps both names exist; that
    is harmless, and whoever finds both (see is_same_file) finishes the move.

    opened: an OpenSource of source. Where a hard link is the way, the file is linked by
    its descriptor (/proc/self/fd), so the file server is not asked to look up source
    again (sshfs with entry_timeout=0: one request less), and the descriptor is closed
    before source is removed (sshfs would otherwise keep an open file's removed name as
    .fuse_hidden*). If source is gone by then, the file had moved after it was opened
    (its job renamed or deleted it, or a burial took it): the new link is removed again and
    FileNotFoundError says source is gone, as it would have without the descriptor.
    """
    if _renamed_noreplace(source, target):
        return
    if opened is not None and opened.fd is not None and _link_by_descriptor(opened, target):
        try:
            folders.unlink(source)
        except FileNotFoundError:
            try:
                folders.unlink(target)  # our own link of a file that is no longer ours
            except OSError:
                pass
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), source)
        return
    _link_noreplace(source, target)


def _renamed_noreplace(source, target):
    """renameat2(RENAME_NOREPLACE): True when moved, False where the filesystem has no
    such rename (remembered per target folder); OSError for anything else."""
    syscall = libc_function("syscall")
    target_folder = os.path.dirname(target)
    if not syscall or _RENAMEAT2 is None or target_folder in _no_renameat2:
        return False
    src_fd, src = folders.at(source)
    dst_fd, dst = folders.at(target)
    result = syscall(_RENAMEAT2, AT_FDCWD if src_fd is None else src_fd, os.fsencode(src),
                     AT_FDCWD if dst_fd is None else dst_fd, os.fsencode(dst),
                     RENAME_NOREPLACE)
    if result == 0:
        folders.note_renamed(source, target)
        return True
    code = ctypes.get_errno()
    if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        raise OSError(code, os.strerror(code), source if code == errno.ENOENT else target)
    if len(_no_renameat2) < 1024:
        _no_renameat2.add(target_folder)  # ask once per folder, not once per job
    return False


def _link_noreplace(source, target):
    """Link by name, then remove source (where hard links are missing too: look, rename)."""
    try:
        folders.link(source, target)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
            # no hard links here: the best left is to look first (a narrow race)
            if folders.lexists(target):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target)
            folders.rename(source, target)
            return
        raise
    try:
        folders.unlink(source)
    except FileNotFoundError:
        pass


def _link_by_descriptor(opened, target):
    """Link the open file to target (closing the descriptor after): True when linked,
    FileExistsError when target is taken, False where it cannot be done this way (folders
    not kept open, no /proc, a stale descriptor after the mount came back: link by name).

    linkat(AT_FDCWD, "/proc/self/fd/N", folder fd, name, AT_SYMLINK_FOLLOW) links the file
    the magic link stands for (Python calls linkat only given a folder descriptor; plain
    link() would link the magic link itself, across filesystems: EXDEV)."""
    target_folder = os.path.dirname(target)
    dst_fd, dst = folders.at(target)
    if dst_fd is None or target_folder in _no_fd_link:
        return False
    try:
        os.link("/proc/self/fd/%d" % opened.fd, dst, dst_dir_fd=dst_fd, follow_symlinks=True)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno in (errno.EXDEV, errno.EPERM, errno.ENOENT, errno.ENOTDIR) and \
                not os.path.isdir("/proc/self/fd"):
            _no_fd_link.add(target_folder)  # no /proc here: by name from now on
        return False
    folders.note_linked(target)
    opened.close()
    return True


def is_same_file(a, b):
    """Whether two names are links of one file. Inode numbers where the filesystem keeps
    them (local disks, NFS); on FUSE mounts such as sshfs, which make up inode numbers,
    the same size, modification time and content."""
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    if (sa.st_size, sa.st_mtime_ns) != (sb.st_size, sb.st_mtime_ns):
        return False
    if sa.st_dev == sb.st_dev and sa.st_ino == sb.st_ino:
        return True
    if not filesystem_type(a).startswith("fuse"):
        return False
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False


def first_free_name(folder, original):
    for candidate in names.final_names(original):
        if not os.path.lexists(os.path.join(folder, candidate)):
            return candidate
    raise OSError(errno.EEXIST, "no free name for %s in %s" % (display(original),
                                                              display(folder)))


class Filing:
    """A finished single job on its way into done/, failed/ or cancelled/.

    advance() does what is left: append the record, move the output files (files mode),
    move the job. A step that fails raises OSError; the Filing keeps its place, and
    advance() can be called again later (a full disk, an unwritable folder). It returns
    the final name, or None when the job file was gone before it could be moved.
    """

    def __init__(self, layout, writer, path, original, state, record, output_files=None,
                 recorded_as=None, opened=None):
        """recorded_as: the final name of a record that is in a journal already (the
        dispatcher finishing a dead worker's filing); only the move is left then.
        opened: an OpenSource of path, for move_noreplace (the Filing closes it when the
        job is filed or gone)."""
        self.opened = opened
        assert state in STATES
        self.layout = layout
        self.writer = writer
        self.path = path
        self.original = original
        self.state = state
        self.folder = layout.folder(state)
        self.record = record
        self.output_files = dict(output_files or {})
        self.final = recorded_as
        self.offset = None
        self.recorded = recorded_as is not None
        self.resuming = recorded_as is not None  # finishing a filing a crash cut short
        self.complete = False
        self.vanished = False
        self.cut_short = None  # the target of a move that failed part-way, maybe linked

    def advance(self):
        if not self.recorded:
            self._append_record()
        self._move_output_files()
        while not self.complete:
            if not self._move_job():
                self.close()
                return None
        self.close()
        return self.final

    def _append_record(self):
        if self.final is None:
            # the original name, as a rule: no look first, the move finds out (and the
            # record is amended in the rare case the name is taken)
            self.final = moves.first_final_name(self.original)
        record = record_kinds.job_filed(self.record, self.final, self.state)
        self.record = record_kinds.job_output_files(record, {
            kind: moves.output_file(self.final, kind) for kind in self.output_files})
        self.offset = self.writer.append(record)
        self.recorded = True

    def _move_output_files(self):
        for kind, path in list(self.output_files.items()):
            target = os.path.join(self.layout.root, self.record[kind][0])
            try:
                move_noreplace(path, target)  # never over an earlier job's output
            except FileNotFoundError:
                pass
            except FileExistsError:
                other = moves.spare_output_file(target, names.nonce(3))
                move_noreplace(path, other)
                self.writer.append(record_kinds.output_moved(
                    self.offset, kind, os.path.relpath(other, self.layout.root)))
            del self.output_files[kind]

    def _move_job(self):
        """One try at moving the job file to self.final. True when it is there (complete)
        or when the name was taken (a new final name is recorded: try again); False when
        the job file was gone."""
        target = os.path.join(self.folder, self.final)
        try:
            move_noreplace(self.path, target, self.opened)
        except FileExistsError:
            if (self.resuming or self.cut_short == target) and \
                    is_same_file(self.path, target):
                os.unlink(self.path)  # a move cut short by a crash: finish it
            else:
                old, self.final = self.final, first_free_name(self.folder, self.original)
                self.writer.append(record_kinds.moved(
                    self.offset, old, self.final, self.state, self.record.get("queue"),
                    self.record.get("worker")))
                return True
        except FileNotFoundError:
            if not (os.path.isdir(os.path.dirname(self.path)) and
                    os.path.isdir(self.folder)):
                raise  # a folder is gone (an unmounted root?), not the job: try again
            self.vanished = True
            self.complete = True
            return False
        except OSError:
            # (the link may have been made and the old name not removed: a retry
            # that finds target taken by the same file finishes the move)
            self.cut_short = target
            raise
        self.complete = True
        return True

    def close(self):
        """Let go of the open job file (when the Filing had one)."""
        if self.opened is not None:
            self.opened.close()



def log_filed(final, state, reason, seconds):
    if state == "done":
        log.info("%s done (%.3f s)", display(final), seconds)
    else:
        log.warning("%s %s: %s", display(final), state, reason)

