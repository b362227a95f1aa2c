"""Where `fjd workers auto` keeps what it knows, in the queue root's auto/ folder, and what
`fjd status` shows of it.

    auto/controller.lock     one controller per root (as the dispatcher's lock, lock.py)
    auto/state.json          its allocations, failure counters and stop reason, rewritten
                             whole (a temporary name, then a rename) every cycle
    auto/stop                a stop request (`fjd workers auto stop`): JSON {"cancel": ...}
    auto/registered/<id>     made by the first worker of Slurm job <id> (allocation_marks.py)

The state file is for people and `fjd status`; the controller itself learns its
allocations again from squeue (by their job name) and its counters from the file.
"""
import json
import os
import time

from ..durations import words
from ..fsops import write_file_atomic
from ..layout import display

FOLDER = "auto"
STATE = "state.json"
LOCK = "controller.lock"
STOP = "stop"
MARKS = "registered"


def paths(layout):
    """{name: path} of the auto/ files of a root."""
    folder = os.path.join(layout.root, FOLDER)
    return {"folder": folder, "state": os.path.join(folder, STATE),
            "lock": os.path.join(folder, LOCK), "stop": os.path.join(folder, STOP),
            "marks": os.path.join(folder, MARKS)}


def load(layout):
    """The last state written (None: no controller ever ran here, or it cannot be read)."""
    try:
        with open(paths(layout)["state"], "rb") as handle:
            state = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def save(layout, state):
    state = dict(state, updated=time.time())
    write_file_atomic(paths(layout)["state"],
                      json.dumps(state, indent=1, sort_keys=True).encode() + b"\n")


def request_stop(layout, cancel):
    write_file_atomic(paths(layout)["stop"], json.dumps({"cancel": bool(cancel)}).encode())


def take_stop_request(layout):
    """The stop request's content ({"cancel": bool}), removed; None when there is none."""
    path = paths(layout)["stop"]
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        os.unlink(path)
    except FileNotFoundError:
        return None
    except OSError:
        return {"cancel": False}
    try:
        request = json.loads(data.decode("utf-8"))
    except ValueError:
        request = {}
    return {"cancel": bool(request.get("cancel")) if isinstance(request, dict) else False}


# -- what `fjd status` shows -----------------------------------------------------------------

def for_status(layout):
    """The allocations part of `fjd status --json` (None when no controller ever ran)."""
    state = load(layout)
    if state is None:
        return None
    age = max(0.0, time.time() - float(state.get("updated") or 0))
    allocations = []
    for allocation in state.get("allocations") or ():
        allocation = dict(allocation)
        left = allocation.get("time_left")
        if isinstance(left, (int, float)) and allocation.get("state") == "RUNNING":
            allocation["time_left"] = max(0, int(left - age))
        allocations.append(allocation)
    return {"controller": state.get("controller"), "running": bool(state.get("running")),
            "stopped": state.get("stopped"), "blocked": state.get("blocked"),
            "allocations": allocations, "waiting": state.get("waiting") or [],
            "failed_sbatch_in_a_row": state.get("failed_sbatch_in_a_row", 0),
            "ended_without_worker_in_a_row": state.get("ended_without_worker_in_a_row", 0),
            "limits": state.get("limits"), "age_seconds": round(age, 1)}


def status_lines(auto):
    """`fjd status` lines for the allocations (none when no controller ever ran)."""
    if not auto:
        return []
    who = auto.get("controller") or {}
    if auto["running"]:
        head = "elastic Slurm fleet (fjd workers auto on %s, pid %s; updated %s ago)" % (
            display(str(who.get("host", "?"))), who.get("pid", "?"),
            words(auto["age_seconds"]))
    else:
        head = "elastic Slurm fleet: stopped (%s)" % (auto.get("stopped") or "no reason given")
    lines = ["", head]
    if auto.get("blocked"):
        lines.append("  ! not submitting: %s" % auto["blocked"])
    for reason in auto.get("waiting") or ():
        lines.append("  ! %s" % reason)
    if auto["allocations"]:
        lines.append("  %-12s %-24s %7s  %s" % ("SLURM JOB", "STATE", "WORKERS", "TIME LEFT"))
        for allocation in auto["allocations"]:
            left = allocation.get("time_left")
            lines.append("  %-12s %-24s %7s  %s" % (
                allocation.get("job_id"), state_text(allocation), allocation.get("workers"),
                words(left) if isinstance(left, (int, float)) else "-"))
    elif auto["running"]:
        lines.append("  no allocations")
    return lines


def state_text(allocation):
    """RUNNING, STARTING (running, no worker up yet), PENDING (Slurm's reason)."""
    state = str(allocation.get("state"))
    if state == "RUNNING" and not allocation.get("registered"):
        return "STARTING"
    reason = allocation.get("reason")
    if state == "PENDING" and reason and reason not in ("None", "submitted"):
        return ("PENDING (%s)" % reason)[:24]
    return state
