"""The errors fjd's library raises for people: each message is one line that says what went
wrong and what to do; ``status`` is the exit status a command reports it with. Only the
command layer (``fjd.cli.main``) turns them into messages and exit statuses."""


class FjdError(Exception):
    status = 1

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class QueueError(FjdError):
    """The queue root cannot be used as it is."""


class SubmitError(FjdError, ValueError):
    """Bad job options; nothing was queued."""
    status = 2


class RecruitError(FjdError):
    """Workers could not be started (or listed, or stopped) as asked."""
