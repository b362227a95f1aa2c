"""What travels with a Python call, both ways: the caller's context (sys.path, working
directory, main module), the pickled call, and the pickled outcome.

Pickles are code: unpickling runs whatever the writer chose. Both sides therefore refuse
files and folders that neither they nor root own (``check_owner``), as the workers refuse
job files of other users.
"""
import os
import pickle
import runpy
import stat
import sys
import traceback
import types

PROTOCOL = pickle.HIGHEST_PROTOCOL


class CallFailed(Exception):
    """A call that ended without an outcome of its own: timed out, its runner died, or it
    could not run at all. The message is the task's one-line reason."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised on a worker, as its __cause__ (the way
    concurrent.futures.ProcessPoolExecutor shows it)."""

    def __init__(self, tb):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return self.tb


class UnsafeFile(Exception):
    """A file or folder of the executor written by somebody else (its pickles would run
    their code here)."""


def check_owner(info, path, uids):
    """UnsafeFile unless the stat result info belongs to one of uids or root, and is a
    regular file or folder (no link)."""
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFile("%s is a symbolic link; fjd.Executor follows none" % path)
    if info.st_uid not in uids and info.st_uid != 0:
        raise UnsafeFile("%s belongs to uid %d, not to this user: its pickles could run "
                         "anybody's code here, so it is refused" % (path, info.st_uid))


# -- the caller's side ------------------------------------------------------------------------

def main_module():
    """How the runner finds the caller's __main__: ("module", name) when run with -m,
    ("path", file) for a script, None for an interactive session."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None) and spec.name != "__main__":
        return ("module", spec.name)
    path = getattr(main, "__file__", None)
    if path:
        return ("path", os.path.abspath(path))
    return None


def context(main):
    """The caller's context, in plain types (read before the call is unpickled). main:
    whether the runner must load the caller's __main__ (the pickles name it)."""
    return {"path": [os.path.abspath(p) if p else os.getcwd() for p in sys.path],
            "cwd": os.getcwd(), "main": main_module() if main else None}


def pack(thing, where, main=False):
    """pickle of (context, pickle of thing); TypeError or PicklingError raised here, at
    submit, with what could not be pickled. main: the caller's __main__ goes along even
    when thing does not name it (a map's items may)."""
    try:
        inner = pickle.dumps(thing, PROTOCOL)
    except Exception as error:
        try:
            again = type(error)("%s cannot be pickled: %s" % (where, error))
        except Exception:
            raise error
        raise again from error
    return pickle.dumps((context(main or b"__main__" in inner), inner), PROTOCOL)


def pack_outcome(ok, value, error=None, tb=""):
    """The body of a result frame: (ok, value, exception, traceback text). An outcome that
    cannot be pickled becomes a CallFailed saying so."""
    try:
        return pickle.dumps((ok, value, error, tb), PROTOCOL)
    except Exception as problem:
        what = "result" if ok else "exception (%s)" % one_line(error)
        failed = CallFailed("the %s cannot be pickled: %s" % (what, problem))
        return pickle.dumps((False, None, failed, tb), PROTOCOL)


def unpack_outcome(body):
    """(ok, value, exception with its RemoteTraceback as __cause__)."""
    ok, value, error, tb = pickle.loads(body)
    if error is not None and tb:
        error.__cause__ = RemoteTraceback('\n"""\n%s"""' % tb)
    return ok, value, error


def one_line(error):
    """An exception's one line: "ZeroDivisionError: division by zero"."""
    text = traceback.format_exception_only(type(error), error)[-1].strip()
    return text.replace("\n", " ")[:500]


# -- the runner's side ------------------------------------------------------------------------

class Context:
    """Makes the runner's process look like the caller's: sys.path, working directory,
    __main__ (loaded once per script, as multiprocessing's spawn does, so its functions
    and classes unpickle)."""

    def __init__(self):
        self.paths_seen = set()
        self.mains = {}

    def enter(self, ctx):
        paths = tuple(ctx.get("path") or ())
        if paths not in self.paths_seen:
            missing = [p for p in paths if p not in sys.path]
            sys.path[:0] = missing
            self.paths_seen.add(paths)
        cwd = ctx.get("cwd")
        if cwd and cwd != os.getcwd():
            os.chdir(cwd)
        main = ctx.get("main")
        if main:
            self.use_main(tuple(main))

    def use_main(self, main):
        module = self.mains.get(main)
        if module is None:
            module = types.ModuleType("__mp_main__")
            kind, where = main
            if kind == "module":
                found = runpy.run_module(where, run_name="__mp_main__", alter_sys=False)
            else:
                found = runpy.run_path(where, run_name="__mp_main__")
            module.__dict__.update(found)
            self.mains[main] = module
        sys.modules["__main__"] = sys.modules["__mp_main__"] = module

    def unpack(self, data):
        """The thing pack() packed, with the caller's context entered first."""
        return self.load(data)[1]

    def load(self, data):
        """(context, the thing pack() packed), the context entered first."""
        ctx, inner = pickle.loads(data)
        self.enter(ctx)
        return ctx, pickle.loads(inner)
