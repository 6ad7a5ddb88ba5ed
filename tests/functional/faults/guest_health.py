"""Whether a sandbox guest's kernel stayed sound through a scenario, from its serial console.

A guest whose memory was not carried over whole by a migration keeps ticking for a while:
the damage shows as kernel oopses (general protection faults, "kernel BUG at", list or slab
corruption) and crashing processes on its console, not as a missing tick. A scenario takes
a mark of the console before it starts and asks for the trouble written since then.

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
