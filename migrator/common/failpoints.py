"""Failpoints: named places where a fault-injection test makes a service wait or lose a
message, to hit short states (preparing, finishing) deterministically.

Inert unless the environment variable MIGRATOR_FAILPOINTS names some, as
`name=action[;name=action...]`, read once when first asked, or as `@PATH`: the same read
from the file PATH at every hit (a missing file names none), so a test arms and disarms
points in running services; a change of the file starts the counts afresh.

  pause:PATH  the thread that reaches the point writes PATH.reached and waits until PATH
              exists (so a test injects its fault while the service sits in that state,
              then creates PATH to let it go on)
  drop        hit() answers True the first time (the caller drops its message); `drop*`
              every time

The points (grep `failpoints.hit`):
  conductor.<live|cold>.<state>  a conductor task has just moved its migration to <state>
  compute.job_done               an agent is about to send a job's end to the conductor
"""

import os
import threading
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)
ENV = 'MIGRATOR_FAILPOINTS'

_lock = threading.Lock()
_points = None   # name -> [action, argument, times hit]


_source = None   # the text _points was parsed from


def _spec():
    value = os.environ.get(ENV, '')
    if not value.startswith('@'):
        return value
    try:
        with open(value[1:]) as f:
            return f.read()
    except FileNotFoundError:
        return ''


def _load(text):
    points = {}
    for spec in filter(None, (s.strip() for s in text.split(';'))):
        name, _, action = spec.partition('=')
        kind, _, argument = action.partition(':')
        if kind not in ('pause', 'drop', 'drop*') or (kind == 'pause' and not argument):
            raise ValueError(f'{ENV}: {spec!r} is not name=pause:PATH, name=drop or '
                             'name=drop*')
        points[name.strip()] = [kind, argument, 0]
    return points


def hit(name):
    """Called at failpoint `name`; True when the caller must drop what it was sending."""
    global _points, _source
    with _lock:
        if _points is None or os.environ.get(ENV, '').startswith('@'):
            text = _spec()
            if _points is None or text != _source:
                _points, _source = _load(text), text
        point = _points.get(name)
        if point is None:
            return False
        point[2] += 1
        kind, argument, times = point
    if kind == 'pause':
        if times > 1:
            return False    # a pause holds the first thread that arrives, once
        LOG.warning('Failpoint %s: paused until %s exists', name, argument)
        with open(argument + '.reached', 'w'):
            pass
        while not os.path.exists(argument):
            time.sleep(0.1)
        LOG.warning('Failpoint %s: released', name)
        return False
    drop = kind == 'drop*' or times == 1
    if drop:
        LOG.warning('Failpoint %s: dropping the message', name)
    return drop
