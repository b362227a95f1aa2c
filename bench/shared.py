#!/usr/bin/env python3
"""Only the shared scenario: fjd on sshfs, its sftp requests counted (needs root).

    python bench/shared.py                        # both mount variants, full sizes (~11 min)
    python bench/shared.py --quick                # small sizes (~4 min for both variants)
    python bench/shared.py --quick --options recommended          # one variant (~2 min)
    python bench/shared.py --options recommended --fjd /work/other-checkout

The same as ``python bench/run.py --only shared [--shared-options ...]``: the same lines
are printed and the same JSON is written to bench/results/. Any other option of
bench/run.py (--fjd, --tmp, --keep, --shared-jobs, --shared-latency-idle, ...) is passed
on. What is measured and how: bench/README.md, "The shared scenario".
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import run  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python bench/shared.py", description=__doc__.split("\n\n")[0],
        epilog="Other options are those of bench/run.py (see python bench/run.py --help).")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: 10 s idle windows, 200 jobs, 1,000 tasks, 3 latency "
                             "samples of each kind")
    parser.add_argument("--options", choices=("recommended", "defaults", "both"),
                        default="both", help="sshfs mount options: fjd's recommended "
                        "dir_cache=no,attr_timeout=0,entry_timeout=0, sshfs's defaults, or "
                        "both (default)")
    opts, rest = parser.parse_known_args(argv)
    if "--only" in rest or any(a.startswith("--only=") for a in rest):
        parser.error("--only is not an option here: this runs the shared scenario only")
    forwarded = ["--only", "shared", "--shared-options", opts.options] + rest
    if opts.quick:
        forwarded.insert(0, "--quick")
    return run.run_and_clean_up(forwarded)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
