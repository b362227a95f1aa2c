"""What the worker's steps hand each other, typed: a run's result, a heartbeat, being
stuck with a result that cannot be filed. (A cancel is execute.Cancelled, raised where a
job is stopped for it.)"""
import collections

from ..record_kinds import run_summary


class Stuck(Exception):
    """Asked to stop while a result could not be filed: the inbox stays as it is, with the
    result in the heartbeat, for the dispatcher to file once this worker is gone."""


class RunResult(collections.namedtuple("RunResult", [
        "exit_status", "signal", "reason", "timed_out", "cannot_start", "lingering",
        "spans",  # {"stdout": span, "stderr": span} for the record ({} for output: files)
        "runs",  # summaries of every run when the command was retried, else None
])):
    """One run of a command (execute.Runner's outcome), with where its output went."""
    __slots__ = ()

    @classmethod
    def of(cls, outcome, spans):
        return cls(outcome["exit_status"], outcome["signal"], outcome["reason"],
                   outcome.get("timed_out", False), outcome.get("cannot_start", False),
                   outcome.get("lingering", False), spans, None)

    @property
    def succeeded(self):
        return self.exit_status == 0

    @property
    def final(self):
        """No retry can help: it worked, or the program cannot even start."""
        return self.exit_status == 0 or self.cannot_start

    def summary(self):
        return run_summary(self.exit_status, self.signal, self.reason)


def with_runs(results):
    """The last of a command's runs, carrying the summaries of all when there were more."""
    last = results[-1]
    if len(results) > 1:
        return last._replace(runs=[result.summary() for result in results])
    return last


class Heartbeat(collections.namedtuple("Heartbeat", [
        "beat", "worker", "host", "pid", "job", "run", "blocked", "held", "hints"])):
    """What a worker's heartbeat says (DESIGN.md, "The queue root": jobpod/<id>/.heartbeat)."""
    __slots__ = ()

    def payload(self):
        """The JSON object, keys in the order readers know; blocked, held and hints only
        when there are any."""
        payload = {"beat": self.beat, "worker": self.worker, "host": self.host,
                   "pid": self.pid, "job": self.job, "run": self.run}
        if self.blocked:
            payload["blocked"] = self.blocked
        if self.held is not None:
            payload["held"] = self.held
        if self.hints:
            payload["hints"] = self.hints
        return payload
