"""fjd show, fjd status and fjd run trace a failed task to its parameters and its command,
and `fjd show ARRAY --stdout` prints every task's output in task order (issue 26, points 2
and 7), driven as a user drives them: a sweep with failures run by `fjd run`, then the
commands that read its records."""
import json
import os
import sys

import pytest

from conftest import fjd_cli, fjd_in_process, py
from fjd.layout import Layout

SIM = ("import sys; print('alpha=%s seed=%s' % (sys.argv[1], sys.argv[2])); "
       "sys.exit(3 if sys.argv[1] == '2' else 0)")
TABLE = ("import sys; print('shape', sys.argv[1]); sys.stderr.write('bad %s\\n' % sys.argv[1]); "
         "sys.exit(sys.argv[1] == 'a b')")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A root where a product sweep (alpha=1,2,3 x seed=7,8: alpha 2 fails) and a table
    array (tab-separated, a value with a blank in it fails) ran to their end."""
    base = tmp_path_factory.mktemp("show")
    root = base / "root"
    Layout(str(root)).ensure()
    submitted = fjd_cli(root, "submit", "--exe", py(SIM, "$alpha", "$seed"),
                        "--param", "alpha=1,2,3", "--param", "seed=7,8", cwd=base)
    assert submitted.returncode == 0, submitted.err
    table = base / "shapes.conf"
    table.write_text("[control]\nexecutable: %s\ntasks: table\njobfile: none\n\n[params]\n"
                     "name\tsize\nwide\t4\na b\t5\n" % py(TABLE, "$name"))
    assert fjd_cli(root, "submit", str(table), cwd=base).returncode == 0
    run = fjd_cli(root, "run", "--workers", "2", cwd=base)
    assert run.returncode == 1, (run.out, run.err)
    names = {n.split("-", 5)[-1]: n for n in os.listdir(str(root / "failed"))}
    return root, run, names["sweep.conf"], names["shapes.conf"]


def sim_command(alpha, seed):
    return [sys.executable, "-c", SIM, alpha, seed, "{jobfile}"]


def test_run_summary_shows_params_and_command(sweep):
    root, run, array, table = sweep
    assert "3 failed" in run.out
    block = run.out.split("failed: %s#3: exited with status 3" % array, 1)[1]
    assert block.startswith("\n    params: alpha=2 seed=7\n    command: %s -c " % sys.executable)
    assert "failed: %s#2: exited with status 1\n    params: name='a b' size=5\n" % table \
        in run.out


def test_status_lists_failures_with_params_and_command(sweep):
    root, _, array, table = sweep
    text = fjd_in_process(root, "status").out
    assert "  %s#4: exited with status 3\n    params: alpha=2 seed=8\n    command: " % array \
        in text
    state = json.loads(fjd_cli(root, "status", "--json").out)
    failed = {entry["name"]: entry for entry in state["failed"]}
    assert failed["%s#3" % array]["params"] == {"alpha": "2", "seed": "7"}
    assert failed["%s#3" % array]["command"] == sim_command("2", "7")
    assert failed["%s#2" % table]["params"] == {"name": "a b", "size": "5"}
    assert failed["%s#2" % table]["command"] == [sys.executable, "-c", TABLE, "a b"]
    assert set(failed) == {"%s#3" % array, "%s#4" % array, "%s#2" % table}


def test_show_task_has_params_in_order_and_command(sweep):
    root, _, array, table = sweep
    text = fjd_in_process(root, "show", "%s#4" % array).out
    assert "\nparams: alpha=2 seed=8\ncommand: %s -c " % sys.executable in text
    record = json.loads(fjd_in_process(root, "show", "%s#5" % array, "--json").out)
    assert list(record["params"]) == ["alpha", "seed"] and record["state"] == "done"
    assert record["params"] == {"alpha": "3", "seed": "7"}
    assert record["command"] == sim_command("3", "7")
    record = json.loads(fjd_in_process(root, "show", "%s#1" % table, "--json").out)
    assert record["params"] == {"name": "wide", "size": "4"}


def test_show_array_stdout_prints_each_task_in_order(sweep):
    root, _, array, table = sweep
    shown = fjd_cli(root, "show", array, "--stdout")
    assert shown.returncode == 0
    expected = []
    for index, (alpha, seed) in enumerate([(a, s) for a in "123" for s in "78"], 1):
        state = "failed, exit 3" if alpha == "2" else "done, exit 0"
        expected += ["== %s#%d (%s) ==" % (array, index, state),
                     "alpha=%s seed=%s" % (alpha, seed)]
    assert shown.out.splitlines() == expected
    errors = fjd_in_process(root, "show", table, "--stderr").out
    assert errors == ("== %s#1 (done, exit 0) ==\nbad wide\n"
                      "== %s#2 (failed, exit 1) ==\nbad a b\n" % (table, table))
    # without --stdout, an array's name still gives its summary
    assert "done: 4" in fjd_in_process(root, "show", array).out


def test_show_array_says_where_in_words_and_refuses_a_task_past_its_end(sweep):
    root, _, array, _ = sweep
    text = fjd_in_process(root, "show", array).out
    assert "\nwhere: failed/%s\ntasks: 6\n" % array in text
    past = fjd_cli(root, "show", "%s#7" % array)
    assert past.returncode == 1 and past.out == ""
    assert "array %s has 6 tasks (#1 to #6): there is no task #7" % array in past.err
