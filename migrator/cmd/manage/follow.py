"""`--wait`: following a migration, a drain or a plan until it ends."""

import time

from migrator.cmd import client as api_client

# The API may restart while a command waits (the migration goes on without it): polls
# that cannot reach it are retried for this long before the command gives up.
WAIT_RECONNECT_SECONDS = 15.0

_UNSEEN = object()


def follow(fetch, record, describe, ended, interval, out):
    """Polls fetch() every `interval` seconds until ended(record), printing what changed.

    describe(record, elapsed) returns (slot, key, line) triples: a line is printed when its
    slot's key differs from the last one printed for that slot (a drain has a slot for
    itself and one per guest). Returns the last record.
    """
    start = time.monotonic()
    last = {}
    unreachable_since = None
    while True:
        for slot, key, line in describe(record, time.monotonic() - start):
            if last.get(slot, _UNSEEN) != key:
                print(line, file=out, flush=True)
                last[slot] = key
        if ended(record):
            return record
        time.sleep(interval)
        try:
            record = fetch()
            unreachable_since = None
        except api_client.ConnectionFailed:
            now = time.monotonic()
            unreachable_since = unreachable_since or now
            if now - unreachable_since > WAIT_RECONNECT_SECONDS:
                raise
