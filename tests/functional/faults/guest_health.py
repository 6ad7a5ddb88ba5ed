"""Whether a sandbox guest's kernel stayed sound through a scenario, from its serial console.

A guest whose memory was not carried over whole by a migration keeps ticking for a while:
the damage shows as kernel oopses (general protection faults, "kernel BUG at", list or slab
corruption) and crashing processes on its console, not as a missing tick. A scenario takes
a mark of the console before it starts and asks for the trouble written since then.

Trouble found here says a migration lost guest memory, not who lost it: QEMU before 9.0
loses guest writes in live migrations under TCG by itself (its dirty-bitmap fast path left
the TCG TLB stale; fixed upstream by "physmem: Fix migration dirty bitmap coherency with TCG
memory access", not in Debian 12's 7.2.22). Bare libvirt migrations of a sandbox guest,
with the bandwidth or downtime changed mid-job, oops it within 2-20 migrations on this
machine, with no migrator code involved; with the migration network cut for 10 s mid-job,
once in 36 (benchmarks/tcg_migration_soak.py). The damage can also show as a task blocked
for ever, which the tick check catches, not this one.

Lockup and RCU-stall warnings are not counted: a guest paused for a while (a long
switchover, a libvirtd restart) or starved by a loaded host prints them with its memory
intact.
"""

import os
import re

# Lines the guest kernel prints when its memory is not what it wrote, or a process died of it.
TROUBLE_RE = re.compile(
    rb'^.*(?:general protection fault|kernel BUG at|BUG: (?!.*(?:lockup|stall))|Oops:|'
    rb'Kernel panic|list_(?:add|del) corruption|segfault at|invalid opcode:|'
    rb'Bad page (?:state|map)|Bad rss-counter).*$', re.M)
SHOWN_LINES = 3


def console_mark(console_log):
    """Where the console log ends now: pass it to :func:`trouble_since` later."""
    try:
        return os.path.getsize(console_log)
    except FileNotFoundError:
        return 0


def trouble_since(console_log, mark):
    """The guest's kernel trouble written to its console after `mark`, as problems (a
    list of strings, empty when there is none)."""
    try:
        with open(console_log, 'rb') as f:
            f.seek(mark)
            written = f.read()
    except FileNotFoundError:
        return []
    lines = [m.group(0).strip().decode(errors='replace')
             for m in TROUBLE_RE.finditer(written)]
    if not lines:
        return []
    shown = '; '.join(lines[:SHOWN_LINES])
    more = f' (+{len(lines) - SHOWN_LINES} more)' if len(lines) > SHOWN_LINES else ''
    return [f'the guest kernel reports memory corruption or a crash on its console '
            f'({console_log}): {shown}{more}']


class ConsoleWatch:
    """A guest's console from now on: `trouble()` lists what went wrong in its kernel since
    the watch began (scenarios: start one before injecting the fault, ask after the
    checks)."""

    def __init__(self, cluster, guest_name):
        guest = next(g for g in cluster['guests'] if g['name'] == guest_name)
        self.console_log = guest['console_log']
        self.mark = console_mark(self.console_log)

    def trouble(self):
        return trouble_since(self.console_log, self.mark)
