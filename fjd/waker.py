"""Sleeping that ends early: on SIGINT/SIGTERM/SIGHUP, on a child's exit, or on a poke.

Stop signals reach the daemons through a Linux signalfd where there is one (through
``signal.set_wakeup_fd`` and a handler elsewhere), so a daemon blocked in its poll sleep
reacts within milliseconds, never needs a KeyboardInterrupt traceback to stop, and knows
which process sent the signal: a worker asks whether the sender was its own job (a job
that signals its worker must not stop it; see fjd/worker/launch.py).
"""
import ctypes
import ctypes.util
import os
import select
import signal
import struct
import time

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_early = []  # (signal, sender pid) of stop signals that arrived before a Waker existed
SIGINFO_SIZE = 128  # struct signalfd_siginfo
SFD_NONBLOCK = 0o4000
SFD_CLOEXEC = 0o2000000


def catch_stop_signals_early():
    """Called first thing by the daemons: a Ctrl-C during start-up is a clean stop too."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda signum, frame: _early.append((signum, None)))


def _signalfd(signals):
    """A non-blocking signalfd for signals (which the caller has blocked), or None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.signalfd
    except (OSError, AttributeError):
        return None
    mask = (ctypes.c_ulong * 16)()  # sigset_t: 1024 bits
    bits = ctypes.sizeof(ctypes.c_ulong) * 8
    for sig in signals:
        mask[(sig - 1) // bits] |= 1 << ((sig - 1) % bits)
    fd = function(-1, ctypes.byref(mask), SFD_NONBLOCK | SFD_CLOEXEC)
    return fd if fd >= 0 else None


class Waker:
    """The daemons' sleep. stopping says whether a stop was asked for; classify, when given,
    is called with the sender's pid of each stop signal and may return a string: then the
    signal is not a stop request but a misdeed of the job, and lands in job_signals."""

    def __init__(self, watch_children=False, classify=None):
        self.stop_signal = None
        self.stop_count = 0
        self.stop_sender = None
        self.job_signals = []  # (signal, sender pid, what classify said)
        self.classify = classify
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_stop)
        if watch_children:
            signal.signal(signal.SIGCHLD, self._on_child)
        self.signal_fd = None
        if classify is not None:
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            self.signal_fd = _signalfd(STOP_SIGNALS)
            if self.signal_fd is None:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        for signum, pid in _early:
            self._stop(signum, pid)
        del _early[:]
        self.watchers = []  # objects with fileno() and drain(): extra reasons to wake up

    @property
    def stopping(self):
        if self.signal_fd is not None:
            self._read_signals()
        return self.stop_signal is not None

    def _stop(self, signum, pid):
        self.stop_signal = signum
        self.stop_sender = pid
        self.stop_count += 1

    def _on_stop(self, signum, frame):
        self._stop(signum, None)

    def _on_child(self, signum, frame):
        pass

    def _read_signals(self):
        while True:
            try:
                data = os.read(self.signal_fd, SIGINFO_SIZE * 8)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                return
            for start in range(0, len(data) - SIGINFO_SIZE + 1, SIGINFO_SIZE):
                signum, _errno, _code, pid = struct.unpack_from("IiiI", data, start)
                verdict = self.classify(pid) if pid else None
                if verdict:
                    self.job_signals.append((signum, pid, verdict))
                else:
                    self._stop(signum, pid or None)

    def request_stop(self, signum=signal.SIGTERM):
        self._stop(signum, None)

    def unblocked(self):
        """A context in which stop signals are delivered normally (for starting a child
        with subprocess, which would otherwise inherit them blocked)."""
        return _Unblocked(self)

    def sleep(self, timeout):
        """Wait up to timeout seconds; True when woken early by a signal or by a watcher
        with news. A watcher that read only noise (our own dot-files, a hint for another
        queue) does not end the sleep."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            if self.stopping:
                return True
            watchers = [w for w in self.watchers if w.fileno() is not None]
            fds = [self._read] + [w.fileno() for w in watchers]
            if self.signal_fd is not None:
                fds.append(self.signal_fd)
            left = deadline - time.monotonic()
            try:
                ready, _, _ = select.select(fds, [], [], max(0.0, left))
            except InterruptedError:
                ready = []
            woken = False
            if self._read in ready:
                self.drain()
                woken = True
            if self.signal_fd is not None and self.signal_fd in ready:
                self._read_signals()
                woken = True
            for watcher in watchers:
                if watcher.fileno() in ready and watcher.drain():
                    woken = True
            if woken or time.monotonic() >= deadline:
                return woken

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
        if self.signal_fd is not None:
            os.close(self.signal_fd)
            self.signal_fd = None
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


class _Unblocked:
    def __init__(self, waker):
        self.waker = waker

    def __enter__(self):
        if self.waker.signal_fd is not None:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def __exit__(self, *exc):
        if self.waker.signal_fd is not None:
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        return False
