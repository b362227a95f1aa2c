"""The shapes of the workers `fjd workers start` makes (DESIGN.md, "Resources"): N workers
of --cpus C cores each, pinned to cores of their own where this process may use N x C of
them; one worker per --gpus-per-worker K of the GPUs given (--gpus 0,1,2,3) or found
(--gpus auto: CUDA_VISIBLE_DEVICES, else Slurm's, else `nvidia-smi -L`, else none).
Raises RecruitError (status 2) for options that cannot be met."""
import os
import subprocess

from ..errors import RecruitError
from ..resources import cores_text, parse_gpu_ids, size_text

AUTO = "auto"
NVIDIA_SMI_TIMEOUT = 10


def granted_gpus(environ=None):
    """The GPU ids this process may use: CUDA_VISIBLE_DEVICES, else SLURM_STEP_GPUS or
    SLURM_JOB_GPUS, else what `nvidia-smi -L` lists, else none."""
    environ = os.environ if environ is None else environ
    for variable in ("CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        if variable in environ:
            try:
                return parse_gpu_ids(environ[variable])
            except ValueError:
                return []
    try:
        result = subprocess.run(["nvidia-smi", "-L"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                timeout=NVIDIA_SMI_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return []
    if result.returncode != 0:
        return []
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    return [str(i) for i, line in enumerate(l for l in lines if l.startswith("GPU "))]


def gpu_ids_of(text):
    """--gpus IDS or auto, as a list of ids."""
    if text is None:
        return None
    if text.strip().lower() == AUTO:
        return granted_gpus()
    try:
        return parse_gpu_ids(text)
    except ValueError as error:
        raise RecruitError("--gpus: %s" % error, 2)


def usable_cores():
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def plan(count, cpus=None, gpus=None, gpus_per_worker=None, memory=None, cores=None):
    """(how many workers, [each one's `fjd worker` resource options]). count: N asked for
    (None: as the GPUs, or the cores, allow); gpus: the --gpus text; cores: the cores to
    pin to (default: those this process may use)."""
    per_worker = gpus_per_worker or 1
    ids = gpu_ids_of(gpus)
    if gpus_per_worker and ids is None:
        raise RecruitError("--gpus-per-worker goes with --gpus IDS or --gpus auto", 2)
    if ids is not None:
        fits = len(ids) // per_worker
        if count is not None and count > fits:
            raise RecruitError("%d workers of %d GPU%s need %d GPUs; %s" % (
                count, per_worker, "" if per_worker == 1 else "s", count * per_worker,
                "there are %d (%s)" % (len(ids), ",".join(ids)) if ids else "none was found"),
                2)
        count = fits if count is None else count
        if count < 1:
            raise RecruitError("no GPU to start a worker with (--gpus %s found %s)"
                               % (gpus, ",".join(ids) or "none"), 2)
    cores = usable_cores() if cores is None else cores
    if count is None:
        count = max(1, len(cores) // (cpus or 1))
    pin = cpus is not None and count * cpus <= len(cores)
    options = []
    for number in range(count):
        argv = []
        if cpus is not None:
            argv += ["--cpus", str(cpus)]
            if pin:
                argv += ["--pin", cores_text(cores[number * cpus:(number + 1) * cpus])]
        if ids is not None:
            argv += ["--gpus", ",".join(ids[number * per_worker:(number + 1) * per_worker])]
        if memory is not None:
            argv += ["--memory", size_text(memory)]
        options.append(argv)
    return count, options


def forwarded(args):
    """The `fjd workers start` resource options as given, for another host's (ssh)."""
    argv = []
    if getattr(args, "cpus", None) is not None:
        argv += ["--cpus", str(args.cpus)]
    if getattr(args, "gpus", None) is not None:
        argv += ["--gpus", args.gpus]
    if getattr(args, "gpus_per_worker", None) is not None:
        argv += ["--gpus-per-worker", str(args.gpus_per_worker)]
    if getattr(args, "memory", None) is not None:
        argv += ["--memory", size_text(args.memory)]
    return argv
