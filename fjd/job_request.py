"""A job's request (cores, GPUs, memory: resources.py) as its file's bytes say it, read the
way its worker reads it, for those who have only the bytes: `fjd submit` naming the job,
the dispatcher reading the head of a hand-written one."""
from . import resources
from .jobfile import JobError, parse_config


def request_of_bytes(data):
    """The Shape data asks for; the default when it asks for nothing or is no valid job
    (its worker says why, and fails it)."""
    if not resources.may_ask(data):
        return resources.DEFAULT
    try:
        parser = parse_config(data)
        if not parser.has_section("control"):
            return resources.DEFAULT
        control = {key.lower(): value for key, value in parser["control"].items()}
        return resources.request_of_control(control)
    except (JobError, ValueError):
        return resources.DEFAULT
