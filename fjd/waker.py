"""Sleeping that ends early: on SIGINT/SIGTERM/SIGHUP, on a child's exit, or on a poke.

Signals are delivered through ``signal.set_wakeup_fd`` into a pipe that ``select`` waits on,
so a daemon blocked in its poll sleep reacts within milliseconds and never needs a
KeyboardInterrupt traceback to stop.
"""
import os
import select
import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_early = []  # stop signals that arrived before a Waker existed


def catch_stop_signals_early():
    """Called first thing by the daemons: a Ctrl-C during start-up is a clean stop too."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda signum, frame: _early.append(signum))


class Waker:
    def __init__(self, watch_children=False):
        self.stop_signal = _early[0] if _early else None
        self.stop_count = len(_early)
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_stop)
        if watch_children:
            signal.signal(signal.SIGCHLD, self._on_child)
        self.watchers = []  # objects with fileno() and drain(): extra reasons to wake up

    @property
    def stopping(self):
        return self.stop_signal is not None

    def _on_stop(self, signum, frame):
        self.stop_signal = signum
        self.stop_count += 1

    def _on_child(self, signum, frame):
        pass

    def request_stop(self, signum=signal.SIGTERM):
        self._on_stop(signum, None)

    def sleep(self, timeout):
        """Wait up to timeout seconds; True when woken early by a watcher or a signal."""
        if self.stopping:
            return True
        watchers = [w for w in self.watchers if w.fileno() is not None]
        fds = [self._read] + [w.fileno() for w in watchers]
        try:
            ready, _, _ = select.select(fds, [], [], max(0.0, timeout))
        except InterruptedError:
            ready = []
        if self._read in ready:
            self.drain()
        for watcher in watchers:
            if watcher.fileno() in ready:
                watcher.drain()
        return bool(ready)

    def drain(self):
        try:
            while os.read(self._read, 4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def close(self):
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._read)
        os.close(self._write)
