"""A dirty rate from QEMU's page-sampling readings, and the interval its sample allows."""

import pytest

from migrator.common import dirty_rate_estimate as estimate

MIB = 2 ** 20


def test_qemu_samples_512_pages_per_gib():
    assert estimate.sampled_pages(128 * MIB) == 64
    assert estimate.sampled_pages(4 * 2 ** 30) == 2048
    assert estimate.sampled_pages(1 * MIB) == 1


def test_more_periods_narrow_the_interval_by_the_root_of_the_pages_sampled():
    # A 128 MiB guest dirtying 8 MiB/s: 4 of 64 sampled pages change in a 1 s period.
    one = estimate.combine([8 * MIB], 1, 128 * MIB)
    ten = estimate.combine([8 * MIB] * 10, 1, 128 * MIB)
    assert one.rate == ten.rate == 8 * MIB
    assert (one.periods, one.sampled_pages, ten.sampled_pages) == (1, 64, 640)
    assert one.low < ten.low < 8 * MIB < ten.high < one.high
    assert ten.resolution == pytest.approx(one.resolution / 10 ** 0.5, rel=0.25)
    # Ten periods: about +-2.6 MiB/s (z = 2); one: about +-7.
    assert 2.0 * MIB < ten.resolution < 3.0 * MIB
    assert 'MiB/s +- 2.' in estimate.describe(ten)
    assert '10 period(s) of 64 sampled pages' in estimate.describe(ten)


def test_an_idle_guest_reads_zero_with_an_interval_above_it():
    idle = estimate.combine([0] * 10, 1, 128 * MIB)
    assert idle.rate == 0 and idle.low == 0
    # Wilson's interval does not collapse at 0 changed pages: under 1 MiB/s here.
    assert 0.5 * MIB < idle.high < 1.0 * MIB


def test_readings_that_scatter_more_than_sampling_explains_widen_it():
    steady = estimate.combine([8 * MIB] * 10, 1, 128 * MIB)
    bursty = estimate.combine([0, 16 * MIB] * 5, 1, 128 * MIB)
    assert bursty.rate == steady.rate
    assert bursty.resolution > 1.5 * steady.resolution


def test_an_older_agents_single_reading_over_its_period():
    # One 2 s period: each of 64 pages stands for 1 MiB/s.
    old = estimate.combine([4 * MIB], 2, 128 * MIB)
    assert old.rate == 4 * MIB and old.periods == 1
    assert old.low < 2 * MIB and old.high > 8 * MIB
    # A reading cannot stand for more than all of memory in the period.
    assert estimate.combine([100 * MIB], 2, 128 * MIB).rate == 64 * MIB


def test_nothing_to_combine():
    assert estimate.combine([], 1, 128 * MIB) is None
    assert estimate.combine([None], 1, 128 * MIB) is None
    assert estimate.combine([MIB], 1, 0) is None


def test_a_long_periods_truncated_reading_is_taken_at_the_middle_of_what_it_allows():
    # 128 MiB, 64 sampled pages of 2 MiB each, over 6 s: a third of a MiB/s per page, and
    # QEMU drops what is below a whole MiB/s.
    memory = 128 * MIB
    assert estimate.long_dirtied(0, 6, memory) == pytest.approx(2 * MIB)
    assert estimate.long_dirtied(1 * MIB, 6, memory) == pytest.approx(8 * MIB)
    assert estimate.long_dirtied(5 * MIB, 6, memory) == pytest.approx(32 * MIB)
    # Over 1 and 2 s a page is a whole MiB/s or more: exact.
    assert estimate.long_dirtied(6 * MIB, 1, memory) == 6 * MIB
    assert estimate.long_dirtied(5 * MIB, 2, memory) == 10 * MIB
    assert estimate.long_dirtied(None, 6, memory) is None


def test_a_long_period_that_dirtied_clearly_less_shows_the_working_set():
    measured = estimate.combine([32 * MIB] * 8, 1, 128 * MIB)
    assert estimate.working_set(measured, 32 * MIB, 6) == pytest.approx(32 * MIB)
    # As much as the rate makes of 6 s: no working set shows.
    slow = estimate.combine([8 * MIB] * 8, 1, 128 * MIB)
    assert estimate.working_set(slow, 48 * MIB, 6) is None
    assert estimate.working_set(slow, 40 * MIB, 6) is None      # 83 % of 48: not clearly less
    assert estimate.working_set(slow, 36 * MIB, 6) == pytest.approx(36 * MIB)   # 75 %
    # Nothing at all over 6 s is a reading too: at least what one second dirties.
    assert estimate.working_set(measured, 0, 6) == pytest.approx(32 * MIB)
    assert estimate.working_set(measured, None, 6) is None
