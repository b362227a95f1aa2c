"""Functions of the C library that Python's os module lacks (renameat2, statx), by ctypes."""
import ctypes

_functions = {}


def libc_function(name, argtypes=None):
    """The C library's function name (errno kept for ctypes.get_errno), or False where the
    library or the function is missing; looked up once per process."""
    if name not in _functions:
        try:
            # the process's own symbols, the C library's among them: no search for the
            # library (ctypes.util.find_library runs ldconfig, and importing it subprocess,
            # in every command that files or stats a job)
            library = ctypes.CDLL(None, use_errno=True)
            function = getattr(library, name)
            if argtypes is not None:
                function.argtypes = argtypes
            _functions[name] = function
        except (OSError, AttributeError):
            _functions[name] = False
    return _functions[name]
