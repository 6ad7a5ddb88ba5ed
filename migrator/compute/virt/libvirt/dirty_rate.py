"""A running guest's memory dirty rate, measured by QEMU without migrating it.

libvirt's virDomainStartDirtyRateCalc asks QEMU (calc-dirty-rate) to measure for a period;
the result is read from the domain's `dirtyrate.*` statistics. Of QEMU's three modes only
page-sampling works on this project's hosts (libvirt 9.0, QEMU 7.2, TCG guests): it hashes a
random sample of pages (512 per GiB) at the start and the end of the period and counts the
changed ones. dirty-ring needs KVM; dirty-bitmap killed the TCG guest's QEMU here ("Unable to
read from monitor: Connection reset by peer"), so it is never used.

A sample that small is coarse for a small guest (a 128 MiB guest is judged on 64 pages, and
libvirt cannot ask QEMU for more: it has no sample-pages argument), so the agent measures
several periods ([libvirt] dirty_rate_period_seconds), each on a new random sample, and
returns every reading: the conductor combines them into a rate and the interval they allow
(migrator.common.dirty_rate_estimate). The period is a trade-off: a page the guest rewrites
twice within a period counts once, so a longer period reads a guest that cycles over a
small working set too low (a guest rewriting 32 MiB/s of a 32 MiB working set read 16 over
2 s), while a shorter one counts every second the pages a guest keeps rewriting (buffers,
its kernel's), which a pre-copy pass of several seconds sends once (a guest set to 2 MiB/s
read 5.0 over 1 s, 3.0 over 2 s, 2.5 over 3 s). At 1 and 2 s QEMU's whole-MiB/s figure is
exact (2 MiB per sampled page).

Two more figures come with the readings:
- One longer period at the end ([libvirt] dirty_rate_long_period_seconds), when the time
  leaves room for it and two short ones: what the guest dirtied over it, against what the
  short periods' rate would have dirtied, shows the working set a guest keeps rewriting (a
  guest rewriting 32 MiB/s of a 32 MiB working set dirties 32 MiB in 1 s and still 32 in 6).
- How busy the guest's busiest vCPU was meanwhile (vcpu_busy: its CPU time over the wall
  time, from the domain's vcpu.N.time statistics): auto-converge throttles the vCPUs, which
  slows a guest's writing only once the throttle leaves it less CPU than it was using. A
  guest that writes its 8 MiB a second in a tenth of a second keeps its pace until the
  throttle passes 90 %.
- When it was busy (vcpu_slots: the busiest vCPU's share of every vcpu_slot_seconds, read
  while the periods run): whether the guest writes in bursts with quiet stretches between,
  in which a later pass can fall (migrator.common.write_bursts).
"""

import time

import libvirt

from migrator.common import exceptions
from migrator.common.write_bursts import SLOT_SECONDS

MIB = 2 ** 20
POLL_SECONDS = 0.05
MODE = 'page-sampling'


def measure(conn, dom, seconds, period=1, long_period=0):
    """{'dirty_rate': mean bytes/s, 'readings': [bytes/s per period], 'period_seconds',
    'seconds': time measured, 'mode', 'vcpu_busy': fraction or None, and, when there was
    room for it, 'long_reading' (bytes/s) over 'long_period_seconds'}: as many periods of
    `period` seconds as fit in `seconds` (1-60) of wall time, at least one, the last
    long_period seconds of them taken by one long period when that leaves room for two
    short ones."""
    seconds = max(1, min(60, int(seconds)))
    period = max(1, min(seconds, int(period)))
    long_period = int(long_period or 0)
    if long_period <= period or seconds < long_period + 2 * period:
        long_period = 0
    short_seconds = seconds - long_period
    started = time.monotonic()
    trace = VcpuTrace(conn, dom)
    readings = []
    while True:
        readings.append(_one_period(conn, dom, period, trace))
        # Each period costs a little more than its length (starting it, polling its end):
        # stop before the next would overrun what the caller waits for.
        spent = time.monotonic() - started
        if spent + spent / len(readings) > short_seconds + 0.2:
            break
    answer = {'dirty_rate': int(sum(readings) / len(readings)),
              'readings': readings,
              'period_seconds': period,
              'mode': MODE}
    if long_period:
        answer.update(long_reading=_one_period(conn, dom, long_period, trace),
                      long_period_seconds=long_period)
    answer['seconds'] = round(time.monotonic() - started, 1)
    answer['vcpu_busy'] = _busiest(trace.first, _vcpu_times(conn, dom),
                                   time.monotonic() - started)
    if trace.shares:
        answer.update(vcpu_slots=trace.shares, vcpu_slot_seconds=trace.slot_seconds())
    return answer


class VcpuTrace:
    """The busiest vCPU's share of each SLOT_SECONDS of the measurement (0-1, two
    decimals), read at a fixed pace while the measurement waits on QEMU: wait() sleeps
    from one slot's end to the next, so the slots keep their length whatever waits."""

    def __init__(self, conn, dom):
        self.conn, self.dom = conn, dom
        self.shares = []
        self._at = self._began = time.monotonic()
        self.first = self._times = _vcpu_times(conn, dom)
        self._next = self._at + SLOT_SECONDS

    def wait(self, seconds):
        end = time.monotonic() + seconds
        while self._next <= end:
            time.sleep(max(0.0, self._next - time.monotonic()))
            self._read()
        time.sleep(max(0.0, end - time.monotonic()))

    def slot_seconds(self):
        """The slots' mean length: each read costs a little."""
        return round((self._at - self._began) / max(1, len(self.shares)), 4)

    def _read(self):
        now, times = time.monotonic(), _vcpu_times(self.conn, self.dom)
        share = _busiest(self._times, times, now - self._at) if times else None
        if share is not None:
            self.shares.append(round(share, 2))
        self._at, self._times = now, times
        # A slow read (a busy libvirtd) moves the pace rather than leaving a short slot.
        self._next = max(self._next + SLOT_SECONDS, now + SLOT_SECONDS * 0.8)


def _vcpu_times(conn, dom):
    """{vcpu: CPU seconds} of the domain's vCPUs now; {} when libvirt cannot tell."""
    try:
        stats = conn.domainListGetStats([dom], libvirt.VIR_DOMAIN_STATS_VCPU)[0][1]
    except (libvirt.libvirtError, IndexError):
        return {}
    return {key: value / 1e9 for key, value in stats.items()
            if key.startswith('vcpu.') and key.endswith('.time')}


def _busiest(before, after, wall):
    """The largest share of the wall time one vCPU ran for (0-1), or None."""
    shares = [(after[key] - before[key]) / wall for key in after if key in before]
    if not shares or wall <= 0:
        return None
    return round(min(1.0, max(0.0, max(shares))), 3)


def _one_period(conn, dom, seconds, trace):
    """Bytes per second QEMU read over one period of `seconds`, waiting on `trace`."""
    try:
        dom.startDirtyRateCalc(seconds, libvirt.VIR_DOMAIN_DIRTYRATE_MODE_PAGE_SAMPLING)
    except libvirt.libvirtError as exc:
        raise exceptions.Conflict(f'QEMU cannot measure the dirty rate of this guest: '
                                  f'{exc.get_error_message()}') from exc
    deadline = time.monotonic() + seconds + 10
    # The calculation runs inside QEMU with no event at its end: polling it is the only way
    # (one statistics read per interval), from the end of the period on.
    trace.wait(seconds)
    while True:
        stats = conn.domainListGetStats([dom], libvirt.VIR_DOMAIN_STATS_DIRTYRATE)[0][1]
        status = stats.get('dirtyrate.calc_status')
        if status == libvirt.VIR_DOMAIN_DIRTYRATE_MEASURED:
            # QEMU's "megabytes" are MiB (it divides by 2**20).
            return int(stats.get('dirtyrate.megabytes_per_second', 0) * MIB)
        if time.monotonic() > deadline:
            raise exceptions.Conflict(f'QEMU did not finish measuring the dirty rate within '
                                      f'{seconds + 10} s (status {status})')
        trace.wait(POLL_SECONDS)
