"""The WSGI layers around the pecan application, outermost first:

- oslo.middleware http_proxy_to_wsgi: the scheme, host and path prefix a TLS-terminating
  proxy forwards (Forwarded, X-Forwarded-*), only when [oslo_middleware]
  enable_proxy_headers_parsing is on: otherwise any client could claim them.
- TrustedHost: the Host the application builds its links from (version documents, Location,
  the next page of a list) is never the client's: [api] public_endpoint when set, else the
  address the server is bound to (SERVER_NAME and SERVER_PORT), unless a trusted proxy
  forwards it (enable_proxy_headers_parsing).
- RequestId (oslo.middleware's request_id without webob): every request gets an id generated here
  (environ 'openstack.request_id', answered in X-Openstack-Request-Id). A client's own
  X-Openstack-Request-Id is never taken as the local id; a well-formed one is kept apart as
  the global request id (environ 'openstack.global_request_id') for tracing across services.
- oslo.middleware CORS: only when [cors] allowed_origin names origins (none by default).
- FaultWrapper: 413 for a body larger than [oslo_middleware] max_request_body_size, a JSON
  500 for anything that escapes.
- oslo.middleware sizelimit, for requests with a body: stops a chunked body past the
  same limit while it is read.
- JsonOnly: 415 for a POST, PUT or PATCH that is not application/json, 400 for a body that
  is not JSON of bounded depth with finite numbers (request_body).
"""

import re
import urllib.parse

import webob
from oslo_config import cfg
from oslo_context import context as oslo_context
from oslo_middleware import cors, http_proxy_to_wsgi, request_id, sizelimit

from migrator.api import errors, request_body
from migrator.common import exceptions

CONF = cfg.CONF

# Headers a browser may send on a cross-origin request once [cors] allows its origin.
CORS_ALLOW_HEADERS = ['Content-Type', 'X-Auth-Token', 'X-Openstack-Request-Id',
                      'Authorization']
CORS_EXPOSE_HEADERS = ['X-Openstack-Request-Id', 'Location']


def set_cors_defaults():
    cors.set_defaults(allow_headers=CORS_ALLOW_HEADERS, expose_headers=CORS_EXPOSE_HEADERS,
                      allow_methods=['GET', 'PUT', 'POST', 'DELETE', 'PATCH'])


class TrustedHost:
    """Replaces the request's Host (anyone can send any Host, and links built from it would
    point a client, or a cache in front of the API, wherever the sender likes) with
    [api] public_endpoint, or with the address the WSGI server is bound to. Behind a proxy
    trusted with [oslo_middleware] enable_proxy_headers_parsing, the host the proxy
    forwards is kept, as is the path prefix it gives (X-Forwarded-Prefix)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        endpoint = CONF.api.public_endpoint
        if endpoint:
            url = urllib.parse.urlsplit(endpoint)
            environ['wsgi.url_scheme'] = url.scheme
            environ['HTTP_HOST'] = url.netloc
            environ['SCRIPT_NAME'] = url.path.rstrip('/') + environ.get('SCRIPT_NAME', '')
        elif not CONF.oslo_middleware.enable_proxy_headers_parsing:
            name = environ.get('SERVER_NAME') or 'localhost'
            if ':' in name and not name.startswith('['):
                name = f'[{name}]'
            port = environ.get('SERVER_PORT') or ''
            default = {'http': '80', 'https': '443'}.get(environ.get('wsgi.url_scheme'))
            environ['HTTP_HOST'] = name if port in ('', default) else f'{name}:{port}'
        return self.app(environ, start_response)


class ProxyHeaders:
    """oslo.middleware's http_proxy_to_wsgi while [oslo_middleware]
    enable_proxy_headers_parsing is on (read per request, as that layer does); off, the
    layer changes nothing, and its webob round trip cost about 70 us of every request
    (issue 15), so it is stepped over."""

    def __init__(self, app, conf):
        self.app = app
        self.proxy = http_proxy_to_wsgi.HTTPProxyToWSGI(app, conf)  # registers its option
        self.conf = conf

    def __call__(self, environ, start_response):
        if self.conf.oslo_middleware.enable_proxy_headers_parsing:
            return self.proxy(environ, start_response)
        return self.app(environ, start_response)


class RequestId:
    """oslo.middleware's request_id without its webob round trip (about 45 us of a GET
    that costs a few hundred, issue 15): a new local id in environ 'openstack.request_id'
    and in the X-Openstack-Request-Id answer header (unless the application set it), and a
    well-formed client id kept apart as 'openstack.global_request_id'."""

    _ID = re.compile(request_id.ID_FORMAT)
    _HEADER = request_id.HTTP_RESP_HEADER_REQUEST_ID

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        given = environ.get('HTTP_X_OPENSTACK_REQUEST_ID', '')
        if given and self._ID.match(given):
            environ[request_id.GLOBAL_REQ_ID] = given
        req_id = oslo_context.generate_request_id()
        environ[request_id.ENV_REQUEST_ID] = req_id

        def start(status, headers, exc_info=None):
            if not any(name.lower() == self._HEADER for name, _ in headers):
                headers = list(headers) + [(request_id.INBOUND_HEADER, req_id)]
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


class BodySizeLimit:
    """oslo.middleware's sizelimit for the requests that have a body: a request without
    Content-Length or chunked Transfer-Encoding has none to limit, and the layer's webob
    round trip cost about 35 us of every GET (issue 15)."""

    def __init__(self, app, conf):
        self.app = app
        self.limiter = sizelimit.RequestBodySizeLimiter(app, conf)

    def __call__(self, environ, start_response):
        if environ.get('CONTENT_LENGTH') or 'chunked' in environ.get(
                'HTTP_TRANSFER_ENCODING', '').lower():
            return self.limiter(environ, start_response)
        return self.app(environ, start_response)


class JsonOnly:
    """Refuses a request that acts without saying application/json (415), and a body that
    is not JSON as request_body takes it (400)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        method = environ.get('REQUEST_METHOD', 'GET')
        try:
            has_body = int(environ.get('CONTENT_LENGTH') or 0) > 0
        except ValueError:
            has_body = True
        if 'chunked' in environ.get('HTTP_TRANSFER_ENCODING', '').lower():
            has_body = True
        try:
            request_body.check_content_type(method, environ.get('CONTENT_TYPE'), has_body)
            if has_body:
                # Checked before pecan sees it: pecan decodes a JSON body itself while
                # routing, and a body nested too deep exhausts the stack there.
                request_body.parse(webob.Request(environ).body)
        except exceptions.MigratorException as exc:
            return errors.response_for(exc, webob.Request(environ))(environ, start_response)
        return self.app(environ, start_response)


def wrap(app, authenticate=None):
    """The pecan application inside the layers above; `authenticate(app)` (the layer of
    [DEFAULT] auth_strategy, migrator/api/auth.py) goes outside JsonOnly, so a caller learns
    it must authenticate before anything about its body, and inside the size limit and the
    fault wrapper."""
    set_cors_defaults()
    app = JsonOnly(app)
    if authenticate is not None:
        app = authenticate(app)
    app = BodySizeLimit(app, CONF)
    app = errors.FaultWrapper(app)
    CONF.register_opts(cors.OPTS, 'cors')
    if CONF.cors.allowed_origin:
        # Without origins the layer answers nothing; leaving it out saves its cost.
        app = cors.CORS(app, CONF)
    app = RequestId(app)
    app = TrustedHost(app)
    return ProxyHeaders(app, CONF)
