"""The agent's dirty-rate measurement: several 1 s page-sampling periods, every reading."""

import libvirt
import pytest

from migrator.common import exceptions
from migrator.compute.virt.libvirt import dirty_rate

MIB = 2 ** 20


class Clock:
    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Guest:
    """A domain whose QEMU reads the next of `readings` (MiB/s) at each period's end."""

    def __init__(self, clock, readings, fail=None):
        self.clock, self.readings, self.fail = clock, list(readings), fail
        self.started = []
        self.ends_at = None

    def startDirtyRateCalc(self, seconds, flags):  # noqa: N802 - libvirt's name
        if self.fail:
            raise libvirt.libvirtError(self.fail)
        self.started.append((seconds, flags))
        self.ends_at = self.clock.now + seconds + 0.03   # QEMU's hashing, then the period

    def stats(self):
        if self.clock.now < self.ends_at:
            return {'dirtyrate.calc_status': libvirt.VIR_DOMAIN_DIRTYRATE_MEASURING}
        return {'dirtyrate.calc_status': libvirt.VIR_DOMAIN_DIRTYRATE_MEASURED,
                'dirtyrate.megabytes_per_second': self.readings[len(self.started) - 1]}


class Conn:
    def __init__(self, guest):
        self.guest = guest

    def domainListGetStats(self, doms, stats):  # noqa: N802 - libvirt's name
        return [(doms[0], self.guest.stats())]


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(dirty_rate.time, 'monotonic', clock.monotonic)
    monkeypatch.setattr(dirty_rate.time, 'sleep', clock.sleep)
    return clock


def test_it_measures_as_many_one_second_periods_as_fit_and_returns_each(clock):
    guest = Guest(clock, [8, 6, 12, 6, 4, 10, 10, 6, 8, 12, 12])
    result = dirty_rate.measure(Conn(guest), guest, 10)
    periods = len(result['readings'])
    assert 8 <= periods <= 10           # each period costs a little more than 1 s
    assert clock.now <= 10.5            # never much past what the caller waits for
    assert all(s == (1, libvirt.VIR_DOMAIN_DIRTYRATE_MODE_PAGE_SAMPLING)
               for s in guest.started)
    assert result['readings'] == [r * MIB for r in guest.readings[:periods]]
    assert result['dirty_rate'] == int(sum(result['readings']) / periods)
    assert result['period_seconds'] == 1 and result['mode'] == 'page-sampling'


def test_one_second_gives_one_period(clock):
    guest = Guest(clock, [14])
    assert dirty_rate.measure(Conn(guest), guest, 1)['readings'] == [14 * MIB]


def test_longer_periods_when_configured(clock):
    guest = Guest(clock, [9, 12, 9, 6, 8])
    result = dirty_rate.measure(Conn(guest), guest, 10, period=2)
    assert 4 <= len(result['readings']) <= 5 and result['period_seconds'] == 2
    assert {s[0] for s in guest.started} == {2}


def test_a_qemu_that_cannot_measure_is_a_conflict(clock):
    guest = Guest(clock, [], fail='unsupported')
    with pytest.raises(exceptions.Conflict, match='cannot measure the dirty rate'):
        dirty_rate.measure(Conn(guest), guest, 10)
