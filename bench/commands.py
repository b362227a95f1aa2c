"""Running fjd's commands as a user types them, timed, with their CPU and peak memory
(run_fjd), and asking the fjd benchmarked what it offers (fjd_help). Standard library only.
"""
import os
import signal
import subprocess
import tempfile
import time

from harness import BenchError, fjd_env, proc_status_kb


def run_fjd(opts, args, cwd, timeout=600.0, log_path=None):
    """`python -m fjd ARGS` as a user types it: a dict with its exit status, its wall time,
    its stdout and stderr (both go to log_path instead when it is given, for long runs),
    its CPU seconds from wait4() (with the processes it waited for: the daemons of `fjd run`
    and their jobs), and its own peak RSS: VmHWM, read while it runs (see reap).

    It runs in a session of its own: when it outlives timeout, it and what it started get
    SIGTERM, then SIGKILL, and BenchError is raised.
    """
    argv = [opts.python, "-m", "fjd"] + list(args)
    out_file = open(log_path, "ab") if log_path else tempfile.TemporaryFile()
    err_file = out_file if log_path else tempfile.TemporaryFile()
    try:
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=cwd, env=fjd_env(opts), stdin=subprocess.DEVNULL,
                                stdout=out_file, stderr=err_file, start_new_session=True)
        status, usage, hwm = reap(proc.pid, started + timeout)
        seconds = time.monotonic() - started
        if status is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except OSError:
                    pass
                status, usage, _ = reap(proc.pid, time.monotonic() + 30.0)
                if status is not None:
                    break
        proc.returncode = exit_code(status) if status is not None else -9
        if seconds > timeout:
            raise BenchError("`%s` did not finish within %.0f s (stopped)"
                             % (" ".join(argv[1:]), timeout))
        out = err = b""
        if not log_path:
            out_file.seek(0)
            err_file.seek(0)
            out, err = out_file.read(), err_file.read()
    finally:
        out_file.close()
        if err_file is not out_file:
            err_file.close()
    return {"argv": argv, "status": proc.returncode, "seconds": seconds, "stdout": out,
            "stderr": err, "cpu_s": usage.ru_utime + usage.ru_stime if usage else None,
            "max_rss_kb": hwm}


def reap(pid, deadline):
    """(wait status, rusage, peak RSS in kB) of a child once it exits, or (None, None,
    peak) at the deadline. Polled every 2 ms for the first 2 s (short commands are timed to
    a few ms), then every 50 ms.

    The peak RSS is the last VmHWM read from /proc/<pid>/status before the exit (memory
    taken in the last poll interval can be missed). Not wait4's ru_maxrss: Linux carries a
    process's maxrss across exec, so a child's starts at what the harness itself held when
    it was spawned (60 MB and more once it has read 100,000 records)."""
    started = time.monotonic()
    hwm = None
    while True:
        found, status, usage = os.wait4(pid, os.WNOHANG)
        if found:
            return status, usage, hwm
        hwm = proc_status_kb(pid, "VmHWM") or hwm
        now = time.monotonic()
        if now > deadline:
            return None, None, hwm
        time.sleep(0.002 if now - started < 2.0 else 0.05)


def exit_code(status):
    """The exit status of a wait status (a negative signal number if it was killed), as
    subprocess reports it (os.waitstatus_to_exitcode is Python 3.9+)."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def first_line(argv, env=None):
    """The first line a command prints, or None when it fails."""
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=30, env=env)
        if proc.returncode != 0:
            return None
        return proc.stdout.decode("utf-8", "replace").strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return None


def fjd_help(opts, command):
    """(exit status, text) of `python -m fjd COMMAND --help` of the fjd benchmarked: what
    it offers (an older checkout may lack a command or an option); cached on opts."""
    cache = opts.__dict__.setdefault("_fjd_help", {})
    if command not in cache:
        try:
            probe = subprocess.run([opts.python, "-m", "fjd", command, "--help"], cwd=opts.fjd,
                                   env=fjd_env(opts), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=60)
            cache[command] = (probe.returncode, probe.stdout.decode("utf-8", "replace"))
        except (OSError, subprocess.TimeoutExpired) as error:
            cache[command] = (-1, str(error))
    return cache[command]
