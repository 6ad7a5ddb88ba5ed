"""Turns a job's statistics into the progress the API shows: percent, counters, ETA."""


def progress_values(stats):
    """DB values for migration_update_progress from normalised job statistics."""
    total = stats.get('data_total') or stats.get('memory_total')
    remaining = stats.get('data_remaining')
    if remaining is None:
        remaining = stats.get('memory_remaining')
    values = {key: stats.get(key) for key in (
        'memory_total', 'memory_processed', 'memory_remaining', 'disk_total',
        'disk_processed', 'disk_remaining', 'dirty_rate', 'iteration', 'downtime_ms')}
    values = {k: v for k, v in values.items() if v is not None}
    if total and remaining is not None:
        values['progress'] = round(100.0 * (1 - remaining / total), 2)
        values['eta_seconds'] = eta_seconds(remaining, stats)
    return values


def eta_seconds(remaining, stats):
    """Bytes remaining over the transfer rate net of what the guest dirties meanwhile.

    None while the rate is unknown or the guest dirties memory as fast as it is sent: a
    migration that does not converge has no honest ETA.
    """
    rate = (stats.get('memory_bps') or 0) + (stats.get('disk_bps') or 0)
    net = rate - (stats.get('dirty_rate') or 0)
    if rate <= 0 or net <= 0:
        return None
    return round(remaining / net, 1)
