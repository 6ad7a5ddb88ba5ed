"""A running guest's memory dirty rate, measured by QEMU without migrating it.

libvirt's virDomainStartDirtyRateCalc asks QEMU (calc-dirty-rate) to measure for `seconds`;
the result is read from the domain's `dirtyrate.*` statistics. Of QEMU's three modes only
page-sampling works on this project's hosts (libvirt 9.0, QEMU 7.2, TCG guests): it hashes a
sample of pages (512 per GiB) at the start and the end of the period and counts the changed
ones. dirty-ring needs KVM; dirty-bitmap killed the TCG guest's QEMU here ("Unable to read
from monitor: Connection reset by peer"), so it is never used. A sample that small is coarse
for a small guest: a 128 MiB guest is judged on 64 pages, so read the figure as +-1 MiB/s.
"""

import time

import libvirt

from migrator.common import exceptions

MIB = 2 ** 20
POLL_SECONDS = 0.2


def measure(conn, dom, seconds):
    """Bytes per second the domain dirties, measured over `seconds` (1-60)."""
    seconds = max(1, min(60, int(seconds)))
    try:
        dom.startDirtyRateCalc(seconds, libvirt.VIR_DOMAIN_DIRTYRATE_MODE_PAGE_SAMPLING)
    except libvirt.libvirtError as exc:
        raise exceptions.Conflict(f'QEMU cannot measure the dirty rate of this guest: '
                                  f'{exc.get_error_message()}') from exc
    deadline = time.monotonic() + seconds + 10
    while True:
        stats = conn.domainListGetStats([dom], libvirt.VIR_DOMAIN_STATS_DIRTYRATE)[0][1]
        status = stats.get('dirtyrate.calc_status')
        if status == libvirt.VIR_DOMAIN_DIRTYRATE_MEASURED:
            # QEMU's "megabytes" are MiB (it divides by 2**20).
            return {'dirty_rate': int(stats.get('dirtyrate.megabytes_per_second', 0) * MIB),
                    'seconds': stats.get('dirtyrate.calc_period', seconds),
                    'mode': stats.get('dirtyrate.calc_mode', 'page-sampling')}
        if time.monotonic() > deadline:
            raise exceptions.Conflict(f'QEMU did not finish measuring the dirty rate within '
                                      f'{seconds + 10} s (status {status})')
        # The calculation runs inside QEMU with no event at its end: polling it is the only
        # way, and it costs one statistics read per interval.
        time.sleep(POLL_SECONDS)
