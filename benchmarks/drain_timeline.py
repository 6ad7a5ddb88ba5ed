"""Where a drain's makespan goes, from the drain's own records.

Input: the job as GET /v1/drains/{id} shows it, and each item's migration as
GET /v1/migrations/{id} shows it (with its events). Every time is the service's own
(created_at, the migrations' state events, finished_at), so the figures do not depend on how
often anyone looked at the API.

The makespan splits into:
  - start:       the job's created_at -> its first migration accepted (the cast, the
                 conductor taking the job, listing the host's guests);
  - full:        time with max_parallel migrations in flight (accepted -> completed);
  - gaps:        time with fewer in flight while guests still waited (a slot freed and not
                 yet refilled: waking the job, its DB look, creating the next migration);
  - tail:        time with fewer in flight because no guest was left to start (the last
                 migrations alone);
  - end:         the last migration completed -> the job's finished_at.
and per migration: scheduling + preparing (accepted -> running), running -> completed,
and the whole migration against a bare migrateToURI3 of the same guest.
"""

import datetime
import statistics


def _t(value):
    return datetime.datetime.fromisoformat(value)


def migration_times(migration):
    """{state: first time the migration entered it} from its events."""
    times = {}
    for event in migration.get('events') or ():
        times.setdefault(event['to_state'], _t(event['time']))
    return times


def analyse(job, migrations, bare=None):
    """job: the drain's view; migrations: {migration id: migration view with events};
    bare: {instance name: seconds of a bare migration of it}, optional.

    Returns a dict of seconds (see the module's docstring) plus per-migration lists.
    """
    t0 = _t(job['created_at'])
    parallel = job['max_parallel']
    runs = []
    for item in job['items']:
        migration = migrations.get(item.get('migration_id'))
        if migration is None:
            continue
        times = migration_times(migration)
        if 'completed' not in times or 'accepted' not in times:
            continue
        accepted = (times['accepted'] - t0).total_seconds()
        completed = (times['completed'] - t0).total_seconds()
        running = (times.get('running', times['completed']) - t0).total_seconds()
        closed = (_t(item['finished_at']) - t0).total_seconds() if item.get('finished_at') \
            else completed
        runs.append({'name': item['instance_name'], 'accepted': accepted,
                     'running': running, 'completed': completed, 'closed': closed})
    if not runs:
        raise ValueError('the drain has no completed migration to analyse')
    finished = (_t(job['finished_at']) - t0).total_seconds()
    starts = sorted(r['accepted'] for r in runs)
    ends = sorted(r['completed'] for r in runs)
    last_start = starts[-1]
    # Sweep the in-flight count over [first start, last end].
    points = sorted([(s, 1) for s in starts] + [(e, -1) for e in ends],
                    key=lambda p: (p[0], p[1]))
    full = gaps = tail = 0.0
    in_flight, previous = 0, starts[0]
    for at, delta in points:
        span = at - previous
        if span > 0:
            if in_flight >= parallel:
                full += span
            elif previous < last_start:
                gaps += span
            else:
                tail += span
        in_flight += delta
        previous = at
    # A refill: the k-th start (k >= P) waited for the (k-P)-th end.
    refills = [starts[k] - ends[k - parallel] for k in range(parallel, len(starts))]
    result = {
        'max_parallel': parallel,
        'migrations': len(runs),
        'makespan': finished,
        'start': starts[0],
        'full': full,
        'gaps': gaps,
        'tail': tail,
        'end': finished - ends[-1],
        'refill': refills,
        'wake': [r['closed'] - r['completed'] for r in runs],
        'setup': [r['running'] - r['accepted'] for r in runs],
        'running': [r['completed'] - r['running'] for r in runs],
        'whole': [r['completed'] - r['accepted'] for r in runs],
        'order': [r['name'] for r in sorted(runs, key=lambda r: r['accepted'])],
    }
    if bare:
        matched = [(r['completed'] - r['accepted'], bare[r['name']]) for r in runs
                   if r['name'] in bare]
        result['whole_vs_bare'] = (sum(w for w, _ in matched) / sum(b for _, b in matched)
                                   if matched else None)
    return result


def _median(values):
    return statistics.median(values) if values else 0.0


def summary_line(figures):
    """One line an operator can read: where the makespan went."""
    line = (f"makespan {figures['makespan']:.2f} s = start {figures['start']:.2f} + "
            f"{figures['max_parallel']} in flight {figures['full']:.2f} + gaps "
            f"{figures['gaps']:.2f} + tail {figures['tail']:.2f} + end {figures['end']:.2f}; "
            f"per migration (median): scheduling+preparing {_median(figures['setup']):.2f} s, "
            f"running {_median(figures['running']):.2f} s, slot refilled "
            f"{_median(figures['refill']):.3f} s after an end")
    if figures.get('whole_vs_bare') is not None:
        line += f"; migrations took {figures['whole_vs_bare']:.2f}x their bare time"
    return line
