"""The migrator REST API, as the dashboard's views call it.

Every call goes to the endpoint of service type ``migration`` in the logged-in user's
Keystone catalog, with the user's own token, so the API's policy decides what the user may
do exactly as it does for the CLI. Failures become MigratorAPIError (a Horizon-recoverable
exception carrying the API's own message), which the views hand to
``horizon.exceptions.handle``: the user sees a message, never a 500.
"""

import json

import requests
from django.conf import settings
from horizon import exceptions as horizon_exceptions
from openstack_dashboard.api import base

SERVICE_TYPE = 'migration'
# 1.1 adds duration_seconds and bytes_transferred to migrations, 1.2 agent_version to hosts,
# 1.3 conductors, 1.4 plan truncation, 1.5 the convergence forecast, 1.6 a dry run's
# convergence controls and plan cancel, 1.9 a dry run without the forecast.
API_VERSION = 'migration 1.9'
DEFAULT_TIMEOUT = 10


class MigratorAPIError(horizon_exceptions.RecoverableError, horizon_exceptions.Conflict):
    """The migrator API refused a request or could not be reached.

    ``str()`` is the API's message (which says what to fix); Horizon trusts the messages of
    its own exception classes and shows it to the user as it is.
    """

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self):
        return self.message


class MigratorUnauthorized(MigratorAPIError, horizon_exceptions.NotAuthorized):
    """401: the token expired or was revoked; Horizon logs the user out."""


def _error_class(status):
    return MigratorUnauthorized if status == 401 else MigratorAPIError


def endpoint(request):
    """The migrator API's base URL (without ``/v1``) from the user's catalog."""
    try:
        url = base.url_for(request, SERVICE_TYPE)
    except horizon_exceptions.ServiceCatalogException as exc:
        raise MigratorAPIError("The service catalog has no 'migration' endpoint: register "
                               "the migrator API in Keystone (service type 'migration').") from exc
    url = url.rstrip('/')
    if url.endswith('/v1'):
        url = url[:-3]
    return url


def _verify():
    if getattr(settings, 'OPENSTACK_SSL_NO_VERIFY', False):
        return False
    return getattr(settings, 'OPENSTACK_SSL_CACERT', None) or True


def call(request, method, path, params=None, body=None):
    """One request to ``<endpoint>/v1<path>``; the decoded JSON answer (None for 204)."""
    url = endpoint(request) + '/v1' + path
    headers = {'X-Auth-Token': request.user.token.id,
               'Accept': 'application/json',
               'OpenStack-API-Version': API_VERSION}
    data = None
    if method in ('POST', 'PUT', 'PATCH'):
        headers['Content-Type'] = 'application/json'
        if body is not None:
            data = json.dumps(body)
    timeout = getattr(settings, 'MIGRATOR_API_TIMEOUT', DEFAULT_TIMEOUT)
    try:
        resp = requests.request(method, url, params=params, data=data, headers=headers,
                                timeout=timeout, verify=_verify())
    except requests.Timeout as exc:
        raise MigratorAPIError(f'The migrator API at {url} did not answer within '
                               f'{timeout} s.') from exc
    except requests.RequestException as exc:
        raise MigratorAPIError(f'Cannot reach the migrator API at {url}: {exc}') from exc
    if resp.status_code >= 400:
        raise _error_class(resp.status_code)(_error_message(resp), resp.status_code)
    if resp.status_code == 204 or not resp.content:
        return None
    try:
        return resp.json()
    except ValueError as exc:
        raise MigratorAPIError(f'The migrator API answered {method} {path} with something '
                               'that is not JSON.', resp.status_code) from exc


def _error_message(resp):
    try:
        message = resp.json()['error']['message']
    except (ValueError, KeyError, TypeError):
        message = resp.text[:300] or resp.reason
    return f'{message} (HTTP {resp.status_code})'


def _list(request, path, key, params=None, limit=None):
    """Every item of a paged list (following ``next``) up to ``limit`` items."""
    params = {k: v for k, v in (params or {}).items() if v not in (None, '')}
    items = []
    while True:
        page = call(request, 'GET', path, params=params)
        items.extend(page.get(key, []))
        if not page.get('next') or not page.get(key) or (limit and len(items) >= limit):
            break
        params = dict(params, marker=_marker(page[key][-1]))
    return items[:limit] if limit else items


def _marker(item):
    return item.get('id') or item.get('uuid') or item.get('name')


# Migrations

def migration_list(request, status=None, host=None, instance=None, limit=200):
    return _list(request, '/migrations', 'migrations',
                 {'status': status, 'host': host, 'instance': instance,
                  'limit': min(limit, 1000)}, limit=limit)


def migration_get(request, migration_id):
    return call(request, 'GET', f'/migrations/{migration_id}')


def migration_samples(request, migration_id, limit=None):
    params = {'limit': limit} if limit else None
    return call(request, 'GET', f'/migrations/{migration_id}/samples',
                params=params)['samples']


def migration_create(request, instance, **fields):
    body = {'instance': instance}
    body.update({k: v for k, v in fields.items() if v is not None})
    return call(request, 'POST', '/migrations', body=body)


def migration_dry_run(request, instance, target_host=None, migration_type='live'):
    # The Migrate form asks each host at once and shows where the guest can go: a
    # convergence forecast would make each answer wait while the source measures the
    # guest's dirty rate (10 s by default), past this client's timeout.
    body = {'instance': instance, 'type': migration_type, 'dry_run': True}
    if migration_type == 'live':
        body['forecast'] = False
    if target_host:
        body['target_host'] = target_host
    return call(request, 'POST', '/migrations', body=body)['dry_run']


def migration_abort(request, migration_id):
    return call(request, 'DELETE', f'/migrations/{migration_id}')


def migration_force_complete(request, migration_id):
    return call(request, 'POST', f'/migrations/{migration_id}/action',
                body={'force_complete': None})


# Hosts

def host_list(request):
    return _list(request, '/hosts', 'hosts', {'limit': 1000})


def host_get(request, name):
    return call(request, 'GET', f'/hosts/{name}')


def host_set_status(request, name, status, reason=None):
    body = {'status': status}
    if reason:
        body['reason'] = reason
    return call(request, 'PUT', f'/hosts/{name}', body=body)


def host_drain(request, name, mode='live', max_parallel=None, target_hosts=None):
    body = {'mode': mode, 'max_parallel': max_parallel, 'target_hosts': target_hosts or None}
    return call(request, 'POST', f'/hosts/{name}/drain', body=body)


def host_undrain(request, name, return_guests=False):
    return call(request, 'POST', f'/hosts/{name}/undrain',
                body={'return_guests': bool(return_guests)})


def drain_list(request, host=None, limit=50):
    return call(request, 'GET', '/drains',
                params={k: v for k, v in (('host', host), ('limit', limit)) if v})['drains']


def drain_get(request, drain_id):
    return call(request, 'GET', f'/drains/{drain_id}')


def drain_cancel(request, drain_id):
    return call(request, 'DELETE', f'/drains/{drain_id}')


# Instances

def instance_list(request, host=None):
    return _list(request, '/instances', 'instances', {'host': host, 'limit': 1000})


def instance_get(request, instance):
    return call(request, 'GET', f'/instances/{instance}')


# Rebalance plans

def plan_list(request, limit=50):
    return call(request, 'GET', '/plans', params={'limit': limit})['plans']


def plan_get(request, plan_id):
    return call(request, 'GET', f'/plans/{plan_id}')


def plan_create(request, max_moves=None, min_gain=None, max_parallel=None):
    return call(request, 'POST', '/plans',
                body={'goal': 'balance', 'max_moves': max_moves, 'min_gain': min_gain,
                      'max_parallel': max_parallel})


def plan_apply(request, plan_id):
    return call(request, 'POST', f'/plans/{plan_id}/apply')


def plan_cancel(request, plan_id):
    return call(request, 'POST', f'/plans/{plan_id}/cancel')


# Server groups

def server_group_list(request):
    return _list(request, '/server-groups', 'server_groups', {'limit': 1000})


def server_group_get(request, group):
    return call(request, 'GET', f'/server-groups/{group}')


def server_group_create(request, name, policy, members=None):
    return call(request, 'POST', '/server-groups',
                body={'name': name, 'policy': policy, 'members': list(members or [])})


def server_group_delete(request, group):
    return call(request, 'DELETE', f'/server-groups/{group}')


def server_group_add_member(request, group, instance):
    return call(request, 'POST', f'/server-groups/{group}/members',
                body={'instance': instance})


def server_group_remove_member(request, group, instance):
    return call(request, 'DELETE', f'/server-groups/{group}/members/{instance}')
