#!/usr/bin/env python3
"""Snakemake's generic cluster executor on fjd: submit, status, cancel and the sidecar, one
script (standard library and fjd only). The profile (config.yaml beside it) names the four
links to it; what each does follows from the name it is run as:

  fjd-snakemake-submit JOBSCRIPT   fjd submit [--control cpus=THREADS ...] -- JOBSCRIPT; prints
                                   the job's name and adds it to the sidecar's record
  fjd-snakemake-status NAME        fjd state --format snakemake NAME
  fjd-snakemake-cancel NAME ...    fjd cancel NAME ...
  fjd-snakemake-sidecar            runs as long as Snakemake does; when it is stopped
                                   (Snakemake's end, Ctrl-C, a signal, or Snakemake gone) it
                                   cancels every job it recorded that has not finished

Why a sidecar: Snakemake hands its cancel command only the jobs it holds at that moment,
and a Ctrl-C that lands during a round of status checks finds it holding none. The record
is a file of names, one a line, that each submit appends to before it prints the name; the
sidecar marks the record as closed before it reads it, and a submit that finds the mark
after appending cancels its own job: no job escapes either way.

The queue root: $FJD_ROOT, unless config.yaml beside this script has a line
``# fjd-root: DIR`` (a comment to Snakemake, which knows no such key).
"""
import io
import json
import os
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(sys.argv[0]))  # (the profile's folder: not resolved)
SIDECAR_VARS = "SNAKEMAKE_CLUSTER_SIDECAR_VARS"
RECORD, CLOSED = "submitted", "closed"
ROOT_LINE = re.compile(r"^#\s*fjd-root:\s*(\S.*?)\s*$", re.MULTILINE)
CHUNK = 500  # names per fjd cancel or fjd state call

try:  # (only the command line here: the status command runs once per job and check)
    from fjd import cli
except ImportError:  # run from a checkout that is not installed: fjd is two folders up
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.realpath(__file__)))))
    from fjd import cli


def fail(message):
    sys.stderr.write("fjd-snakemake: %s\n" % message)
    sys.exit(1)


def sidecar_vars():
    """{"root", "record"} from the sidecar, or {} without one."""
    text = os.environ.get(SIDECAR_VARS, "").strip()
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


def queue_root():
    """The root in the profile (``# fjd-root: DIR``), else $FJD_ROOT."""
    known = sidecar_vars().get("root")
    if known:
        return known
    try:
        with open(os.path.join(HERE, "config.yaml")) as handle:
            found = ROOT_LINE.search(handle.read())
    except OSError:
        found = None
    if found:
        return os.path.abspath(os.path.expanduser(os.path.expandvars(found.group(1))))
    if os.environ.get("FJD_ROOT"):
        return os.environ["FJD_ROOT"]
    fail("no queue root: set FJD_ROOT or put '# fjd-root: DIR' in %s"
         % os.path.join(HERE, "config.yaml"))


def fjd(*args):
    """Run an fjd command in this process; its exit status."""
    return cli.main(["--root", queue_root()] + list(args))


def job_properties(jobscript):
    """Snakemake's ``# properties = {...}`` line of a job script (threads, resources)."""
    try:
        with open(jobscript) as handle:
            for line in handle.read(1 << 20).splitlines()[:5]:
                if line.startswith("# properties = "):
                    return json.loads(line[len("# properties = "):])
    except (OSError, ValueError):
        pass
    return {}


def request_options(properties):
    """--control options for what the job asks for, where this fjd knows the key (the
    resources of issue 24): threads -> cpus, resources gpu or gpus -> gpus."""
    from fjd.jobfile import CONTROL_KEYS
    options = []
    resources = properties.get("resources") or {}
    wanted = [("cpus", properties.get("threads")),
              ("gpus", resources.get("gpus", resources.get("gpu")))]
    for key, value in wanted:
        if key in CONTROL_KEYS and isinstance(value, int) and value >= 0:
            options += ["--control", "%s=%d" % (key, value)]
    return options


def submit(jobscript):
    """Queue the job script, record the name, print it (Snakemake's job id)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C now: queued and recorded
    record = sidecar_vars().get("record")
    out, captured = sys.stdout, io.StringIO()
    sys.stdout = captured
    try:
        status = fjd("submit", *request_options(job_properties(jobscript)) + ["--", jobscript])
    finally:
        sys.stdout = out
    name = captured.getvalue().strip()
    if status != 0 or not name:
        return status or 1
    if record and not add_to_record(record, name):
        sys.stdout = sys.stderr  # (stdout is the job id's, for Snakemake)
        fjd("cancel", name)
        fail("snakemake is stopping (its fjd sidecar has gone): cancelled %s" % name)
    out.write(name + "\n")
    return 0


def add_to_record(record, name):
    """Append name to the record; False when the record is closed or gone (then the
    sidecar will not cancel it: the caller must)."""
    try:
        fd = os.open(os.path.join(record, RECORD), os.O_WRONLY | os.O_APPEND)
    except OSError:
        return False
    try:
        os.write(fd, (name + "\n").encode("utf-8", "surrogateescape"))
    finally:
        os.close(fd)
    return not os.path.exists(os.path.join(record, CLOSED))


def cancel_unfinished(root, names):
    """fjd cancel every name of names that has not finished."""
    from fjd import job_states
    from fjd.dependency_state import task_state
    from fjd.layout import Layout
    layout = Layout(root)
    for start in range(0, len(names), CHUNK):
        chunk = names[start:start + CHUNK]
        words = job_states.states(layout, chunk, task_state)
        left = [name for name, word in zip(chunk, words) if word not in job_states.FINISHED
                and word != job_states.UNKNOWN]
        if left:
            cli.main(["--root", root, "cancel"] + left)


def sidecar():
    """Hand Snakemake the record's folder, then wait for the end; cancel what is left."""
    import tempfile  # (here: the status command, run once per job and check, needs none)
    stop = []
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda number, frame: stop.append(number))
    root = queue_root()
    record = tempfile.mkdtemp(prefix="fjd-snakemake-")
    open(os.path.join(record, RECORD), "w").close()
    sys.stdout.write(json.dumps({"root": root, "record": record}) + "\n")
    sys.stdout.flush()
    parent = os.getppid()
    while not stop and os.getppid() == parent:
        time.sleep(0.2)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cancel short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    open(os.path.join(record, CLOSED), "w").close()
    with open(os.path.join(record, RECORD), "rb") as handle:
        names = list(dict.fromkeys(
            handle.read().decode("utf-8", "surrogateescape").split()))
    sys.stdout = sys.stderr  # (Snakemake stops reading our stdout now)
    if names:
        cancel_unfinished(root, names)
    for name in (RECORD, CLOSED):
        os.unlink(os.path.join(record, name))
    os.rmdir(record)
    return 0


def main():
    role = os.path.basename(sys.argv[0]).rsplit("-", 1)[-1].split(".")[0]
    args = sys.argv[1:]
    if role == "submit" and len(args) == 1:
        return submit(args[0])
    if role == "status" and len(args) == 1:
        return fjd("state", "--format", "snakemake", args[0])
    if role == "cancel":
        return fjd("cancel", *args) if args else 0
    if role == "sidecar":
        return sidecar()
    fail("run as fjd-snakemake-submit JOBSCRIPT, fjd-snakemake-status NAME, "
         "fjd-snakemake-cancel NAME ... or fjd-snakemake-sidecar (links to this script)")


if __name__ == "__main__":
    sys.exit(main())
