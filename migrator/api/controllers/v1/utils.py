"""Small helpers shared by the v1 controllers: query parameters."""

from migrator.common import exceptions


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

