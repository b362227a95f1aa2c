"""dependencies.py: parsing after keys, verdicts, cycles (pure functions, fast)."""
from fjd import dependencies as deps
from fjd.dependencies import CANCEL, CANCELLED, DONE, FAILED, RELEASE, WAIT


def test_split_names_blanks_and_commas():
    assert deps.split_names(" a.conf, b.conf  c#3,,") == ("a.conf", "b.conf", "c#3")
    assert deps.split_names("") == ()


def test_parse_head_reads_control_keys_only():
    head = (b"[control]\nexecutable: true\nAfter: a b\nafter_finished: c\n"
            b"[params]\nafter: not-this\n")
    found = deps.parse_head(head)
    assert found.after == ("a", "b")
    assert found.after_finished == ("c",)
    assert found.after_each == ()
    assert deps.parse_head(b"[control]\nexecutable: true\n") == deps.NONE
    assert not deps.parse_head(b"\0binary after")


def test_add_to_job_puts_keys_in_control():
    data = b"[control]\nexecutable: true\n\n[params]\nx: 1\n"
    made = deps.add_to_job(data, deps.make(after="a b", after_each=["s"]))
    assert deps.parse_head(made) == deps.Dependencies(("a", "b"), (), ("s",))
    assert made.endswith(b"[params]\nx: 1\n")
    assert deps.add_to_job(b"no control", deps.make(after="a")) == b"no control"


def test_verdict():
    wait_for = deps.make(after="a", after_finished="b")
    assert deps.verdict(wait_for, {}) == (WAIT, None, None)
    assert deps.verdict(wait_for, {"a": DONE}) == (WAIT, None, None)
    assert deps.verdict(wait_for, {"a": DONE, "b": FAILED})[0] == RELEASE
    assert deps.verdict(wait_for, {"a": FAILED}) == (CANCEL, "a", FAILED)
    assert deps.verdict(deps.make(after_each="s"), {"s": FAILED})[0] == RELEASE
    assert deps.cancel_reason("a", FAILED) == "dependency a failed"
    assert deps.cancel_reason("a", CANCELLED) == "dependency a was cancelled"


def test_satisfies():
    assert deps.satisfies(deps.AFTER, DONE) and not deps.satisfies(deps.AFTER, FAILED)
    assert deps.satisfies(deps.AFTER_FINISHED, CANCELLED)
    assert not deps.satisfies(deps.AFTER_FINISHED, None)


def test_find_cycle():
    edges = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert deps.find_cycle("a", edges) == ["a", "b", "c", "a"]
    assert deps.find_cycle("d", edges) is None
    assert deps.find_cycle("x", {"x": ["x"]}) == ["x", "x"]
    long_chain = {str(i): [str(i + 1)] for i in range(100000)}
    assert deps.find_cycle("0", long_chain) is None
    assert deps.cycle_reason(["a", "b", "a"]) == "dependency cycle: a -> b -> a"


def test_split_target():
    assert deps.split_target("sweep.conf#17") == ("sweep.conf", 17)
    assert deps.split_target("job.conf") == ("job.conf", None)


def test_released_field_round_trips():
    from fjd import moves, names
    name = names.compose("job.conf", released=True)
    assert names.parse(name).released and names.parse(name).original == "job.conf"
    back = moves.requeued(names.parse(name), 1, "wabc-1")
    assert names.parse(back).released and names.parse(back).attempts == 1
    assert not names.parse("job.conf").released
