"""Small helpers shared by the v1 controllers: query parameters, pages of a list."""

import urllib.parse

import pecan
from oslo_config import cfg

from migrator.api import hooks
from migrator.common import exceptions

CONF = cfg.CONF


def check_params(params, allowed):
    """Refuses unknown or repeated query parameters (a typo must not silently match all)."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        names = ', '.join(f"'{u}'" for u in unknown)
        plural = 's' if len(unknown) > 1 else ''
        takes = ', '.join(allowed) if allowed else 'none'
        raise exceptions.Invalid(
            f'unknown query parameter{plural} {names}; this resource takes: {takes}')
    result = {}
    for name in allowed:
        value = params.get(name)
        if isinstance(value, list):
            raise exceptions.Invalid(f"query parameter '{name}' given more than once")
        if value == '':
            value = None
        result[name] = value
    return result


def service(service_class):
    """The service (migrator.api.service) for this request: its DB, conductor client and
    RequestContext."""
    request = pecan.request
    return service_class(request.db, request.conductor_api, hooks.get_context(request))


def parse_limit(value, default, maximum):
    if value is None:
        return default
    try:
        limit = int(value)
    except (TypeError, ValueError):
        limit = None
    if limit is None or limit < 1 or limit > maximum:
        raise exceptions.Invalid(
            f"limit must be an integer from 1 to {maximum}, not '{value}'")
    return limit


def page_limit(value):
    """The page size a list request asks for: [api] default_limit without one, at most
    [api] max_limit."""
    return parse_limit(value, CONF.api.default_limit, CONF.api.max_limit)


def next_link(resource, params, records, limit, key):
    """Nova's `next` link: present when the page is full (more may follow), with the same
    filters, the same limit and the marker of the page's last row (its `key`)."""
    if len(records) < limit:
        return None
    query = {k: v for k, v in params.items() if v is not None and k != 'marker'}
    query['limit'] = limit
    query['marker'] = records[-1][key]
    return (f'{pecan.request.application_url}/v1/{resource}?'
            f'{urllib.parse.urlencode(query)}')


def paged(result, name, records, next_href):
    """{name: records} plus `next` when there is one."""
    result[name] = records
    if next_href:
        result['next'] = next_href
    return result
