"""The drain benchmark's breakdown of a makespan, on a hand-made job whose answer is known."""

import datetime

import pytest

from benchmarks import drain_timeline

T0 = datetime.datetime(2026, 12, 7, 1, 0, 0)


def _at(seconds):
    return (T0 + datetime.timedelta(seconds=seconds)).isoformat()


def _job(runs, parallel, finished):
    """runs: (name, accepted, running, completed, item closed) in seconds after T0."""
    items, migrations = [], {}
    for n, (name, accepted, running, completed, closed) in enumerate(runs):
        migrations[f'm{n}'] = {'events': [
            {'to_state': 'accepted', 'time': _at(accepted)},
            {'to_state': 'scheduling', 'time': _at(accepted + 0.01)},
            {'to_state': 'preparing', 'time': _at(accepted + 0.02)},
            {'to_state': 'running', 'time': _at(running)},
            {'to_state': 'finishing', 'time': _at(completed - 0.01)},
            {'to_state': 'completed', 'time': _at(completed)}]}
        items.append({'instance_name': name, 'migration_id': f'm{n}',
                      'finished_at': _at(closed)})
    job = {'created_at': _at(0), 'finished_at': _at(finished), 'max_parallel': parallel,
           'items': items}
    return job, migrations


def test_two_slots_split_into_start_full_gaps_tail_and_end():
    # Slot 1: a 1..5, c 5.5..9; slot 2: b 1..6, d 6.2..12 (alone from 9 to 12).
    job, migrations = _job([('a', 1, 1.5, 5, 5.1), ('b', 1, 1.5, 6, 6.1),
                            ('c', 5.5, 6, 9, 9.1), ('d', 6.2, 6.5, 12, 12.1)],
                           parallel=2, finished=12.5)

    f = drain_timeline.analyse(job, migrations, bare={'a': 2, 'b': 2, 'c': 2, 'd': 3})

    assert f['start'] == pytest.approx(1)
    # Two in flight: 1..5, 5.5..6 and 6.2..9.
    assert f['full'] == pytest.approx(4 + 0.5 + 2.8)
    # One in flight while d still waited: 5..5.5 and 6..6.2.
    assert f['gaps'] == pytest.approx(0.7)
    assert f['tail'] == pytest.approx(3)
    assert f['end'] == pytest.approx(0.5)
    assert f['start'] + f['full'] + f['gaps'] + f['tail'] + f['end'] == \
        pytest.approx(f['makespan'])
    # c took a's slot 0.5 s after a ended, d took b's 0.2 s after b ended.
    assert f['refill'] == pytest.approx([0.5, 0.2])
    assert f['setup'] == pytest.approx([0.5, 0.5, 0.5, 0.3])
    assert f['wake'] == pytest.approx([0.1] * 4)
    assert f['order'] == ['a', 'b', 'c', 'd']
    assert f['whole_vs_bare'] == pytest.approx((4 + 5 + 3.5 + 5.8) / 9)
    assert 'tail 3.00' in drain_timeline.summary_line(f)


def test_one_slot_idle_between_migrations_is_a_gap():
    job, migrations = _job([('a', 0.5, 1, 4, 4.1), ('b', 4.3, 4.5, 8, 8.1)],
                           parallel=1, finished=8.2)

    f = drain_timeline.analyse(job, migrations)

    assert f['gaps'] == pytest.approx(0.3)
    assert f['full'] == pytest.approx(3.5 + 3.7)
    assert f['tail'] == 0
    assert 'whole_vs_bare' not in f


def test_a_drain_without_a_completed_migration_cannot_be_analysed():
    job, _ = _job([], parallel=2, finished=1)
    with pytest.raises(ValueError):
        drain_timeline.analyse(job, {})
