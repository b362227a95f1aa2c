"""UDP wake-up hints on loopback: what a receiver counts, and what it remembers."""
import socket
import time

from conftest import wait_drained
from fjd.hints import HintListener, HintSender
from fjd.waker import Waker


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


def test_noise_does_not_end_a_sleep_and_a_hint_does():
    """Datagrams for another queue, or garbage, leave a daemon asleep (Waker.sleep goes on
    through them); a hint for its queue ends the sleep at once."""
    listener, sender = HintListener("queue-a"), HintSender("queue-a")
    other = HintSender("queue-b")
    waker = Waker()
    waker.watchers.append(listener)
    address = [["127.0.0.1", listener.port]]
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        other.send(address, b"jobs")
        raw.sendto(b"fjd1", ("127.0.0.1", listener.port))
        started = time.monotonic()
        assert not waker.sleep(0.4)
        assert time.monotonic() - started >= 0.38, "noise ended the sleep early"
        sender.send(address, b"jobs")
        started = time.monotonic()
        assert waker.sleep(5.0)
        assert time.monotonic() - started < 1.0
    finally:
        raw.close()
        waker.close()
        other.close()
        listener.close()
        sender.close()


def test_fjd_cancel_names_the_queued_jobs_it_took(tmp_path):
    """`fjd cancel` on a shared mount: "cancelled <name>" hints, one per job, which the
    dispatcher's listener keeps by name (dispatcher/waiting.py looks at them at once)."""
    import types
    from fjd.hints import hint_cancelled
    from fjd.liveness import write_beat
    listener = HintListener("queue-a")
    try:
        write_beat(str(tmp_path / "dispatcher.lock"),
                   {"hints": [["127.0.0.1", listener.port]]})
        layout = types.SimpleNamespace(root=str(tmp_path))
        hint_cancelled(layout, "queue-a", ["job1.conf", "has space.conf", "job2.conf"])
        assert wait_drained(listener)
        time.sleep(0.1)
        listener.drain()
        assert listener.take_cancelled() == {"job1.conf", "job2.conf"}
        assert listener.take_cancelled() == set()
        assert b"cancelled" in listener.take_news()
    finally:
        listener.close()
