"""The one rule for the dispatcher's periodic work: a thing is due when it was never done,
or was done `every` seconds ago or more (monotonic clock)."""


def due(last, now, every):
    return last is None or now - last >= every
