"""This probe imports fjd internals on purpose: a million task records written through
`fjd run` would take hours, so it writes them with the benchmarked fjd's JournalWriter.

Write a queue root that looks as if an array of N tasks had run to its end.

    python bench/fill_journals.py ROOT N [--workers 2] [--range 1000] [--fail-every 100]

Run by the `status` scenario (bench/scenarios_status.py) with the benchmarked checkout on
PYTHONPATH, so that the journals are written by that fjd's own JournalWriter
(fjd/journal.py), with the records laid out as its worker's run_range writes them: one
``task`` record per task, in ranges of --range tasks handed alternately to --workers
workers, each task printing ``out <i>`` to stdout (a span of records/<worker>.out); every
--fail-every-th task fails (exit status 1, ``err <i>`` on stderr). The dispatcher's journal
gets the ``array`` record it writes when the array is complete, and the array file is in
failed/ (where fjd files an array with a failed task) or done/ (no failures). Nothing else
is left in the root, as after a finished run.

Prints one JSON line: the array's name, its id, the counts written and the seconds it took.
"""
import argparse
import json
import os
import socket
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root")
    parser.add_argument("tasks", type=int)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--range", type=int, default=1000, dest="range_size")
    parser.add_argument("--fail-every", type=int, default=100)
    args = parser.parse_args(argv)
    from fjd.journal import JournalWriter

    started = time.monotonic()
    root = os.path.abspath(args.root)
    for folder in ("jobqueue", "workerqueue", "jobpod", "done", "failed", "cancelled",
                   "records", "arrays"):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    records = os.path.join(root, "records")
    host = socket.gethostname().split(".")[0] or "host"
    now = time.time()
    t0 = now - args.tasks * 0.0012 / max(1, args.workers) - 60
    name = time.strftime("%Y%m%d-%H%M%S", time.gmtime(t0)) + ".000000-b3c4d5-000001-sweep.conf"
    uid = "5eed1234"
    pid = os.getpid()

    workers = []
    for number in range(args.workers):
        wid = "%s-%d-%06x" % (host, pid + 1 + number, 0xa0000 + number)
        writer = JournalWriter(records, wid, {"role": "worker", "host": host,
                                              "pid": pid + 1 + number, "started": t0,
                                              "root": root})
        workers.append({"writer": writer, "id": wid, "run": 0, "clock": t0,
                        "out": bytearray(), "err": bytearray(),
                        "out_name": wid + ".out", "err_name": wid + ".err"})

    failed = 0
    first = 1
    block = 0
    while first <= args.tasks:
        last = min(args.tasks, first + args.range_size - 1)
        worker = workers[block % len(workers)]
        worker["run"] += 1
        append, out, err = worker["writer"].append, worker["out"], worker["err"]
        clock = max(worker["clock"], t0 + block * 0.001)
        for task in range(first, last + 1):
            record = {"k": "task", "array": name, "u": uid, "i": task, "run": worker["run"],
                      "attempt": 1, "start": round(clock, 6)}
            text = b"out %d\n" % task
            stdout = [worker["out_name"], len(out), len(text)]
            out += text
            if args.fail_every and task % args.fail_every == 37 % args.fail_every:
                failed += 1
                text = b"err %d\n" % task
                stderr = [worker["err_name"], len(err), len(text)]
                err += text
                record.update(state="failed", exit_status=1, signal=None,
                              reason="exited with status 1")
            else:
                stderr = None
                record.update(state="done", exit_status=0, signal=None, reason=None)
            record.update(end=round(clock + 0.001, 6), stdout=stdout, stderr=stderr)
            append(record)
            clock += 0.0012
        worker["clock"] = clock
        first = last + 1
        block += 1

    for worker in workers:
        worker["writer"].close()
        for kind in ("out", "err"):
            with open(os.path.join(records, worker[kind + "_name"]), "wb") as handle:
                handle.write(worker[kind])

    state = "failed" if failed else "done"
    with open(os.path.join(root, state, name), "w") as handle:
        handle.write("[control]\nexecutable: sh -c 'echo out $$0; test $$(($$0 %% %d)) != %d "
                     "|| {{ echo err $$0 >&2; exit 1; }}' $i\ntasks: product\njobfile: none\n\n"
                     "[params]\ni: 1..%d\n" % (args.fail_every or 1,
                                              37 % (args.fail_every or 1), args.tasks))
    dispatcher = JournalWriter(records, "dispatcher-%s-%d-c0ffee" % (host, pid),
                               {"role": "dispatcher", "host": host, "pid": pid,
                                "started": t0, "root": root})
    dispatcher.append({"k": "array", "name": name, "folder": state, "original": name,
                       "u": uid, "state": state, "tasks": args.tasks,
                       "end": max(w["clock"] for w in workers) + 0.05,
                       "key": "array:%s:%s" % (uid, name)})
    dispatcher.close()
    size = sum(os.path.getsize(os.path.join(records, n)) for n in os.listdir(records))
    print(json.dumps({"array": name, "uid": uid, "tasks": args.tasks, "failed": failed,
                      "done": args.tasks - failed, "workers": len(workers),
                      "records_bytes": size, "seconds": time.monotonic() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
