"""Whether a guest writes in bursts, from its vCPU's share of each slot, and how often a
stretch of time falls between two of them."""

import pytest

from migrator.common.write_bursts import WriteBursts

# The sandbox guest writing 32 MiB/s, as the agent read its vCPU (52 ms slots): one dd
# burst a second (55-94 %), the guest kernel's ticks between (0 or 19 %).
SANDBOX_32 = [int(x) / 100 for x in (
    '0 0 19 0 0 0 19 0 19 0 0 19 0 0 0 19 57 56 0 19 0 0 0 19 0 19 0 19 0 0 0 19 0 0 19 19 94 '
    '0 0 20 0 0 0 19 0 19 0 0 0 19 0 0 0 19 0 77 77 0 0 20 0 18 0 0 19 0 0 0 19 0 19 0 0 0 76 '
    '55 19').split()]


def every_second(busy_slots, seconds=10, slots=20):
    """A trace of `seconds` whose first busy_slots slots of each second ran flat out."""
    return [1.0 if i % slots < busy_slots else 0.0 for i in range(seconds * slots)]


def test_a_burst_each_second_leaves_stretches_shorter_than_its_gap_a_chance():
    bursts = WriteBursts.from_shares(every_second(2))
    # A stretch of k slots is quiet when it starts in the first 18 - k + 1 idle slots.
    assert bursts.quiet_chance(0.5) == pytest.approx(9 / 20, abs=0.03)
    assert bursts.quiet_chance(0.9) == pytest.approx(1 / 20, abs=0.02)
    assert bursts.quiet_chance(0.95) == 0.0       # no 19 idle slots in a row
    assert bursts.quiet_chance(3.0) == 0.0
    assert bursts.quiet_chance(0.0) == 1.0


def test_the_sandbox_guests_trace_is_bursty():
    bursts = WriteBursts.from_shares(SANDBOX_32, slot_seconds=0.052)
    assert bursts is not None
    assert 0.35 <= bursts.quiet_chance(0.5) <= 0.6
    assert bursts.quiet_chance(1.0) == 0.0


@pytest.mark.parametrize('shares', [
    [0.19, 0.0, 0.39, 0.0] * 50,      # ticks only: no slot half busy
    [1.0] + [0.0] * 79,               # one burst in four seconds: its writes do not show
    [0.3] * 100,                      # steady
])
def test_a_guest_whose_bursts_do_not_recur_each_second_counts_as_steady(shares):
    assert WriteBursts.from_shares(shares) is None


def test_a_trace_shorter_than_two_seconds_says_nothing():
    assert WriteBursts.from_shares(every_second(2, seconds=1)) is None
    assert WriteBursts.from_shares([]) is None


def test_a_stretch_longer_than_the_trace_is_never_taken_for_quiet():
    bursts = WriteBursts.from_shares(every_second(1, seconds=2))
    assert bursts.quiet_chance(2.5) == 0.0
