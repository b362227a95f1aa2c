"""array_output: task lines read from their bytes (all but #4, whose line ends without a
worker's totals) and through JSON give the same runs, the
newest run of a task wins (every run with --all), output journals are read right."""
import io

from fjd import journal, record_kinds
from fjd.array_output import write_array_output
from fjd.layout import Layout

ARRAY = "20261207-120000.000000-abcdef-000001-sweep.conf"


def task(index, end, state="done", status=0, signal=None, reason=None, out=None,
         timed_out=False, array=ARRAY, uid="u1"):
    record = record_kinds.task_started(array, uid, index, 1, 1, end - 1)
    record = record_kinds.task_ran(record, status, signal, reason, end,
                                   {"stdout": out, "stderr": None}, timed_out=timed_out)
    return record_kinds.with_totals(record, [0] * 6, None) if index != 4 else record


def test_fast_and_json_lines_newest_run_and_every_run(tmp_path):
    layout = Layout(str(tmp_path / "root"))
    layout.ensure()
    outputs = b"one\ntwo-old\ntwo\nthree"
    with open(layout.records + "/w1.out", "wb") as handle:
        handle.write(outputs)
    records = [
        task(2, 10.0, "failed", 1, out=["w1.out", 4, 8]),
        task(1, 11.0, out=["w1.out", 0, 4]),
        task(3, 12.0, "failed", None, 9, 'killed by "signal" 9 \\ (timed out)',
             out=["w1.out", 16, 5], timed_out=True),
        task(2, 13.0, out=["w1.out", 12, 4]),
        task(1, 14.0, array="other.conf", uid="u2", out=["w1.out", 0, 4]),
        task(4, 15.0, out=None),
    ]
    with open(layout.records + "/w1.journal", "wb") as handle:
        handle.write(b"".join(journal.frame(r) for r in records))
    out = io.BytesIO()
    assert write_array_output(layout, ARRAY, "stdout", out) == 4
    assert out.getvalue().decode().splitlines() == [
        "== %s#1 (done, exit 0) ==" % ARRAY, "one",
        "== %s#2 (done, exit 0) ==" % ARRAY, "two",
        "== %s#3 (failed, signal 9, timed out) ==" % ARRAY, "three",
        "== %s#4 (done, exit 0) ==" % ARRAY]
    out = io.BytesIO()
    assert write_array_output(layout, ARRAY, "stdout", out, every=True) == 5
    assert "== %s#2 (failed, exit 1) ==\ntwo-old\n== %s#2 (done, exit 0) ==\ntwo\n" % (
        ARRAY, ARRAY) in out.getvalue().decode()
    out = io.BytesIO()
    assert write_array_output(layout, ARRAY, "stderr", out) == 4
    assert out.getvalue().decode().count("\n") == 4  # headers only: nothing on stderr
