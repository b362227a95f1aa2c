"""fjd.ini: the fast path reads every file as configparser does, or leaves it to configparser."""
import configparser
import random

import pytest

from fjd import ini
from fjd.jobfile import JobError, parse_config, parse_job, split_command


def by_configparser(text):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(text, source="job file")
    return {name: dict(parser[name].items()) for name in parser.sections()}


PIECES = ["[control]", "[params]", "[Control]", "[DEFAULT]", "[a] b", "[]", "[x]]", "[ x ]",
          "executable: true", "executable = python3 run.py", "Executable:  echo  a  ",
          "timeout: 5", "key", "= value", ": v", "a: b: c", "a = b = c", "a:", "a =",
          "# comment", "; comment", "  indented: x", "\tcontinued", "", "   ", "\r",
          "key: value\r", "x: 1 # not a comment", "\x0b", "k\x0c: v", "ä: ö", "a\u2028b: c",
          "p = %(q)s", "[params]x", "  # indented comment", "K: v", "k: w"]


def random_text(rng):
    return "\n".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8)))


def test_fast_path_reads_as_configparser_does():
    rng = random.Random(28)
    fast = 0
    for _ in range(20000):
        text = random_text(rng)
        quick = ini.quick_parse(text)
        if quick is None:
            continue
        fast += 1
        assert quick == by_configparser(text), text
    assert fast > 1000  # the fast path was taken often enough to mean something


@pytest.mark.parametrize("text", ["[control]\n  executable: x\n", "[DEFAULT]\na: 1\n",
                                  "a: 1\n[control]\n", "[control]\nnothing here\n",
                                  "[control]\nexecutable: a\n  b\n"])
def test_unsure_files_go_to_configparser(text):
    assert ini.quick_parse(text) is None


def test_job_errors_are_the_same_either_way():
    with pytest.raises(JobError, match="before any \\[section\\] header"):
        parse_config(b"executable: true\n")
    with pytest.raises(JobError, match="line 2 is neither"):
        parse_config(b"[control]\nnothing here\n")
    spec = parse_job(b"[control]\nExecutable: echo 'a b'\n[params]\nX: 1\n")
    assert spec.argv == ["echo", "a b"] and spec.params == {"x": "1"}


def test_split_command_gives_a_fresh_list_each_time():
    first = split_command("echo 'a b' c")
    first.append("changed")
    assert split_command("echo 'a b' c") == ["echo", "a b", "c"]
