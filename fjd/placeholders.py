"""Placeholders in an array's command, logfile and workdir (DESIGN.md, "Array jobs").

``$name``, ``${name}``, ``{name}`` and ``$1``, ``$2``, ... name a parameter, ``{jobfile}``
the job file's path; ``$$``, ``{{`` and ``}}`` are a literal ``$``, ``{`` and ``}``. The
command is split into words once per array, so a task costs only joining its values in.
"""
import re
import shlex

_PLACEHOLDER = re.compile(r"\$\$|\{\{|\}\}|\$\{(\w+)\}|\$(\w+)|\{(\w+)\}")
JOBFILE = "jobfile"  # {jobfile}: where the job file's path goes in the command


class CommandTemplate:
    """A command line with placeholders, split into words once.

    ``$name``, ``${name}``, ``{name}`` and ``$1``, ``$2``, ... (the first, second ...
    parameter) are the parameters; ``{jobfile}`` is where the job file's path goes; ``$$``,
    ``{{`` and ``}}`` are a literal ``$``, ``{`` and ``}``. A value becomes part of its word
    exactly as it is (it is never split or interpreted), which is what quoting each value
    for the shell and then splitting would give.
    """

    def __init__(self, text, names):
        self.text = text
        self.names = list(names)
        self.unknown = []
        self.uses_jobfile = False
        index_of = {name.lower(): i for i, name in enumerate(self.names)}
        slots = []

        def replace(match):
            token = match.group(0)
            if token in ("$$", "{{", "}}"):
                return token[0]
            key = match.group(1) or match.group(2) or match.group(3)
            if match.group(3) == JOBFILE:
                self.uses_jobfile = True
                slots.append(None)
            elif key.lower() in index_of:
                slots.append(index_of[key.lower()])
            elif key.isdigit() and 1 <= int(key) <= len(self.names):
                slots.append(int(key) - 1)
            else:
                self.unknown.append(token)
                return token
            return "\0%d\1" % (len(slots) - 1)
        marked = _PLACEHOLDER.sub(replace, text)
        try:
            words = shlex.split(marked)
        except ValueError as error:
            raise ValueError("the command cannot be split into words (%s): %s"
                             % (str(error).lower(), text.strip()))
        self.words = [self._parts(word, slots) for word in words]

    @staticmethod
    def _parts(word, slots):
        parts = []
        for piece in re.split("(\0\\d+\1)", word):
            if piece.startswith("\0"):
                parts.append((slots[int(piece[1:-1])],))
            elif piece:
                parts.append(piece)
        return parts

    def argv(self, values, jobfile=None):
        """The argument list for one task: values in the order of names."""
        result = []
        for parts in self.words:
            word = []
            for part in parts:
                if isinstance(part, str):
                    word.append(part)
                elif part[0] is None:
                    word.append(jobfile or "")
                else:
                    word.append(values[part[0]])
            result.append("".join(word))
        return result


def unknown_placeholders(text, names):
    """The placeholders in text that name none of names (for [control] logfile and
    workdir, where {jobfile} has no meaning)."""
    known = {name.lower() for name in names}
    unknown = []
    for match in _PLACEHOLDER.finditer(text):
        key = match.group(1) or match.group(2) or match.group(3)
        if key is None or key.lower() in known:
            continue
        if key.isdigit() and 1 <= int(key) <= len(names):
            continue
        unknown.append(match.group(0))
    return unknown


def used_parameters(text, names):
    """The positions in names of the parameters that text's placeholders name."""
    index_of = {name.lower(): i for i, name in enumerate(names)}
    used = set()
    for match in _PLACEHOLDER.finditer(text):
        key = match.group(1) or match.group(2) or match.group(3)
        if key is not None and key.lower() in index_of:
            used.add(index_of[key.lower()])
        elif key is not None and key.isdigit() and 1 <= int(key) <= len(names):
            used.add(int(key) - 1)
    return used


def fill_text(text, names, values):
    """A [control] value (logfile, workdir) with the parameters filled in, unquoted."""
    index_of = {name.lower(): i for i, name in enumerate(names)}

    def replace(match):
        token = match.group(0)
        if token in ("$$", "{{", "}}"):
            return token[0]
        key = match.group(1) or match.group(2) or match.group(3)
        if key.lower() in index_of:
            return values[index_of[key.lower()]]
        if key.isdigit() and 1 <= int(key) <= len(names):
            return values[int(key) - 1]
        return token
    return _PLACEHOLDER.sub(replace, text)
