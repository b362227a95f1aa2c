"""What the queue asks of `fjd workers auto` (fjd/recruit/demand.py): jobs and tasks an
allocation could run, and why the others start none."""
from conftest import fjd_cli
from fjd.layout import Layout
from fjd.recruit.demand import DemandCounter
from fjd.resources import Shape


def test_demand_counts_tasks_requests_and_time(queue):
    def submit(*args):
        result = fjd_cli(queue.root, "submit", "--exe", "true", *args)
        assert result.returncode == 0, result.err
    submit("--repeat", "5")  # an array of 5 tasks
    submit("--time-request", "30m")
    submit("--time-request", "2h", "--repeat", "2", "--split")
    submit("--cpus", "4")
    submit("--after", queue.queued()[0])  # waits in waiting/: not counted
    queue.job("hand.conf", "true", cpus="2", time_request="10m")
    counter = DemandCounter(Layout(queue.root), Shape(2, 0, None), 3600, 300)
    demand = counter.count()
    assert demand.queued == 5 + 1 + 2 + 1 + 1
    assert demand.runnable == 5 + 1 + 1  # not the 2 h ones, not the one asking 4 cores
    texts = [text for _, text in demand.reasons]
    assert any(t.startswith("1 job asks for 4 cores; an allocation's workers have 2 cores")
               for t in texts), texts
    assert any(t.startswith("2 jobs ask for 2h each; an allocation's workers have 55m "
                            "(--time 1h less a 5m margin)") for t in texts), texts
    assert counter.count() == demand  # (heads were read once, and remembered)
