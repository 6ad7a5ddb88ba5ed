"""Turns a job's statistics into the progress the API shows: percents, counters, ETA."""

_COPIED = (
    'memory_total', 'memory_processed', 'memory_remaining', 'disk_total', 'disk_processed',
    'disk_remaining', 'data_total', 'data_processed', 'data_remaining', 'dirty_rate',
    'iteration', 'downtime_ms', 'downtime_limit_ms', 'elapsed_ms',
)


def percent(remaining, total):
    """How much of total is done, 0-100; None when either is unknown or total is 0.

    From what is left rather than what was sent: a live migration sends memory more than
    once, so `processed` passes `total` while the guest keeps dirtying pages. A new memory
    iteration makes this drop; the DB keeps the highest value, so the figure users see never
    goes backwards.
    """
    if not total or remaining is None:
        return None
    return round(100.0 * max(0.0, 1 - remaining / total), 2)


def progress_values(stats):
    """DB values for migration_update_progress from normalised job statistics."""
    values = {key: stats.get(key) for key in _COPIED}
    total = stats.get('data_total') or stats.get('memory_total')
    remaining = stats.get('data_remaining')
    if remaining is None:
        remaining = stats.get('memory_remaining')
    values['progress'] = percent(remaining, total)
    values['memory_progress'] = percent(stats.get('memory_remaining'),
                                        stats.get('memory_total'))
    values['disk_progress'] = percent(stats.get('disk_remaining'), stats.get('disk_total'))
    rate = transfer_rate(stats)
    values['transfer_rate'] = rate or None
    values = {k: v for k, v in values.items() if v is not None}
    if 'progress' in values:
        # Kept even when None: a migration that stopped converging has no ETA any more.
        values['eta_seconds'] = eta_seconds(remaining, stats)
    return values


def transfer_rate(stats):
    """Bytes per second the job sends now, memory and disks together."""
    return (stats.get('memory_bps') or 0) + (stats.get('disk_bps') or 0)


def eta_seconds(remaining, stats):
    """Bytes remaining over the transfer rate net of what the guest dirties meanwhile.

    None while the rate is unknown or the guest dirties memory as fast as it is sent: a
    migration that does not converge has no honest ETA.
    """
    rate = transfer_rate(stats)
    net = rate - (stats.get('dirty_rate') or 0)
    if rate <= 0 or net <= 0:
        return None
    return round(remaining / net, 1)
