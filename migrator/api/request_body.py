"""What the API accepts as a request body: JSON only, sent as application/json, of bounded
depth, with finite numbers of bounded size.

Why the content type is enforced: a browser sends a cross-site <form> POST (form-encoded,
multipart or text/plain) without asking the server first, so an API that reads such a body
as JSON can be driven by any page its operator opens. A request with Content-Type
application/json cannot be sent cross-site without a CORS preflight, which this API answers
only for the origins in [cors] allowed_origin (none by default). So every POST, PUT and PATCH
must say application/json, even one without a body (plan apply, undrain).

Why depth and numbers are bounded: Python's json module recurses per nesting level (a 100 KB
body of "[" exhausted the interpreter's stack and became a 500), accepts NaN and Infinity
(not JSON at all), turns 1e400 into infinity and accepts integers of thousands of digits.
"""

import json
import re

from migrator.common import exceptions

# Methods whose requests carry a body to act on.
BODY_METHODS = ('POST', 'PUT', 'PATCH')
JSON_TYPE = 'application/json'

# Our bodies nest three levels at most; 32 leaves room and stops stack exhaustion long before.
MAX_DEPTH = 32
# Every integer the API takes fits a signed 64-bit column.
MAX_INTEGER = 2 ** 63 - 1

_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = str.maketrans('', '', ''.join(chr(c) for c in range(128) if chr(c) not in '[]{}'))


def check_content_type(method, content_type, has_body):
    """Invalid-415 unless a request that acts (POST, PUT, PATCH) says application/json; a
    DELETE or GET with a body must say it too."""
    if method not in BODY_METHODS and not has_body:
        return
    media = (content_type or '').split(';', 1)[0].strip().lower()
    if media == JSON_TYPE:
        return
    got = f"'{media}'" if media else 'no Content-Type'
    raise exceptions.UnsupportedMediaType(
        f'{method} requests must send a JSON body with "Content-Type: {JSON_TYPE}" (even an '
        f'empty one; got {got}). Form-encoded and text bodies are refused so that no web '
        'page can send this request on an operator\'s behalf.')


def _depth(text):
    """The deepest nesting of arrays and objects in a JSON text (strings skipped)."""
    brackets = _STRING_RE.sub('', text).translate(_BRACKETS)
    depth = deepest = 0
    for char in brackets:
        if char in '[{':
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest
        else:
            depth -= 1
    return deepest


def _constant(name):
    raise exceptions.Invalid(
        f'request body is not valid JSON: {name} is not a JSON number; send a finite number '
        'or null')


def _float(text):
    value = float(text)
    if value in (float('inf'), float('-inf')):
        raise exceptions.Invalid(
            f'request body: the number {text} is out of range; numbers must be finite '
            '(at most about 1.8e308)')
    return value


def _int(text):
    if len(text.lstrip('-')) > 19 or abs(int(text)) > MAX_INTEGER:
        raise exceptions.Invalid(
            f'request body: the integer {text[:30]}{"..." if len(text) > 30 else ""} is out '
            f'of range; integers must lie between -{MAX_INTEGER} and {MAX_INTEGER}')
    return int(text)


def parse(body):
    """The decoded JSON of a request body (bytes or str), or Invalid saying what to fix."""
    if isinstance(body, bytes):
        try:
            body = body.decode('utf-8')
        except UnicodeDecodeError as exc:
            raise exceptions.Invalid(
                f'request body is not valid JSON: it is not UTF-8 ({exc.reason} at byte '
                f'{exc.start})') from None
    if not body or not body.strip():
        raise exceptions.Invalid('request body is not valid JSON: the body is empty')
    depth = _depth(body)
    if depth > MAX_DEPTH:
        raise exceptions.Invalid(
            f'request body nests arrays or objects more than {MAX_DEPTH} levels deep; no '
            'request of this API needs more than a few')
    try:
        return json.loads(body, parse_constant=_constant, parse_float=_float,
                          parse_int=_int)
    except exceptions.Invalid:
        raise
    except (ValueError, RecursionError) as exc:
        raise exceptions.Invalid(f'request body is not valid JSON: {exc}') from None
