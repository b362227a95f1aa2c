"""The resource options (resources.py): what a worker owns (`fjd worker --cpus 4 --gpus 0,1
--memory 8G`) and what a job asks for (`fjd submit --cpus 4 --gpus 1 --memory 8G`)."""
import argparse

from .. import resources


def cpus(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("%r is not a whole number of at least 1" % text)
    return int(text)


def gpu_count(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    return int(text)


def gpu_ids(text):
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
                       help="GPU ids this worker owns, e.g. 0,1 (default: none); a job that "
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
    return resources.Resources(cpus=args.cpus, gpus=args.gpus, memory=args.memory,
                               cores=args.pin)


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


def request_of_args(args):
    return resources.request_of_control(dict(request_control(args)))
