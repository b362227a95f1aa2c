"""The tools fjd is compared with: xargs -P, GNU parallel and HyperQueue.

Each runs the same N no-op commands as fjd's throughput run and returns its jobs/s; GNU
parallel (apt-get) and HyperQueue (pip, into a virtual environment of its own) are installed
when missing unless --no-install. HyperQueue itself runs in bench/hyperqueue_run.py, with
that environment's Python.
"""
import json
import os
import shutil
import subprocess
import sys
import time

from harness import HERE, BenchError, Scenario, say
from machine import filesystem_of


def xargs_once(n, workers):
    data = "".join("job%07d.conf\n" % i for i in range(n)).encode()
    started = time.monotonic()
    proc = subprocess.run(["xargs", "-P", str(workers), "-n", "1", "true"], input=data,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise BenchError("xargs exited with %d: %s" % (proc.returncode, proc.stderr[-500:]))
    return {"jobs": n, "seconds": elapsed, "jobs_per_s": n / elapsed}


def memory_folder():
    """A tmpfs folder (/dev/shm) if there is one, else None."""
    fstype, _, _ = filesystem_of("/dev/shm")
    return "/dev/shm" if fstype == "tmpfs" and os.access("/dev/shm", os.W_OK) else None


def parallel_once(n, workers):
    """GNU parallel with its defaults, except that its temporary files (two per job, created
    and deleted at once) go to tmpfs when there is one: deleted on the disk they would slow
    the file creations of the runs after it (see remove_later), and tmpfs costs parallel
    nothing."""
    data = "".join("job%07d.conf\n" % i for i in range(n)).encode()
    env = dict(os.environ)
    shm = memory_folder()
    if shm:
        env["TMPDIR"] = shm
    started = time.monotonic()
    proc = subprocess.run(["parallel", "--will-cite", "-j", str(workers), "true"], input=data,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise BenchError("parallel exited with %d: %s" % (proc.returncode, proc.stderr[-500:]))
    return {"jobs": n, "seconds": elapsed, "jobs_per_s": n / elapsed}


def gnu_parallel_version():
    """The first line of `parallel --version` if it is GNU parallel, else None."""
    if not shutil.which("parallel"):
        return None
    try:
        proc = subprocess.run(["parallel", "--version"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = proc.stdout.decode("utf-8", "replace").strip().splitlines()[:1]
    if proc.returncode == 0 and first and "GNU parallel" in first[0]:
        return first[0]
    return None  # e.g. moreutils' parallel, which is a different program


def ensure_gnu_parallel(opts):
    """GNU parallel's version line, installing the Debian package when missing and allowed."""
    version = gnu_parallel_version()
    if version or opts.no_install:
        return version, (None if version else "not installed (--no-install)")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "not installed; install it with: sudo apt-get install parallel"
    say("GNU parallel is missing: apt-get update && apt-get install -y parallel")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "parallel"]):
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env=env)
        if proc.returncode != 0:
            tail = proc.stdout.decode("utf-8", "replace").strip().splitlines()[-3:]
            return None, "apt-get failed: %s" % " / ".join(tail)
    version = gnu_parallel_version()
    return version, (None if version else "installed, but `parallel` is not GNU parallel")


HYPERQUEUE_VENV = os.path.join(os.environ.get("XDG_CACHE_HOME") or
                               os.path.join(os.path.expanduser("~"), ".cache"),
                               "fjd-bench", "hyperqueue-venv")


def hyperqueue_python():
    """The Python of HYPERQUEUE_VENV if `import hyperqueue` works there, else None."""
    python = os.path.join(HYPERQUEUE_VENV, "bin", "python")
    if not os.path.exists(python):
        return None
    proc = subprocess.run([python, "-c", "import hyperqueue"], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return python if proc.returncode == 0 else None


def ensure_hyperqueue(opts):
    """(python, None) with HyperQueue importable, or (None, why not).

    HyperQueue is not packaged in Debian; its PyPI package `hyperqueue` embeds the server
    and the worker, so it is installed into a virtual environment of its own
    (HYPERQUEUE_VENV, in the user's cache folder) when missing; pip needs to reach PyPI.
    """
    python = hyperqueue_python()
    if python or opts.no_install:
        return python, (None if python else "not installed (--no-install)")
    say("HyperQueue is missing: pip install hyperqueue into %s" % HYPERQUEUE_VENV)
    steps = ([sys.executable, "-m", "venv", HYPERQUEUE_VENV],
             [os.path.join(HYPERQUEUE_VENV, "bin", "python"), "-m", "pip", "install", "-q",
              "--disable-pip-version-check", "--retries", "1", "--timeout", "20",
              "hyperqueue"])
    for argv in steps:
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as error:
            return None, "installing it failed: %s" % error
        if proc.returncode != 0:
            tail = proc.stdout.decode("utf-8", "replace").strip().splitlines()[-2:]
            return None, "installing it failed: %s" % " / ".join(tail)
    python = hyperqueue_python()
    return python, (None if python else "installed, but `import hyperqueue` fails")


def hyperqueue_once(opts, python, n, workers):
    """N no-op tasks through HyperQueue's embedded server and one worker with W cores."""
    with Scenario(opts, "hyperqueue") as sc:
        proc = subprocess.run([python, os.path.join(HERE, "hyperqueue_run.py"), str(n),
                               str(workers), os.path.join(sc.dir, "server")],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, cwd=sc.dir, timeout=max(120, n / 5.0))
    if proc.returncode != 0:
        raise BenchError("HyperQueue run exited with %d: %s"
                         % (proc.returncode, proc.stderr.decode("utf-8", "replace")[-500:]))
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])
