"""Putting jobs in the queue: ``fjd submit`` and ``fjd.submit()``.

A batch of jobs is written into ``jobqueue/`` under names that sort in submission order and
that no other submitter can produce::

    20241124-171800.123456-3f9c2a-000001s-job.conf
    \\____ UTC time of the batch ___/ nonce  seq  label

The sequence number ends in ``s`` for a single job of default priority, which the dispatcher
hands out without reading it first (names.plain_submitted); arrays and jobs with a
``[control] priority`` have none.

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
import os
import re
import shlex
import time

from .arrays import (MAX_HEADER, CommandTemplate, declared_kind, fill_text, parse_values,
                     split_commas, unknown_placeholders, values_text)
from .errors import QueueError, SubmitError
from .hints import hint_dispatcher
from .jobfile import JOBFILE_PLACEHOLDER, JobError, Settings, load, priority_of
from .layout import Layout, display
from .names import PLAIN_MARK

__all__ = ["submit", "SubmitError", "JobTemplate"]

CONTROL_KEYS_WITH_OPTIONS = ("logfile", "timeout", "retries", "workdir")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CONTROL_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_PLACEHOLDER = re.compile(r"\$\$|\$\{(\w+)\}|\$(\w+)|\{(\w+)\}")
_RANGE_SYNTAX = re.compile(r"\d\.\.|\.\.\d")
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

class Param:
    """One parameter: its name, its values (never expanded), and the text that writes them
    in a job file's [params] so that they read back as they are."""

    def __init__(self, name, text):
        self.name = name
        self.text = text
        try:
            self.values = parse_values(text)
        except ValueError as error:
            raise SubmitError("parameter %s: %s" % (name, error))

    def __len__(self):
        return len(self.values)


def split_values(text):
    """'a,b,c' -> ['a', 'b', 'c']; '\\,' is a literal comma; '1..5' is 1,2,3,4,5."""
    try:
        values = parse_values(text)
    except ValueError as error:
        raise SubmitError(str(error))
    if len(values) > MAX_RANGE:
        raise SubmitError("%s has more than %d values" % (text, MAX_RANGE))
    return list(values)


def parse_param(text, position):
    """'name=v1,v2' -> ('name', 'v1,v2'); bare values 'v1,v2' are named p<position> (also
    $<position>). A bare single word is taken for a name that lacks its '='."""
    name, sep, values = text.partition("=")
    if sep and _PARAM_NAME.match(name.strip()):
        return name.strip(), values
    if not sep and len(split_commas(text)) < 2 and not _RANGE_SYNTAX.search(text):
        raise SubmitError("--param %s: give NAME=VALUES, e.g. --param %s=1,2,3 (values "
                          "without a name need at least two: --param 1,2)"
                          % (text, text.strip() or "x"))
    if sep:
        raise SubmitError("--param %s: %r is not a parameter name (use letters, digits and _, "
                          "not starting with a digit)" % (text, name.strip()))
    return "p%d" % position, text


def normalize_params(params):
    """A mapping or a list of (name, values) -> [Param, ...], checked. Values may be a list
    or a string in --param syntax ("1..10", "a,b")."""
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
            text = values
        else:
            if isinstance(values, (int, float)):
                values = [values]
            values = [str(v) for v in values]
            if not values:
                raise SubmitError("parameter %s has no values" % name)
            text = values_text(values)
        check_value(text, "parameter %s" % name)
        result.append(Param(name, text))
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


def check_placeholders(unknown, what, names):
    """SubmitError for placeholders that name no parameter ($nmae, {seed} without a seed
    parameter, $2 with one parameter)."""
    if unknown:
        known = ", ".join(names) if names else "none"
        raise SubmitError(
            "%s: %s names no parameter (parameters: %s). Write $$ for a literal $, "
            "{{ and }} for literal braces" % (what, " and ".join(sorted(set(unknown))),
                                              known))


# -- job content ------------------------------------------------------------------------------

class JobTemplate:
    """What to queue: an executable with control options and parameters, or job files.

    A sweep (--param or --repeat) is one array file by default; split=True makes one job
    file per task instead. ``count()`` says how many jobs (or tasks) it makes, ``files()``
    how many files, and ``contents()`` yields (label, bytes) for each file, in submission
    order.
    """

    def __init__(self, executable=None, files=(), repeat=1, params=None, name=None,
                 logfile=None, timeout=None, retries=None, workdir=None, control=None,
                 split=False):
        self.executable = executable
        self.files = list(files or ())
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise SubmitError("repeat must be a whole number of at least 1, not %r" % (repeat,))
        self.repeat = repeat
        self.params = normalize_params(params)
        self.name = name
        self.split = split
        if executable is None and not self.files:
            raise SubmitError("nothing to submit: give job files or an executable (--exe)")
        if executable is not None and self.files:
            raise SubmitError("give either job files or an executable (--exe), not both")
        if self.files and self.params:
            raise SubmitError("parameters (--param) go with an executable (--exe); a job file "
                              "brings its own [params]")
        self.control = []
        self.command = None
        if executable is not None:
            executable = str(executable)
            check_value(executable, "the executable")
            if not executable.strip():
                raise SubmitError("the executable is empty, so there would be nothing to run")
            param_names = [p.name for p in self.params]
            try:
                self.command = CommandTemplate(executable, param_names)
            except ValueError as error:
                raise SubmitError(str(error).replace("the command", "the executable", 1))
            if not self.command.words:
                raise SubmitError("the executable is empty, so there would be nothing to run")
            check_placeholders(self.command.unknown, "the executable", param_names)
            options = {"logfile": logfile, "timeout": timeout, "retries": retries,
                       "workdir": workdir}
            extra = control.items() if hasattr(control, "items") else list(control or ())
            for key, value in list(options.items()) + list(extra):
                if value is None:
                    continue
                key, value = str(key).strip(), str(value).strip()
                if not _CONTROL_KEY.match(key):
                    raise SubmitError("%r is not a [control] key" % key)
                if key.lower() in ("executable", "tasks", "repeat"):
                    raise SubmitError("set %s with %s, not as a [control] key"
                                      % (key, {"executable": "--exe", "tasks": "--param",
                                               "repeat": "--repeat"}[key.lower()]))
                check_value(value, "[control] %s" % key)
                if key in ("logfile", "workdir"):
                    check_placeholders(unknown_placeholders(value, param_names),
                                       "--" + key, param_names)
                self.control.append((key, value))
            self._check_numbers()
        elif any(v is not None for v in (logfile, timeout, retries, workdir)) or control:
            raise SubmitError("--logfile, --timeout, --retries, --workdir and --control go "
                              "with --exe; edit the [control] section of a job file instead")
        self._file_data = []
        for path in self.files:
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
                if not declared_kind(data[:MAX_HEADER]):
                    load(os.path.realpath(path))
            except JobError as error:
                raise SubmitError("%s: %s" % (display(path), error))
            except OSError as error:
                raise SubmitError("%s: %s" % (display(path), error.strerror))
            self._file_data.append((os.path.basename(path), data))

    @property
    def is_array(self):
        """One array file for the whole sweep (not for single jobs, job files, --split)."""
        return self.command is not None and not self.split and self.count() > 1

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
            if key.lower() == "priority":
                try:
                    int(value)
                except ValueError:
                    raise SubmitError("[control] priority must be a whole number, not %r"
                                      % value)
        try:  # the rest as a worker reads it: what it would refuse is refused now
            Settings({key.lower(): value for key, value in self.control})
        except JobError as error:
            raise SubmitError(str(error))

    def count(self):
        """Jobs (or array tasks) this makes."""
        if self.files:
            return len(self.files) * self.repeat
        total = self.repeat
        for param in self.params:
            total *= len(param)
        return total

    def file_count(self):
        return 1 if self.is_array else self.count()

    def label(self):
        label = clean_label(self.name or ("sweep" if self.is_array else "job"))
        if not label.endswith((".conf", ".ini", ".cfg")):
            label += ".conf"
        return label

    def contents(self):
        """(label, bytes) for each file, in submission order."""
        if self.files:
            for base, data in self._file_data:
                label = clean_label(self.name or base)
                for _ in range(self.repeat):
                    yield label, data
            return
        label = self.label()
        if self.is_array:
            yield label, self._array().encode("utf-8", "surrogateescape")
            return
        names = [p.name for p in self.params]
        sizes = [len(p) for p in self.params]
        combinations = 1
        for size in sizes:
            combinations *= size
        if combinations * self.repeat > MAX_RANGE:
            raise SubmitError("--split would write %d job files (at most %d): leave it out to "
                              "queue one array file" % (combinations * self.repeat, MAX_RANGE))
        for number in range(combinations):
            values, rest = [], number
            for param, size in zip(reversed(self.params), reversed(sizes)):
                rest, digit = divmod(rest, size)
                values.append(param.values[digit])
            values.reverse()
            argv = self.command.argv(values, JOBFILE_PLACEHOLDER)
            executable = " ".join(shlex.quote(word) for word in argv)
            control = [(k, fill_text(v, names, values) if k in ("logfile", "workdir") else v)
                       for k, v in self.control]
            data = self._ini(executable, control, zip(names, values)).encode(
                "utf-8", "surrogateescape")
            for _ in range(self.repeat):
                yield label, data

    def _array(self):
        control = [("tasks", "product")]
        if self.repeat > 1:
            control.append(("repeat", str(self.repeat)))
        return self._ini(self.executable, control + self.control,
                         [(p.name, p.text) for p in self.params])

    @staticmethod
    def _ini(executable, control, params):
        lines = ["[control]", "executable: " + executable]
        lines += ["%s: %s" % kv for kv in control]
        params = list(params)
        if params:
            lines += ["", "[params]"] + ["%s: %s" % kv for kv in params]
        return "\n".join(lines) + "\n"


# -- writing ----------------------------------------------------------------------------------

def is_plain(data):
    """A single job of default priority (names.plain_submitted): read as the dispatcher
    would read it."""
    return not declared_kind(data[:MAX_HEADER]) and not priority_of(data)


def write_jobs(layout, template, on_name=None):
    """Write every job of template into jobqueue/; returns the names in submission order.

    On an error part-way the jobs written so far stay queued; the error is raised with
    ``written`` (the list of names) attached.
    """
    layout.ensure()
    width = max(6, len(str(template.file_count())))
    prefix = batch_prefix()
    nonce = prefix.rsplit("-", 1)[1]
    names = []
    dir_fd = os.open(layout.jobqueue, os.O_RDONLY | os.O_DIRECTORY)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    tmp = None
    try:
        for seq, (label, data) in enumerate(template.contents(), 1):
            number = "%0*d" % (width, seq)
            final = "%s-%s%s-%s" % (prefix, number, PLAIN_MARK if is_plain(data) else "",
                                    label)
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
    if names:
        hint_dispatcher(layout, layout.identity())  # look now, rather than at its next poll
    return names


def submit(executable=None, files=(), repeat=1, params=None, name=None, logfile=None,
           timeout=None, retries=None, workdir=None, control=None, root=None, split=False):
    """Queue jobs; returns the names of the files written to jobqueue/, in order.

    executable  the command line, as ``[control] executable`` (split like a shell would,
                never run by one). ``$name``, ``${name}``, ``{name}`` and ``$1``, ``$2``, ...
                (the first, second, ... parameter) are replaced by each task's values,
                each becoming (part of) one argument; ``$$`` is a literal ``$``, and
                ``{jobfile}`` places the job file's path.
    files       job files to queue instead (copied; each must be a valid INI job).
    repeat      queue each job (or combination) this many times.
    params      {name: values} (or [(name, values), ...]); one task per combination of
                values (the cartesian product), the values under ``[params]``. Values may
                be a list or a string "v1,v2,..." ("1..10" is a range, "0..1:0.1" one with
                a step).
    split       a sweep (params or repeat) is one array file, whose tasks are called
                NAME#1, NAME#2, ...; split=True writes one job file per task instead.
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
                           workdir=workdir, control=control, split=split)
    layout = Layout(root)
    if not os.path.isdir(layout.root):
        raise QueueError("the queue root %s does not exist" % display(layout.root))
    return write_jobs(layout, template)
