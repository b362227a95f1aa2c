"""Functions the executor tests run on workers (an importable module: the runner imports
it once, by the caller's sys.path)."""
import os
import time


def square(x):
    return x * x


def add(x, y=0):
    return x + y


def divide(x, y):
    return x / y


def nested(depth):
    value = {"list": [1, 2.5, "three"], "tuple": (None, True)}
    for _ in range(depth):
        value = {"inner": value, "depth": depth}
    return value


def pid():
    return os.getpid()


def slow(seconds, value=None):
    time.sleep(seconds)
    return value


def touch_then_sleep(path, seconds, value):
    """Mark that the call started (a file), then take its time."""
    with open(path, "a") as handle:
        handle.write("%d\n" % os.getpid())
    time.sleep(seconds)
    return value


def cwd():
    return os.getcwd()


def unpicklable_result():
    return lambda: None


class Custom(Exception):
    """An exception of the caller's own module."""


def big(size):
    """A result larger than the collector keeps with its frame (read back by offset)."""
    return b"x" * size


def square_slowly(x, seconds=0.002):
    time.sleep(seconds)
    return x * x
