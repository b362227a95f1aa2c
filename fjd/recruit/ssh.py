"""Workers on other hosts: `ssh -o BatchMode=yes HOST fjd workers start N ...` per host.

The hosts come from an INI file like the 2012 ``remote.conf``; each host starts its workers
for itself, on the same queue root (a shared home, NFS or sshfs).
"""
import configparser
import os
import re
import shlex
import subprocess

from ..errors import RecruitError
from ..layout import display
from .local import PACKAGE_PARENT, fjd_argv

# where fjd is for other hosts: this checkout, but not an installed site-packages folder
# (which would mix this Python's packages into another host's Python)
REMOTE_PYTHONPATH = ("" if os.path.basename(PACKAGE_PARENT) in ("site-packages",
                                                                 "dist-packages")
                     else PACKAGE_PARENT)
ANSWER_TIMEOUT = 120  # seconds an ssh session may take to start a host's workers


def read_hosts(path, default_workers=None):
    """Sections of an INI hosts file: a list of dicts. RecruitError (status 2) if invalid."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path) as handle:
            parser.read_file(handle)
    except OSError as error:
        raise RecruitError("cannot read %s: %s" % (display(path), error.strerror), 2)
    except configparser.Error as error:
        raise RecruitError("%s is not a valid INI hosts file: %s"
                           % (display(path), str(error).splitlines()[0]), 2)
    hosts = []
    for section in parser.sections():
        hosts.append(host_entry(section, parser[section], path, default_workers))
    if not hosts:
        raise RecruitError("%s has no [host] sections" % display(path), 2)
    return hosts


def host_entry(section, values, path, default_workers):
    def bad(message):
        return RecruitError("[%s] in %s %s" % (section, display(path), message), 2)
    name = values.get("name", "").strip()
    if not name:
        raise bad("has no 'name' (the host to ssh to)")
    if name.startswith("-") or any(c.isspace() for c in name):
        raise bad("has %r as name, which is not a host name" % name)
    raw = values.get("workers", "").strip()
    if raw and (not raw.isdigit() or int(raw) < 1):
        raise bad("has workers that must be a whole number of at least 1, not %r" % raw)
    port = values.get("port", "").strip()
    if port and not port.isdigit():
        raise bad("has a port that must be a number, not %r" % port)
    nice = values.get("nice", "").strip()
    if nice and not re.match(r"-?\d+\Z", nice):
        raise bad("has a nice value that must be a number, not %r" % nice)
    try:
        ssh_options = shlex.split(values.get("ssh_options", ""))
    except ValueError as error:
        raise bad("has ssh_options that cannot be split: %s" % error)
    return {"section": section, "name": name,
            "workers": int(raw) if raw else (default_workers or 1),
            "user": values.get("user", "").strip() or None,
            "port": port or None, "nice": nice or None,
            "python": values.get("python", "").strip() or "python3",
            "root": values.get("root", "").strip() or None,
            "cwd": values.get("cwd", "").strip() or None,
            "pythonpath": values.get("pythonpath", REMOTE_PYTHONPATH).strip(),
            "ssh_options": ssh_options}


def quote_argv(argv):
    """A command line for a remote shell (shlex.join for any Python 3)."""
    return " ".join(shlex.quote(str(word)) for word in argv)


def ssh_argv(host, remote_argv):
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]
    if host["port"]:
        argv += ["-p", host["port"]]
    if host["user"]:
        argv += ["-l", host["user"]]
    argv += host["ssh_options"]
    return argv + ["--", host["name"], quote_argv(remote_argv)]


def remote_start_argv(host, root, cwd, log_level, options=(), log_dir=None):
    """`fjd workers start` as the remote host runs it, with the forwarded worker options."""
    argv = ["env", "PYTHONPATH=%s" % host["pythonpath"]] if host["pythonpath"] else []
    if host["nice"]:
        argv += ["nice", "-n", host["nice"]]
    argv += fjd_argv(host["python"]) + [
        "workers", "start", str(host["workers"]), "--root", host["root"] or root,
        "--cwd", host["cwd"] or cwd, "--log-level", log_level]
    if log_dir:
        argv += ["--log-dir", os.path.abspath(log_dir)]
    return argv + list(options)


class HostResult:
    """How starting workers on one host went: its output lines and, if it failed, why."""

    def __init__(self, host, returncode, out, err):
        self.host = host
        self.returncode = returncode
        self.out_lines = out.decode("utf-8", "replace").splitlines()
        self.err_lines = [line for line in err.decode("utf-8", "replace").splitlines()
                          if line.strip()]

    @property
    def ok(self):
        return self.returncode == 0

    def problem(self):
        if self.returncode == 255:
            return "ssh to %s failed: %s" % (self.host["name"],
                                             (self.err_lines or ["no reason given"])[-1])
        return "starting workers on %s failed (exit status %d)" % (self.host["name"],
                                                                    self.returncode)


def start_over_ssh(hosts, root, cwd, log_level, options=(), log_dir=None):
    """Run `fjd workers start` on every host at once; a HostResult per host."""
    running = []
    for host in hosts:
        argv = ssh_argv(host, remote_start_argv(host, root, cwd, log_level, options, log_dir))
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
        except OSError as error:
            raise RecruitError("cannot run ssh: %s" % error.strerror)
        running.append((host, proc))
    results = []
    for host, proc in running:
        try:
            out, err = proc.communicate(timeout=ANSWER_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += b"\n(no answer within %d s)" % ANSWER_TIMEOUT
        results.append(HostResult(host, proc.returncode, out, err))
    return results
