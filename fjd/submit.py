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

What to queue, and every check of it, is a JobTemplate (job_template.py); this module
writes its files.
"""
import os
import time

from . import dependencies, dependency_state
from .arrays import MAX_HEADER, declared_kind
from .errors import QueueError, SubmitError
from .fsops import write_all
from .hints import hint_dispatcher
from .jobfile import priority_of
from .job_request import request_of_bytes
from .time_request import request_text, seconds_of_bytes
from .job_template import JobTemplate
from .layout import Layout, display
from .names import PLAIN_MARK, REQUEST_MARK

__all__ = ["submit", "SubmitError"]


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


# -- writing ----------------------------------------------------------------------------------

def is_plain(data):
    """A single job of default priority (names.plain_submitted): read as the dispatcher
    would read it."""
    return not declared_kind(data[:MAX_HEADER]) and not priority_of(data)


def request_mark(data):
    """What goes after the sequence number for a job's request (resources.py): "" for
    the default, so that every job that asks for nothing keeps its name."""
    text = request_of_bytes(data).text + request_text(seconds_of_bytes(data))
    return REQUEST_MARK + text if text else ""


def request_marks(template):
    """data -> request_mark(data); the jobs of an --exe template share their [control],
    read once."""
    if template.files:
        return request_mark
    shared = request_mark(template.control_head())
    return lambda data: shared


def waits_for_others(template, after):
    """A function (data -> (the job's bytes with the after keys added, whether it waits for
    other jobs)): such a job goes to waiting/ and never gets the plain mark (the dispatcher
    reads its head). The jobs of an --exe template share their [control]: one look."""
    shared = bool(after) or (not template.files and
                             bool(dependencies.parse_head(template.control_head())))

    def with_dependencies(data):
        if after:
            data = dependencies.add_to_job(data, after)
        return data, shared or (bool(template.files) and bool(dependencies.parse_head(data)))
    return with_dependencies


def write_new(dir_fd, name, data, flags):
    """A new file name in the folder dir_fd, holding data."""
    fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def write_jobs(layout, template, on_name=None, after=dependencies.NONE):
    """Write every job of template into jobqueue/ (a job that waits for others, with after
    or its own [control] after keys, into waiting/); returns the names in submission order.

    Every name waited for must be in the queue (SubmitError, nothing written). On an error
    part-way the jobs written so far stay queued; the error is raised with ``written`` (the
    list of names) attached.
    """
    layout.ensure()
    check_dependencies(layout, template, after)
    with_dependencies = waits_for_others(template, after)
    mark_of = request_marks(template)
    width = max(6, len(str(template.file_count())))
    prefix = batch_prefix()
    nonce = prefix.rsplit("-", 1)[1]
    names = []
    dir_fd = os.open(layout.jobqueue, os.O_RDONLY | os.O_DIRECTORY)
    waiting_fd = os.open(layout.waiting, os.O_RDONLY | os.O_DIRECTORY)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    tmp = None
    try:
        for seq, (label, data) in enumerate(template.contents(), 1):
            number = "%0*d" % (width, seq)
            data, waits = with_dependencies(data)
            final = "%s-%s%s%s-%s" % (prefix, number,
                                      PLAIN_MARK if is_plain(data) and not waits else "",
                                      mark_of(data), label)
            tmp = ".%s-%s.tmp" % (nonce, number)
            write_new(dir_fd, tmp, data, flags)
            os.rename(tmp, final, src_dir_fd=dir_fd,
                      dst_dir_fd=waiting_fd if waits else dir_fd)
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
        os.close(waiting_fd)
    if names:
        hint_dispatcher(layout, layout.identity())  # look now, rather than at its next poll
    return names


def check_dependencies(layout, template, after):
    """SubmitError unless every name the jobs wait for is in the queue, and an after_each
    array has as many tasks as the array it names."""
    declared = [dependencies.parse_head(data) for _, data in template.file_data()]
    if not template.files:
        declared = [dependencies.parse_head(template.control_head())]
    targets = []
    for deps in declared + [after]:
        targets += [t for t in deps.targets() if t not in targets]
    if not targets:
        return
    lost = dependency_state.missing(layout, targets)
    if lost:
        raise SubmitError("%s: not in this queue (not queued, waiting, running or finished)"
                          % ", ".join(display(name) for name in lost))
    for target in targets:
        array, index = dependencies.split_target(target)
        size = dependency_state.array_size(layout, array) if index else None
        if size is not None and index > size:
            raise SubmitError("%s: %s has %d task%s" % (display(target), display(array),
                                                       size, "" if size == 1 else "s"))
    for deps in declared + [after]:
        for array in deps.after_each:
            size = dependency_state.array_size(layout, array)
            if not template.is_array or template.files:
                raise SubmitError("after_each %s: only an array can wait for each task of "
                                  "another" % display(array))
            if size != template.count():
                raise SubmitError("after_each %s: it has %s tasks and this array %d; both "
                                  "must have as many" % (display(array), size,
                                                         template.count()))


def with_requests(control, **requests):
    """control ({key: value} or pairs) with the resource requests that are given."""
    asked = [(key, value) for key, value in requests.items() if value is not None]
    if not asked:
        return control
    return (list(control.items()) if hasattr(control, "items") else list(control or ())) + \
        asked


def submit(executable=None, files=(), repeat=1, params=None, name=None, logfile=None,
           timeout=None, retries=None, workdir=None, control=None, root=None, split=False,
           after=None, after_finished=None, after_each=None, cpus=None, gpus=None,
           memory=None):
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
                placeholders work in logfile and workdir too (not quoted); workdir is
                relative to the worker's (`fjd submit --exe` writes where it ran instead).
    root        the queue root (default: $FJD_ROOT, else the current directory).
    after, after_finished, after_each
                names (a list, or a string with blanks or commas between them) of jobs or
                arrays in the queue that these wait for: every one done; every one finished
                whatever the outcome; task N of an array after task N of another
                (DESIGN.md, "Dependencies"). Such jobs wait in waiting/.
    cpus, gpus, memory
                what each job (or task) asks for: cores, GPUs, memory ("512M", "4G"); it
                goes only to a worker that has them (``[control]`` keys of these names).

    Raises SubmitError for bad options (nothing is queued then) and OSError when the queue
    cannot be written.
    """
    control = with_requests(control, cpus=cpus, gpus=gpus, memory=memory)
    template = JobTemplate(executable=executable, files=files, repeat=repeat, params=params,
                           name=name, logfile=logfile, timeout=timeout, retries=retries,
                           workdir=workdir, control=control, split=split)
    layout = Layout(root)
    if not os.path.isdir(layout.root):
        raise QueueError("the queue root %s does not exist" % display(layout.root))
    return write_jobs(layout, template, after=dependencies.make(after, after_finished,
                                                                after_each))
