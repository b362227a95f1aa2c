#!/usr/bin/env python3
"""The 2012 entry point: ``python dispatcher.py`` is ``fjd dispatcher``."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fjd.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["dispatcher"] + sys.argv[1:], script=("dispatcher", sys.argv[0])))
