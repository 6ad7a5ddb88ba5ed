"""Every error the API answers is one JSON document:

    {"error": {"code": 404, "title": "Not Found", "message": "..."}}

This holds for our own exceptions (they carry `.code` and `.message`), for pecan's and
webob's (unknown path, method not allowed, ...), for a conductor that does not answer, and for
anything unexpected: that one becomes a 500 with a generic message, and the traceback goes to
the log only, never to the client.
"""

import http
import json
import os

import oslo_messaging as messaging
import pecan
import webob
import webob.exc
from oslo_config import cfg
from oslo_log import log as logging
from sqlalchemy import exc as sa_exc

from migrator.common import exceptions

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

RESOURCES = ('/v1/hosts, /v1/instances, /v1/migrations, /v1/drains, /v1/plans and '
             '/v1/server-groups')


def title(code):
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return 'Error'


def error_body(code, message):
    return {'error': {'code': code, 'title': title(code), 'message': message}}


def make_response(code, message):
    resp = webob.Response(status=code, content_type='application/json', charset='utf-8')
    resp.text = json.dumps(error_body(code, message))
    return resp


def exception_message(exc):
    """The user-facing message of one of our exceptions, local or re-raised from RPC.

    oslo.messaging re-raises a remote exception with the remote traceback appended to its
    str(); the `.message` attribute set by MigratorException stays clean, so use that.
    """
    message = getattr(exc, 'message', None)
    if not isinstance(message, str) or not message:
        message = str(exc)
    return message.split('\nTraceback (most recent call last)')[0].strip()


def _request_id(request):
    ctxt = getattr(request, 'context', {}).get('migrator_context') if request else None
    return getattr(ctxt, 'request_id', None)


def _unexpected(request):
    rid = _request_id(request)
    where = f' (request {rid})' if rid else ''
    return 500, f'An unexpected error occurred; the migrator-api log has the details{where}.'


# What SQLAlchemy raises when the server is down, restarting or unreachable (connection
# refused, reset, "terminating connection due to administrator command"), or when every
# pooled connection is taken and none comes back in time.
_DB_OUTAGE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
              sa_exc.TimeoutError)


def db_outage(exc):
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _DB_OUTAGE)


_FRAMEWORK_DIRS = tuple(os.path.dirname(m.__file__) + os.sep for m in (pecan, webob))
_FRAMEWORK_FILES = ('cgi.py', 'multipart.py')


def _refused_by_framework(exc, method, path):
    """(code, message) when pecan or webob raised a TypeError or ValueError themselves,
    before any controller code ran: a controller called without the id it needs (a
    method on a collection that only its members have: 405), or a body that cannot be
    parsed as its Content-Type says (400). None for errors raised in our own code."""
    if not isinstance(exc, (TypeError, ValueError)):
        return None
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return None
    filename = tb.tb_frame.f_code.co_filename
    if not (filename.startswith(_FRAMEWORK_DIRS)
            or os.path.basename(filename) in _FRAMEWORK_FILES):
        return None
    if isinstance(exc, TypeError):
        LOG.info('%s %s refused (405): %s', method, path, exc)
        return 405, f'Method {method} is not allowed on {path}.'
    LOG.info('%s %s refused (400): %s', method, path, exc)
    return 400, (f'the request body cannot be parsed as its Content-Type says ({exc}); send '
                 'JSON with Content-Type: application/json')


def translate(exc, request=None):
    """(code, message) for an exception raised while serving `request`; logs what needs it."""
    method = getattr(request, 'method', '?')
    path = getattr(request, 'path', '?')
    if isinstance(exc, exceptions.MigratorException):
        code = exc.code if isinstance(exc.code, int) and 400 <= exc.code < 600 else 500
        message = exception_message(exc)
        if code >= 500:
            LOG.error('%s %s failed: %s', method, path, message, exc_info=exc)
        else:
            LOG.info('%s %s refused (%d): %s', method, path, code, message)
        return code, message
    if db_outage(exc):
        LOG.error('%s %s: the database is not reachable: %s', method, path, exc)
        return 503, exceptions.DatabaseUnavailable.message
    if isinstance(exc, messaging.MessagingTimeout):
        message = (f'conductor did not answer within {CONF.api.rpc_timeout} s; is '
                   'migrator-conductor running?')
        LOG.error('%s %s: %s', method, path, message)
        return 503, message
    if isinstance(exc, messaging.RemoteError):
        # The conductor raised something that is not one of our exceptions: a bug there.
        LOG.error('%s %s: unexpected error in the conductor: %s: %s', method, path,
                  exc.exc_type, exc.value)
        return _unexpected(request)
    if isinstance(exc, messaging.MessagingException):
        message = (f'cannot reach migrator-conductor over the message bus ({exc}); is the '
                   'broker running and [DEFAULT] transport_url right?')
        LOG.error('%s %s: %s', method, path, message)
        return 503, message
    if isinstance(exc, webob.exc.HTTPException):
        code = exc.code
        if code == 404:
            message = f'Nothing at {path}. The API serves {RESOURCES}.'
        elif code == 405:
            message = f'Method {method} is not allowed on {path}.'
        elif code == 406:
            message = 'The API answers only application/json.'
        else:
            message = exc.detail or exc.explanation or title(code)
        if code >= 500:
            LOG.error('%s %s failed: %s', method, path, message)
        return code, message
    framework_code = _refused_by_framework(exc, method, path)
    if framework_code is not None:
        return framework_code
    LOG.error('Unexpected error on %s %s', method, path, exc_info=exc)
    return _unexpected(request)


def response_for(exc, request=None):
    code, message = translate(exc, request)
    return make_response(code, message)


def max_request_body():
    """[oslo_middleware] max_request_body_size: the largest body the API reads."""
    try:
        return CONF.oslo_middleware.max_request_body_size
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
        # Not yet registered: oslo.middleware's sizelimit registers it when it is made.
        from oslo_middleware import sizelimit
        CONF.register_opts(sizelimit.OPTS, group='oslo_middleware')
        return CONF.oslo_middleware.max_request_body_size


class FaultWrapper:
    """Outermost layer of our own: refuses oversized bodies (by Content-Length, before
    reading them; oslo.middleware's sizelimit below it stops a chunked one while it is
    read), and whatever escapes pecan becomes a JSON 500, never a traceback."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        try:
            length = int(environ.get('CONTENT_LENGTH') or 0)
        except ValueError:
            length = 0
        limit = max_request_body()
        if length > limit:
            return make_response(413, f'The request body is larger than {limit} bytes '
                                      '([oslo_middleware] max_request_body_size).'
                                 )(environ, start_response)
        try:
            return self.app(environ, start_response)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            request = webob.Request(environ)
            return response_for(exc, request)(environ, start_response)
