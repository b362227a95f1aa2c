"""UDP wake-up hints on loopback: what a receiver counts, and what it remembers."""
import socket
import time

from fjd.hints import HintListener, HintSender
from fjd.waker import Waker


def wait_drained(listener, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listener.drain():
            return True
        time.sleep(0.01)
    return False


def test_a_hint_for_our_queue_wakes_and_is_remembered():
    listener, sender = HintListener("queue-a"), HintSender("queue-a")
    try:
        assert not listener.heard_within(60.0, time.monotonic())
        sender.send([["127.0.0.1", listener.port]], b"jobs")
        assert wait_drained(listener)
        assert listener.heard_within(60.0, time.monotonic())
        assert not listener.heard_within(60.0, time.monotonic() + 61.0)
    finally:
        listener.close()
        sender.close()


def test_hints_for_another_queue_or_garbage_count_for_nothing():
    listener = HintListener("queue-a")
    other = HintSender("queue-b")
    try:
        other.send([["127.0.0.1", listener.port]], b"jobs")
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raw.sendto(b"\xff" * 600, ("127.0.0.1", listener.port))
        raw.sendto(b"fjd1", ("127.0.0.1", listener.port))
        raw.close()
        time.sleep(0.2)
        assert not listener.drain()
        assert not listener.heard_within(60.0, time.monotonic())
    finally:
        listener.close()
        other.close()


def test_a_flood_of_hints_wakes_a_daemon_at_most_once_per_gap_and_none_is_lost():
    """10,000 valid hints in about a second (a flood, or replays) end a Waker's sleep at most
    once per 50 ms, as often as a busy daemon polls anyway; a hint that came within the gap
    still wakes it when the gap is over."""
    listener, sender = HintListener("queue-a"), HintSender("queue-a")
    waker = Waker()
    waker.watchers.append(listener)
    address = [["127.0.0.1", listener.port]]
    try:
        wakes, sent = 0, 0
        started = time.monotonic()
        while time.monotonic() - started < 1.0:
            for _ in range(100):
                sender.send(address, b"jobs")
                sent += 1
            if waker.sleep(0.0):
                wakes += 1
        elapsed = time.monotonic() - started
        assert sent >= 1000
        assert 1 <= wakes <= elapsed / HintListener.MIN_GAP + 2, (wakes, elapsed)
        # one hint right after a wake: kept back, then reported when the gap is over
        time.sleep(0.2)
        listener.drain()  # whatever the flood left
        sender.send(address, b"jobs")
        assert waker.sleep(1.0)  # more than a gap since the last report: at once
        sender.send(address, b"jobs")
        before = time.monotonic()
        assert waker.sleep(1.0), "the hint within the gap was lost"
        waited = time.monotonic() - before
        assert 0.02 <= waited <= 0.5, waited
        assert not waker.sleep(0.1), "one hint, one wake"
    finally:
        waker.close()
        listener.close()
        sender.close()
