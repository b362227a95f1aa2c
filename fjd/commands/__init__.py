"""The subcommands of ``fjd``, one module each, in the order ``fjd --help`` lists them."""
COMMANDS = ["daemons", "submit", "state", "wait", "run", "status", "show", "records", "report",
            "control", "workers"]

# Commands that scripts and workflow managers run once per job or check (`fjd submit --`,
# `fjd state`, `fjd cancel`): `fjd` imports only their module, not all of the above, so
# that each starts in a few tens of milliseconds. Command name -> module.
QUICK = {"submit": "submit", "state": "state", "wait": "wait", "cancel": "control"}
_VALUED = ("--root", "--log-level")  # the top-level options that take a value


def module_of(argv):
    """The module of argv's command when it is one of QUICK, else None (all modules)."""
    words = iter(argv)
    for word in words:
        if word in _VALUED:
            next(words, None)
        elif not word.startswith("-"):
            return QUICK.get(word)
        elif word == "--" or not word.startswith(_VALUED):
            return None  # (--help, --version, ...: every command)
    return None
