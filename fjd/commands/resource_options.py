"""The resource options (resources.py): what a worker owns (`fjd worker --cpus 4 --gpus 0,1
--memory 8G`) and what a job asks for (`fjd submit --cpus 4 --gpus 1 --memory 8G`)."""
import argparse

from .. import resources
from ..job_request import request_of_bytes
from ..recruit.shapes import AUTO, granted_gpus, plan, usable_cores
from .common import CommandError


def cpus(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("%r is not a whole number of at least 1" % text)
    return int(text)


def gpu_count(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    return int(text)


def gpu_ids(text):
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        return resources.parse_gpu_ids(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error))


def memory(text):
    try:
        return resources.parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error))


def cores(text):
    try:
        return resources.parse_cores(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error))


# -- a worker's ---------------------------------------------------------------------------------

def add_worker_resources(parser):
    group = parser.add_argument_group("resources (a job goes only to a worker that has what "
                                      "it asks for)")
    group.add_argument("--cpus", type=cpus, metavar="N",
                       help="cores this worker owns (default: 1); its jobs get "
                            "OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS and "
                            "FJD_CPUS set to N")
    group.add_argument("--gpus", type=gpu_ids, metavar="IDS",
                       help="GPU ids this worker owns, e.g. 0,1, or auto (those "
                            "CUDA_VISIBLE_DEVICES or Slurm grants, else nvidia-smi -L lists; "
                            "default: none); a job that "
                            "asks for GPUs gets CUDA_VISIBLE_DEVICES and FJD_GPUS set to them, "
                            "one that asks for none gets CUDA_VISIBLE_DEVICES empty")
    group.add_argument("--memory", type=memory, metavar="SIZE",
                       help="memory this worker offers, e.g. 8G (default: no limit): jobs "
                            "that ask for more never come here")
    group.add_argument("--pin", type=cores, metavar="CORES",
                       help="pin the worker and its jobs to these cores, e.g. 0-3 "
                            "(os.sched_setaffinity; `fjd workers start --cpus` does it)")
    return group


def worker_resources(args):
    """The Resources of `fjd worker`'s options (None: nothing given, the 2012 worker)."""
    given = [getattr(args, key, None) for key in ("cpus", "gpus", "memory", "pin")]
    if all(value is None for value in given):
        return None
    gpus = granted_gpus() if args.gpus == AUTO else args.gpus
    return resources.Resources(cpus=args.cpus, gpus=gpus, memory=args.memory, cores=args.pin)


# -- the workers `fjd workers start` makes ----------------------------------------------------

def add_start_resources(parser):
    group = parser.add_argument_group("resources (each worker's; a job goes only to a worker "
                                      "that has what it asks for)")
    group.add_argument("--cpus", type=cpus, metavar="C",
                       help="cores per worker: each is pinned to C cores of its own when "
                            "N x C fit in the cores this process may use")
    group.add_argument("--gpus", metavar="IDS|auto",
                       help="GPU ids to share out (0,1,2,3), or auto: those "
                            "CUDA_VISIBLE_DEVICES or Slurm grants, else nvidia-smi -L lists; "
                            "one worker per --gpus-per-worker of them")
    group.add_argument("--gpus-per-worker", type=cpus, metavar="K",
                       help="GPUs per worker (default: 1)")
    group.add_argument("--memory", type=memory, metavar="SIZE",
                       help="memory each worker offers (jobs asking for more never go there)")
    return group


def start_resources_given(args):
    return any(getattr(args, key, None) is not None
               for key in ("cpus", "gpus", "gpus_per_worker", "memory"))


# -- a job's ------------------------------------------------------------------------------------

def add_job_requests(parser):
    group = parser.add_argument_group("resources each job (or task) asks for; it goes only "
                                      "to a worker that has them")
    group.add_argument("--cpus", type=cpus, metavar="N", help="cores ([control] cpus)")
    group.add_argument("--gpus", type=gpu_count, metavar="N", help="GPUs ([control] gpus)")
    group.add_argument("--memory", metavar="SIZE", type=memory_text,
                       help="memory, e.g. 512M or 4G ([control] memory): the job is stopped "
                            "when its processes use more")
    return group


def memory_text(text):
    memory(text)
    return text.strip()


def request_control(args):
    """[(key, value)] of the [control] keys for the request options given."""
    found = []
    for key in ("cpus", "gpus", "memory"):
        value = getattr(args, key, None)
        if value is not None:
            found.append((key, str(value)))
    return found


def request_of_file(path):
    try:
        with open(path, "rb") as handle:
            return request_of_bytes(handle.read())
    except OSError:
        return resources.DEFAULT  # (fjd submit says why)


def largest(one, other):
    """A request that covers both."""
    memories = [m for m in (one.memory, other.memory) if m is not None]
    return resources.Shape(max(one.cpus, other.cpus), max(one.gpus, other.gpus),
                           max(memories) if memories else None)


def request_of_args(args):
    return resources.request_of_control(dict(request_control(args)))


# -- the workers `fjd run` starts ---------------------------------------------------------------

def run_workers(args, count, explicit=False):
    """(count, each worker's options) for `fjd run`'s own workers, shaped to run what its
    jobs ask for (--cpus, --gpus); CommandError when this host cannot. explicit: count is
    --workers (else it is cut to what fits)."""
    request = request_of_args(args)
    for path in getattr(args, "files", None) or ():  # job files ask in their [control]
        request = largest(request, request_of_file(path))
    if request == resources.DEFAULT:
        return count, None
    cores = usable_cores()
    if request.cpus > len(cores):
        raise CommandError("the jobs ask for %d cores; this process may use %d here"
                           % (request.cpus, len(cores)))
    fits = len(cores) // request.cpus
    gpus = None
    if request.gpus:
        found = granted_gpus()
        if len(found) < request.gpus:
            raise CommandError("the jobs ask for %s; %s (CUDA_VISIBLE_DEVICES, Slurm, "
                               "nvidia-smi -L)" % (resources.plural(request.gpus, "GPU"),
                                                   "this host has %d" % len(found) if found
                                                   else "none was found here"))
        gpus = ",".join(found)
        fits = min(fits, len(found) // request.gpus)
    if not explicit:
        count = max(1, min(count, fits))
    return plan(count, request.cpus if request.cpus > 1 else None, gpus,
                request.gpus or None, None, cores)
