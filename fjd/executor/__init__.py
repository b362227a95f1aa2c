"""fjd.Executor: Python calls on fjd's workers through concurrent.futures (docs/python.md).

The package's light parts (frames, payload, serve) are what a worker imports; the
executor itself is loaded when first asked for."""


def __getattr__(name):
    if name in ("Executor", "CallFailed", "RemoteTraceback", "UnsafeFile"):
        from . import executor  # (lazily: a worker never needs the caller's side)
        return getattr(executor, name)
    raise AttributeError(name)
