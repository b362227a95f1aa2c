"""fjd.spawn: a program found in PATH is remembered briefly, and behaves as execvp's search."""
import os
import shutil

import pytest

from fjd import spawn


def script(folder, name, text="exit 0"):
    path = os.path.join(str(folder), name)
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\n%s\n" % text)
    os.chmod(path, 0o755)
    return path


@pytest.fixture
def search_path(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.setenv("PATH", "%s:%s:%s" % (first, second, os.environ.get("PATH", "")))
    monkeypatch.setattr(spawn, "PROGRAMS", spawn.ProgramPaths())
    return first, second


def run(argv):
    child = spawn.start(argv, None, dict(os.environ), 1, 2, same_cwd=True)
    return child.wait()


def test_found_as_execvp_finds_it(search_path):
    first, second = search_path
    script(second, "prog")
    assert spawn.PROGRAMS.find("prog") == shutil.which("prog") == str(second / "prog")
    assert spawn.PROGRAMS.find("true") == shutil.which("true")
    (first / "prog").write_text("not executable")  # skipped, as execvp skips it
    spawn.PROGRAMS.forget()
    assert spawn.PROGRAMS.find("prog") == str(second / "prog")


def test_a_program_removed_fails_as_before(search_path):
    _, second = search_path
    script(second, "prog", "exit 3")
    assert run(["prog"]) == 3
    os.unlink(str(second / "prog"))
    with pytest.raises(FileNotFoundError):
        run(["prog"])  # the remembered path is tried, forgotten, and the search fails


def test_a_program_moved_is_found_again(search_path):
    first, second = search_path
    script(second, "prog", "exit 4")
    assert run(["prog"]) == 4
    os.rename(str(second / "prog"), str(first / "moved"))
    script(first, "prog", "exit 5")  # now earlier in PATH, and the old one is gone
    assert run(["prog"]) == 5


def test_remembered_for_its_time_only(search_path):
    first, second = search_path
    clock = [0.0]
    spawn.PROGRAMS = paths = spawn.ProgramPaths(seconds=1.0, clock=lambda: clock[0])
    script(second, "prog")
    assert paths.find("prog") == str(second / "prog")
    script(first, "prog")
    assert paths.find("prog") == str(second / "prog")  # like a shell's hash, for a second
    clock[0] = 1.5
    assert paths.find("prog") == str(first / "prog")


def test_relative_folders_are_left_to_the_c_library(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "bin:/usr/bin")
    assert spawn.ProgramPaths().find("true") is None
    monkeypatch.delenv("PATH")
    assert spawn.ProgramPaths().find("true") is None
