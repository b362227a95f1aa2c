#!/usr/bin/env python3
"""How stale can one sshfs mount be about what another mount of the same folder did?

    sudo python3 test/sshfs_probe.py                       # the default list of option sets
    sudo python3 test/sshfs_probe.py -o "" -o dir_cache=no # chosen sets ("" = sshfs defaults)
    sudo python3 test/sshfs_probe.py --json results.json --limit 40

Not a test: an investigation whose numbers guided fjd's design for shared folders. It starts
a private sshd (test/hosts.py), then for each set of sshfs options mounts the same folder
twice, A and B, in a private mount namespace (two sshfs processes, so two independent sets
of caches, exactly as on two hosts), changes something through B (or directly in the real
folder) and measures how long A keeps showing the old state. A's cache is always primed
(A looked just before the change), so the numbers are the worst case a polling process meets.

Probes (each in its own folder, all of one option set concurrently):
  a  readdir of a folder after B creates a file in it / renames one into it / the real
     folder gets one directly (a submitter outside every host)
  b  as a, but A creates and deletes a dot-file in the folder before listing again, or
     rewrites an existing dot-file in place (as a heartbeat does)
  c  os.stat of a known file after B rewrites it in place (size and mtime change)
  d  open()+read() of a file rewritten in place by B (same length, new content)
  e  open() of a name that did not exist when A last tried it (negative lookups)
  f  os.rename by A of a file B created a moment ago, A having listed the folder before /
     never having looked at the folder
  g  O_EXCL create, mkdir and os.link of existing names from the other mount; rename over
     an existing name
  h  fcntl F_SETLEASE on sshfs, with nobody / a local writer / B's writer holding it open
  i  os.stat of a folder (mtime) after B adds a file to it (and after A's own change)
  k  os.path.exists of a file B deleted; re-creating (O_CREAT|O_TRUNC) such a name
and the cost of single operations (ms) through one mount.

Result per probe: "fresh" (seen at the first look, under 0.1 s) or "stale N s" (seen after
N s) or "stale > LIMIT s" (never seen within the limit).

Findings with sshfs 3.7.3 / FUSE 7.31 / OpenSSH 9.2 (Debian 12), loopback:
- defaults: listings, stat() and a folder's mtime stale ~20 s (sshfs dcache_timeout);
  open+fstat and exists() of a deleted file stale 1 s (kernel attr/entry timeouts);
  open+read content, negative lookups and renames of names never listed are fresh.
- A's own create+delete of a dot-file in a folder refreshes A's listing and the folder's
  stat; rewriting an existing file in place (a heartbeat) does not.
- re-creating a name another mount deleted while A still caches it: O_CREAT|O_TRUNC fails
  with ENOENT, O_EXCL with a false EEXIST; writing a temp name and renaming works.
- O_EXCL, mkdir, link give EEXIST across mounts; rename replaces an existing target.
- F_SETLEASE is granted while another mount has the file open for writing.
- sftp times have 1 s resolution. kernel_cache / auto_cache: same-length rewrites never seen.
- dir_cache=no,attr_timeout=0,entry_timeout=0: every probe fresh, ~1-2 ms per operation.
"""
import argparse
import errno
import fcntl
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import hosts  # noqa: E402

DEFAULT_SETS = [
    "",
    "cache=no",
    "cache_timeout=0",
    "dir_cache=no",
    "dcache_timeout=1",
    "attr_timeout=0,entry_timeout=0",
    "dir_cache=no,attr_timeout=0,entry_timeout=0",
    "kernel_cache",
    "auto_cache",
]
FRESH = 0.1
POLL = 0.02
F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)
F_RDLCK = getattr(fcntl, "F_RDLCK", 0)
F_UNLCK = getattr(fcntl, "F_UNLCK", 2)


def write(path, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def until(predicate, limit):
    """Seconds until predicate() is true, polling; None if it never was within limit."""
    start = time.monotonic()
    while True:
        try:
            if predicate():
                return time.monotonic() - start
        except OSError:
            pass
        if time.monotonic() - start > limit:
            return None
        time.sleep(POLL)


def verdict(seconds, limit):
    if seconds is None:
        return "stale > %g s" % limit
    if seconds < FRESH:
        return "fresh"
    return "stale %.1f s" % seconds


def errname(error):
    return errno.errorcode.get(error.errno, str(error.errno))


class Probe:
    def __init__(self, mnt_a, mnt_b, real, limit):
        self.a, self.b, self.real, self.limit = mnt_a, mnt_b, real, limit
        self.results = {}
        self.lock = threading.Lock()

    def folder(self, name):
        """(path via A, path via B, real path) of a new folder made through B."""
        os.mkdir(os.path.join(self.b, name))
        return tuple(os.path.join(root, name) for root in (self.a, self.b, self.real))

    def put(self, key, value):
        with self.lock:
            self.results[key] = value

    def timed(self, key, prime, change, seen):
        """prime() through A, change(), then how long until seen() is true through A."""
        prime()
        change()
        self.put(key, verdict(until(seen, self.limit), self.limit))

    # -- the probes ------------------------------------------------------------------------

    def a_create(self):
        a, b, _ = self.folder("a_create")
        self.timed("a  readdir, B creates a file", lambda: os.listdir(a),
                   lambda: write(os.path.join(b, "new"), b"x"),
                   lambda: "new" in os.listdir(a))

    def a_rename(self):
        a, b, _ = self.folder("a_rename")
        write(os.path.join(self.b, "a_rename.src"), b"x")
        self.timed("a  readdir, B renames a file in", lambda: os.listdir(a),
                   lambda: os.rename(os.path.join(self.b, "a_rename.src"),
                                     os.path.join(b, "moved")),
                   lambda: "moved" in os.listdir(a))

    def a_direct(self):
        a, _, real = self.folder("a_direct")
        self.timed("a  readdir, file created in the real folder", lambda: os.listdir(a),
                   lambda: write(os.path.join(real, "new"), b"x"),
                   lambda: "new" in os.listdir(a))

    def b_local_touch(self):
        a, b, _ = self.folder("b_touch")

        def change():
            write(os.path.join(b, "new"), b"x")
            dot = os.path.join(a, ".touch")
            write(dot, b"")
            os.unlink(dot)
        self.timed("b  readdir after A's own dot-file create+delete", lambda: os.listdir(a),
                   change, lambda: "new" in os.listdir(a))

    def b_local_rewrite(self):
        a, b, _ = self.folder("b_rewrite")
        write(os.path.join(a, ".heartbeat"), b"1")

        def change():
            write(os.path.join(b, "new"), b"x")
            write(os.path.join(a, ".heartbeat"), b"2")  # in place, as a heartbeat is
        self.timed("b  readdir after A's own in-place rewrite of a dot-file",
                   lambda: os.listdir(a), change, lambda: "new" in os.listdir(a))

    def c_stat(self):
        a, b, _ = self.folder("c_stat")
        write(os.path.join(b, "f"), b"0123456789")
        time.sleep(1.1)  # sftp times have 1 s resolution: make the mtime change too
        before = os.stat(os.path.join(a, "f"))
        self.timed("c  stat of a file B rewrote in place", lambda: os.stat(os.path.join(a, "f")),
                   lambda: write(os.path.join(b, "f"), b"0123456789abcdefghij"),
                   lambda: (os.stat(os.path.join(a, "f")).st_size,
                            os.stat(os.path.join(a, "f")).st_mtime_ns)
                   != (before.st_size, before.st_mtime_ns))

    def c_stat_listed(self):
        a, b, _ = self.folder("c_stat_listed")
        write(os.path.join(b, "f"), b"0123456789")
        time.sleep(1.1)
        before = os.stat(os.path.join(a, "f"))

        def prime():
            os.listdir(a)
            os.stat(os.path.join(a, "f"))
        self.timed("c  stat of a file B rewrote, A had listed its folder", prime,
                   lambda: write(os.path.join(b, "f"), b"0123456789abcdefghij"),
                   lambda: os.stat(os.path.join(a, "f")).st_size != before.st_size)

    def d_content(self):
        a, b, _ = self.folder("d_content")
        write(os.path.join(b, "f"), b"old-content-0001")
        self.timed("d  open+read of a file B rewrote in place (same length)",
                   lambda: read(os.path.join(a, "f")),
                   lambda: write(os.path.join(b, "f"), b"new-content-0002"),
                   lambda: read(os.path.join(a, "f")) == b"new-content-0002")

    def d_content_grows(self):
        a, b, _ = self.folder("d_grows")
        write(os.path.join(b, "f"), b"9 beta 42\n")
        self.timed("d  open+read of a file B rewrote in place (longer)",
                   lambda: read(os.path.join(a, "f")),
                   lambda: write(os.path.join(b, "f"), b"10 beta 42\n"),
                   lambda: read(os.path.join(a, "f")) == b"10 beta 42\n")

    def e_negative(self):
        a, b, _ = self.folder("e_negative")

        def prime():
            os.listdir(a)
            try:
                read(os.path.join(a, "ghost"))
            except FileNotFoundError:
                pass
        self.timed("e  open of a name that did not exist (negative lookup)", prime,
                   lambda: write(os.path.join(b, "ghost"), b"x"),
                   lambda: read(os.path.join(a, "ghost")) == b"x")

    def f_rename(self):
        a, b, _ = self.folder("f_rename")
        self.timed("f  A renames a file B just created (A had listed the folder)",
                   lambda: os.listdir(a),
                   lambda: write(os.path.join(b, "job"), b"x"),
                   lambda: os.rename(os.path.join(a, "job"), os.path.join(a, "claimed")) or True)

    def f_rename_unlisted(self):
        a, b, _ = self.folder("f_unlisted")
        self.timed("f  A renames a file B just created (folder never looked at)",
                   lambda: None,
                   lambda: write(os.path.join(b, "job"), b"x"),
                   lambda: os.rename(os.path.join(a, "job"), os.path.join(a, "claimed")) or True)

    def i_dir_mtime(self):
        a, b, _ = self.folder("i_dir_mtime")
        time.sleep(1.1)
        before = os.stat(a).st_mtime_ns
        self.timed("i  stat(folder).st_mtime after B adds a file", lambda: os.stat(a),
                   lambda: write(os.path.join(b, "new"), b"x"),
                   lambda: os.stat(a).st_mtime_ns != before)

    def i_dir_mtime_touch(self):
        a, b, _ = self.folder("i_dir_touch")
        time.sleep(1.1)
        before = os.stat(a).st_mtime_ns

        def change():
            write(os.path.join(b, "new"), b"x")
            dot = os.path.join(a, ".touch")
            write(dot, b"")
            os.unlink(dot)
            time.sleep(1.1)  # A's own change must not be what moves the mtime: wait a
            # second, then look whether B's file is visible in a fresh listing
        self.timed("i  stat(folder) after A's own create+delete (sees B's file?)",
                   lambda: os.stat(a), change,
                   lambda: os.stat(a).st_mtime_ns != before and "new" in os.listdir(a))

    def k_deleted(self):
        a, b, _ = self.folder("k_deleted")
        write(os.path.join(a, "token"), b"x")
        self.timed("k  os.path.exists of a file B deleted",
                   lambda: os.stat(os.path.join(a, "token")),
                   lambda: os.unlink(os.path.join(b, "token")),
                   lambda: not os.path.exists(os.path.join(a, "token")))

    def k_recreate(self):
        a, b, real = self.folder("k_recreate")
        notes = []

        def attempt(label, func):
            name = "token%d" % len(notes)  # a fresh name each time
            write(os.path.join(a, name), b"x")  # A made it, so A's caches hold it
            os.stat(os.path.join(a, name))
            os.listdir(a)
            os.unlink(os.path.join(b, name))  # B removes it (the dispatcher's unlink)
            try:
                func(os.path.join(a, name))
                result = "ok"
            except OSError as error:
                result = errname(error)
            there = os.path.exists(os.path.join(real, name))
            notes.append("%s: %s%s" % (label, result, "" if there else " (not created)"))

        def temp_then_rename(path):
            write(path + ".tmp", b"again")
            os.rename(path + ".tmp", path)

        def unlink_then_create(path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            write(path, b"again")

        attempt("O_CREAT|O_TRUNC", lambda path: write(path, b"again"))
        attempt("O_CREAT|O_EXCL",
                lambda path: write(path, b"again", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        attempt("temp + rename", temp_then_rename)
        attempt("unlink (ENOENT ok) + create", unlink_then_create)
        self.put("k  A re-creates a name B just deleted", "; ".join(notes))

    def c_fstat(self):
        a, b, _ = self.folder("c_fstat")
        write(os.path.join(b, "f"), b"0123456789")
        time.sleep(1.1)
        path = os.path.join(a, "f")

        def seen():
            fd = os.open(path, os.O_RDONLY)
            try:
                return os.fstat(fd).st_size == 20
            finally:
                os.close(fd)
        self.timed("c  open+fstat of a file B rewrote in place", lambda: (os.listdir(a),
                                                                       os.stat(path)),
                   lambda: write(os.path.join(b, "f"), b"0123456789abcdefghij"), seen)

    def g_exclusive(self):
        a, b, _ = self.folder("g_excl")
        os.listdir(b)  # B's view of the folder is primed without the names
        notes = []

        def attempt(label, func):
            try:
                func()
                notes.append("%s: ok" % label)
            except OSError as error:
                notes.append("%s: %s" % (label, errname(error)))

        excl = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        attempt("A O_EXCL new", lambda: write(os.path.join(a, "x"), b"a", excl))
        attempt("B O_EXCL same", lambda: write(os.path.join(b, "x"), b"b", excl))
        attempt("A O_EXCL again", lambda: write(os.path.join(a, "x"), b"a", excl))
        notes.append("content %r" % read(os.path.join(a, "x")))
        attempt("A mkdir new", lambda: os.mkdir(os.path.join(a, "d")))
        attempt("B mkdir same", lambda: os.mkdir(os.path.join(b, "d")))
        attempt("A link x->y", lambda: os.link(os.path.join(a, "x"), os.path.join(a, "y")))
        write(os.path.join(b, "z"), b"z")
        attempt("B link z->y (exists)",
                lambda: os.link(os.path.join(b, "z"), os.path.join(b, "y")))
        attempt("A rename z->y (exists)",
                lambda: os.rename(os.path.join(a, "z"), os.path.join(a, "y")))
        try:
            notes.append("y now %r" % read(os.path.join(self.real, "g_excl", "y")))
        except OSError as error:
            notes.append("y: %s" % errname(error))
        attempt("A rename gone->w", lambda: os.rename(os.path.join(a, "gone"),
                                                      os.path.join(a, "w")))
        self.put("g  O_EXCL / mkdir / link / rename over", "; ".join(notes))

    def h_lease(self):
        a, b, _ = self.folder("h_lease")
        write(os.path.join(b, "f"), b"x")
        path = os.path.join(a, "f")
        notes = []

        def lease(label):
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            try:
                fcntl.fcntl(fd, F_SETLEASE, F_RDLCK)
                fcntl.fcntl(fd, F_SETLEASE, F_UNLCK)
                notes.append("%s: granted" % label)
            except OSError as error:
                notes.append("%s: %s" % (label, errname(error)))
            finally:
                os.close(fd)

        lease("nobody writing")
        local = os.open(path, os.O_WRONLY)
        lease("writer on A")
        os.close(local)
        remote = os.open(os.path.join(b, "f"), os.O_WRONLY)
        lease("writer on B")
        os.close(remote)
        self.put("h  F_SETLEASE", "; ".join(notes))

    def latency(self):
        a, _, _ = self.folder("latency")
        for n in range(200):
            write(os.path.join(a, "job%03d" % n), b"[control]\nexecutable: true\n")

        def cost(func, count=30):
            times = []
            for i in range(count):
                start = time.monotonic()
                func(i)
                times.append(time.monotonic() - start)
            return "%.2f" % (statistics.median(times) * 1000)

        parts = [
            "listdir(200) " + cost(lambda i: os.listdir(a)),
            "stat " + cost(lambda i: os.stat(os.path.join(a, "job%03d" % i))),
            "open+read " + cost(lambda i: read(os.path.join(a, "job%03d" % i))),
            "create+write " + cost(lambda i: write(os.path.join(a, "new%03d" % i), b"x")),
            "rename " + cost(lambda i: os.rename(os.path.join(a, "new%03d" % i),
                                                 os.path.join(a, "moved%03d" % i))),
            "unlink " + cost(lambda i: os.unlink(os.path.join(a, "moved%03d" % i))),
        ]
        self.put("latency ms (median)", ", ".join(parts))

    def run_all(self):
        probes = [self.a_create, self.a_rename, self.a_direct, self.b_local_touch,
                  self.b_local_rewrite, self.i_dir_mtime_touch, self.k_deleted,
                  self.k_recreate, self.c_fstat, self.c_stat,
                  self.c_stat_listed, self.d_content, self.d_content_grows, self.e_negative,
                  self.f_rename, self.f_rename_unlisted, self.i_dir_mtime, self.g_exclusive,
                  self.h_lease]
        threads = []
        for probe in probes:
            def run(probe=probe):
                try:
                    probe()
                except Exception as error:  # a probe that breaks is a finding too
                    self.put(probe.__name__, "error: %r" % error)
            thread = threading.Thread(target=run)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        self.latency()  # alone, so that its numbers are not the probes' contention
        return self.results


def probe_options(sshd, work, options, limit):
    real = tempfile.mkdtemp(prefix="share-", dir=work)
    mnt_a = tempfile.mkdtemp(prefix="A-", dir=work)
    mnt_b = tempfile.mkdtemp(prefix="B-", dir=work)
    procs = []
    try:
        procs.append((mnt_a, hosts.start_sshfs(sshd, real, mnt_a, options)))
        procs.append((mnt_b, hosts.start_sshfs(sshd, real, mnt_b, options)))
        return Probe(mnt_a, mnt_b, real, limit).run_all()
    finally:
        for mountpoint, proc in procs:
            hosts.unmount(mountpoint, proc)


def inside(args):
    work = tempfile.mkdtemp(prefix="fjd-sshfs-probe-")
    sshd = hosts.Sshd(os.path.join(work, "state")).start()
    report = {}
    try:
        for options in args.options:
            label = options or "(defaults)"
            print("== sshfs -o %s" % label, flush=True)
            started = time.monotonic()
            results = probe_options(sshd, work, options, args.limit)
            for key in sorted(results):
                print("  %-58s %s" % (key, results[key]), flush=True)
            print("  (%.0f s)" % (time.monotonic() - started), flush=True)
            report[label] = results
    finally:
        sshd.stop()
        subprocess.run(["rm", "-rf", "--one-file-system", work])
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1, sort_keys=True)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--options", action="append",
                        help="an sshfs -o value to probe (repeatable; \"\" = defaults)")
    parser.add_argument("--limit", type=float, default=30.0,
                        help="give up waiting for a change after this many seconds")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--in-namespace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.options is None:
        args.options = DEFAULT_SETS
    if args.in_namespace:
        return inside(args)
    reason = hosts.unavailable_reason()
    if reason:
        sys.stderr.write("sshfs_probe: cannot run here: %s\n" % reason)
        return 2
    # private mount namespace: the mounts vanish with us whatever happens
    argv = [hosts.which("unshare"), "-m", "--propagation", "private", sys.executable,
            os.path.abspath(__file__), "--in-namespace", "--limit", str(args.limit)]
    for options in args.options:
        argv += ["-o", options]
    if args.json:
        argv += ["--json", os.path.abspath(args.json)]
    return subprocess.call(argv)


if __name__ == "__main__":
    sys.exit(main())
