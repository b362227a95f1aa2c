"""What a running job or task can ask about itself, from Python: ``fjd.params()``.

The worker puts a job's (or array task's) parameters into its environment (FJD_PARAMS as
JSON, and FJD_PARAM_<name> for each); a program run outside fjd, or started by a worker
older than that, gets them from the [params] section of the job file given as its last
argument instead (the 2012 contract).
"""
import configparser
import json
import os
import sys


def params(argv=None, environ=None):
    """This job's or task's parameters, as a dict of names to strings."""
    environ = os.environ if environ is None else environ
    text = environ.get("FJD_PARAMS")
    if text:
        try:
            found = json.loads(text)
        except ValueError:
            found = None
        if isinstance(found, dict):
            return {str(k): str(v) for k, v in found.items()}
    argv = sys.argv if argv is None else argv
    path = environ.get("FJD_JOB_FILE") or (argv[-1] if len(argv) > 1 else None)
    if not path or not os.path.isfile(path):
        return {}
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError, OSError):
        return {}
    return dict(parser["params"].items()) if parser.has_section("params") else {}
