"""A guest's dirty rate from QEMU's page sampling, with the interval the sample allows.

QEMU's calc-dirty-rate in page-sampling mode (the only mode a TCG guest on QEMU 7.2 offers
here: see migrator.compute.virt.libvirt.dirty_rate) hashes a random sample of
SAMPLED_PAGES_PER_GIB pages per GiB of guest memory at the start and at the end of a
period, and reports (changed samples / samples) x memory / period, in whole MiB/s. Each
reading is therefore a binomial count: a 128 MiB guest is judged on 64 pages, each standing
for 2 MiB, so one page more or less moves a 1 s reading by 2 MiB/s, and the count of a guest
that rewrites 8 of its 128 MiB a second varies by +-2 pages (one standard deviation) from
one period to the next. QEMU draws a new sample each period, so several periods are several
independent samples of the same guest: their mean is the estimate, and the interval below
narrows with the square root of the number of pages sampled in all.

The interval is Wilson's score interval for the fraction of memory dirtied per period (it
stays sensible at 0 changed pages, where a normal approximation collapses to a point),
computed on the number of sampled pages, reduced when the readings scatter more than
sampling alone explains (a guest whose rate itself changes from one period to the next: the
Kish design effect, observed variance over binomial variance). Z = 2 standard errors: the
guest's real rate is above the high end about once in 40 measurements.

libvirt 9.0 does not pass QEMU's sample-pages argument (virDomainStartDirtyRateCalc takes
seconds and a mode only; virsh domdirtyrate-calc has --seconds and --mode): only the QEMU
monitor could, and a monitor command taints the domain, so more pages means more periods.

Pure: the agent supplies the readings (migrator.compute.virt.libvirt.dirty_rate), the
conductor the memory (migrator.conductor.forecast).
"""

import dataclasses
import math
import statistics

SAMPLED_PAGES_PER_GIB = 512
Z = 2.0
MIB = 2 ** 20


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A dirty rate (bytes/s) and the interval the sample allows (bytes/s)."""
    rate: float
    low: float
    high: float
    periods: int
    sampled_pages: int     # over all periods

    @property
    def resolution(self):
        """Half the interval's width (bytes/s): the +- the figure is good to."""
        return (self.high - self.low) / 2.0


def sampled_pages(memory_bytes):
    """Pages QEMU samples per period for a guest of memory_bytes (at least one)."""
    return max(1, int(memory_bytes * SAMPLED_PAGES_PER_GIB) >> 30)


def combine(readings_bps, period_s, memory_bytes, z=Z):
    """The Estimate of the readings (bytes/s, one per period of period_s seconds) of a guest
    with memory_bytes of memory; None without readings or memory."""
    readings = [max(0.0, float(r)) for r in readings_bps if r is not None]
    if not readings or not memory_bytes or not period_s:
        return None
    per_period = memory_bytes / float(period_s)   # the reading of a guest that dirties all
    fractions = [min(1.0, r / per_period) for r in readings]
    periods = len(fractions)
    pages = sampled_pages(memory_bytes) * periods
    p = statistics.fmean(fractions)
    binomial = p * (1.0 - p) / pages
    observed = statistics.variance(fractions) / periods if periods > 1 else 0.0
    # Fewer effective pages when the readings scatter more than sampling explains.
    effective = pages if observed <= binomial else max(1.0, p * (1.0 - p) / observed)
    low, high = wilson(p, effective, z)
    return Estimate(rate=p * per_period, low=low * per_period, high=high * per_period,
                    periods=periods, sampled_pages=pages)


# The long period shows a working set when the guest dirtied less than this share of what its
# short periods' rate would have dirtied over it.
SATURATED_BELOW = 0.8


def long_dirtied(reading_bps, period_s, memory_bytes):
    """Bytes the guest dirtied over a period of period_s whose reading (bytes/s) QEMU gave;
    None without a reading.

    QEMU divides in whole MiB/s and drops the rest: over a 6 s period, a 128 MiB guest's
    sample steps by 2 MiB / 6 s (a third of a MiB/s) and 0 to 2 changed pages all read
    0 MiB/s. The true figure lies evenly among the steps that truncate to the reading:
    their middle is taken. (Over 1 and 2 s periods a step is a whole MiB/s or more, and the
    reading is exact.)
    """
    if reading_bps is None or not period_s or not memory_bytes:
        return None
    step = memory_bytes / sampled_pages(memory_bytes) / period_s   # bytes/s per page
    if step >= MIB or reading_bps % MIB:
        return reading_bps * period_s          # exact, or not a figure QEMU truncated
    # The page counts that truncate to the reading: from the first at or above it to the
    # last below the next whole MiB/s.
    first = math.ceil(reading_bps / step - 1e-9)
    last = math.ceil((reading_bps + MIB) / step - 1e-9) - 1
    return (first + last) / 2.0 * step * period_s


def working_set(estimate, dirtied_bytes, long_period_s):
    """Bytes: the memory the guest keeps rewriting, as the long period shows it, or None.

    Over the long period the guest dirtied dirtied_bytes (long_dirtied()); at the rate of
    its short periods (estimate) it would have dirtied rate x long_period. Clearly less
    (below SATURATED_BELOW of it) means it kept rewriting the same pages: what it dirtied is
    its working set, a pass of pre-copy longer than the period resends that much and no
    more. Not clearly less: nothing tells where the working set ends.

    A guest that keeps rewriting a few pages every second (buffers, its kernel's) besides a
    slow steady rate reads like that too, and its working set then reads smaller than it is:
    a pass longer than the period is then forecast shorter than it will be (a guest dirtying
    2 MiB/s read 3.2 MiB/s over 1 s periods and 13 MiB over 6 s).
    """
    if estimate is None or dirtied_bytes is None or not long_period_s:
        return None
    if dirtied_bytes >= SATURATED_BELOW * estimate.rate * long_period_s:
        return None
    return max(dirtied_bytes, estimate.rate)     # at least what one second dirties


def wilson(p, n, z=Z):
    """Wilson's score interval (low, high) for a proportion p observed on n trials."""
    z2 = z * z
    centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n)
    half = z / (1.0 + z2 / n) * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def describe(estimate):
    """'7.0 MiB/s +- 2.7 (5.2-10.6, 8 periods of 64 sampled pages)'."""
    return (f'{estimate.rate / MIB:.1f} MiB/s +- {estimate.resolution / MIB:.1f} '
            f'({estimate.low / MIB:.1f}-{estimate.high / MIB:.1f}, {estimate.periods} '
            f'period(s) of {estimate.sampled_pages // max(1, estimate.periods)} sampled pages)')
