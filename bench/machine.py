"""The machine a benchmark ran on: CPU, cores, memory, kernel, Python, the filesystem of the
queue roots and what creating one file there costs, the fjd checkout and its revision.

Printed above every report and stored with the results, since every number depends on it.
Standard library only.
"""
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time

from harness import JOB, fjd_env, remove_later
from commands import first_line


def cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def filesystem_of(path):
    """(fstype, mount point, device) of the mount holding path, from /proc/self/mounts."""
    path = os.path.realpath(path)
    best = ("unknown", "", "")
    try:
        with open("/proc/self/mounts") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mount = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[1])
                inside = path == mount or path.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best[1]):
                    best = (parts[2], mount, parts[0])
    except OSError:
        pass
    return best


def os_name():
    try:
        with open("/etc/os-release") as handle:
            for line in handle:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def git_revision(repo):
    try:
        rev = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10)
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--", "fjd",
                                "dispatcher.py", "worker.py"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10)
        text = rev.stdout.decode().strip()
        if text and dirty.stdout.strip():
            text += "+uncommitted changes"
        return text or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def create_cost_us(folder, files=1000, rounds=3):
    """Median microseconds to create (open O_CREAT, write, close) one small file in folder.

    Every job costs fjd a few file creations, so this is context for every number.
    """
    costs = []
    base = tempfile.mkdtemp(prefix="fjd-bench-probe-", dir=folder)
    try:
        dir_fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for k in range(rounds):
                started = time.perf_counter()
                for i in range(files):
                    fd = os.open("p%d-%d" % (k, i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644,
                                 dir_fd=dir_fd)
                    os.write(fd, JOB)
                    os.close(fd)
                costs.append((time.perf_counter() - started) / files * 1e6)
        finally:
            os.close(dir_fd)
    finally:
        remove_later(base)
    return statistics.median(costs)


def machine_info(opts):
    fstype, mount, device = filesystem_of(opts.tmp)
    mem_kb = None
    try:
        with open("/proc/meminfo") as handle:
            mem_kb = int(handle.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    py = first_line([opts.python, "-c", "import platform,sys;"
                     "print(platform.python_version(), sys.executable)"])
    return {"cpu": cpu_model(), "cores": os.cpu_count(),
            "memory_gb": round(mem_kb / 1024.0 / 1024.0, 1) if mem_kb else None,
            "kernel": platform.release(), "os": os_name(),
            "python": py.split()[0] if py else None, "python_path": opts.python,
            "harness_python": platform.python_version(),
            "tmp": opts.tmp, "fs": fstype, "fs_mount": mount, "fs_device": device,
            "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "fjd": first_line([opts.python, "-m", "fjd", "--version"], env=fjd_env(opts)),
            "fjd_dir": opts.fjd, "git": git_revision(opts.fjd),
            "loadavg_start": list(os.getloadavg()),
            "file_create_us": create_cost_us(opts.tmp)}
