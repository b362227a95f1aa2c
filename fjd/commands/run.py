"""``fjd run``: queue jobs, process them with local workers, and stop when all are done.

It submits the jobs given (the options of ``fjd submit``; none to process what is queued),
starts a dispatcher with ``--exit-when-done`` and ``--workers N`` local workers (default:
one per core, at most one per job), shows progress, and when the dispatcher has exited
(nothing queued and nothing in any inbox) stops the workers, prints a summary, runs
``--callback`` and exits 1 if any of its jobs failed. Ctrl-C stops everything; a running job
goes back to the queue and the exit status is 130.
"""
import os
import shlex
import signal
import subprocess
import sys
import time

from ..layout import display
from ..fsops import list_names
from ..progress import RecentRate
from ..recruit.local import (child_env, cpu_count, fjd_argv, stamp, stop_processes,
                             start_logged_process, tail, worker_argv)
from .. import names, reruns
from ..dependency_state import waiting_summary
from ..status import (Journals, duration, failure_entry, legacy_summary, queued_count,
                      running_jobs)
from ..task_lines import add_details, detail_lines
from .common import (add_command, add_common, add_worker_options, open_queue, plural,
                     positive_int, worker_option_argv)
from .resource_options import run_workers
from .submit import add_job_options, has_job_options, queue_from_args, template_from_args

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class RunStatusLine:
    """fjd run's progress line: redrawn in place on a terminal, a line now and then
    otherwise."""

    def __init__(self, stream, quiet, every=10.0):
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.every = every
        self.last_line = None
        self.last_time = None
        self.width = 0

    def show(self, text, force=False):
        if self.quiet:
            return
        now = time.monotonic()
        if self.tty:
            padding = " " * max(0, self.width - len(text))
            self.stream.write("\r" + text + padding)
            self.width = len(text)
            self.stream.flush()
        elif force or self.last_time is None or now - self.last_time >= self.every:
            if text != self.last_line or force:
                self.stream.write(text + "\n")
                self.stream.flush()
                self.last_line = text
            self.last_time = now

    def end(self):
        if self.tty and self.width and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0


class Counter:
    """Jobs (and array tasks) finished since the run started, from the journals' totals,
    and what is queued and running, from the folders."""

    def __init__(self, layout):
        self.layout = layout
        self.started = time.time()
        journals = Journals(layout)
        legacy, _, _ = legacy_summary(layout)
        self.before = self.finished(journals, legacy)
        self.cost = 0.0
        self.workers_seen = set()

    @staticmethod
    def finished(journals, legacy):
        t = journals.totals
        return {"done": t[0] + t[3] + legacy["done"], "failed": t[1] + t[4] + legacy["failed"],
                "cancelled": t[2] + t[5] + legacy["cancelled"]}

    def now(self):
        started = time.monotonic()
        journals = Journals(self.layout)
        legacy, _, _ = legacy_summary(self.layout)
        finished = self.finished(journals, legacy)
        counts = {key: max(0, finished[key] - self.before[key]) for key in finished}
        running = running_jobs(self.layout, journals)
        counts["running"] = sum(1 for r in running if r["state"] in ("running", "blocked"))
        counts["queued"] = queued_count(self.layout) + sum(r["tasks"] for r in running) - \
            counts["running"]
        self.workers_seen.update(r["worker"] for r in running)
        counts["blocked"] = next((r["blocked"] for r in running if r["blocked"]), None)
        self.cost = time.monotonic() - started
        return counts

    def new_failures(self, resumed=None):
        """Failure entries of this run (ended after it started), newest first, and those of
        the sweep it resumed (the array called resumed), whenever they ended."""
        found = [r for r in Journals(self.layout).failures()
                 if (r.get("end") or 0) >= self.started or
                 (resumed is not None and r.get("array") == resumed)]
        entries = [failure_entry(r) for r in found]
        add_details(self.layout, found, entries)  # each failure's params and command
        return entries


def pending_jobs(layout):
    """Names in jobqueue/ and in inboxes (a range of tasks counts once)."""
    count = len(list_names(layout.jobqueue)) + len(list_names(layout.waiting))
    for worker_id in list_names(layout.jobpod):
        count += len(layout.inbox_jobs(worker_id) or [])
    return count


def pending_tasks(layout):
    """Jobs and tasks queued or in inboxes."""
    count = queued_count(layout) + waiting_summary(layout, shown=0)["tasks"]
    for worker_id in list_names(layout.jobpod):
        count += sum(names.parse(n).size for n in layout.inbox_jobs(worker_id) or [])
    return count


def progress_text(counts, total, rate):
    finished = counts["done"] + counts["failed"] + counts["cancelled"]
    left = counts["queued"] + counts["running"]
    eta = duration(left / rate) if rate > 0 and left else "-"
    text = ("[fjd] %d/%d finished: %d done, %d failed, %d running, %d queued | %.1f jobs/s, "
            "ETA %s" % (finished, max(total, finished + left), counts["done"], counts["failed"],
                        counts["running"], counts["queued"], rate, eta))
    if counts.get("blocked"):  # (a full disk, say: the run cannot go on until it is fixed)
        text += " | blocked: %s" % display(counts["blocked"])
    return text


class Run:
    def __init__(self, args, layout):
        self.args = args
        self.layout = layout
        self.stop_signal = None
        self.resumed = None  # the array of the sweep this run resumed (reruns.py)
        self.dispatcher = None
        self.workers = []
        self.log_dir = None
        self.external = False  # another dispatcher serves the queue

    def resume(self):
        """The same sweep is in the queue already: say so, and queue no second copy (True).
        Its finished tasks are not run again; what is left runs now."""
        template = template_from_args(self.args)
        if template.file_count() != 1:
            return False
        label, data = next(template.contents())
        unfinished, finished = reruns.same_sweep(self.layout, label, data)
        if unfinished or finished:
            self.resumed = names.parse(os.path.basename((unfinished or finished)[0])).original
        if unfinished:
            sys.stderr.write("fjd run: this sweep is in the queue already (%s): running what "
                             "is left of it, not a second copy (--again queues one)\n"
                             % display(names.plain_name(os.path.basename(unfinished[0]))))
        elif finished:
            sys.stderr.write("fjd run: this sweep ran to its end before (%s): nothing is run "
                             "again (--again runs it anew; fjd retry puts its failures back)\n"
                             % display(finished[0]))
        return bool(unfinished or finished)

    def on_signal(self, signum, frame):
        self.stop_signal = signum

    def start_daemons(self, count, each=None):
        self.log_dir = os.path.join(self.layout.root, "logs",
                                    "run-%s-%s" % (stamp(), names.nonce(3)))
        os.makedirs(self.log_dir, exist_ok=True)
        env = child_env()
        level = ["--log-level", self.args.log_level]
        self.dispatcher = start_logged_process(
            fjd_argv() + ["dispatcher", "--root", self.layout.root, "--exit-when-done"] + level,
            os.path.join(self.log_dir, "dispatcher.log"), os.getcwd(), detached=False, env=env)
        worker = worker_argv(self.layout.root, self.args.log_level,
                             worker_option_argv(self.args))
        for number in range(1, count + 1):
            log_path = os.path.join(self.log_dir, "worker-%d.log" % number)
            own = list(each[number - 1]) if each else []
            self.workers.append((start_logged_process(worker + own, log_path, os.getcwd(),
                                                      detached=False, env=env), log_path))

    def stop_daemons(self, timeout=30.0):
        stop_processes([self.dispatcher] + [p for p, _ in self.workers], timeout)

    def run(self):
        args = self.args
        if has_job_options(args) and (args.again or not self.resume()):
            queue_from_args(args, "run", self.layout, echo=False, announce=not args.quiet)
        counter = Counter(self.layout)
        total = pending_tasks(self.layout)
        started = time.monotonic()
        status = 0
        interrupted = False
        previous = {sig: signal.signal(sig, self.on_signal) for sig in STOP_SIGNALS}
        progress = RunStatusLine(sys.stderr, args.quiet)
        try:
            if total == 0:
                sys.stderr.write("fjd run: nothing to do: %s is empty\n"
                                 % display(self.layout.jobqueue))
            else:
                # one per core by default, but no more than there are jobs; as many as
                # asked for when --workers is given
                count = args.workers or min(cpu_count(), total)
                count, each = run_workers(args, count, explicit=bool(args.workers))
                self.start_daemons(count, each)
                if not args.quiet:
                    sys.stderr.write("fjd run: %s, %s; logs in %s\n"
                                     % (plural(total, "job"), plural(count, "worker"),
                                        display(self.log_dir)))
                status = self.watch(counter, total, started, progress)
                interrupted = self.stop_signal is not None
        finally:
            self.stop_daemons()
            progress.end()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        elapsed = time.monotonic() - started
        counts = counter.now()
        failures = counter.new_failures(self.resumed)
        self.summary(counts, failures, elapsed, interrupted)
        if interrupted:
            return 130
        if failures or counts["failed"]:  # (what the summary says failed, whatever the
            status = 1                      # records' times: a recovery files old runs)
        if args.callback:
            callback_status = self.callback(counts, failures)
            if callback_status:
                status = 1
        return status

    def watch(self, counter, total, started, progress):
        """Wait for the dispatcher to finish; 0, or 1 if the daemons died."""
        next_update = 0.0
        recent = RecentRate()

        def show(force=False):
            counts = counter.now()
            recent.add(time.monotonic(), counts["done"] + counts["failed"] +
                       counts["cancelled"])
            progress.show(progress_text(counts, total, recent.rate()), force=force)
        while self.stop_signal is None:
            now = time.monotonic()
            if now >= next_update:
                show()
                next_update = now + max(0.5, 20 * counter.cost)
            code = None if self.external else self.dispatcher.poll()
            if code is not None:
                if code == 0:
                    show(force=True)
                    return 0
                log_text = tail(os.path.join(self.log_dir, "dispatcher.log"), 20)
                if "another dispatcher is running" not in log_text:
                    progress.end()
                    sys.stderr.write("fjd run: the dispatcher exited with status %s:\n%s\n"
                                     % (code, log_text))
                    return 1
                self.external = True
                progress.end()
                sys.stderr.write("fjd run: another dispatcher already serves this queue; "
                                 "our workers take their jobs from it\n")
            if self.external and pending_jobs(self.layout) == 0:
                show(force=True)
                return 0
            if all(p.poll() is not None for p, _ in self.workers):
                progress.end()
                proc, log_path = self.workers[0]
                sys.stderr.write("fjd run: all workers exited (the first with status %s):\n%s\n"
                                 % (proc.returncode, tail(log_path)))
                return 1
            time.sleep(0.1)
        return 1

    def summary(self, counts, failures, elapsed, interrupted):
        total = counts["done"] + counts["failed"] + counts["cancelled"]
        line = ("fjd run: %s finished in %s: %d done, %d failed"
                % (plural(total, "job"), duration(elapsed, tenths=True), counts["done"],
                   counts["failed"]))
        if counts["cancelled"]:
            line += ", %d cancelled" % counts["cancelled"]
        print(line)
        if interrupted:
            left = counts["queued"] + counts["running"]
            print("fjd run: interrupted; %d job%s left in %s (run `fjd run` again to go on)"
                  % (left, "" if left == 1 else "s", display(self.layout.jobqueue)))
        earlier = len(failures) - counts["failed"]
        if self.resumed is not None and earlier > 0:
            print("fjd run: %s of this sweep failed in an earlier run"
                  % plural(earlier, "task"))
        for failure in failures[:20]:
            print("  failed: %s: %s" % (display(failure["name"]), display(failure["reason"])))
            for line in detail_lines(failure):
                print(line)
        if len(failures) > 20:
            print("  ... and %d more (fjd status --failed %d)" % (len(failures) - 20,
                                                                  len(failures)))
        if failures:
            print("  (fjd show NAME --stderr shows what a job printed; fjd retry --all "
                  "queues them again)")
        sys.stdout.flush()

    def callback(self, counts, failures):
        try:
            argv = shlex.split(self.args.callback)
        except ValueError as error:
            sys.stderr.write("fjd run: --callback cannot be split into words: %s\n" % error)
            return 2
        if not argv:
            return 0
        env = dict(os.environ, FJD_ROOT=self.layout.root, FJD_DONE=str(counts["done"]),
                   FJD_FAILED=str(counts["failed"]), FJD_CANCELLED=str(counts["cancelled"]))
        try:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, env=env)
        except OSError as error:
            sys.stderr.write("fjd run: cannot run the callback %s: %s\n"
                             % (display(argv[0]), error.strerror))
            return 1
        if result.returncode != 0:
            sys.stderr.write("fjd run: the callback exited with status %d\n" % result.returncode)
            return 1
        return 0


def cmd_run(args):
    if has_job_options(args):
        template_from_args(args)  # bad options are reported before anything is made
        run_workers(args, 1)  # ... and jobs our workers could never run
    layout = open_queue(args.root, "run", create=True)
    return Run(args, layout).run()


def register(subparsers):
    parser = add_command(
        subparsers, "run", cmd_run,
        help="queue jobs, run them with local workers, stop when all are done",
        description="All in one: queue the jobs given (as `fjd submit` does; with no job\n"
                    "options, process what is already queued), start a dispatcher and --workers\n"
                    "local workers, show progress, stop them all when nothing is queued or\n"
                    "running any more, print a summary and run --callback. The queue root is\n"
                    "created when missing.",
        epilog="Exit status: 0 all jobs done, 1 a job failed (or the callback did), 2 bad\n"
               "options, 130 interrupted (Ctrl-C: running jobs go back to the queue).\n"
               "The callback runs without a shell, with FJD_ROOT, FJD_DONE, FJD_FAILED and\n"
               "FJD_CANCELLED in its environment. Daemon logs go to <root>/logs/run-*/.\n\n"
               "examples:\n  fjd run --exe 'python3 sim.py $alpha' --param alpha=0.1,0.2,0.3\n"
               "  fjd run --workers 2              # process what is queued\n"
               "  fjd run job*.conf --callback 'python3 collect.py'")
    add_job_options(parser, "job files to queue first (as fjd submit FILE...)")
    parser.add_argument("--workers", "-w", type=positive_int, metavar="N",
                        help="local workers to start (default: one per core, at most one "
                             "per job)")
    parser.add_argument("--callback", metavar="CMD",
                        help="command to run when all jobs are finished")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    parser.add_argument("--again", action="store_true",
                        help="queue the sweep even when the same one (the same command and "
                             "values) is in this queue already; without it, fjd run runs "
                             "what is left of that one")
    add_worker_options(parser, forwarded=True)
    add_common(parser)
