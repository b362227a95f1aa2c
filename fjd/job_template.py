"""What ``fjd submit`` and ``fjd.submit()`` queue: a JobTemplate (DESIGN.md, "Array jobs").

A JobTemplate checks everything before anything is written (a bad option queues nothing)
and then yields the files of the batch: one array file for a sweep, one job file per task
with ``split``, or copies of job files. Writing them into ``jobqueue/`` is submit.py's.
"""
import os
import re
import shlex

from .arrays import MAX_HEADER, declared_kind
from .errors import SubmitError
from .jobfile import JOBFILE_PLACEHOLDER, JobError, Settings, load, unknown_control_key
from .layout import display
from .placeholders import CommandTemplate, fill_text, unknown_placeholders, used_parameters
from .values import parse_values, split_commas, values_text

CONTROL_KEYS_WITH_OPTIONS = ("logfile", "timeout", "retries", "workdir")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CONTROL_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_PLACEHOLDER = re.compile(r"\$\$|\$\{(\w+)\}|\$(\w+)|\{(\w+)\}")
_RANGE_SYNTAX = re.compile(r"\d\.\.|\.\.\d")
_LABEL_BAD = re.compile(r"[^A-Za-z0-9._+=-]")
MAX_RANGE = 10 ** 7


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

def where_to_run(submitted_from, workdir):
    """The workdir of an --exe job: the directory it was submitted from, or --workdir
    relative to it, as Slurm and HyperQueue do (hand-written job files keep the 2012 rule:
    relative to the worker's). The directory's own $, { and } are doubled so that they are
    not read as placeholders."""
    if workdir is not None and os.path.isabs(str(workdir)):
        return workdir
    base = str(submitted_from)
    base = base.replace("$", "$$").replace("{", "{{").replace("}", "}}")
    return base if workdir is None else os.path.join(base, str(workdir))


class JobTemplate:
    """What to queue: an executable with control options and parameters, or job files.

    A sweep (--param or --repeat) is one array file by default; split=True makes one job
    file per task instead. ``count()`` says how many jobs (or tasks) it makes, ``files()``
    how many files, and ``contents()`` yields (label, bytes) for each file, in submission
    order.
    """

    def __init__(self, executable=None, files=(), repeat=1, params=None, name=None,
                 logfile=None, timeout=None, retries=None, workdir=None, control=None,
                 split=False, submitted_from=None):
        self.executable = executable
        self.files = list(files or ())
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise SubmitError("repeat must be a whole number of at least 1, not %r" % (repeat,))
        self.repeat = repeat
        self.params = normalize_params(params)
        self.name = name
        self.split = split
        self._check_sources()
        self.control = []
        self.command = None
        if executable is not None and submitted_from is not None:
            workdir = where_to_run(submitted_from, workdir)
        options = {"logfile": logfile, "timeout": timeout, "retries": retries,
                   "workdir": workdir}
        if executable is not None:
            self.command = self._command(str(executable))
            self.control = self._control_keys(options, control)
            self._check_numbers()
        elif any(v is not None for v in options.values()) or control:
            raise SubmitError("--logfile, --timeout, --retries, --workdir, --cpus, --gpus, "
                              "--memory and --control go with --exe; edit the [control] "
                              "section of a job file instead")
        self._file_data = [self._read_job_file(path) for path in self.files]

    def _check_sources(self):
        """An executable or job files, never both; parameters only with an executable."""
        if self.executable is None and not self.files:
            raise SubmitError("nothing to submit: give job files or an executable (--exe)")
        if self.executable is not None and self.files:
            raise SubmitError("give either job files or an executable (--exe), not both")
        if self.files and self.params:
            raise SubmitError("parameters (--param) go with an executable (--exe); a job file "
                              "brings its own [params]")

    def _command(self, executable):
        """The CommandTemplate of the executable, whose placeholders all name a parameter."""
        check_value(executable, "the executable")
        if not executable.strip():
            raise SubmitError("the executable is empty, so there would be nothing to run")
        param_names = [p.name for p in self.params]
        try:
            command = CommandTemplate(executable, param_names)
        except ValueError as error:
            raise SubmitError(str(error).replace("the command", "the executable", 1))
        if not command.words:
            raise SubmitError("the executable is empty, so there would be nothing to run")
        check_placeholders(command.unknown, "the executable", param_names)
        return command

    def _control_keys(self, options, control):
        """[(key, value)] of [control], from the options and any other keys, checked."""
        param_names = [p.name for p in self.params]
        extra = control.items() if hasattr(control, "items") else list(control or ())
        keys = []
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
            unknown = unknown_control_key([key.lower()])
            if unknown:
                raise SubmitError(unknown)
            check_value(value, "[control] %s" % key)
            if key in ("logfile", "workdir"):
                check_placeholders(unknown_placeholders(value, param_names),
                                   "--" + key, param_names)
            keys.append((key, value))
        return keys

    @staticmethod
    def _read_job_file(path):
        """(file name, bytes) of a job file to queue, read as a worker would read it."""
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            if not declared_kind(data[:MAX_HEADER]):
                load(os.path.realpath(path))
        except JobError as error:
            raise SubmitError("%s: %s" % (display(path), error))
        except OSError as error:
            raise SubmitError("%s: %s" % (display(path), error.strerror))
        return os.path.basename(path), data

    def unused_params(self):
        """The parameters no placeholder of the executable, logfile or workdir names: they
        reach the program only through the job file's [params] and $FJD_PARAM_<name> (often
        a shell that replaced "$alpha" in double quotes before fjd saw it)."""
        if self.command is None:
            return []
        used = {part[0] for parts in self.command.words for part in parts
                if isinstance(part, tuple) and part[0] is not None}
        names = [p.name for p in self.params]
        for key, value in self.control:
            if key in ("logfile", "workdir"):
                used |= used_parameters(value, names)
        return [name for i, name in enumerate(names) if i not in used]

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

    def file_data(self):
        """(file name, bytes) of the job files to queue copies of."""
        return list(self._file_data)

    def control_head(self):
        """The [control] section an --exe job gets (no executable, no params): what it
        declares, for checks before anything is written."""
        return self._ini("-", self.control, []).encode("utf-8", "surrogateescape")

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
