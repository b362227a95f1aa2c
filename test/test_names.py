"""fjd.names: the grammar of queue names (fields after a checksummed suffix), final names
in done/ and failed/, names that fit 255 bytes, and task names."""
import os

import pytest

from fjd import names


@pytest.mark.parametrize("fields", [
    dict(attempts=1),
    dict(attempts=12, tag="d5f3e2c-3"),
    dict(tag="w1a2b"),
    dict(tag="r7"),
    dict(first=101, last=200, uid="3f9c2a71"),
    dict(first=5, last=5, uid="00ff", attempts=2, offset=0),
    dict(first=1, last=10 ** 12 - 1, uid="ab", offset=123456),
    dict(first=1, last=3, uid="ab", flags=""),
    dict(first=1, last=3, uid="ab", flags="F"),
    dict(first=1, last=3, uid="ab", flags="CF", tag="d1"),
])
@pytest.mark.parametrize("original", ["job0.conf", "sample@a7", "a@b@c", "x~y.conf",
                                      "sweep.conf@t1-2.uab~000000", "noext", "t1-2"])
def test_compose_parse_round_trip(original, fields):
    """parse(compose(original, **fields)) gives every field back, whatever the original."""
    name = names.compose(original, **fields)
    expected = names.QueueName(original, fields.get("attempts", 0), fields.get("first"),
                               fields.get("last"), fields.get("uid"), fields.get("offset"),
                               fields.get("flags"), fields.get("tag"))
    assert names.parse(name) == expected
    assert names.with_fields(names.parse(name)) == name


def test_compose_without_fields_is_the_original():
    """A job with no history keeps its own name."""
    assert names.compose("job0.conf") == "job0.conf"
    assert names.compose("job0.conf", attempts=0, tag="") == "job0.conf"
    assert names.parse("job0.conf") == names.QueueName("job0.conf", 0, None, None, None,
                                                       None, None, None)


def test_queue_name_properties():
    """is_tasks needs a range and an id; size counts tasks; finished means flags are set."""
    single = names.parse(names.compose("j", attempts=1))
    assert not single.is_tasks and single.size == 1 and not single.finished
    tasks = names.parse(names.compose("j", first=11, last=20, uid="ab"))
    assert tasks.is_tasks and tasks.size == 10 and not tasks.finished
    done = names.parse(names.compose("j", first=1, last=2, uid="ab", flags=""))
    assert done.finished  # empty flags: finished, nothing failed
    no_uid = names.parse(names.compose("j", first=1, last=2))
    assert not no_uid.is_tasks and no_uid.size == 1


@pytest.mark.parametrize("name", [
    "sample@a7",  # a user's own name: no checksum
    "x@a1.d3~000000",  # wrong checksum
    "x@a1~" + names.checksum("x@a2"),  # checksum of something else
    "a@b@c",
    "a@b@a1",
    "@a1~" + names.checksum("@a1"),  # nothing before the @
    "x@A1~" + names.checksum("x@A1"),  # fields start with a lower-case letter
    "x@a1~" + names.checksum("x@a1").upper(),
    "x@a1~" + names.checksum("x@a1") + ".conf",
])
def test_checksum_rule_user_names_are_originals(name):
    """Only a suffix with a matching checksum is fjd's: anything else is an original name
    with attempts 0."""
    assert names.parse(name) == names.QueueName(name, 0, None, None, None, None, None, None)


def test_checksum_rule_finds_fjd_suffix_after_user_at_signs():
    """The last valid suffix counts, whatever @ the original holds."""
    name = names.compose("x@a1.d3~000000", attempts=4)
    assert names.parse(name).original == "x@a1.d3~000000"
    assert names.parse(name).attempts == 4
    assert names.parse("x@a1~" + names.checksum("x@a1")).attempts == 1


def test_parse_ignores_bad_ranges_and_unknown_fields():
    """A backward range is no range; unknown field letters are ignored."""
    head = "j@t5-2.uab"
    assert names.parse(head + "~" + names.checksum(head)).first is None
    head = "j@a2.zq.t1-3.uab"
    parsed = names.parse(head + "~" + names.checksum(head))
    assert (parsed.attempts, parsed.first, parsed.last, parsed.uid) == (2, 1, 3, "ab")


def test_requeue_name():
    """requeue_name carries the attempt count and tag; attempt 0 without tag is the
    original."""
    name = names.requeue_name("job0.conf", 2, "d5f3e2c-3")
    assert names.parse(name) == names.QueueName("job0.conf", 2, None, None, None, None, None,
                                                "d5f3e2c-3")
    assert names.parse(names.requeue_name("job0.conf", 1)).attempts == 1
    assert names.requeue_name("job0.conf", 0) == "job0.conf"
    again = names.requeue_name(names.parse(name).original, 3, "w9")
    assert names.parse(again).attempts == 3 and names.parse(again).original == "job0.conf"


def test_final_names_original_first_then_numbered():
    """done/ and failed/ take the original name, then NAME~2.ext, NAME~3.ext, ..."""
    candidates = list(names.final_names("job0.conf"))
    assert candidates[:4] == ["job0.conf", "job0~2.conf", "job0~3.conf", "job0~4.conf"]
    assert candidates[98] == "job0~99.conf"
    assert len(candidates) == 100 and candidates[-1].startswith("job0~")
    assert candidates[-1].endswith(".conf") and len(set(candidates)) == 100
    assert list(names.final_names("noext"))[:2] == ["noext", "noext~2"]
    assert list(names.final_names(".bashrc"))[:2] == [".bashrc", ".bashrc~2"]
    assert list(names.final_names("a.tar.gz"))[:2] == ["a.tar.gz", "a.tar~2.gz"]


@pytest.mark.parametrize("original", ["x" * 300 + ".conf", "\u00e9" * 200 + ".conf",
                                      "y" * 251 + ".c", "z" * 400])
def test_final_names_fit_251_bytes(original):
    """Every candidate leaves room for .out (251 bytes), keeps the extension, and differs."""
    candidates = list(names.final_names(original))
    assert all(len(os.fsencode(c)) <= names.MAX_NAME_BYTES - len(".out") for c in candidates)
    ext = os.path.splitext(original)[1]
    assert all(c.endswith(ext) for c in candidates)
    assert len(set(candidates)) == len(candidates)


def test_fit_shortens_long_names_only():
    """fit: 255 bytes at most, the extension kept, a hash keeping different names apart."""
    assert names.fit("short.conf") == "short.conf"
    exact = "e" * 250 + ".conf"
    assert names.fit(exact) == exact
    long_a, long_b = "x" * 295 + "a.conf", "x" * 295 + "b.conf"
    fitted_a, fitted_b = names.fit(long_a), names.fit(long_b)
    assert len(os.fsencode(fitted_a)) == 255 and fitted_a.endswith(".conf")
    assert fitted_a.startswith("x" * 200) and fitted_a != fitted_b
    assert names.fit(long_a) == fitted_a  # the same name fits the same way
    wide = names.fit("\u00e9" * 300)  # two bytes a character: never cut in the middle
    assert len(os.fsencode(wide)) <= 255 and wide.startswith("\u00e9" * 100)


def test_compose_shortens_long_originals_to_leave_room():
    """A long original is fitted before a suffix is added: the name stays under 255 bytes."""
    original = "y" * 300 + ".conf"
    name = names.compose(original, attempts=99, first=1, last=10 ** 12 - 1, uid="a" * 8,
                         offset=10 ** 12, flags="CF", tag="d" + "f" * 20)
    assert len(os.fsencode(name)) <= names.MAX_NAME_BYTES
    assert names.parse(name).original == names.fit(original,
                                                   names.MAX_NAME_BYTES - names.SUFFIX_ROOM)
    assert names.parse(name).attempts == 99


def test_task_name_round_trip():
    """NAME#17 names task 17 of NAME; parse_task_name gives it back."""
    assert names.task_name("sweep.conf", 17) == "sweep.conf#17"
    assert names.parse_task_name("sweep.conf#17") == ("sweep.conf", 17)
    assert names.parse_task_name("a#b#3") == ("a#b", 3)
    for plain in ["sweep.conf", "sweep.conf#0", "#3", "a#", "a#-1", "a#1.5", "a#x"]:
        assert names.parse_task_name(plain) is None, plain


def test_parse_task_name_superscript_digit_is_a_plain_name():
    """A job named run#² is a plain job name, not a crash."""
    assert names.parse_task_name("run#\u00b2") is None


def test_plain_names_say_what_people_call_it():
    assert names.plain_name("job0.conf") == "job0.conf"
    assert names.plain_name(names.compose("job0.conf", attempts=2, tag="d1")) == "job0.conf"
    assert names.plain_name(names.compose("s.conf", first=5, last=6, uid="ab12cd34",
                                          tag="r3a5")) == "s.conf#5-6"
    assert names.plain_name(names.compose("s.conf", first=7, last=7, uid="ab12cd34",
                                          flags="C")) == "s.conf#7"
