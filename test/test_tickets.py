"""fjd.tickets: splitting and merging ranges of an array by hard links and renames, and the
repair of a split or merge cut short."""
import os

import pytest

from fjd import moves, names, tickets

from unit_helpers import put, ranges


def array_folder(tmp_path, first=1, last=10, uid="abcd1234", **fields):
    folder = str(tmp_path / "arrays")
    os.mkdir(folder)
    name = names.compose("sweep.conf", first=first, last=last, uid=uid, **fields)
    put(os.path.join(folder, name), "[control]\nexecutable: p $a\ntasks: product\n")
    return folder, name


def pieces(*parts):
    return [moves.Piece(part, None) for part in parts]


SPLIT_PARTS = pieces(dict(first=1, last=3), dict(first=4, last=10, attempts=0, offset=None,
                                                 tag=None))


def test_split_makes_hard_links_covering_the_range(tmp_path):
    """split: the parts are names of one file (hard links) that cover the range in order."""
    folder, name = array_folder(tmp_path)
    inode = os.stat(os.path.join(folder, name)).st_ino
    piece, rest = tickets.split(folder, name, SPLIT_PARTS)
    assert sorted(os.listdir(folder)) == sorted([piece, rest])
    assert ranges(folder) == [(1, 3, None), (4, 10, None)]
    assert {os.stat(os.path.join(folder, n)).st_ino for n in (piece, rest)} == {inode}
    assert names.parse(piece).uid == names.parse(rest).uid == "abcd1234"


def test_split_in_three(tmp_path):
    """More parts than two: every one but the last is linked, the last is a rename."""
    folder, name = array_folder(tmp_path)
    made = tickets.split(folder, name, pieces(dict(first=1, last=2), dict(first=3, last=5),
                                             dict(first=6, last=10)))
    assert sorted(os.listdir(folder)) == sorted(made)
    assert ranges(folder) == [(1, 2, None), (3, 5, None), (6, 10, None)]


def test_split_cut_short_is_repaired(tmp_path):
    """A crash after the link, before the rename: repair trims the longer range to what
    follows the shorter, which gives what the split would have."""
    folder, name = array_folder(tmp_path)
    expected = [names.with_fields(names.parse(name), **part.fields) for part in SPLIT_PARTS]
    os.link(os.path.join(folder, name), os.path.join(folder, expected[0]))  # step 1 only
    assert ranges(folder) == [(1, 3, None), (1, 10, None)]
    left = tickets.repair(folder, os.listdir(folder))
    assert left == sorted(expected) == sorted(os.listdir(folder))
    assert ranges(folder) == [(1, 3, None), (4, 10, None)]


def test_split_cut_short_is_finished_by_doing_it_again(tmp_path):
    """A part that exists already is taken as made: splitting again completes the split."""
    folder, name = array_folder(tmp_path)
    expected = [names.with_fields(names.parse(name), **part.fields) for part in SPLIT_PARTS]
    os.link(os.path.join(folder, name), os.path.join(folder, expected[0]))
    assert tickets.split(folder, name, SPLIT_PARTS) == expected
    assert sorted(os.listdir(folder)) == sorted(expected)


def test_split_of_a_vanished_range_leaves_nothing(tmp_path, monkeypatch):
    """The range taken away (fjd cancel) before or during a split: FileNotFoundError, and
    none of the parts stays behind."""
    folder, name = array_folder(tmp_path)
    os.unlink(os.path.join(folder, name))
    with pytest.raises(FileNotFoundError):
        tickets.split(folder, name, SPLIT_PARTS)
    assert os.listdir(folder) == []

    folder2 = str(tmp_path / "arrays2")
    os.mkdir(folder2)
    put(os.path.join(folder2, name), "x")
    real_rename = os.rename

    def cancel_first(source, target):
        os.unlink(source)  # fjd cancel took the range between the link and the rename
        return real_rename(source, target)
    monkeypatch.setattr(tickets.os, "rename", cancel_first)
    with pytest.raises(FileNotFoundError):
        tickets.split(folder2, name, pieces(dict(first=1, last=2), dict(first=3, last=5),
                                           dict(first=6, last=10)))
    monkeypatch.setattr(tickets.os, "rename", real_rename)
    assert os.listdir(folder2) == []


def test_merge_adjacent_finished_ranges(tmp_path):
    """merge: two adjacent finished ranges become one name; flags are OR-ed."""
    folder, a = array_folder(tmp_path, first=1, last=4, flags="")
    b = names.compose("sweep.conf", first=5, last=10, uid="abcd1234", flags="F")
    os.link(os.path.join(folder, a), os.path.join(folder, b))
    union = tickets.merge(folder, a, b)
    assert os.listdir(folder) == [union]
    assert names.parse(union) == names.QueueName("sweep.conf", 0, 1, 10, "abcd1234", None,
                                                 "F", None)
    c = names.compose("sweep.conf", first=11, last=12, uid="abcd1234", flags="C",
                      attempts=2, tag="d9")
    os.link(os.path.join(folder, union), os.path.join(folder, c))
    union = tickets.merge(folder, union, c)
    assert os.listdir(folder) == [union]
    assert names.parse(union) == names.QueueName("sweep.conf", 0, 1, 12, "abcd1234", None,
                                                 "CF", None)


def test_merge_cut_short_is_repaired(tmp_path):
    """A crash after the rename, before the removal: the second range lies inside the
    union, and repair removes it."""
    folder, a = array_folder(tmp_path, first=1, last=4, flags="")
    b = names.compose("sweep.conf", first=5, last=10, uid="abcd1234", flags="C")
    os.link(os.path.join(folder, a), os.path.join(folder, b))
    union = names.compose("sweep.conf", first=1, last=10, uid="abcd1234", flags="C")
    os.rename(os.path.join(folder, a), os.path.join(folder, union))  # step 1 only
    assert tickets.repair(folder, os.listdir(folder)) == [union]
    assert os.listdir(folder) == [union]


def test_repair_drops_a_range_inside_a_finished_one_with_the_same_start(tmp_path):
    """A finished range and an unfinished one with the same first task: the unfinished one
    is covered, and goes."""
    folder, finished = array_folder(tmp_path, first=1, last=10, flags="")
    inside = names.compose("sweep.conf", first=1, last=4, uid="abcd1234")
    os.link(os.path.join(folder, finished), os.path.join(folder, inside))
    assert tickets.repair(folder, os.listdir(folder)) == [finished]


def test_repair_leaves_sound_and_foreign_names_alone(tmp_path):
    """Ranges that do not overlap, other arrays and plain names are left as they are; an
    overlap fjd cannot have made is left too."""
    folder, name = array_folder(tmp_path, first=1, last=3)
    others = [names.compose("sweep.conf", first=4, last=10, uid="abcd1234"),
              names.compose("sweep.conf", first=1, last=10, uid="99999999"),
              "plain.conf"]
    for other in others:
        put(os.path.join(folder, other), "x")
    everything = sorted(os.listdir(folder))
    assert tickets.repair(folder, everything) == everything
    odd = names.compose("sweep.conf", first=2, last=5, uid="abcd1234")  # overlaps 1-3, 4-10
    put(os.path.join(folder, odd), "x")
    assert tickets.repair(folder, os.listdir(folder)) == sorted(everything + [odd])
    assert sorted(os.listdir(folder)) == sorted(everything + [odd])
