"""fjd.completion: finished ranges of an array are merged, and the array filed, once they
cover it."""
import os

from fjd import names
from fjd.completion import Completion
from fjd.defaults import MERGE_PIECES
from fjd.layout import Layout

from unit_helpers import put, ranges


def finished_pieces(tmp_path, bounds, count=10):
    """A queue root whose arrays/ holds finished ranges (first, last) of one array of count
    tasks, all hard links of its file; the Completion that watches it."""
    layout = Layout(str(tmp_path / "root"))
    layout.ensure()
    source = put(tmp_path / "sweep.conf",
                 "[control]\nexecutable: p $a\ntasks: product\n\n[params]\na: 1..%d\n" % count)
    for first, last in bounds:
        name = names.compose("sweep.conf", first=first, last=last, uid="abcd1234", flags="")
        os.link(source, os.path.join(layout.arrays, name))
    return layout, Completion(layout, 1 << 20)


def test_finished_ranges_are_merged_once_they_cover_their_array(tmp_path):
    """Completion: ranges that do not cover the array yet stay as they are (each merge is
    two requests on a shared mount, made while workers wait); once they cover it, they
    are merged and the array is filed."""
    layout, completion = finished_pieces(tmp_path, [(1, 3), (4, 6), (8, 10)])
    assert completion.run(force=True) == 0
    assert ranges(layout.arrays) == [(1, 3, ""), (4, 6, ""), (8, 10, "")]
    os.link(str(tmp_path / "sweep.conf"), os.path.join(layout.arrays, names.compose(
        "sweep.conf", first=7, last=7, uid="abcd1234", flags="")))
    assert completion.run(force=True) == 1
    assert os.listdir(layout.arrays) == [] and os.listdir(layout.folder("done")) == [
        "sweep.conf"]


def test_many_finished_ranges_are_merged_before_the_array_ends(tmp_path):
    """... but MERGE_PIECES of them are merged where they meet, so that arrays/ stays
    short while a long array runs."""
    bounds = [(n, n) for n in range(1, MERGE_PIECES + 1)]
    layout, completion = finished_pieces(tmp_path, bounds, count=MERGE_PIECES + 5)
    assert completion.run(force=True) == 0
    assert ranges(layout.arrays) == [(1, MERGE_PIECES, "")]
