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
    """A domain whose QEMU reads the next of `readings` (MiB/s) at each period's end, and
    whose vCPUs run `busy` of the time (one share per vCPU)."""

    def __init__(self, clock, readings, fail=None, busy=(0.1,)):
        self.clock, self.readings, self.fail, self.busy = clock, list(readings), fail, busy
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
    def __init__(self, guest, cpu_seconds=None):
        self.guest = guest
        # vCPU i's CPU seconds at a time; by default it runs busy[i] of the time, evenly.
        self.cpu_seconds = cpu_seconds or (lambda i, now: self.guest.busy[i] * now)

    def domainListGetStats(self, doms, stats):  # noqa: N802 - libvirt's name
        if stats == libvirt.VIR_DOMAIN_STATS_VCPU:
            # libvirt reads the threads' times from /proc: 10 ms ticks, in ns.
            now = self.guest.clock.now
            return [(doms[0], {f'vcpu.{i}.time': int(self.cpu_seconds(i, now) * 100) * 10 ** 7
                               for i in range(len(self.guest.busy))})]
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
    assert 'long_reading' not in result          # no long period unless configured
    assert result['vcpu_busy'] == pytest.approx(0.1, abs=0.01)


def test_a_long_period_ends_it_and_the_busiest_vcpu_is_told(clock):
    guest = Guest(clock, [32, 36, 30, 34, 32, 6], busy=(0.05, 0.6))
    result = dirty_rate.measure(Conn(guest), guest, 12, period=1, long_period=6)
    periods = len(result['readings'])
    assert 4 <= periods <= 6 and clock.now <= 12.5
    assert [s[0] for s in guest.started] == [1] * periods + [6]
    assert result['long_period_seconds'] == 6
    assert result['long_reading'] == guest.readings[periods] * MIB
    assert result['vcpu_busy'] == pytest.approx(0.6, abs=0.01)


def test_no_long_period_without_room_for_two_short_ones(clock):
    guest = Guest(clock, [8] * 8)
    result = dirty_rate.measure(Conn(guest), guest, 7, period=1, long_period=6)
    assert 'long_reading' not in result and {s[0] for s in guest.started} == {1}


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


def burst_each_second(i, now):
    """CPU seconds of a vCPU that runs flat out for the first 0.1 s of every second."""
    whole, part = divmod(now, 1.0)
    return 0.1 * whole + min(part, 0.1)


def test_the_busiest_vcpus_share_of_each_slot_shows_its_bursts(clock):
    guest = Guest(clock, [32] * 12)
    result = dirty_rate.measure(Conn(guest, burst_each_second), guest, 8)
    slots, slot = result['vcpu_slots'], result['vcpu_slot_seconds']
    assert slot == pytest.approx(0.05, abs=0.005)
    assert len(slots) == pytest.approx(8 / 0.05, rel=0.1)      # the whole measurement
    # Two slots of every second ran (mostly) flat out, the other 18 not at all.
    assert sum(share >= 0.5 for share in slots) == pytest.approx(len(slots) / 10, abs=2)
    assert slots.count(0.0) == pytest.approx(len(slots) * 0.8, abs=10)
    assert set(slots) <= {0.0, 0.2, 0.8, 1.0}                   # 10 ms ticks
    assert result['vcpu_busy'] == pytest.approx(0.1, abs=0.01)


def test_a_steady_vcpu_has_no_busy_slot(clock):
    guest = Guest(clock, [8] * 12, busy=(0.1,))
    result = dirty_rate.measure(Conn(guest), guest, 4)
    assert result['vcpu_slots'] and max(result['vcpu_slots']) <= 0.2
