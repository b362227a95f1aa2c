"""What this host's kernel already knows about an open file, without asking the file server.

On NFS or sshfs ``os.fstat`` is a request to the server. ``statx`` with
``AT_STATX_DONT_SYNC`` answers from the kernel's cached attributes instead, which is right
in two cases fjd has:

* files only this host writes (a worker's output journals): the kernel's size is exact;
* a file just opened and read: the open and the read fetched its attributes from the
  server a moment ago (with ``attr_timeout=0`` sshfs asks at every read).

Linux statx (glibc 2.28 or newer) through ctypes; where it is missing, ``os.fstat``.
"""
import collections
import ctypes
import os

from .libc import libc_function


class _Timestamp(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_uint32),
                ("reserved", ctypes.c_int32)]


class _Statx(ctypes.Structure):
    _fields_ = [("stx_mask", ctypes.c_uint32), ("stx_blksize", ctypes.c_uint32),
                ("stx_attributes", ctypes.c_uint64), ("stx_nlink", ctypes.c_uint32),
                ("stx_uid", ctypes.c_uint32), ("stx_gid", ctypes.c_uint32),
                ("stx_mode", ctypes.c_uint16), ("pad0", ctypes.c_uint16),
                ("stx_ino", ctypes.c_uint64), ("stx_size", ctypes.c_uint64),
                ("stx_blocks", ctypes.c_uint64), ("stx_attributes_mask", ctypes.c_uint64),
                ("stx_atime", _Timestamp), ("stx_btime", _Timestamp),
                ("stx_ctime", _Timestamp), ("stx_mtime", _Timestamp),
                ("rest", ctypes.c_uint8 * 128)]


AT_EMPTY_PATH = 0x1000
AT_STATX_DONT_SYNC = 0x4000
STATX_TYPE, STATX_MODE, STATX_UID, STATX_INO, STATX_SIZE = 0x1, 0x2, 0x8, 0x100, 0x200
STATX_MTIME = 0x40
_WANTED = STATX_TYPE | STATX_MODE | STATX_UID | STATX_INO | STATX_SIZE

_ARGTYPES = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint,
             ctypes.POINTER(_Statx))

CachedStat = collections.namedtuple("CachedStat", "st_mode st_uid st_ino st_size")


def _cached(fd, mask):
    function = libc_function("statx", _ARGTYPES)
    if not function:
        return None
    result = _Statx()
    if function(fd, b"", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, mask,
                ctypes.byref(result)) != 0 or result.stx_mask & mask != mask:
        return None
    return result


def cached_size(fd):
    """The size of an open file as this host's kernel knows it."""
    result = _cached(fd, STATX_SIZE)
    return result.stx_size if result is not None else os.fstat(fd).st_size


def cached_stat(fd):
    """Mode, owner, inode and size of an open file as this host's kernel knows them."""
    result = _cached(fd, _WANTED)
    if result is None:
        info = os.fstat(fd)
        return CachedStat(info.st_mode, info.st_uid, info.st_ino, info.st_size)
    return CachedStat(result.stx_mode, result.stx_uid, result.stx_ino, result.stx_size)


Sighting = collections.namedtuple("Sighting", "st_mode st_mtime_ns st_size")


def cached_sighting(fd):
    """Type, mtime (ns) and size of an open file (an O_PATH one too) as this host's kernel
    knows them: on a shared mount, what the open's lookup has just fetched from the
    server (no request of its own)."""
    result = _cached(fd, STATX_TYPE | STATX_MTIME | STATX_SIZE)
    if result is None:
        info = os.fstat(fd)
        return Sighting(info.st_mode, info.st_mtime_ns, info.st_size)
    return Sighting(result.stx_mode, result.stx_mtime.tv_sec * 1000000000 +
                    result.stx_mtime.tv_nsec, result.stx_size)
