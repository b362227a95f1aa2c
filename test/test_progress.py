"""fjd.progress: the recent rate of finished jobs."""
from fjd.progress import RecentRate


def test_recent_rate_over_the_window():
    """RecentRate: jobs per second over the last WINDOW seconds, not since the start."""
    rate = RecentRate()
    assert rate.rate() == 0.0
    rate.add(0.0, 0)
    assert rate.rate() == 0.0
    for second in range(1, 101):  # 10 jobs a second for 100 s
        rate.add(float(second), 10 * second)
    assert rate.rate() == 10.0
    for second in range(101, 121):  # then 1 a second
        rate.add(float(second), 1000 + (second - 100))
    assert rate.rate() == 1.0
    assert len(rate.samples) <= RecentRate.WINDOW + 2


def test_recent_rate_falls_to_zero_when_work_stops():
    """No job finishing for WINDOW seconds: the rate is 0 (halfway, it has halved)."""
    rate = RecentRate()
    for second in range(0, 11):
        rate.add(float(second), second)
    assert rate.rate() == 1.0
    for second in range(11, 16):
        rate.add(float(second), 10)
    assert rate.rate() == 0.5
    for second in range(16, 21):
        rate.add(float(second), 10)
    assert rate.rate() == 0.0
    rate.add(21.0, 8)  # jobs handed back: never a negative rate
    assert rate.rate() == 0.0


def test_recent_rate_keeps_two_samples_across_a_long_gap():
    """Two samples far apart still give a rate (the window never empties)."""
    rate = RecentRate()
    rate.add(0.0, 0)
    rate.add(100.0, 50)
    assert rate.rate() == 0.5
    rate.add(100.0, 60)  # same time as the last: kept, rate over the whole span
    assert rate.rate() == 0.6
