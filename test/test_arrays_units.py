"""fjd.arrays on its own: parameter values and ranges, command templates, and the specs of
product and table arrays (test_arrays.py runs sweeps end to end)."""
import os

import pytest

from fjd.arrays import declared_kind, read_spec
from fjd.placeholders import CommandTemplate, fill_text, unknown_placeholders
from fjd.values import ValueList, escape_value, parse_values, values_text
from fjd.jobfile import JobError, parse_config

from unit_helpers import put


@pytest.mark.parametrize("text,expected", [
    ("a,b,c", ["a", "b", "c"]),
    ("a\\,b,c", ["a,b", "c"]),
    ("single", ["single"]),
    ("", [""]),
    ("1..5", ["1", "2", "3", "4", "5"]),
    ("5..1", ["5", "4", "3", "2", "1"]),
    ("-1..-3", ["-1", "-2", "-3"]),
    ("3..3", ["3"]),
    (" 1..3 ", ["1", "2", "3"]),
    ("1..10:4", ["1", "5", "9"]),
    ("10..1:-3", ["10", "7", "4", "1"]),
    ("0.1..0.5:0.1", ["0.1", "0.2", "0.3", "0.4", "0.5"]),
    ("0..1:0.3", ["0.0", "0.3", "0.6", "0.9"]),
    ("1..2:0.5", ["1.0", "1.5", "2.0"]),
    ("a,1..3,b", ["a", "1", "2", "3", "b"]),
    ("1\\..3", ["1..3"]),
    ("\\1..3", ["1..3"]),
    ("v1..v3", ["v1..v3"]),
    ("a\\\\b", ["a\\b"]),
    ("end\\", ["end\\"]),
])
def test_parse_values(text, expected):
    """Lists, escapes, integer ranges both ways, decimal ranges with a step."""
    values = parse_values(text)
    assert list(values) == expected
    assert len(values) == len(expected)


@pytest.mark.parametrize("text", ["1..", "..3", "1..3..2", "0.1..0.5", "1..5:0", "1..5:-1",
                                  "5..1:1", "a..1", "x,1..,y"])
def test_parse_values_errors(text):
    """Things that look like ranges but are not: ValueError with a message for people."""
    with pytest.raises(ValueError):
        parse_values(text)


def test_an_escaped_value_is_never_a_range():
    """A value with a backslash anywhere is literal, even when it reads as a range."""
    assert list(parse_values("1..\\3")) == ["1..3"]
    assert list(parse_values("0.1..0.5\\:0.1")) == ["0.1..0.5:0.1"]


ROUND_TRIP_VALUES = ["plain", "", "a,b", ",", ",,", "..", "...", "1..3", "0.1..0.5:0.1",
                     "1..", "back\\slash", "\\", "\\\\", "trail\\", " lead", "trail ",
                     "  both  ", " x ", "a, b", "\\,", "\\..", "tab\there", "\u00e9t\u00e9",
                     "$a {b}", "  \\  "]


@pytest.mark.parametrize("value", ROUND_TRIP_VALUES)
def test_escape_value_round_trips(value):
    """escape_value(v) reads back as v, alone and in a list with others."""
    assert list(parse_values(escape_value(value))) == [value]
    text = ",".join(escape_value(v) for v in ["first", value, "last"])
    assert list(parse_values(text)) == ["first", value, "last"]


@pytest.mark.parametrize("value", [" ", "\t"])
def test_escape_value_single_blank_round_trips(value):
    """A value that is one blank reads back as itself."""
    assert list(parse_values(escape_value(value))) == [value]


def test_escaped_values_survive_a_params_line():
    """Values written the way fjd submit writes an array's [params] read back as themselves,
    whichever comes last."""
    for values in (["a", "x "], [" ", "b"], ["a,b", "1..3", "\\", "[x]"]):
        text = values_text(values)
        parser = parse_config(("[control]\nexecutable: e\n\n[params]\nx: %s\n"
                               % text).encode())
        assert list(parse_values(parser["params"]["x"])) == values


def test_value_list_indexes_without_expanding():
    """A range of 10**9 values has its length and any value at once."""
    values = parse_values("1..1000000000")
    assert len(values) == 10 ** 9
    assert values[0] == "1" and values[-1] == "1000000000"
    assert values[123456788] == "123456789"
    mixed = parse_values("a,b,10..1000000000:10,z")
    assert len(mixed) == 2 + 10 ** 8 + 1
    assert mixed[1] == "b" and mixed[2] == "10" and mixed[3] == "20"
    assert mixed[len(mixed) - 2] == "1000000000" and mixed[-1] == "z"
    with pytest.raises(IndexError):
        mixed[len(mixed)]
    with pytest.raises(IndexError):
        ValueList([["only"]])[1]


def test_command_template_placeholders():
    """$a ${a} {a} and $1 are parameters; each value is (part of) exactly one argument."""
    template = CommandTemplate("sim $a ${b} {a} $2 --x=$a/{B} '$a and ${b}'", ["a", "b"])
    assert template.unknown == [] and not template.uses_jobfile
    assert template.argv(["1", "two words"]) == [
        "sim", "1", "two words", "1", "two words", "--x=1/two words", "1 and two words"]
    assert template.argv(["it's", "$x; rm -rf *"]) == [
        "sim", "it's", "$x; rm -rf *", "it's", "$x; rm -rf *", "--x=it's/$x; rm -rf *",
        "it's and $x; rm -rf *"]


def test_command_template_literals():
    """$$, {{ and }} are a literal $, { and }; they never start a placeholder."""
    template = CommandTemplate("echo $$ $$a {{a}} {{{a}}} cost$$5", ["a"])
    assert template.argv(["V"]) == ["echo", "$", "$a", "{a}", "{V}", "cost$5"]


def test_command_template_jobfile():
    """{jobfile} is where the job file's path goes (empty when there is none)."""
    template = CommandTemplate("prog --conf={jobfile} $a", ["a"])
    assert template.uses_jobfile and template.unknown == []
    assert template.argv(["1"], "/q/job 1.conf") == ["prog", "--conf=/q/job 1.conf", "1"]
    assert template.argv(["1"]) == ["prog", "--conf=", "1"]


def test_command_template_unknown_placeholders_left_and_reported():
    """Placeholders that name no parameter are reported in .unknown and left as written."""
    template = CommandTemplate("prog $zz {yy} ${xx} $3 $0 $a", ["a", "b"])
    assert template.unknown == ["$zz", "{yy}", "${xx}", "$3", "$0"]
    assert template.argv(["1", "2"]) == ["prog", "$zz", "{yy}", "${xx}", "$3", "$0", "1"]


def test_command_template_names_ignore_case_and_bad_quotes():
    """Parameter names are not case-sensitive; unbalanced quotes are a ValueError."""
    assert CommandTemplate("p $ALPHA {alpha}", ["Alpha"]).argv(["x"]) == ["p", "x", "x"]
    with pytest.raises(ValueError):
        CommandTemplate("prog 'open $a", ["a"])


def test_unknown_placeholders():
    """unknown_placeholders lists what names no parameter in a logfile or workdir, where
    {jobfile} means nothing; $N of a parameter is known."""
    assert unknown_placeholders("$a ${A} {a} $1 $2 $$ {{ }}", ["a", "b"]) == []
    assert unknown_placeholders("{jobfile}.log", ["a"]) == ["{jobfile}"]
    assert unknown_placeholders("$zz out-{seed}.log $3", ["a", "b"]) == ["$zz", "{seed}", "$3"]
    assert unknown_placeholders("plain", []) == []


def test_fill_text():
    """fill_text puts values in unquoted, for logfile and workdir."""
    assert fill_text("out/$a-{b}_$2.log $$ {{x}}", ["a", "b"], ["1", "two words"]) == \
        "out/1-two words_two words.log $ {x}"
    assert fill_text("$zz", ["a"], ["1"]) == "$zz"


@pytest.mark.parametrize("text", ["{jobfile}.log", "$jobfile.log", "${jobfile}.log",
                                  "{JOBFILE}.log"])
def test_accepted_logfile_placeholders_are_filled(text):
    """A placeholder that passes the check for --logfile is one that gets filled."""
    assert unknown_placeholders(text, ["a"]) or "jobfile" not in \
        fill_text(text, ["a"], ["1"]).lower()


@pytest.mark.parametrize("head,expected", [
    (b"[control]\nexecutable: x\ntasks: product\n", "product"),
    (b"[control]\nTasks = TABLE\n", "table"),
    (b"[control]\r\ntasks: table\r\n", "table"),
    (b"[control]\n  tasks :  product  \n", "product"),
    (b"[control]\nexecutable: prog $a\n  tasks: product\n", None),  # a continuation line
    (b"[control]\ntasks: table\ntasks: product\n", "product"),
    (b"[control]\ntasks: table\n[other]\ntasks: x\n[control]\ntasks: product\n", "product"),
    (b"[control]\nexecutable: x\n[params]\ntasks: product\n", None),
    (b"tasks: product\n[control]\nexecutable: x\n", None),
    (b"[control]\nexecutable: x\n", None),
    (b"[control]\nexecutable: tasks\n", None),
    (b"[control]\ntasks: bogus\n", "bogus"),
    (b"", None),
])
def test_declared_kind(head, expected):
    """Only [control] declares an array, and a later tasks: wins."""
    assert declared_kind(head) == expected


def spec_of(path, limit=1 << 20):
    fd = os.open(str(path), os.O_RDONLY)
    try:
        return read_spec(fd, limit)
    finally:
        os.close(fd)


def test_read_spec_product_count_and_order(tmp_path):
    """A product: count = repeat x values of each; the first parameter varies slowest, the
    repeat innermost."""
    path = put(tmp_path / "sweep.conf", "[control]\nexecutable: sim $a $b\ntasks: product\n"
                                        "repeat: 2\n\n[params]\na: x,y\nb: 1..3\n")
    spec = spec_of(path)
    assert (spec.kind, spec.names, spec.repeat, spec.count) == ("product", ["a", "b"], 2, 12)
    order = [spec.values_at(i) for i in range(1, 13)]
    assert order == [[a, b] for a in "xy" for b in "123" for _ in range(2)]
    fd = os.open(path, os.O_RDONLY)
    try:
        assert list(spec.iter_tasks(fd, 3, 4)) == [(3, ["x", "2"], None, None),
                                                    (4, ["x", "2"], None, None)]
    finally:
        os.close(fd)
    assert spec.command.argv(spec.values_at(12)) == ["sim", "y", "3"]


def test_read_spec_product_huge_is_counted_not_expanded(tmp_path):
    """A product of 10**6 x 10**6 x 3 tasks is counted and indexed at once."""
    path = put(tmp_path / "big.conf", "[control]\nexecutable: p $a $b $c\ntasks: product\n"
                                      "[params]\na: 1..1000000\nb: 1..1000000\nc: u,v,w\n")
    spec = spec_of(path)
    assert spec.count == 3 * 10 ** 12
    assert spec.values_at(1) == ["1", "1", "u"]
    assert spec.values_at(spec.count) == ["1000000", "1000000", "w"]
    assert spec.values_at(4) == ["1", "2", "u"]


@pytest.mark.parametrize("text,message", [
    ("[control]\nexecutable: p $a\ntasks: product\n[params]\na: 1..\n", "[params] a"),
    ("[control]\nexecutable: p\ntasks: product\nrepeat: 0\n", "repeat"),
    ("[control]\nexecutable: p\ntasks: product\nrepeat: two\n", "repeat"),
    ("[control]\ntasks: product\n", "executable"),
    ("[control]\nexecutable: p\ntasks: bogus\n", "product' or 'table"),
    ("[control]\nexecutable: p\n", "not an array"),
    ("[control]\nexecutable: p\ntasks: table\n", "[params]"),
    ("[control]\nexecutable: p\ntasks: table\n[params]\n\n# only comments\n", "empty"),
    ("[control]\nexecutable: p\ntasks: table\n[params]\na b\n", "no rows"),
    ("tasks: product\n", "not an array"),
])
def test_read_spec_errors(tmp_path, text, message):
    """Anything that is not a valid array is a JobError in one line."""
    path = put(tmp_path / "bad.conf", text)
    with pytest.raises(JobError) as caught:
        spec_of(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_read_spec_product_too_large(tmp_path):
    """A product file over the size limit is refused."""
    path = put(tmp_path / "big.conf", "[control]\nexecutable: p $a\ntasks: product\n"
                                      "[params]\na: " + "x," * 100 + "y\n")
    with pytest.raises(JobError) as caught:
        spec_of(path, limit=100)
    assert "too large" in str(caught.value)


TABLE = ("[control]\nexecutable: sim $a $s\ntasks: table\n{extra}\n[params]\n"
         "# a comment before the header\n{header}\n{rows}")


def table_file(tmp_path, header, rows, extra=""):
    return put(tmp_path / "table.conf", TABLE.format(extra=extra, header=header,
                                                     rows="".join(r + "\n" for r in rows)))


def tasks_of(spec, path, first, last, offset=None):
    fd = os.open(path, os.O_RDONLY)
    try:
        return list(spec.iter_tasks(fd, first, last, offset))
    finally:
        os.close(fd)


def test_table_tab_separated(tmp_path):
    """A header with a tab: columns are split at tabs, so values may hold blanks; comment
    and blank lines are no rows."""
    path = table_file(tmp_path, "a\ts", ["0.1\t1", "", "# skipped", "hello world\t7", "x\t"])
    spec = spec_of(path)
    assert (spec.names, spec.delimiter, spec.count) == (["a", "s"], "\t", 3)
    found = tasks_of(spec, path, 1, 3)
    assert [(task, values, error) for task, values, error, _ in found] == [
        (1, ["0.1", "1"], None), (2, ["hello world", "7"], None), (3, ["x", ""], None)]
    assert spec.command.argv(found[1][1]) == ["sim", "hello world", "7"]


def test_table_blank_separated(tmp_path):
    """A header without a tab: columns are split at any run of blanks."""
    path = table_file(tmp_path, "a   s", ["1   2", "  3\t 4  ", "# c", "5 6"])
    spec = spec_of(path)
    assert (spec.names, spec.delimiter, spec.count) == (["a", "s"], None, 3)
    assert [values for _, values, _, _ in tasks_of(spec, path, 1, 3)] == [
        ["1", "2"], ["3", "4"], ["5", "6"]]


def test_table_crlf_lines(tmp_path):
    """Windows line ends are not part of the last value."""
    path = put(tmp_path / "t.conf", b"[control]\r\nexecutable: p $a $b\r\ntasks: table\r\n"
                                    b"[params]\r\na\tb\r\n1\t2\r\n3\t4\r\n")
    spec = spec_of(path)
    assert spec.names == ["a", "b"] and spec.count == 2
    assert [values for _, values, _, _ in tasks_of(spec, path, 1, 2)] == [["1", "2"],
                                                                          ["3", "4"]]


def test_table_bad_row_fails_its_tasks_only(tmp_path):
    """A row with the wrong number of values gives a JobError for its own tasks (all
    repeats of it); the rows around it run."""
    path = table_file(tmp_path, "a b", ["1 2", "3", "5 6"], extra="repeat: 2")
    spec = spec_of(path)
    assert spec.count == 6
    found = tasks_of(spec, path, 1, 6)
    assert [task for task, _, _, _ in found] == [1, 2, 3, 4, 5, 6]
    assert [values for _, values, _, _ in found] == [["1", "2"]] * 2 + [None] * 2 + \
        [["5", "6"]] * 2
    errors = [error for _, _, error, _ in found]
    assert errors[0] is None and errors[4] is None
    assert isinstance(errors[2], JobError) and "row 2" in str(errors[2])
    assert "has 1 value;" in str(errors[2]) and errors[3] is errors[2]
    assert found[2][3] == found[3][3]  # the repeats share their row's offset


def test_table_row_offset_starts_in_the_middle(tmp_path):
    """row_offset finds a task's row; iteration from there gives what a full pass gives."""
    rows = ["%d %d" % (i, i * i) for i in range(1, 11)]
    path = table_file(tmp_path, "a s", rows[:3] + ["# c", ""] + rows[3:], extra="repeat: 3")
    spec = spec_of(path)
    assert spec.count == 30
    everything = tasks_of(spec, path, 1, 30)
    fd = os.open(path, os.O_RDONLY)
    try:
        offset = spec.row_offset(fd, 13)
        assert offset == dict((t, o) for t, _, _, o in everything)[13]
        assert spec.row_offset(fd, 1) == spec.data_offset
        known = spec.row_offset(fd, 4)
        assert spec.row_offset(fd, 13, known_task=4, known_offset=known) == offset
        assert spec.row_offset(fd, 13, known_task=20, known_offset=12345) == offset  # ahead
    finally:
        os.close(fd)
    assert tasks_of(spec, path, 13, 30, offset) == everything[12:]
    assert tasks_of(spec, path, 13, 30) == everything[12:]
    assert everything[12][1] == ["5", "25"]  # task 13 is row 5 (repeat 3)


def test_table_ends_before_a_task(tmp_path):
    """A task past the last row (the file changed after queueing) fails with a reason."""
    path = table_file(tmp_path, "a", ["1", "2"])
    spec = spec_of(path)
    [(task, values, error, _)] = tasks_of(spec, path, 3, 3)
    assert task == 3 and values is None and "ends before row 3" in str(error)
