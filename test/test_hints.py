"""UDP wake-up hints on loopback: what a receiver counts, and what it remembers."""
import socket
import time

from fjd.hints import HintListener, HintSender


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
