"""dispatcher/each.py on its own: which tasks of the array followed count as ended badly."""
from fjd.dispatcher.each import not_retried, note_bad


def test_a_failure_retried_later_no_longer_counts_unless_it_failed_again():
    found = {}
    note_bad(found, {"k": "task", "i": 2, "state": "failed", "end": 10.0})
    note_bad(found, {"k": "tasks", "first": 3, "last": 4, "state": "cancelled", "end": 11.0})
    note_bad(found, {"k": "task", "i": 5, "state": "failed", "end": 12.0})
    note_bad(found, {"k": "task", "i": 5, "state": "failed", "end": 30.0})  # failed again
    note_bad(found, {"k": "task", "i": 6, "state": "done", "end": 12.0})
    retries = [
        {"k": "retried", "tasks": [["u1", 2, 2], ["u1", 5, 5]], "at": 20.0, "u": "u1"},
        {"k": "retried", "tasks": [["u1", 3, 3]], "at": 21.0, "u": "u1"},
        {"k": "retry-undone", "tasks": [["u1", 3, 3]], "at": 21.0, "u": "u1"},
    ]
    assert not_retried(found, retries) == {3: "cancelled", 4: "cancelled", 5: "failed"}
