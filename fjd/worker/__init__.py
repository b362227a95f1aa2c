"""The worker: announces itself, runs what lands in its inbox, files the result, repeats.

A worker owns ``jobpod/<worker id>/`` (its inbox), ``workerqueue/<worker id>`` (its "I am
idle" announcement) and its journals ``records/<worker id>.journal``, ``.out`` and
``.err``. What lands in its inbox is a job file, run once, or a range of an array's
tasks (a hard link of the array file named for the range), run task by task. Each result
is a line in its journal; a job file then moves to done/ or failed/, a finished range to
arrays/ (DESIGN.md, "The worker").

Stopping (SIGINT, SIGTERM, SIGHUP, a stop file, --lifetime): a running job's whole process
group gets SIGTERM, then SIGKILL after the grace time; the interrupted job goes back to
``jobqueue/`` with one more attempt counted, jobs not yet started go back as they were.
A stop signal sent by the worker's own job does not stop the worker: it cuts the job short.

When a result cannot be filed (a full disk, an unwritable folder), the worker keeps it,
says so once in its log and its heartbeat, takes no new work, and tries again until it can
(holding.py): a finished job is never run again because its result could not be filed.

The parts, one owner of state each:

| module | owns |
| --- | --- |
| `loop.py` | `Worker`: start up, register, serve (look, run a batch, idle), leave |
| `presence.py` | id and inbox path, heartbeat, announcement, stop requests, run ids, what the heartbeat shows |
| `following.py` | the dispatcher's lock (how often to beat) and the hints to and from it |
| `holding.py` | a finished result retried until filed (`ResultHolder.retry_until_filed`) |
| `inbox.py` | listing the inbox, cancel requests, hand back, leaving |
| `launch.py` | owner checks, environment, workdir, output files, running a command |
| `job.py` | running one job file and filing it |
| `tasks.py` | running a range of an array's tasks (`TaskRange`) |
| `journals.py` | the worker's record and output journals |
| `outcomes.py` | `RunResult`, `Heartbeat`, `Stuck` |
"""
from .loop import Worker
from .presence import new_worker_id

__all__ = ["Worker", "new_worker_id"]
