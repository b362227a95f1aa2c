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


def test_the_keys_are_control_keys_fjd_knows():
    from fjd.jobfile import CONTROL_KEYS
    assert set(deps.KEYS) <= set(CONTROL_KEYS)


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


# -- dependency_state.py and dispatcher/holders.py: real folders, no daemons ------------------

def make_root(tmp_path):
    from fjd.layout import Layout
    layout = Layout(str(tmp_path))
    layout.ensure()
    return layout


def put(folder, name, text="[control]\nexecutable: true\n"):
    import os
    with open(os.path.join(folder, name), "w") as handle:
        handle.write(text)


def test_where_a_dependency_stands(tmp_path):
    from fjd import dependency_state, names
    layout = make_root(tmp_path)
    put(layout.done, "ok.conf")
    put(layout.failed, "bad.conf")
    put(layout.jobqueue, "queued.conf")
    put(layout.arrays, names.compose("sweep.conf", first=1, last=2, uid="abc", flags=""))
    assert dependency_state.state_of(layout, "ok.conf") == DONE
    assert dependency_state.state_of(layout, "bad.conf") == FAILED
    assert dependency_state.state_of(layout, "queued.conf") is None
    assert dependency_state.state_of(layout, "sweep.conf#2") == DONE
    assert dependency_state.state_of(layout, "sweep.conf#3") is None
    assert dependency_state.missing(layout, ["ok.conf", "queued.conf", "sweep.conf#9",
                                             "gone.conf"]) == ["gone.conf"]


def test_waiting_summary_counts_tasks_and_says_what_they_wait_for(tmp_path):
    from fjd import dependency_state
    layout = make_root(tmp_path)
    put(layout.done, "ok.conf")
    put(layout.waiting, "a.conf", "[control]\nexecutable: true\nafter: ok.conf, b.conf\n")
    put(layout.waiting, "b.conf", "[control]\nexecutable: true\ntasks: product\n"
                                  "after_finished: ok.conf\n[params]\ni: 1..5\n")
    summary = dependency_state.waiting_summary(layout)
    assert summary["jobs"] == 2 and summary["tasks"] == 6
    assert summary["first"][0]["waits_for"] == [
        {"name": "ok.conf", "key": "after", "state": DONE},
        {"name": "b.conf", "key": "after", "state": None}]
    assert dependency_state.array_size(layout, "b.conf") == 5


def test_holders_look_again_when_the_worker_announces(tmp_path):
    import os
    from fjd import names
    from fjd.dispatcher.holders import Holders
    layout = make_root(tmp_path)
    holders = Holders(layout)
    waited = {"x.conf", "sweep.conf"}.__contains__
    range_name = names.compose("sweep.conf", first=1, last=5, uid="abc")
    assert holders.handed("w1", ["x.conf", "y.conf", range_name], waited) == set()
    assert holders.announced() == set()  # still busy
    put(layout.workerqueue, "w1", "host 1\n")
    assert holders.announced() == {"x.conf", "sweep.conf"} and holders.array_due
    assert holders.handed("w2", ["x.conf"], waited) == set()
    assert holders.handed("w2", ["y.conf"], waited) == {"x.conf"}  # it asked for more
    os.makedirs(layout.inbox("w3"))
    put(layout.inbox("w3"), "x.conf")
    holders.in_inboxes(waited)
    assert holders.given == {"w3": {"x.conf"}}
