"""API microversions: `OpenStack-API-Version: migration X.Y`, as in Nova.

A request without the header gets the oldest version (MIN_VERSION), so a client written
against 1.0 keeps the shapes it knows; `latest` asks for MAX_VERSION. Every change to a
request or a response raises MAX_VERSION by one minor version and adds a line to HISTORY;
views shape their output by the request's version (see requested()).
"""

import contextvars
import functools

import microversion_parse
from pecan import hooks

from migrator.common import exceptions

SERVICE_TYPE = 'migration'
HEADER = 'OpenStack-API-Version'

# What each version added; the last key is MAX_VERSION.
HISTORY = {
    '1.0': 'The API as first released.',
    '1.1': "A migration's document has duration_seconds (started to finished, or to now "
           'while it runs) and bytes_transferred (memory and disk bytes copied).',
    '1.2': "A host's document has agent_version: the migrator version its agent reported.",
    '1.3': 'GET /v1/conductors lists the conductors: heartbeat, version, alive or dead.',
    '1.4': "A plan's document has truncated (the search stopped at max_moves with moves "
           'still worth making), remaining_gain and remaining_moves (what those moves would '
           'still take off the score, and how many they are; null when not truncated).',
    '1.5': 'Convergence: a live dry run answers a forecast (verdict, predicted duration, '
           'iterations, downtime and the figures behind them); GET /v1/migrations/{id} has '
           'convergence_verdict (the stall diagnosis of a running live migration, or null); '
           'GET /v1/instances/{instance}/observations lists what its completed live '
           'migrations showed.',
    '1.6': "A live migration's dry run answers convergence: the controls the migration would "
           'run with (the request\'s fields over the [libvirt] live_migration_* defaults); '
           'POST /v1/plans/{id}/cancel cancels a planned plan (status cancelled).',
    '1.7': "A live dry run's forecast figures have overhead_source (host_pair, cluster or "
           'default) and overhead_note: the fixed overhead is learned from the residuals of '
           'recent migrations between the same hosts, else of the cluster, else '
           '[planner] migration_overhead_seconds. An observation has overhead_seconds (that '
           'residual).',
    '1.8': "A live dry run's forecast figures have effective_bandwidth (bytes/s the job is "
           'expected to reach under the cap, which the model uses), effective_bandwidth_source '
           '(host_pair, cluster or default) and effective_bandwidth_note: learned from recent '
           'migrations under the same cap. An observation has effective_rate.',
    '1.9': "A live dry run's forecast has borderline (the measured dirty rate's interval "
           'spans a verdict boundary: the verdict is the one at its high end, the cautious '
           'side), verdict_at_low (the verdict at its low end when borderline, else null) and '
           'borderline_note; its figures have dirty_rate_low and dirty_rate_high (the '
           'interval the measurement allows, bytes/s; null when the rate was not measured). '
           'A dry run may say "forecast": false: no forecast, and none of the seconds the '
           "source spends measuring the guest's dirty rate for it.",
    '1.10': "A borderline forecast's verdict, predicted_seconds, iterations, downtime_ms, "
            'reason and expected_outcome are those at the measured dirty rate (the likeliest '
            'outcome), no longer those at the high end of its interval; verdict_at_high (the '
            'verdict at the high end when borderline, else null) is added, and '
            "suggested_action is still the help the high end's verdict needs. Its figures "
            'have working_set_source (measured, last_migration or memory) and vcpu_busy.',
    '1.11': "A live dry run's forecast figures have writes_in_bursts: whether the guest "
            'writes its memory in bursts with quiet stretches between (from its vCPU time '
            'read every 50 ms while its dirty rate was measured), which lets a later pass '
            'that falls between two end the migration; null when not measured.',
}


class Version(tuple):
    """(major, minor), ordered; str() is 'X.Y'."""

    def __new__(cls, major, minor):
        return super().__new__(cls, (int(major), int(minor)))

    @classmethod
    @functools.lru_cache(maxsize=64)
    def parse(cls, text):
        parsed = microversion_parse.parse_version_string(text)
        return cls(parsed.major, parsed.minor)

    def __str__(self):
        return f'{self[0]}.{self[1]}'


# The version that added the convergence forecast, convergence_verdict and observations.
CONVERGENCE_SINCE = '1.5'
# A live dry run's convergence controls; POST /v1/plans/{id}/cancel.
DRY_RUN_CONTROLS_SINCE = PLAN_CANCEL_SINCE = '1.6'
# Where a forecast's fixed overhead came from (figures.overhead_source, overhead_note).
FORECAST_OVERHEAD_SINCE = '1.7'
# The effective rate a cap gives (figures.effective_bandwidth*, an observation's
# effective_rate).
EFFECTIVE_RATE_SINCE = '1.8'
# A forecast's borderline, verdict_at_low, borderline_note and the dirty rate's interval
# (figures.dirty_rate_low, dirty_rate_high).
BORDERLINE_SINCE = '1.9'
# A dry run's "forecast": false.
FORECAST_OPT_OUT_SINCE = '1.9'
# A borderline forecast's verdict is the likeliest (at the measured rate); verdict_at_high.
LIKELIEST_VERDICT_SINCE = '1.10'
# A forecast's figures.writes_in_bursts.
WRITE_BURSTS_SINCE = '1.11'

MIN_VERSION = Version.parse(next(iter(HISTORY)))
MAX_VERSION = Version.parse(list(HISTORY)[-1])

# The version of the request being served in this thread (set by MicroversionHook); code
# outside a request (the CLI, tests of the views) gets MAX_VERSION.
_CURRENT = contextvars.ContextVar('migrator_api_version', default=None)


class VersionNotAcceptable(exceptions.MigratorException):
    code = 406


def from_headers(headers):
    """The Version a request asks for: MIN_VERSION without the header; Invalid (400) for a
    malformed header, VersionNotAcceptable (406) for a version outside MIN..MAX."""
    try:
        text = microversion_parse.get_version(headers, SERVICE_TYPE)
    except (TypeError, ValueError) as exc:
        raise exceptions.Invalid(f'header {HEADER}: {exc}') from None
    if text is None:
        return MIN_VERSION
    if text.strip().lower() == 'latest':
        return MAX_VERSION
    try:
        version = Version.parse(text)
    except (TypeError, ValueError):
        raise exceptions.Invalid(
            f"header {HEADER}: '{text}' is not a version; give '{SERVICE_TYPE} X.Y' with "
            f'X.Y from {MIN_VERSION} to {MAX_VERSION}, or latest') from None
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionNotAcceptable(
            f'API version {version} is not supported: this API serves {SERVICE_TYPE} '
            f'{MIN_VERSION} to {MAX_VERSION}')
    return version


def set_requested(version):
    return _CURRENT.set(version)


def reset(token):
    _CURRENT.reset(token)


def requested():
    """The version of the request being served, or MAX_VERSION outside a request."""
    version = _CURRENT.get()
    return MAX_VERSION if version is None else version


def at_least(text):
    return requested() >= Version.parse(text)


def header_value(version):
    return f'{SERVICE_TYPE} {version}'


class MicroversionHook(hooks.PecanHook):
    """Reads the request's version before its controller runs (a bad header is a 400 or 406
    before anything is done) and names the version served in the response."""

    priority = 15

    def on_route(self, state):
        request = state.request
        request.context['migrator_version_token'] = None
        version = from_headers(request.headers)
        request.context['migrator_version'] = version
        request.context['migrator_version_token'] = set_requested(version)

    def after(self, state):
        self._finish(state)

    def on_error(self, state, exc):
        self._finish(state)

    @staticmethod
    def _finish(state):
        context = state.request.context
        version = context.get('migrator_version')
        response = state.response
        if version is not None and response is not None:
            response.headers[HEADER] = header_value(version)
            response.headers['Vary'] = HEADER
        token = context.pop('migrator_version_token', None)
        if token is not None:
            try:
                reset(token)
            except ValueError:
                pass  # set in another context (thread): nothing of ours to undo
