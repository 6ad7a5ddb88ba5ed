"""Whether a guest writes its memory in bursts with quiet stretches between, and how often a
stretch of a given length falls between two bursts.

Why it matters: a guest that dirties its memory as fast as the bandwidth sends it never
converges if it writes steadily, but can if it writes in bursts. QEMU (7.2, ram_save_pending)
syncs the dirty bitmap again as soon as what is left of a pass falls under what the downtime
limit lets it send with the guest paused (bandwidth x limit), and completes when that sync
finds no more than that. A sync whose stretch since the one before held no burst finds only
the pass's leftover. So every later pass of a bursty guest may end the job: with the chance
that a stretch of (pass - bandwidth x limit) / bandwidth seconds falls between two bursts.
On the sandbox a guest writing 32 MiB/s of a 32 MiB working set under a 32 MiB/s cap and a
500 ms limit (stretches of about 0.5 s) completed unaided in 12 runs of 12, in 6-8 s; under
a 300 ms limit (0.7 s stretches) in 10-11 s; under an 8 MiB/s cap (4 s stretches) never.

What the agent can see of it: QEMU 7.2's page sampling reads whole seconds only, too coarse
for the pattern within a second. A guest writes its memory only while a vCPU runs, and the
vCPUs' CPU time can be read at any pace: the agent reads the busiest vCPU's share of every
SLOT_SECONDS while it measures the dirty rate (migrator.compute.virt.libvirt.dirty_rate).
A slot in which it ran at least BUSY_SHARE of the time is busy. On the sandbox the guest
writing 32 MiB/s in one dd burst a second shows 1-2 slots of 55-94 % each second, the rest
0 or 19 % (libvirt reads vCPU time from /proc in 10 ms ticks: one tick is 19 % of a 52 ms
slot).

The guest counts as bursty only when busy slots recur in at least RECUR_SHARE of the
trace's whole seconds: its bursts are then visible and frequent enough to stand for its
writing. A guest whose writes cost too little CPU to show (the sandbox guest at 8 MiB/s: a
busy slot in one second of four) counts as steady, the cautious reading: a quiet stretch
then says nothing. A guest that writes steadily at a low CPU cost while something else
bursts on its vCPU would be misread as bursty; its migration would then be forecast to
converge and shown stalled while it runs.
"""

import dataclasses
import functools
import itertools
import math

SLOT_SECONDS = 0.05
BUSY_SHARE = 0.5
RECUR_SHARE = 0.8


@dataclasses.dataclass(frozen=True)
class WriteBursts:
    """A bursty guest's trace: which of its slots (slot_seconds each) were busy."""
    busy: tuple
    slot_seconds: float = SLOT_SECONDS

    @classmethod
    def from_shares(cls, shares, slot_seconds=SLOT_SECONDS):
        """The WriteBursts of a trace of vCPU shares (0-1, one per slot), or None when the
        guest does not count as bursty (see the module's docstring) or the trace is shorter
        than two seconds."""
        if not shares or not slot_seconds or slot_seconds <= 0:
            return None
        busy = tuple(share >= BUSY_SHARE for share in shares)
        per_second = max(1, round(1.0 / slot_seconds))
        seconds = len(busy) // per_second
        if seconds < 2:
            return None
        recurring = sum(any(busy[i * per_second:(i + 1) * per_second]) for i in range(seconds))
        if recurring < RECUR_SHARE * seconds:
            return None
        return cls(busy, slot_seconds)

    def quiet_chance(self, seconds):
        """The chance that a stretch of `seconds` starting at a random time holds no busy
        slot: the share of the trace's stretches of that length that hold none. 0 for a
        stretch longer than the trace (nothing says it would be quiet)."""
        if seconds <= 0:
            return 1.0
        width = math.ceil(seconds / self.slot_seconds - 1e-9)
        starts = len(self.busy) - width + 1
        if starts <= 0:
            return 0.0
        upto = self._busy_up_to
        quiet = sum(1 for s in range(starts) if upto[s + width] == upto[s])
        return quiet / starts

    @functools.cached_property
    def _busy_up_to(self):
        """Busy slots before each position, so each stretch is one subtraction; once per
        trace, as the model asks at every pass."""
        return tuple(itertools.accumulate(self.busy, initial=0))
