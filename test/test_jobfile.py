"""fjd.jobfile: typos in [control] fail the job with a reason, never run it without what it
asked for (issue: `timout: 5` ran with no timeout)."""
import os

import pytest

from conftest import fjd_cli, py
from fjd import arrays
from fjd.jobfile import CONTROL_KEYS, JobError, parse_job, unknown_control_key


def test_every_key_fjd_reads_is_known():
    assert unknown_control_key(CONTROL_KEYS) is None
    assert unknown_control_key(["timout"]) == \
        "[control] timout is not a key fjd knows (did you mean timeout?)"
    assert "the keys are executable, logfile" in unknown_control_key(["zzz"])


@pytest.mark.parametrize("text, reason", [
    ("[control]\nexecutable: true\ntimout: 5\n", "timout is not a key fjd knows (did you mean "
                                                 "timeout?)"),
    ("[control]\nexecutable: true\nRetires: 2\n", "retires is not a key fjd knows (did you "
                                                  "mean retries?)"),
])
def test_a_typo_in_control_is_a_job_error(text, reason):
    with pytest.raises(JobError, match=reason.replace("?", "\\?").replace("(", "\\(")
                       .replace(")", "\\)")):
        parse_job(text.encode())


def test_a_typo_in_an_arrays_control_is_a_job_error(tmp_path):
    path = tmp_path / "sweep.conf"
    path.write_text("[control]\nexecutable: true\ntasks: product\nworkdri: /tmp\n\n"
                    "[params]\ni: 1..3\n")
    with open(str(path), "rb") as handle, pytest.raises(JobError, match="did you mean workdir"):
        arrays.read_spec(handle.fileno(), 1 << 20)


def test_a_hand_written_job_with_a_typo_fails_with_the_reason(queue):
    queue.dispatcher()
    queue.worker()
    queue.job("typo.conf", py("print('ran')"), timout=5)
    queue.wait_finished(1)
    assert queue.failed() == ["typo.conf"]
    assert queue.reason("typo.conf") == \
        "[control] timout is not a key fjd knows (did you mean timeout?)"
    assert queue.output("typo.conf") == ""  # it never ran


def test_fjd_submit_refuses_a_typo(tmp_path):
    result = fjd_cli(tmp_path, "submit", "--exe", "true", "--control", "timout=5")
    assert result.returncode == 2
    assert "timout is not a key fjd knows (did you mean timeout?)" in result.err
    assert not (tmp_path / "jobqueue").exists() or not list((tmp_path / "jobqueue").iterdir())


def test_a_program_next_to_the_job_but_not_on_path_gets_a_hint(queue):
    """`executable: exec.sh` with exec.sh in the job's working directory: not found on PATH,
    and the reason says to write ./exec.sh."""
    script = queue.path("exec.sh")
    with open(script, "w") as handle:
        handle.write("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o755)
    queue.dispatcher()
    queue.worker()
    queue.job("bare.conf", "exec.sh")
    queue.job("elsewhere.conf", "no-such-program-fjd")
    queue.wait_finished(2)
    assert queue.reason("bare.conf") == \
        "program not found: exec.sh (not on PATH; did you mean ./exec.sh?)"
    assert queue.reason("elsewhere.conf") == \
        "program not found: no-such-program-fjd (no such file, and not on PATH)"
