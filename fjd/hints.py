"""Wake-up hints: a UDP datagram that says "look again", so that daemons on a shared mount
need not poll fast (DESIGN.md, "Hints").

The files stay the truth. A hint only makes its receiver look at the folders now rather
than at its next poll; a lost hint costs a poll interval, a forged or replayed one at most
one extra look. Firewalled compute nodes that drop them still work, at polling speed.

Who hints whom: the dispatcher hints a worker it has just given jobs (the address is in the
worker's heartbeat); a worker hints the dispatcher when it announces itself idle, and
`fjd submit` when it has queued jobs, `fjd cancel` with the name of each queued or waiting
job it took (``cancelled <name>``: what waits for it is cancelled now; the address is in
dispatcher.lock). A hint is ``fjd1 <queue id> <what>``: a hint for another queue is
ignored.
"""
import errno
import logging
import os
import re
import socket
import time

from . import defaults
from .liveness import decode_beat, read_beat

log = logging.getLogger("fjd")

MAGIC = b"fjd1"
WORKER_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}\Z")  # a name in workerqueue/
CANCELLED = b"cancelled"  # `fjd cancel` took a queued job: "cancelled <name>"
PROBE_ADDRESS = ("192.0.2.1", 9)  # TEST-NET-1: only used to ask which interface routes out


def own_addresses():
    """IPv4 addresses other hosts may reach this one at: the one that routes outwards,
    and loopback for daemons on this same host. No packet is sent to find them."""
    found = []
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(PROBE_ADDRESS)
        address = probe.getsockname()[0]
        if address and not address.startswith("0."):
            found.append(address)
    except OSError:
        pass
    finally:
        probe.close()
    if "127.0.0.1" not in found:
        found.append("127.0.0.1")
    return found


class HintListener:
    """A UDP socket a daemon sleeps on (it has fileno() and drain() for the Waker)."""

    def __init__(self, queue_id):
        self.queue_id = (queue_id or "").encode()
        self.sock = None
        self.port = None
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind(("0.0.0.0", 0))
            self.sock = sock
            self.port = sock.getsockname()[1]
        except OSError as error:
            log.debug("no wake-up hints (%s): polling only", error)
        self.addresses = [[a, self.port] for a in own_addresses()] if self.sock else []
        self.last_heard = None  # monotonic time of the last hint for our queue
        self.named = set()  # worker ids that said "idle <id>" since take_named()
        self.news = set()  # what the hints since take_news() said (b"jobs", b"idle", ...)
        self.cancelled = set()  # jobs `fjd cancel` took ("cancelled <name>")

    def heard_within(self, seconds, now):
        """Whether a hint for our queue arrived in the last seconds: hints get through,
        so a peer that has news will say so and polling for it can be slow."""
        return self.last_heard is not None and now - self.last_heard < seconds

    def fileno(self):
        return self.sock.fileno() if self.sock is not None else None

    def drain(self):
        """Read every waiting datagram; True when one was a hint for our queue."""
        seen = False
        while self.sock is not None:
            try:
                data = self.sock.recv(512)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            words = data.split()
            if len(words) >= 2 and words[0] == MAGIC and words[1] == self.queue_id:
                seen = True
                self.news.add(words[2] if len(words) > 2 and len(self.news) < 16 else b"")
                if len(words) == 4 and words[2] == b"idle" and len(self.named) < defaults.HINTS_NAMED_KEPT:
                    worker_id = words[3].decode("ascii", "replace")
                    if WORKER_ID.match(worker_id):
                        self.named.add(worker_id)
                elif len(words) == 4 and words[2] == CANCELLED and \
                        len(self.cancelled) < defaults.HINTS_NAMED_KEPT:
                    self.cancelled.add(os.fsdecode(words[3]))
        if seen:
            self.last_heard = time.monotonic()
        return seen

    def take_news(self):
        """What the hints since the last call said: b"jobs" (queued), b"idle" (a worker)."""
        news, self.news = self.news, set()
        return news

    def take_named(self):
        """The workers that said they are idle since the last call (a claim to check, one
        lookup each: the files stay the truth)."""
        named, self.named = self.named, set()
        return named

    def take_cancelled(self):
        """The jobs `fjd cancel` said it took (queued or waiting) since the last call (their
        waiters look at them now; the files stay the truth)."""
        cancelled, self.cancelled = self.cancelled, set()
        return cancelled

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class HintSender:
    """Sends hints, best effort: a send that fails is the same as a datagram lost."""

    def __init__(self, queue_id):
        self.queue_id = (queue_id or "").encode()
        self.sock = None

    def send(self, addresses, what=b"look"):
        if not addresses:
            return
        if self.sock is None:
            try:
                self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self.sock.setblocking(False)
            except OSError:
                return
        message = b" ".join([MAGIC, self.queue_id, what])
        for entry in addresses:
            try:
                host, port = entry[0], int(entry[1])
                self.sock.sendto(message, (str(host), port))
            except (OSError, ValueError, TypeError, IndexError) as error:
                if getattr(error, "errno", None) not in (errno.ECONNREFUSED, None):
                    log.debug("hint to %s not sent: %s", entry, error)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def hint_dispatcher(layout, queue_id, what=b"jobs"):
    """Tell the dispatcher of layout's queue to look now (for fjd submit). Best effort."""
    holder = decode_beat(read_beat(os.path.join(layout.root, "dispatcher.lock")))
    addresses = holder.get("hints")
    if addresses:
        sender = HintSender(queue_id)
        sender.send(addresses, what)
        sender.close()


def hint_cancelled(layout, queue_id, originals, most=64):
    """Tell the dispatcher which jobs `fjd cancel` took (queued or waiting), so that what
    waits for them is cancelled now rather than at the dispatcher's slow look round
    (DESIGN.md, "Dependencies"). A name that cannot travel in one word is left to that
    look."""
    holder = decode_beat(read_beat(os.path.join(layout.root, "dispatcher.lock")))
    addresses = holder.get("hints")
    if not addresses:
        return
    sender = HintSender(queue_id)
    for original in list(originals)[:most]:
        word = os.fsencode(original)
        if word and len(word) <= 400 and len(word.split()) == 1:
            sender.send(addresses, CANCELLED + b" " + word)
    sender.close()
