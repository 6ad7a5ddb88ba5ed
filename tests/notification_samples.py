"""The documented notification samples (doc/notification_samples/<event_type>.json) and the
check that a real notification matches its sample: the same fields at every level (none
missing, none undocumented), the same JSON types, and the same values for the fields that
name what happened (event, payload name and version, type, status, outcome...)."""

import json
import os

SAMPLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           'doc', 'notification_samples')

# Values that must be equal; anything else (ids, times, figures) only of the same type.
EXACT = frozenset({
    'event_type', 'priority', 'migrator_object.name', 'migrator_object.namespace',
    'migrator_object.version', 'type', 'status', 'outcome', 'kind', 'goal', 'forced',
})


def path(event_type):
    return os.path.join(SAMPLES_DIR, f'{event_type}.json')


def load(event_type):
    with open(path(event_type)) as f:
        return json.load(f)


def write(event_type, notification):
    with open(path(event_type), 'w') as f:
        json.dump(notification, f, indent=4, sort_keys=True)
        f.write('\n')


def _kind(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return 'boolean'
    if isinstance(value, (int, float)):
        return 'number'
    return type(value).__name__


def mismatches(sample, actual, where='', exact=True):
    """What differs between a sample and a notification (an empty list: it matches).
    exact=False compares the shape only (another outcome of the same event)."""
    problems = []
    if isinstance(sample, dict) and isinstance(actual, dict):
        for key in sorted(set(sample) - set(actual)):
            problems.append(f'{where}{key}: missing')
        for key in sorted(set(actual) - set(sample)):
            problems.append(f'{where}{key}: not in the sample')
        for key in sorted(set(sample) & set(actual)):
            s, a = sample[key], actual[key]
            if key in EXACT and exact:
                if s != a:
                    problems.append(f'{where}{key}: {a!r}, the sample says {s!r}')
            elif isinstance(s, dict) and s and isinstance(a, dict):
                problems.extend(mismatches(s, a, f'{where}{key}.', exact))
            elif None not in (_kind(s), _kind(a)) and _kind(s) != _kind(a):
                problems.append(f'{where}{key}: a {_kind(a)}, the sample has a {_kind(s)}')
        return problems
    return [f'{where}: {actual!r} is not like {sample!r}']


def notification(event_type, priority, payload, publisher_id='migrator:host'):
    """A notification as the samples record it (the envelope oslo.messaging sends)."""
    return {'event_type': event_type, 'priority': priority.upper(),
            'publisher_id': publisher_id, 'payload': payload}
