"""fjd.folders: operations relative to kept-open folders (real files, a real queue root)."""
import os

import pytest

from fjd import defaults, folders
from fjd.layout import Layout
from fjd.fsops import refresh_listing


@pytest.fixture
def layout(tmp_path):
    layout = Layout(str(tmp_path / "q"))
    layout.ensure()
    folders.use(layout)
    yield layout
    folders.stop()


def test_operations_go_through_the_open_folder(layout):
    job = os.path.join(layout.jobqueue, "a.conf")
    fd = folders.open_at(job, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.close(fd)
    dir_fd, name = folders.at(job)
    assert dir_fd is not None and name == "a.conf"
    inbox = layout.inbox("w1")
    os.mkdir(inbox)
    folders.rename(job, os.path.join(inbox, "a.conf"))
    assert folders.lexists(os.path.join(inbox, "a.conf")) and not folders.lexists(job)
    folders.link(os.path.join(inbox, "a.conf"), os.path.join(layout.done, "a.conf"))
    folders.unlink(os.path.join(inbox, "a.conf"))
    assert folders.listdir(layout.done) == ["a.conf"]
    with folders.scandir(layout.done) as entries:
        assert [(e.name, e.is_file(follow_symlinks=False)) for e in entries] == [("a.conf", True)]


def test_other_paths_go_by_path(layout, tmp_path):
    elsewhere = str(tmp_path / "elsewhere")
    os.mkdir(elsewhere)
    assert folders.at(os.path.join(elsewhere, "x")) == (None, os.path.join(elsewhere, "x"))
    deeper = os.path.join(layout.inbox("w1"), "sub", "x")
    assert folders.at(deeper)[0] is None


def test_a_replaced_folder_is_found_again_after_a_fault(layout):
    folders.open_at(os.path.join(layout.done, "old"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.rename(layout.done, layout.done + ".aside")
    os.mkdir(layout.done)
    # the kept fd still points at the old folder ...
    assert folders.lexists(os.path.join(layout.done, "old"))
    folders.drop()  # ... until a fault (or MAX_AGE) makes fjd open it by its path again
    assert not folders.lexists(os.path.join(layout.done, "old"))


def test_open_folders_are_reopened_after_max_age_and_capped(tmp_path):
    now = [0.0]
    root = str(tmp_path)
    os.mkdir(os.path.join(root, "jobpod"))
    opened = folders.OpenFolders(root, ("jobpod",), os.path.join(root, "jobpod"),
                                 clock=lambda: now[0])
    first = opened.fd(os.path.join(root, "jobpod"))
    assert opened.fd(os.path.join(root, "jobpod")) == first
    now[0] += defaults.OPEN_FOLDER_MAX_AGE + 1
    opened.fd(os.path.join(root, "jobpod"))
    assert len(opened._open) == 1  # the old fd was closed, not leaked
    for number in range(defaults.OPEN_FOLDERS_KEPT + 5):
        os.mkdir(os.path.join(root, "jobpod", "w%d" % number))
        assert opened.fd(os.path.join(root, "jobpod", "w%d" % number)) is not None
    assert len(opened._open) == defaults.OPEN_FOLDERS_KEPT
    assert opened.fd(os.path.join(root, "elsewhere")) is None
    opened.drop()
    assert not opened._open


def test_own_changes_make_the_refresh_unneeded(layout):
    assert not folders.changed_since_listed(layout.jobqueue)
    os.close(folders.open_at(os.path.join(layout.jobqueue, "j"), os.O_WRONLY | os.O_CREAT))
    assert folders.changed_since_listed(layout.jobqueue)
    assert not folders.changed_since_listed(layout.jobqueue)  # once per change
    folders.rename(os.path.join(layout.jobqueue, "j"), os.path.join(layout.failed, "j"))
    refresh_listing(layout.jobqueue)  # skipped: the rename dropped the cache already
    assert not folders.changed_since_listed(layout.jobqueue)
    refresh_listing(layout.failed)  # skipped too: the rename changed failed/ as well
    assert not folders.changed_since_listed(layout.failed)
    refresh_listing(layout.failed)  # made with a dot-file now, which is not left behind
    assert os.listdir(layout.failed) == ["j"]
    assert not folders.changed_since_listed(layout.failed)
