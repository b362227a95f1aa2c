"""The subcommands of ``fjd``, one module each, in the order ``fjd --help`` lists them."""
COMMANDS = ["daemons", "submit", "state", "run", "status", "show", "records", "report",
            "control", "workers"]
