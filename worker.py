#!/usr/bin/env python3
"""The 2012 entry point: ``python worker.py`` is ``fjd worker``."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fjd.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["worker"] + sys.argv[1:], script=("worker", sys.argv[0])))
