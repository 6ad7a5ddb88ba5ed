"""Small helpers shared by the v1 controllers: query parameters."""

from migrator.common import exceptions


def check_params(params, allowed):
    """Refuses unknown or repeated query parameters (a typo must not silently match all)."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise exceptions.Invalid(
            'unknown query parameter{} {}; this resource takes: {}'.format(
                's' if len(unknown) > 1 else '', ', '.join(f"'{u}'" for u in unknown),
                ', '.join(allowed) if allowed else 'none'))
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

