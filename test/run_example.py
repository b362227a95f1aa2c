"""Run the 2012 example end to end and exit when all ten jobs are done.

    python test/run_example.py

It does what the original README asks of three terminals: starts ``python dispatcher.py``
and two ``python worker.py``, runs ``python test/create_jobs.py``, waits until the ten jobs
are in done/, stops the daemons with Ctrl-C (SIGINT) and prints data/job*.dat.
Run it from the repository folder (it uses the current directory as the queue root, as the
original did).
"""
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def count_done():
    try:
        return len([n for n in os.listdir("done") if n.startswith("job")])
    except FileNotFoundError:
        return 0


def main():
    os.chdir(REPO)
    before = count_done()
    python = sys.executable
    daemons = [subprocess.Popen([python, "dispatcher.py"])]
    daemons += [subprocess.Popen([python, "worker.py"]) for _ in range(2)]
    try:
        subprocess.check_call([python, os.path.join("test", "create_jobs.py")])
        deadline = time.monotonic() + 60
        while count_done() < before + 10:
            if time.monotonic() > deadline:
                print("the example did not finish within 60 s", file=sys.stderr)
                return 1
            if any(d.poll() is not None for d in daemons):
                print("a daemon exited early", file=sys.stderr)
                return 1
            time.sleep(0.05)
    finally:
        for daemon in daemons:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGINT)
        status = [daemon.wait(15) for daemon in daemons]
    for i in range(10):
        with open(os.path.join("data", "job%d.dat" % i)) as handle:
            print("data/job%d.dat: %s" % (i, handle.read()))
    print("all 10 jobs done; daemons exited with %s" % status)
    return 0 if status == [0, 0, 0] else 1


if __name__ == "__main__":
    sys.exit(main())
