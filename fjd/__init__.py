"""fjd: file-based job distribution over a folder that every node can see."""
import importlib
import sys
import types

__version__ = "0.3.0"
__all__ = ["submit", "params", "Executor", "SubmitError", "QueueError", "__version__"]

# fjd.submit(...) queues jobs from Python (see fjd/submit.py); the module itself stays
# importable as ``from fjd.submit import ...``. What this package offers is loaded when first
# asked for: every `fjd` command imports this package, and `fjd state`, `fjd submit --` and
# `fjd cancel` run once per job of a workflow, so they import only what they use.
# name -> (module, attribute)
LAZY = {"submit": ("submit", "submit"), "SubmitError": ("errors", "SubmitError"),
        "QueueError": ("errors", "QueueError"), "params": ("context", "params"),
        "Executor": ("executor.executor", "Executor")}


def __getattr__(name):
    if name not in LAZY:
        raise AttributeError("module 'fjd' has no attribute %r" % name)
    module, attribute = LAZY[name]
    value = getattr(importlib.import_module("." + module, __name__), attribute)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """fjd.submit stays the function once the submodule fjd.submit is imported (the import
    system sets the package's attribute to the submodule), as when this package imported
    the function itself."""

    def __setattr__(self, name, value):
        if name == "submit" and isinstance(value, types.ModuleType):
            value = value.submit
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
