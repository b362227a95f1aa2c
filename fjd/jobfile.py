"""Reading a job file: the INI format of 2012, and a one-line reason for everything else.

Only the ``[control]`` section is fjd's; every other section belongs to the job. Values are
taken literally (``%`` is not special), later duplicates win, and bytes that are not UTF-8
are passed through to the command unchanged.
"""
import configparser
import difflib
import errno
import json
import os
import shlex
import stat

from . import folders, ini, resources
from .defaults import MAX_JOB_BYTES as DEFAULT_MAX_JOB_BYTES
from .durations import parse_duration
from .fsops import read_spliced
from .statx import cached_stat


JOBFILE_PLACEHOLDER = "{jobfile}"
ARGV_KEY = "argv"  # [control] argv: a JSON list, the exact words to run (command_job.py)
EXACT = "exact"  # Settings.jobfile of such a job


class JobError(Exception):
    """A job that cannot run; the message is the one-line reason shown to people."""


class JobSpec:
    """What fjd needs from a single job file: its command and [control] settings, plus the
    bytes read (kept so that a job that deletes its own file can still be filed)."""

    __slots__ = ("argv", "executable", "settings", "priority", "owner_uid", "inode", "data",
                 "params", "fd")

    def __init__(self, argv, executable, settings, priority=0, owner_uid=None, inode=None,
                 data=None, params=None, fd=None):
        self.argv = argv
        self.executable = executable
        self.settings = settings
        self.priority = priority
        self.owner_uid = owner_uid
        self.inode = inode
        self.data = data
        self.params = params or {}
        self.fd = fd  # the job file, still open (load(keep_open=True)), or None


class Settings:
    """The [control] keys that say how a job (or each task of an array) runs."""

    __slots__ = ("logfile", "workdir", "timeout", "retries", "jobfile", "output", "request",
                 "python")

    def __init__(self, control):
        """control: a mapping of [control] keys (lower case) to their raw text."""
        self.timeout = _number(control, "timeout", float, 0) or None
        self.retries = _number(control, "retries", int, 0) or 0
        self.logfile = control.get("logfile", "").strip() or None
        self.workdir = control.get("workdir", "").strip() or None
        self.jobfile = EXACT if ARGV_KEY in control else \
            _choice(control, "jobfile", ("last", "none"))  # (EXACT: [control] argv, as given)
        self.output = _choice(control, "output", ("journal", "files"))
        try:  # cpus, gpus, memory (resources.py): the dispatcher matched it to this worker
            self.request = resources.request_of_control(control)
        except ValueError as error:
            raise JobError(str(error))
        self.python = control.get("python", "").strip().lower() == "calls"
        check_time_request(control)


def check_time_request(control):
    """[control] time_request must be a duration (durations.py); JobError."""
    raw = control.get("time_request", "").strip()
    if raw:
        try:
            parse_duration(raw)
        except ValueError as error:
            raise JobError("[control] time_request: %s" % error)


def _choice(control, key, allowed):
    value = control.get(key, "").strip().lower() or allowed[0]
    if value not in allowed:
        raise JobError("[control] %s must be %s, not %r"
                       % (key, " or ".join(allowed), control.get(key).strip()))
    return value


def kind_of(mode):
    """A person's word for a file type that is not a job file."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    return "not a regular file"


def read_job_bytes(path, max_bytes=DEFAULT_MAX_JOB_BYTES, keep_open=False, splice=False):
    """(content, owner uid, inode, fd) of a job file, refusing links, pipes and oversized
    files. fd is None unless keep_open: then the caller owns the open descriptor (a worker
    on a shared mount files the job through it, which saves a lookup: records.py).

    The type, owner and size come from the attributes the open (and a read) fetched
    (statx.cached_stat): on a shared mount a separate fstat would be one more request to
    the file server per job. splice (FUSE mounts): read with sendfile, which takes the
    pages as the open's lookup sized them, where a read() first asks the server for the
    attributes again (one request per job saved). Reading first is harmless: a link is
    refused by the open, a FIFO reads as empty or not at all (O_NONBLOCK), and only root
    could plant a device."""
    try:
        fd = folders.open_at(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise JobError("the job file is a symbolic link; fjd does not follow links "
                           "(queue a copy of the file instead)")
        raise JobError("cannot open the job file: %s" % error.strerror)
    try:
        data, info = None, None
        if splice:
            info = checked_stat(fd, max_bytes)
            data = read_spliced(fd, info.st_size + 1)
        if data is None:
            data, info = read_plain(fd, max_bytes, info)
        if len(data) > max_bytes:
            raise JobError("the job file is too large (over %d bytes, see --max-job-size)"
                           % max_bytes)
        if keep_open:
            kept, fd = fd, None
            return data, info.st_uid, info.st_ino, kept
        return data, info.st_uid, info.st_ino, None
    finally:
        if fd is not None:
            os.close(fd)


def checked_stat(fd, max_bytes):
    """The cached attributes of an open job file; JobError if it is no file to run."""
    info = cached_stat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise JobError("the job is %s, not a job file" % kind_of(info.st_mode))
    if info.st_size > max_bytes:
        raise JobError("the job file is too large (%d bytes; the limit is %d, "
                       "see --max-job-size)" % (info.st_size, max_bytes))
    return info


FIRST_READ = 1 << 16


def read_plain(fd, max_bytes, info=None):
    """(content, attributes) by read(): the attributes are taken after the first read."""
    chunks = []
    remaining = max_bytes + 1
    got = 0
    while remaining > 0:
        # a first read of 64 KiB holds most job files; a 1 MiB buffer costs an mmap a job
        wanted = min(remaining, 1 << 20 if chunks else FIRST_READ)
        try:
            chunk = os.read(fd, wanted)
        except BlockingIOError:
            chunk = b""  # a FIFO with a writer: refused just below
        if info is None:
            info = checked_stat(fd, max_bytes)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
        got += len(chunk)
        if len(chunk) < wanted and got >= info.st_size:
            break  # a short read at the size the kernel knows is the end: no read for EOF
    return b"".join(chunks), info


_parser = None


def fresh_parser():
    """An empty ConfigParser. One is reused: making a new one costs more than parsing a
    small job file (it calls dir() on itself), which adds up over millions of jobs."""
    global _parser
    if _parser is None:
        _parser = configparser.ConfigParser(interpolation=None, strict=False)
    else:
        for section in _parser.sections():
            _parser.remove_section(section)
        _parser.defaults().clear()
    return _parser


def parse_config(data):
    """Parse INI text; a readable JobError for anything that is not one."""
    if not data.strip():
        raise JobError("the job file is empty")
    if b"\0" in data:
        raise JobError("the job file holds binary data (NUL bytes), not an INI job description")
    text = data.decode("utf-8", "surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return ini.read(text, fresh_parser)
    except configparser.MissingSectionHeaderError as error:
        raise JobError("not an INI job file: line %d comes before any [section] header "
                       "(a job starts with [control])" % error.lineno)
    except configparser.ParsingError as error:
        lines = ", ".join(str(lineno) for lineno, _ in error.errors[:5])
        raise JobError("not an INI job file: line %s is neither 'key: value' nor a "
                       "[section] header" % lines)
    except configparser.Error as error:
        raise JobError("not a valid INI job file: %s" % str(error).splitlines()[0])


def _number(control, key, kind, minimum):
    raw = control.get(key, "").strip()
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise JobError("[control] %s must be a number, not %r" % (key, raw))
    if value < minimum or value != value:
        raise JobError("[control] %s must be at least %s, not %r" % (key, minimum, raw))
    return value


def priority_of(data):
    """[control] priority of a job file's bytes, read as load() reads it (a later value
    wins, keys are not case-sensitive); 0 when absent, or when the file is not a valid job
    (its worker says why)."""
    if b"priority" not in data.lower():
        return 0  # the common case costs no parsing
    try:
        parser = parse_config(data)
        if not parser.has_section("control"):
            return 0
        return _number(parser["control"], "priority", int, -(10 ** 9)) or 0
    except JobError:
        return 0


def load(path, max_bytes=DEFAULT_MAX_JOB_BYTES, keep_open=False, splice=False):
    """Read and check a single job file; JobError says in one line why it cannot run.
    keep_open: the JobSpec keeps the open descriptor (spec.fd) for the caller to close (a
    file that is no job is closed before the JobError)."""
    data, owner, inode, fd = read_job_bytes(path, max_bytes, keep_open, splice)
    try:
        spec = parse_job(data, owner, inode)
    except JobError:
        if fd is not None:
            os.close(fd)
        raise
    spec.fd = fd
    return spec


# every [control] key fjd reads; any other is a typo that would run the job without what it
# asked for (`timout: 5` runs with no timeout), so it fails the job instead
CONTROL_KEYS = ("executable", "logfile", "workdir", "timeout", "retries", "jobfile", "output",
                "priority", "tasks", "repeat",
                "after", "after_finished", "after_each",  # (the dispatcher's: dependencies.py)
                "cpus", "gpus", "memory",  # (resources.py)
                "python",  # (python: calls, fjd.Executor's jobs: worker/calls.py)
                "time_request")  # (time_request.py)

CONTROL_KEYS += (ARGV_KEY,)  # the exact words of `fjd submit -- COMMAND` (command_job.py)


def unknown_control_key(keys):
    """A one-line reason for the first key that is no [control] key fjd knows, or None."""
    for key in keys:
        if key not in CONTROL_KEYS:
            close = difflib.get_close_matches(key, CONTROL_KEYS, n=1)
            hint = "did you mean %s?" % close[0] if close else \
                "the keys are %s" % ", ".join(CONTROL_KEYS)
            return "[control] %s is not a key fjd knows (%s)" % (key, hint)
    return None


_split_commands = {}


def split_command(executable):
    """shlex.split(executable), remembered: the jobs of a sweep share a few commands, and
    splitting one costs as much as parsing the rest of its job file."""
    words = _split_commands.get(executable)
    if words is None:
        words = tuple(shlex.split(executable))
        if len(_split_commands) >= 256:
            _split_commands.clear()
        _split_commands[executable] = words
    return list(words)


def parse_job(data, owner=None, inode=None):
    """The JobSpec of a single job file's bytes; JobError says why it cannot run."""
    parser = parse_config(data)
    if not parser.has_section("control"):
        found = ", ".join("[%s]" % s for s in parser.sections()[:5]) or "none"
        raise JobError("the job file has no [control] section (sections found: %s)" % found)
    control = {key.lower(): value for key, value in parser["control"].items()}
    unknown = unknown_control_key(control)
    if unknown:
        raise JobError(unknown)
    executable = control.get("executable")
    if executable is None:
        raise JobError("[control] has no 'executable', so there is nothing to run")
    if not executable.strip():
        raise JobError("[control] executable is empty, so there is nothing to run")
    try:
        argv = exact_words(control) or split_command(executable)
    except ValueError as error:
        raise JobError("[control] executable cannot be split into words (%s): %s"
                       % (str(error).lower(), executable.strip()))
    if not argv:
        raise JobError("[control] executable is empty, so there is nothing to run")
    params = dict(parser["params"].items()) if parser.has_section("params") else {}
    return JobSpec(argv, executable.strip(), Settings(control),
                   priority=_number(control, "priority", int, -(10 ** 9)) or 0,
                   owner_uid=owner, inode=inode, data=data, params=params)


def exact_words(control):
    """The words of [control] argv (a JSON list of strings), None without one; ValueError
    for anything else."""
    text = control.get(ARGV_KEY)
    if text is None:
        return None
    words = json.loads(text)
    if not isinstance(words, list) or not words or \
            not all(isinstance(word, str) for word in words):
        raise ValueError("argv must be a JSON list of strings")
    return words


def command_line(argv, path, mode):
    """The argument list of a single job: {jobfile} in a word is the job file's path; else
    the path is the last argument (the 2012 rule) unless [control] jobfile is none. A job
    with [control] argv runs its words exactly (mode EXACT)."""
    if mode == EXACT:
        return list(argv)
    if any(JOBFILE_PLACEHOLDER in word for word in argv):
        return [word.replace(JOBFILE_PLACEHOLDER, path) for word in argv]
    return argv + [path] if mode == "last" else list(argv)
