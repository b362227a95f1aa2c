"""``fjd show NAME``: the record of a job or of an array's task, and what it printed."""
import json
import os
import sys

from .. import dependency_state, names, record_kinds, record_search
from ..layout import display
from ..array_output import write_array_output
from ..resources import describe_json
from ..task_lines import TaskDetails, command_text, params_text
from .common import CommandError, add_command, add_common, open_queue

EPILOG = """NAME is a job's name (in done/, failed/ or cancelled/, or its original name),
a task of an array as ARRAY#N (the N-th task, counting from 1), or an array's name
for a summary of its tasks (with --stdout or --stderr: what each task printed, in
task order, each after a line `== ARRAY#N (done, exit 0) ==`). A task's record says
the values of its parameters and the command it ran. The newest record is shown; --all
shows every run.

examples:
  fjd show 20261124-171800.123456-3f9c2a-000001-job.conf
  fjd show sweep.conf#17 --stderr
  fjd show sweep.conf
  fjd show sweep.conf --stdout
  fjd show job0.conf --json

Exit status: 0 shown, 1 no such job or task (or the queue root is missing), 2 bad usage."""

FIELDS = ("name", "state", "reason", "exit_status", "signal", "attempt", "worker", "host",
          "start", "end", "duration", "params", "command", "cwd", "stdout", "stderr", "note",
          "request", "resources")


def cmd_show(args):
    if args.stdout and args.stderr:
        raise CommandError("give --stdout or --stderr, not both", 2)
    layout = open_queue(args.root, "show")
    name = os.path.basename(args.name.rstrip("/")) or args.name
    task = names.parse_task_name(name)
    if task is not None:
        found = record_search.find_task_records(layout, task[0], task[1])
        what = "task %d of array %s" % (task[1], display(task[0]))
    else:
        found = record_search.find_job_records(layout, name)
        what = "job %s" % display(name)
        if not found:
            summary = record_search.array_summary(layout, name)
            if summary and (args.stdout or args.stderr):
                write_array_output(layout, name, "stdout" if args.stdout else "stderr",
                                   sys.stdout.buffer, args.all)
                sys.stdout.buffer.flush()
                return 0
            if summary:
                return show_array(summary, args)
    folder, waits_for = dependency_state.where_and_what(
        layout, task[0] if task is not None else names.parse(name).original)
    if not found and folder == "waiting":
        return show_waiting(name, waits_for, args)
    if not found and task is not None:
        check_task_number(layout, task)
    if not found:
        raise CommandError("no record of a %s in %s (fjd status lists failed jobs; a job "
                           "still queued or running has no record yet)"
                           % (what, display(layout.root)))
    chosen = found if args.all else found[-1:]
    if task is not None:
        chosen = with_details(layout, chosen, task[1])
    if args.stdout or args.stderr:
        return print_output(layout, chosen, "stdout" if args.stdout else "stderr")
    if args.json:
        return print_json(chosen, waits_for, args.all)
    for number, record in enumerate(chosen):
        if number:
            print()
        print(render(record, task))
    for line in waits_for_lines(waits_for):
        print(line)
    if len(found) > len(chosen):
        print("(%d earlier record%s: --all shows them)" % (len(found) - 1,
                                                        "" if len(found) == 2 else "s"))
    return 0


def print_output(layout, chosen, kind):
    """What the chosen runs wrote to kind (stdout or stderr), as it was."""
    out = sys.stdout.buffer
    for record in chosen:
        out.write(record_search.read_output(layout, output_span(record.get(kind))))
    out.flush()
    return 0


def print_json(chosen, waits_for, every):
    clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in chosen]
    if waits_for:
        clean = [dict(r, waits_for=waits_for) for r in clean]
    clean = [{key: r[key] for key in sorted(r)} for r in clean]  # params in their order
    print(json.dumps(clean if every else clean[0], indent=1))
    return 0


def with_details(layout, records, index):
    """The records of task index with its params and command (a range record too)."""
    details = TaskDetails(layout)
    try:
        return [dict(record, **details.of({"k": record_kinds.TASK, "u": record.get("u"),
                                           "i": index, "command": record.get("command")}))
                for record in records]
    finally:
        details.close()


def output_span(value):
    """A record's stdout/stderr as a span [file, offset, length], whatever its format
    (fjd 0.2 records hold a path)."""
    if not value:
        return None
    if isinstance(value, str):
        return [value, 0, None]
    return value


def render(record, task):
    lines = []
    if task is not None:
        lines.append("task: %s" % display(names.task_name(record.get("array"), task[1])))
    for key in FIELDS:
        if record.get(key) is None:
            continue
        value = record[key]
        if key in ("start", "end") and isinstance(value, (int, float)):
            value = record_search.iso(value)
        elif key in ("stdout", "stderr"):
            span = output_span(value)
            value = "%s bytes (fjd show --%s)" % (span[2] if span[2] is not None else "?",
                                                  key) if span else "nothing"
        elif key == "command":
            value = command_text(value)
        elif key == "params":
            value = params_text(value)
        elif key in ("request", "resources"):
            value = describe_json(value)
        lines.append("%s: %s" % (key, display(str(value))))
    if task is None and record.get("k") == record_kinds.TASKS:
        lines.append("tasks: %s to %s" % (record.get("first"), record.get("last")))
    return "\n".join(lines)


def check_task_number(layout, task):
    """ARRAY#N past the array's last task (or before its first) is a typo, not a task that has
    no record yet: say how many tasks the array has."""
    array, number = task
    size = dependency_state.array_size(layout, array)
    if size is not None and not 1 <= number <= size:
        raise CommandError("array %s has %d task%s (#1 to #%d): there is no task #%d"
                           % (display(array), size, "" if size == 1 else "s", size, number))


def waits_for_lines(waits_for):
    return ["waits for: %s %s (%s)" % (dep["key"], display(dep["name"]),
                                       dep["state"] or "not finished") for dep in waits_for]


def show_waiting(name, waits_for, args):
    """A job in waiting/: no record yet, only what it waits for."""
    if args.stdout or args.stderr:
        return 0
    if args.json:
        print(json.dumps({"name": name, "state": "waiting", "waits_for": waits_for},
                         indent=1, sort_keys=True))
        return 0
    print("name: %s\nstate: waiting" % display(name))
    for line in waits_for_lines(waits_for):
        print(line)
    return 0


def show_array(summary, args):
    if args.json:
        print(json.dumps(summary, indent=1, sort_keys=True))
        return 0
    print("array: %s" % display(summary["array"]))
    if summary.get("where"):
        print("where: %s" % ", ".join(display(place) for place in summary["where"]))
    for key in ("tasks", "done", "failed", "cancelled", "not_finished"):
        if summary.get(key) is not None:
            print("%s: %s" % (key.replace("_", " "), summary[key]))
    for failure in summary.get("failures", [])[:10]:
        print("  failed: %s: %s" % (display(failure["task"]), display(failure["reason"])))
    return 0


def register(subparsers):
    parser = add_command(
        subparsers, "show", cmd_show, help="the record of a job or task, and its output",
        description="Print what fjd recorded about a job or an array's task: its state,\n"
                    "reason, exit status, worker, host, times and command; --stdout and\n"
                    "--stderr print what it wrote there.",
        epilog=EPILOG)
    parser.add_argument("name", metavar="NAME", help="a job, ARRAY#N for a task, or an array")
    parser.add_argument("--json", action="store_true", help="print the record as JSON")
    parser.add_argument("--stdout", action="store_true", help="print the job's stdout")
    parser.add_argument("--stderr", action="store_true", help="print the job's stderr")
    parser.add_argument("--all", action="store_true",
                        help="every record of the job (each run), oldest first")
    add_common(parser)
