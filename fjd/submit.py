"""Putting jobs in the queue: ``fjd submit`` and ``fjd.submit()``.

A batch of jobs is written into ``jobqueue/`` under names that sort in submission order and
that no other submitter can produce::

    20241124-171800.123456-3f9c2a-000001-job.conf
    \\____ UTC time of the batch ___/ nonce  seq  label

Each job is first written under a dot-name (``.3f9c2a-000001.tmp``, ignored by the dispatcher)
and then renamed to its final name, so nobody ever sees half a job. Names are unique by
construction (batch time + random nonce + sequence number), so the rename cannot replace
anybody's job. There is no per-job fsync: 100,000 jobs take a few seconds.

From Python::

    import fjd
    names = fjd.submit("python3 sim.py --alpha $alpha --seed {seed}",
                       params={"alpha": [0.1, 0.2], "seed": range(3)}, root="/shared/q")

makes six jobs (the cartesian product), each an INI file with the values under ``[params]``.
"""
import itertools
import os
import re
import shlex
import time

from .errors import SubmitError
from .jobfile import JobError, load
from .layout import Layout, display

__all__ = ["submit", "SubmitError", "JobTemplate"]

CONTROL_KEYS_WITH_OPTIONS = ("logfile", "timeout", "retries", "workdir")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CONTROL_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_PLACEHOLDER = re.compile(r"\$\$|\$\{(\w+)\}|\$(\w+)|\{(\w+)\}")
_RANGE = re.compile(r"(-?\d+)\.\.(-?\d+)\Z")
_LABEL_BAD = re.compile(r"[^A-Za-z0-9._+=-]")
MAX_RANGE = 10 ** 7




# -- names ------------------------------------------------------------------------------------

def batch_prefix(now=None):
    """UTC time to the microsecond plus a random nonce: sorts by time, never collides."""
    now = time.time() if now is None else now
    seconds = int(now)
    micros = int(round((now - seconds) * 1e6))
    if micros >= 1000000:
        seconds, micros = seconds + 1, micros - 1000000
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(seconds))
    return "%s.%06d-%s" % (stamp, micros, os.urandom(3).hex())


def clean_label(text):
    """A label for job names: letters, digits and ._+=- only, never starting with a dot."""
    label = _LABEL_BAD.sub("_", text).lstrip(".")[:64] or "job"
    if label.endswith((".tmp", ".part")):  # names the dispatcher leaves alone
        label += ".conf"
    return label


# -- parameters and placeholders --------------------------------------------------------------

def split_values(text):
    """'a,b,c' -> ['a', 'b', 'c']; '\\,' is a literal comma; '1..5' is 1,2,3,4,5."""
    values, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            values.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    values.append("".join(current))
    expanded = []
    for value in values:
        match = _RANGE.match(value.strip())
        if match:
            start, end = int(match.group(1)), int(match.group(2))
            step = 1 if end >= start else -1
            if abs(end - start) >= MAX_RANGE:
                raise SubmitError("the range %s has more than %d values" % (value, MAX_RANGE))
            expanded.extend(str(v) for v in range(start, end + step, step))
        else:
            expanded.append(value)
    return expanded


def parse_param(text, position):
    """'name=v1,v2' -> ('name', [...]); bare 'v1,v2' is named p<position> (also $<position>)."""
    name, sep, values = text.partition("=")
    if sep and _PARAM_NAME.match(name.strip()):
        return name.strip(), split_values(values)
    return "p%d" % position, split_values(text)


def normalize_params(params):
    """A mapping or a list of (name, values) -> [(name, [str, ...]), ...], checked."""
    if params is None:
        return []
    items = list(params.items()) if hasattr(params, "items") else list(params)
    result, seen = [], set()
    for item in items:
        try:
            name, values = item
        except (TypeError, ValueError):
            raise SubmitError("params must map names to lists of values, not %r" % (item,))
        name = str(name)
        if not _PARAM_NAME.match(name):
            raise SubmitError("%r is not a parameter name (use letters, digits and _, not "
                              "starting with a digit)" % name)
        if name.lower() in seen:
            raise SubmitError("parameter %s is given twice (names are not case-sensitive in "
                              "the job file)" % name)
        seen.add(name.lower())
        if isinstance(values, str):
            values = split_values(values)
        elif isinstance(values, (int, float)):
            values = [values]
        values = [str(v) for v in values]
        if not values:
            raise SubmitError("parameter %s has no values" % name)
        for value in values:
            check_value(value, "parameter %s" % name)
        result.append((name, values))
    return result


def check_value(value, what):
    if "\n" in value or "\r" in value:
        raise SubmitError("%s: a value cannot contain a line break: %r" % (what, value))
    if "\0" in value:
        raise SubmitError("%s: a value cannot contain a NUL byte" % what)


def fill(template, values, positional, quote):
    """Replace $name, ${name}, {name} and $N (the N-th --param); $$ is a literal $.

    Unknown placeholders are left as they are. With quote, values are shell-quoted so that
    each stays one word when the worker splits the command line.
    """
    def replace(match):
        if match.group(0) == "$$":
            return "$"
        key = match.group(1) or match.group(2) or match.group(3)
        if key in values:
            value = values[key]
        elif key.isdigit() and 1 <= int(key) <= len(positional):
            value = positional[int(key) - 1]
        else:
            return match.group(0)
        return shlex.quote(value) if quote else value
    return _PLACEHOLDER.sub(replace, template)


# -- job content ------------------------------------------------------------------------------

class JobTemplate:
    """What to queue: an executable with control options and parameters, or job files.

    ``count()`` says how many jobs it makes and ``contents()`` yields (label, bytes) for each,
    in submission order.
    """

    def __init__(self, executable=None, files=(), repeat=1, params=None, name=None,
                 logfile=None, timeout=None, retries=None, workdir=None, control=None):
        self.executable = executable
        self.files = list(files or ())
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise SubmitError("repeat must be a whole number of at least 1, not %r" % (repeat,))
        self.repeat = repeat
        self.params = normalize_params(params)
        self.name = name
        if executable is None and not self.files:
            raise SubmitError("nothing to submit: give job files or an executable (--exe)")
        if executable is not None and self.files:
            raise SubmitError("give either job files or an executable (--exe), not both")
        if self.files and self.params:
            raise SubmitError("parameters (--param) go with an executable (--exe); a job file "
                              "brings its own [params]")
        self.control = []
        if executable is not None:
            executable = str(executable)
            check_value(executable, "the executable")
            if not executable.strip():
                raise SubmitError("the executable is empty, so there would be nothing to run")
            self._check_split(executable, "the executable")
            options = {"logfile": logfile, "timeout": timeout, "retries": retries,
                       "workdir": workdir}
            extra = control.items() if hasattr(control, "items") else list(control or ())
            for key, value in list(options.items()) + list(extra):
                if value is None:
                    continue
                key, value = str(key).strip(), str(value).strip()
                if not _CONTROL_KEY.match(key):
                    raise SubmitError("%r is not a [control] key" % key)
                if key.lower() == "executable":
                    raise SubmitError("set the executable with --exe, not as a [control] key")
                check_value(value, "[control] %s" % key)
                self.control.append((key, value))
            self._check_numbers()
        elif any(v is not None for v in (logfile, timeout, retries, workdir)) or control:
            raise SubmitError("--logfile, --timeout, --retries, --workdir and --control go "
                              "with --exe; edit the [control] section of a job file instead")
        self._file_data = []
        for path in self.files:
            try:
                load(os.path.realpath(path))
                with open(path, "rb") as handle:
                    data = handle.read()
            except JobError as error:
                raise SubmitError("%s: %s" % (display(path), error))
            except OSError as error:
                raise SubmitError("%s: %s" % (display(path), error.strerror))
            self._file_data.append((os.path.basename(path), data))

    @staticmethod
    def _check_split(text, what):
        try:
            if not shlex.split(text):
                raise SubmitError("%s is empty, so there would be nothing to run" % what)
        except ValueError as error:
            raise SubmitError("%s cannot be split into words (%s): %s"
                              % (what, str(error).lower(), text))

    def _check_numbers(self):
        for key, value in self.control:
            if key == "timeout":
                try:
                    ok = float(value) >= 0
                except ValueError:
                    ok = False
                if not ok:
                    raise SubmitError("timeout must be a number of seconds, not %r" % value)
            if key == "retries" and not (value.isdigit()):
                raise SubmitError("retries must be a whole number, not %r" % value)

    def count(self):
        if self.files:
            return len(self.files) * self.repeat
        total = self.repeat
        for _, values in self.params:
            total *= len(values)
        return total

    def contents(self):
        """(label, bytes) for each job, in submission order."""
        if self.files:
            for base, data in self._file_data:
                label = clean_label(self.name or base)
                for _ in range(self.repeat):
                    yield label, data
            return
        label = clean_label(self.name or "job")
        if not label.endswith((".conf", ".ini", ".cfg")):
            label += ".conf"
        if not self.params:
            data = self._ini(self.executable, self.control, ()).encode("utf-8",
                                                                          "surrogateescape")
            for _ in range(self.repeat):
                yield label, data
            return
        names = [name for name, _ in self.params]
        for combination in itertools.product(*[values for _, values in self.params]):
            values = dict(zip(names, combination))
            executable = fill(self.executable, values, combination, quote=True)
            control = [(k, fill(v, values, combination, quote=False) if k in ("logfile",
                                                                              "workdir")
                        else v) for k, v in self.control]
            data = self._ini(executable, control, zip(names, combination)).encode(
                "utf-8", "surrogateescape")
            for _ in range(self.repeat):
                yield label, data

    @staticmethod
    def _ini(executable, control, params):
        lines = ["[control]", "executable: " + executable]
        lines += ["%s: %s" % kv for kv in control]
        params = list(params)
        if params:
            lines += ["", "[params]"] + ["%s: %s" % kv for kv in params]
        return "\n".join(lines) + "\n"


# -- writing ----------------------------------------------------------------------------------

def write_jobs(layout, template, on_name=None):
    """Write every job of template into jobqueue/; returns the names in submission order.

    On an error part-way the jobs written so far stay queued; the error is raised with
    ``written`` (the list of names) attached.
    """
    layout.ensure()
    total = template.count()
    width = max(6, len(str(total)))
    prefix = batch_prefix()
    nonce = prefix.rsplit("-", 1)[1]
    names = []
    dir_fd = os.open(layout.jobqueue, os.O_RDONLY | os.O_DIRECTORY)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    tmp = None
    try:
        for seq, (label, data) in enumerate(template.contents(), 1):
            number = "%0*d" % (width, seq)
            final = "%s-%s-%s" % (prefix, number, label)
            tmp = ".%s-%s.tmp" % (nonce, number)
            fd = os.open(tmp, flags, 0o644, dir_fd=dir_fd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.rename(tmp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            tmp = None
            names.append(final)
            if on_name is not None:
                on_name(final)
    except BaseException as error:
        if tmp is not None:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
        error.written = names
        raise
    finally:
        os.close(dir_fd)
    return names


def submit(executable=None, files=(), repeat=1, params=None, name=None, logfile=None,
           timeout=None, retries=None, workdir=None, control=None, root=None):
    """Queue jobs; returns their names in jobqueue/, in submission order.

    executable  the command line, as ``[control] executable`` (split like a shell would,
                never run by one). ``$name``, ``${name}``, ``{name}`` and ``$1``, ``$2``, ...
                (the first, second, ... parameter) are replaced by each job's values,
                shell-quoted; ``$$`` is a literal ``$``.
    files       job files to queue instead (copied; each must be a valid INI job).
    repeat      queue each job (or combination) this many times.
    params      {name: values} (or [(name, values), ...]); one job per combination of
                values (the cartesian product), the values under ``[params]``. Values may
                be a list or a string "v1,v2,..." ("1..10" is a range).
    name        a label for the job names (default: "job", or the job file's name).
    logfile, timeout, retries, workdir, control
                ``[control]`` keys of each job (control: {key: value} for any other key);
                placeholders work in logfile and workdir too (not quoted).
    root        the queue root (default: $FJD_ROOT, else the current directory).

    Raises SubmitError for bad options (nothing is queued then) and OSError when the queue
    cannot be written.
    """
    template = JobTemplate(executable=executable, files=files, repeat=repeat, params=params,
                           name=name, logfile=logfile, timeout=timeout, retries=retries,
                           workdir=workdir, control=control)
    return write_jobs(Layout(root), template)
