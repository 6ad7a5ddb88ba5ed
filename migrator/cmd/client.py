"""A small client of the migrator REST API (used by migrator-manage; usable from scripts)."""

import urllib.parse

import requests

DEFAULT_URL = 'http://127.0.0.1:9777'


# The microversion that added the convergence forecast, the stall diagnosis and the
# observations; the calls that show them ask for it.
FORECAST_VERSION = {'OpenStack-API-Version': 'migration 1.5'}
# 1.7: the forecast says where its fixed overhead came from, an observation has its residual;
# 1.8: the effective rate a cap gives (the forecast's, an observation's); 1.9: a borderline
# forecast and the interval of the measured dirty rate; 1.10: a borderline forecast's
# verdict is the likeliest, with verdict_at_high; 1.11: whether the guest writes in bursts.
OVERHEAD_VERSION = {'OpenStack-API-Version': 'migration 1.11'}


class ClientError(Exception):
    """Anything that went wrong talking to the API; str() is the message for the user."""


class APIError(ClientError):
    """The API answered with an error document."""

    def __init__(self, code, title, message):
        self.code = code
        self.title = title
        self.message = message
        super().__init__(message)


class ConnectionFailed(ClientError):
    pass


class Client:
    def __init__(self, url=DEFAULT_URL, timeout=60, session=None):
        """url: the API's URL, or a function that finds it on first use (from a
        service catalog: migrator.cmd.client_auth). session: a requests.Session, with
        its .auth set when the API needs credentials."""
        self._url = url.rstrip('/') if isinstance(url, str) else url
        self.timeout = timeout
        self.session = session or requests.Session()

    @property
    def url(self):
        if callable(self._url):
            self._url = self._url().rstrip('/')
        return self._url

    def close(self):
        self.session.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _request(self, method, path, params=None, json=None, headers=None):
        url = self.url + path
        headers = {'Accept': 'application/json', **(headers or {})}
        if method in ('POST', 'PUT', 'PATCH'):
            # The API refuses (415) an acting request that does not say JSON, body or not.
            headers['Content-Type'] = 'application/json'
        try:
            resp = self.session.request(method, url, params=params, json=json,
                                        timeout=self.timeout, headers=headers)
        except requests.exceptions.Timeout:
            raise ConnectionFailed(f'the migrator API at {self.url} did not answer within '
                                   f'{self.timeout} s') from None
        except requests.exceptions.ConnectionError:
            raise ConnectionFailed(f'cannot reach the migrator API at {self.url}: is '
                                   'migrator-api or migrator-all running?') from None
        except requests.exceptions.RequestException as exc:
            raise ConnectionFailed(
                f'request to the migrator API at {self.url} failed: {exc}') from None
        if resp.status_code == 204:
            return resp, {}
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code >= 400:
            error = body.get('error') if isinstance(body, dict) else None
            if isinstance(error, dict) and error.get('message'):
                raise APIError(resp.status_code, error.get('title', resp.reason),
                               error['message'])
            text = (resp.text or '').strip()[:200]
            raise APIError(resp.status_code, resp.reason,
                           f'{method} {url} answered {resp.status_code} {resp.reason}'
                           + (f': {text}' if text else ''))
        if body is None:
            raise ClientError(f'{method} {url} answered {resp.status_code} without a JSON '
                              f'body: is {self.url} the migrator API?')
        return resp, body

    @staticmethod
    def _quote(value):
        return urllib.parse.quote(str(value), safe='')

    def _list_all(self, path, key, params=None):
        """Every item of a paginated listing: follows the `next` links (from their /v1/
        on, against this client's URL: the link's host may not be the one reachable from
        here)."""
        items, seen = [], set()
        while True:
            body = self._request('GET', path, params=params)[1]
            items.extend(body[key])
            nxt = body.get('next')
            if not nxt or not body[key]:
                return items
            link = urllib.parse.urlsplit(nxt)
            if '/v1/' not in link.path:
                return items
            path = link.path[link.path.index('/v1/'):] + (f'?{link.query}' if link.query
                                                           else '')
            if path in seen:   # a server that repeats itself must not loop us forever
                return items
            seen.add(path)
            params = None

    # -- resources --------------------------------------------------------------------------

    def versions(self):
        return self._request('GET', '/')[1]

    def host_list(self):
        return self._list_all('/v1/hosts', 'hosts')

    def host_get(self, name):
        return self._request('GET', '/v1/hosts/' + self._quote(name))[1]

    def instance_list(self, host=None):
        params = {'host': host} if host else None
        return self._list_all('/v1/instances', 'instances', params=params)

    def instance_get(self, ident):
        return self._request('GET', '/v1/instances/' + self._quote(ident))[1]

    def instance_observations(self, ident):
        """What the instance's completed live migrations showed, newest first (1.5)."""
        return self._request('GET', '/v1/instances/' + self._quote(ident) + '/observations',
                             headers=OVERHEAD_VERSION)[1]['observations']

    def host_set_status(self, name, status, reason=None):
        return self._request('PUT', '/v1/hosts/' + self._quote(name),
                             json={'status': status, 'reason': reason})[1]

    def migration_create(self, instance, migration_type='live', target_host=None,
                         block_migration=None, controls=None, priority=None, dry_run=False):
        """Returns the accepted migration (the API answered 202), or with dry_run the
        scheduler's answer ({"dry_run": {...}}).

        controls: convergence fields (max_downtime_ms, bandwidth_mib, ...); None ones are
        left out so the service's defaults apply."""
        body = {'instance': instance, 'type': migration_type, 'target_host': target_host}
        if block_migration is not None:
            body['block_migration'] = block_migration
        body.update({k: v for k, v in (controls or {}).items() if v is not None})
        if priority is not None:
            body['priority'] = priority
        if dry_run:
            body['dry_run'] = True
            # 1.7: the answer has the convergence forecast, with its overhead's source.
            return self._request('POST', '/v1/migrations', json=body,
                                 headers=OVERHEAD_VERSION)[1]
        return self._request('POST', '/v1/migrations', json=body)[1]

    def server_group_list(self):
        return self._list_all('/v1/server-groups', 'server_groups')

    def server_group_get(self, ident):
        return self._request('GET', '/v1/server-groups/' + self._quote(ident))[1]

    def server_group_create(self, name, policy, members=()):
        return self._request('POST', '/v1/server-groups',
                             json={'name': name, 'policy': policy,
                                   'members': list(members)})[1]

    def server_group_delete(self, ident):
        self._request('DELETE', '/v1/server-groups/' + self._quote(ident))

    def server_group_add_member(self, ident, instance):
        return self._request('POST', f'/v1/server-groups/{self._quote(ident)}/members',
                             json={'instance': instance})[1]

    def server_group_remove_member(self, ident, instance):
        return self._request(
            'DELETE', f'/v1/server-groups/{self._quote(ident)}/members/{self._quote(instance)}'
        )[1]

    def migration_list(self, status=None, instance=None, host=None, limit=None, marker=None):
        """One page: {"migrations": [...], "next": url} ("next" only when there may be more)."""
        params = {k: v for k, v in (('status', status), ('instance', instance),
                                    ('host', host), ('limit', limit), ('marker', marker))
                  if v is not None}
        return self._request('GET', '/v1/migrations', params=params or None)[1]

    def migration_get(self, migration_id):
        """The migration; at 1.5, with its convergence_verdict (the stall diagnosis)."""
        return self._request('GET', '/v1/migrations/' + self._quote(migration_id),
                             headers=FORECAST_VERSION)[1]

    # -- drains -----------------------------------------------------------------------------

    def host_drain(self, name, mode='live', target_hosts=None, max_parallel=None):
        """Starts a drain; returns the accepted job (202)."""
        body = {'mode': mode}
        if target_hosts:
            body['target_hosts'] = list(target_hosts)
        if max_parallel is not None:
            body['max_parallel'] = max_parallel
        return self._request('POST', f'/v1/hosts/{self._quote(name)}/drain', json=body)[1]

    def host_drain_get(self, name):
        """The host's newest drain or return job."""
        return self._request('GET', f'/v1/hosts/{self._quote(name)}/drain')[1]

    def host_drain_cancel(self, name):
        return self._request('DELETE', f'/v1/hosts/{self._quote(name)}/drain')[1]

    def host_undrain(self, name, return_guests=False):
        """{"host": <host>, "return": <return job or null>}."""
        return self._request('POST', f'/v1/hosts/{self._quote(name)}/undrain',
                             json={'return_guests': bool(return_guests)})[1]

    def drain_get(self, drain_id):
        return self._request('GET', '/v1/drains/' + self._quote(drain_id))[1]

    def migration_abort(self, migration_id):
        """Asks the API to abort; returns the migration (the API answered 202)."""
        return self._request('DELETE', '/v1/migrations/' + self._quote(migration_id))[1]

    def migration_force_complete(self, migration_id):
        """The migration (202) with 'forced': 'post_copy' or 'paused'."""
        return self._request('POST', f'/v1/migrations/{self._quote(migration_id)}/action',
                             json={'force_complete': None})[1]

    def migration_reset_state(self, migration_id, state, reason):
        """An administrator's reset of a migration in flight to error|failed."""
        return self._request('POST', f'/v1/migrations/{self._quote(migration_id)}/action',
                             json={'reset_state': {'state': state, 'reason': reason}})[1]

    def audit(self, fix=False):
        """The discrepancies between the DB and the hypervisors (GET), or those left after
        repairing the safe ones (POST with fix)."""
        if fix:
            return self._request('POST', '/v1/audit', json={'fix': True})[1]
        return self._request('GET', '/v1/audit')[1]

    def migration_samples(self, migration_id, limit=None, marker=None):
        params = {k: v for k, v in (('limit', limit), ('marker', marker)) if v is not None}
        return self._request('GET', f'/v1/migrations/{self._quote(migration_id)}/samples',
                             params=params or None)[1]['samples']

    # -- plans ------------------------------------------------------------------------------

    # Plans say whether max_moves cut them, and what was left, from this microversion on.
    PLAN_VERSION = {'OpenStack-API-Version': 'migration 1.5'}

    def plan_create(self, goal='balance', max_moves=None, min_gain=None, max_parallel=None):
        body = {'goal': goal}
        for key, value in (('max_moves', max_moves), ('min_gain', min_gain),
                           ('max_parallel', max_parallel)):
            if value is not None:
                body[key] = value
        return self._request('POST', '/v1/plans', json=body, headers=self.PLAN_VERSION)[1]

    def plan_list(self, status=None, limit=None):
        params = {k: v for k, v in (('status', status), ('limit', limit)) if v is not None}
        return self._request('GET', '/v1/plans', params=params or None,
                             headers=self.PLAN_VERSION)[1]

    def plan_get(self, plan_id):
        return self._request('GET', '/v1/plans/' + self._quote(plan_id),
                             headers=self.PLAN_VERSION)[1]

    def plan_apply(self, plan_id):
        """Returns the plan, now `applying` (the API answered 202)."""
        return self._request('POST', f'/v1/plans/{self._quote(plan_id)}/apply',
                             headers=self.PLAN_VERSION)[1]

    # Cancelling a plan is served from this microversion on.
    PLAN_CANCEL_VERSION = {'OpenStack-API-Version': 'migration 1.6'}

    def plan_cancel(self, plan_id):
        """Returns the plan, now `cancelled`: it can never be applied."""
        return self._request('POST', f'/v1/plans/{self._quote(plan_id)}/cancel',
                             headers=self.PLAN_CANCEL_VERSION)[1]

    # -- operations -------------------------------------------------------------------------

    def readiness(self):
        """(ready, {check: reason}) from /healthcheck (503 is an answer here, not an error)."""
        try:
            resp = self.session.get(self.url + '/healthcheck', timeout=self.timeout,
                                    headers={'Accept': 'application/json'})
        except requests.exceptions.RequestException as exc:
            raise ConnectionFailed(f'cannot reach the migrator API at {self.url}: {exc}') \
                from None
        try:
            body = resp.json()
        except ValueError:
            body = {}
        reasons = body.get('reasons') or [resp.text.strip() or resp.reason]
        return resp.status_code == 200, reasons

    def host_list_at(self, microversion):
        """The hosts as the given API microversion shows them ("migration X.Y")."""
        return self._request('GET', '/v1/hosts',
                             headers={'OpenStack-API-Version': microversion})[1]['hosts']

    def conductor_list(self, microversion):
        """The conductors (GET /v1/conductors, from API microversion 1.3 on)."""
        return self._request('GET', '/v1/conductors',
                             headers={'OpenStack-API-Version': microversion})[1]['conductors']
