"""task_params.py: an array's task values, read once per array file, equal what the
worker computes (arrays.ArraySpec) for product and table arrays."""
import os

from fjd import arrays, names
from fjd.layout import Layout
from fjd.task_params import TaskParams

PRODUCT = """[control]
executable: sim $a $b $c
tasks: product
repeat: 2

[params]
a: 0..1:0.25
b: x,y\\,z
c: -3..3
"""

TABLE = """[control]
executable: sim $a $b
tasks: table

[params]
a\tb
1\tone
# a comment

2\ttwo words
3\tthree
"""


def filed(tmp_path, name, text, uid):
    root = tmp_path / "root"
    for folder in ("jobqueue", "done", "records"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "done" / name).write_text(text)
    params = TaskParams(Layout(str(root)))
    params.note({"k": "array", "name": name, "folder": "done", "u": uid})
    return params, str(root / "done" / name)


def spec_of(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        spec = arrays.read_spec(fd, 1 << 20)
        return spec, [values for _, values, _, _ in spec.iter_tasks(fd, 1, spec.count)]
    finally:
        os.close(fd)


def test_product_values_are_the_workers(tmp_path):
    params, path = filed(tmp_path, "p.conf", PRODUCT, "aaaa0001")
    spec, expected = spec_of(path)
    assert params.names("aaaa0001") == ["a", "b", "c"] and spec.count == 5 * 2 * 7 * 2
    assert [params.values("aaaa0001", i) for i in range(1, spec.count + 1)] == expected
    assert params.values("aaaa0001", 15)[:2] == ["0.00", "y,z"]
    assert params.values("unknown1", 1) is None and params.names("unknown1") == []
    params.close()


def test_table_values_are_the_workers(tmp_path):
    params, path = filed(tmp_path, "t.conf", TABLE, "bbbb0002")
    spec, expected = spec_of(path)
    assert [params.values("bbbb0002", i) for i in range(1, 4)] == expected == [
        ["1", "one"], ["2", "two words"], ["3", "three"]]
    assert params.values("bbbb0002", 4) is None
    params.close()


def test_a_running_array_is_found_by_its_ranges(tmp_path):
    root = tmp_path / "root"
    for folder in ("jobqueue", "jobpod/w-1-abc", "arrays"):
        (root / folder).mkdir(parents=True)

    entry = names.compose("t.conf", first=1, last=3, uid="cccc0003")
    (root / "jobpod" / "w-1-abc" / entry).write_text(TABLE)
    params = TaskParams(Layout(str(root)))
    assert params.values("cccc0003", 2) == ["2", "two words"]
    params.close()
