"""Resources: what a worker owns (cores, GPUs, memory) and what a job asks for, in one
form, a Shape, and the short text both are named with (DESIGN.md, "Resources").

The dispatcher must know every idle worker's shape and every queued job's request without
opening a file (a request per job on a shared mount), so both live in names:

    host-4242-3f9c2a_c4g2m8G                  a worker with 4 cores, 2 GPUs, 8 GB
    20261124-171800.123456-3f9c2a-000001s_g1-job.conf   a job that asks for a GPU

The text is ``c<cores>`` (left out when 1), ``g<GPUs>`` (left out when 0) and ``m<size>``
(left out when no memory is given); a worker or job of the default shape (1 core, no GPU,
no memory) has none, so its name is what it always was. Sizes are binary (1G is 2**30
bytes) and written ``512M``, ``4G``, ``1.5G``; a bare number is megabytes, as in Slurm.

Pure functions: nothing here touches the queue.
"""
import collections
import math
import os
import re

from .errors import QueueError

KIB = 1024
UNITS = {"": KIB ** 2, "K": KIB, "M": KIB ** 2, "G": KIB ** 3, "T": KIB ** 4}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([KMGT]?)(?:I?B)?\s*\Z", re.I)
_TEXT = re.compile(r"(?:c([0-9]{1,6}))?(?:g([0-9]{1,6}))?(?:m([0-9]{1,15})([KMGT]?))?"
                   r"(?:[te][0-9]{1,12})?\Z")  # (a time request, a worker's end: time_request.py)
ID_MARK = "_"  # between a worker's id and its shape (never in a host name: layout.py)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class Shape(collections.namedtuple("Shape", "cpus gpus memory")):
    """Cores, GPUs and memory (bytes, None: not given) of a worker, or asked for by a job."""

    @property
    def text(self):
        """The short text in names ("" for the default shape)."""
        parts = []
        if self.cpus != 1:
            parts.append("c%d" % self.cpus)
        if self.gpus:
            parts.append("g%d" % self.gpus)
        if self.memory is not None:
            parts.append("m" + size_text(self.memory))
        return "".join(parts)

    def covers(self, request):
        """Whether a worker of this shape can run a job asking for request. A worker given
        no memory has no limit: it covers any memory request."""
        return (self.cpus >= request.cpus and self.gpus >= request.gpus and
                (request.memory is None or self.memory is None or
                 self.memory >= request.memory))

    @property
    def size_key(self):
        """Sort key, smallest first: GPUs are scarcest, then cores, then memory."""
        return (self.gpus, self.cpus, math.inf if self.memory is None else self.memory)

    @property
    def need_key(self):
        """Sort key of a request, smallest first (no memory asked: nothing)."""
        return (self.gpus, self.cpus, self.memory or 0)

    def describe(self):
        """A person's words: "2 GPUs, 4 cores, 8 GB" (one core is said only alone)."""
        parts = []
        if self.gpus:
            parts.append(plural(self.gpus, "GPU"))
        if self.cpus != 1 or not parts:
            parts.append(plural(self.cpus, "core"))
        if self.memory is not None:
            parts.append(format_size(self.memory))
        return ", ".join(parts)

    def as_json(self):
        return {"cpus": self.cpus, "gpus": self.gpus, "memory": self.memory}


DEFAULT = Shape(1, 0, None)


def plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


# -- sizes --------------------------------------------------------------------------------------

def parse_size(text):
    """Bytes of a size such as 512M, 4G, 1.5G (a bare number: megabytes); ValueError."""
    found = _SIZE.match(str(text))
    if not found:
        raise ValueError("%r is not a size such as 512M or 4G" % (text,))
    value = float(found.group(1)) * UNITS[found.group(2).upper()]
    if value < 1:
        raise ValueError("%r is not a size such as 512M or 4G" % (text,))
    return int(value)


def size_text(size):
    """The exact short text of a size in names: 8G, 1536M, 1000 (bytes)."""
    for unit in "TGMK":
        if size % UNITS[unit] == 0:
            return "%d%s" % (size // UNITS[unit], unit)
    return str(size)


def format_size(size):
    """A person's words for a size: 4 GB, 4.3 GB, 512 MB (binary units, as Slurm's)."""
    for unit, factor in (("TB", KIB ** 4), ("GB", KIB ** 3), ("MB", KIB ** 2)):
        if size >= factor:
            return "%s %s" % (("%.1f" % (size / factor)).replace(".0", "", 1)
                              if size % factor else size // factor, unit)
    return "%d KB" % max(1, size // KIB)


# -- the short text -----------------------------------------------------------------------------

def parse_text(text):
    """The Shape of a short text (c4g2m8G); None when it is not one."""
    found = _TEXT.match(text or "")
    if not found:
        return None
    cpus, gpus, memory, unit = found.groups()
    if cpus is not None and int(cpus) < 1:
        return None
    return Shape(int(cpus) if cpus else 1, int(gpus) if gpus else 0,
                 int(memory) * (UNITS[unit] if unit else 1) if memory else None)


_worker_shapes = {}


def worker_shape(worker_id):
    """The shape a worker's id says it has (the default when it says none)."""
    shape = _worker_shapes.get(worker_id)
    if shape is None:
        _, mark, text = worker_id.rpartition(ID_MARK)
        shape = (parse_text(text) if mark and text else None) or DEFAULT
        if len(_worker_shapes) > 100000:
            _worker_shapes.clear()
        _worker_shapes[worker_id] = shape
    return shape


def bare_worker_id(worker_id):
    """A worker's id without its shape."""
    head, mark, text = worker_id.rpartition(ID_MARK)
    return head if mark and text and parse_text(text) is not None else worker_id


def worker_id_with_shape(worker_id, shape):
    if not shape.text or worker_id.endswith(ID_MARK + shape.text):
        return worker_id
    return worker_id + ID_MARK + shape.text


# -- a job's request ------------------------------------------------------------------------

def request_of_control(control):
    """The Shape a job's [control] keys ask for (a mapping of lower-case keys to text);
    ValueError with a one-line reason for a value that is no request."""
    cpus = _whole(control, "cpus", 1)
    gpus = _whole(control, "gpus", 0)
    memory = None
    raw = control.get("memory", "").strip()
    if raw:
        try:
            memory = parse_size(raw)
        except ValueError:
            raise ValueError("[control] memory must be a size such as 512M or 4G, not %r"
                             % raw)
    return Shape(1 if cpus is None else cpus, gpus or 0, memory)


def _whole(control, key, minimum):
    raw = control.get(key, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < minimum or int(raw) > 999999:
        raise ValueError("[control] %s must be a whole number of at least %d, not %r"
                         % (key, minimum, raw))
    return int(raw)


def may_ask(data):
    """Whether a job file's bytes may hold a request at all (the common case: no)."""
    lowered = data.lower()
    return b"cpus" in lowered or b"gpus" in lowered or b"memory" in lowered


# -- what waits for what ----------------------------------------------------------------------

def waiting_reason(count, request, shapes):
    """`3 jobs need 2 GPUs; no live worker has more than 1`: why jobs wait (shapes: of the
    live workers)."""
    jobs = "%d job%s need%s" % (count, "" if count == 1 else "s", "s" if count == 1 else "")
    if not shapes:
        return "%s %s; no worker is live" % (jobs, request.describe())
    for have, word, show in ((lambda s: s.gpus, "GPU", str), (lambda s: s.cpus, "core", str),
                             (lambda s: s.memory or 0, None, format_size)):
        wanted = have(request)
        most = max(have(s) for s in shapes)
        if word is None and any(s.memory is None for s in shapes):
            continue
        if wanted > most:
            amount = plural(wanted, word) if word else format_size(wanted) + " of memory"
            if not most:
                return "%s %s; no live worker has any" % (jobs, amount)
            return "%s %s; no live worker has more than %s" % (jobs, amount, show(most))
    return "%s %s; no live worker has all of it" % (jobs, request.describe())


def stuck(requests, shapes):
    """[(request, count, reason)] of the requests (a mapping to counts) that no worker of
    shapes covers, smallest first."""
    found = []
    for request in sorted(requests, key=lambda r: r.need_key):
        if requests[request] and not any(shape.covers(request) for shape in shapes):
            found.append((request, requests[request],
                          waiting_reason(requests[request], request, shapes)))
    return found


# -- a worker's own resources -------------------------------------------------------------

class Resources:
    """What one worker owns: cores (and which, when pinned), GPU ids, memory. given: any
    of them was given, so the job's environment says them (a worker started the 2012 way
    leaves the environment as it was)."""

    def __init__(self, cpus=None, gpus=None, memory=None, cores=None):
        self.given = cpus is not None or gpus is not None or memory is not None or \
            cores is not None
        self.cores = sorted(set(cores)) if cores else None
        self.cpus = cpus if cpus is not None else (len(self.cores) if self.cores else 1)
        self.gpu_ids = [g for g in (gpus or []) if g != ""]
        self.memory = memory
        self.shape = Shape(self.cpus, len(self.gpu_ids), memory)

    def as_json(self):
        found = dict(self.shape.as_json(), gpu_ids=list(self.gpu_ids))
        if self.cores:
            found["cores"] = list(self.cores)
        return found

    def describe(self):
        return describe_json(self.as_json())

    def pin(self):
        """Pin this process (and so every job it starts) to its cores; QueueError when
        they are not cores it may use."""
        if self.cores:
            try:
                os.sched_setaffinity(0, self.cores)
            except (OSError, ValueError) as error:
                raise QueueError("cannot pin this worker to cores %s: %s (it may use %s)"
                                 % (cores_text(self.cores), getattr(error, "strerror", None)
                                    or error, cores_text(os.sched_getaffinity(0))), 2)

    def environment(self, env, request):
        """env with the variables that tell a job what it got: the whole worker, as a
        Slurm job gets its allocation; a job that asked for no GPU sees none."""
        if not self.given:
            return env
        cores = str(self.cpus)
        for name in THREAD_VARIABLES:
            env[name] = cores
        env["FJD_CPUS"] = cores
        gpus = ",".join(self.gpu_ids) if request is None or request.gpus else ""
        if self.gpu_ids or "CUDA_VISIBLE_DEVICES" in env:
            env["CUDA_VISIBLE_DEVICES"] = gpus
        env["FJD_GPUS"] = gpus
        return env


def with_resources(record, request, owned):
    """A job's record with what it asked for and what its worker owns, when either is not
    the default (records of jobs without resources stay as they were)."""
    if request == DEFAULT and not owned.given:
        return record
    record = dict(record, request=request.as_json(), resources=owned.as_json())
    return record


def describe_json(value):
    """A person's words for a request or resources as a record keeps them."""
    if not isinstance(value, dict):
        return str(value)
    try:
        text = Shape(int(value.get("cpus") or 1), int(value.get("gpus") or 0),
                     value.get("memory")).describe()
    except (TypeError, ValueError):
        return str(value)
    extra = []
    if value.get("gpu_ids"):
        extra.append("GPU ids " + ",".join(str(g) for g in value["gpu_ids"]))
    if value.get("cores"):
        extra.append("pinned to cores " + cores_text(value["cores"]))
    return text + ("" if not extra else " (%s)" % "; ".join(extra))


def parse_gpu_ids(text):
    """The GPU ids of --gpus 0,1,2 (ids, not a count: what CUDA_VISIBLE_DEVICES takes)."""
    ids = [part.strip() for part in str(text).split(",") if part.strip()]
    for gpu in ids:
        if not re.match(r"[0-9A-Za-z:._-]+\Z", gpu):
            raise ValueError("%r is not a GPU id (give ids such as 0,1 or GPU-uuid)" % gpu)
    return ids


def parse_cores(text):
    """The cores of a list such as 0-3,8,10-11."""
    cores = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError("%r is not a list of cores such as 0-3,8" % text)
        cores.extend(range(int(low), int(high or low) + 1))
    return cores


def cores_text(cores):
    """0-3,8: the inverse of parse_cores."""
    runs, cores = [], sorted(cores)
    for core in cores:
        if runs and core == runs[-1][1] + 1:
            runs[-1][1] = core
        else:
            runs.append([core, core])
    return ",".join("%d" % a if a == b else "%d-%d" % (a, b) for a, b in runs)
