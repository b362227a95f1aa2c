"""The 2012 example: put ten jobs in the queue.

Each job is written under a temporary dot-name and then renamed into jobqueue/, so the
dispatcher never sees half a file, and an existing job of the same name is never replaced.
"""
import os
import shlex
import sys

root = os.environ.get("FJD_ROOT") or os.getcwd()
queue = os.path.join(root, "jobqueue")
os.makedirs(queue, exist_ok=True)
python = shlex.quote(sys.executable or "python3")

for i in range(10):
    content = ("[control]\nexecutable: %s test/ajob.py\nlogfile: data/job%d.dat\n\n"
               "[params]\nparam1: value%d\n" % (python, i, i))
    tmp = os.path.join(queue, ".job%d.conf.%d.tmp" % (i, os.getpid()))
    with open(tmp, "w") as handle:
        handle.write(content)
    name = "job%d.conf" % i
    number = 1
    while True:
        try:
            os.link(tmp, os.path.join(queue, name))  # fails if the name is taken
            break
        except FileExistsError:
            number += 1
            name = "job%d-%d.conf" % (i, number)
        except OSError:  # no hard links on this filesystem: check, then rename
            if os.path.lexists(os.path.join(queue, name)):
                number += 1
                name = "job%d-%d.conf" % (i, number)
                continue
            os.rename(tmp, os.path.join(queue, name))
            break
    if os.path.lexists(tmp):
        os.unlink(tmp)
    print("queued jobqueue/%s" % name)
