"""Pecan hooks: a RequestContext per request, the DB and conductor handles, JSON errors."""

import re
import time

from pecan import hooks

from migrator.api import access_log, errors
from migrator.common import context

REQUEST_ID_HEADER = 'X-Openstack-Request-Id'
# oslo.middleware's format: req-<uuid4>. Anything else a client sends is ignored.
_REQUEST_ID_RE = re.compile(r'^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-'
                            r'[0-9a-f]{12}$')


def _global_request_id(request):
    """The client's request id, if it is a valid one: it becomes the context's
    global_request_id (ties this request to the caller's), never the local request_id."""
    environ = request.environ
    given = environ.get('openstack.global_request_id')
    if given is None:
        given = request.headers.get(REQUEST_ID_HEADER, '')
    return given if given and _REQUEST_ID_RE.match(given) else None


def get_context(request):
    """The request's RequestContext, made on first use from the identity the authentication
    middleware put into the environ (none: unauthenticated, the caller is an admin)."""
    ctxt = request.context.get('migrator_context')
    if ctxt is None:
        # oslo.middleware's RequestId, when in the pipeline, has made the local id already.
        ctxt = context.from_environ(request.environ,
                                    request_id=request.environ.get('openstack.request_id'),
                                    global_request_id=_global_request_id(request))
        request.context['migrator_context'] = ctxt
    return ctxt



class ContextHook(hooks.PecanHook):
    """Builds the RequestContext (a new local request id; a valid X-Openstack-Request-Id from
    the client becomes its global_request_id), answers with the local id in that header, and
    logs one line per request."""

    priority = 10

    def on_route(self, state):
        state.request.context['migrator_start'] = time.monotonic()
        get_context(state.request)

    def after(self, state):
        request = state.request
        ctxt = get_context(request)
        state.response.headers[REQUEST_ID_HEADER] = ctxt.request_id
        start = request.context.get('migrator_start')
        elapsed = time.monotonic() - start if start is not None else 0.0
        access_log.log(ctxt, '%s "%s %s" status %s len %s time %.3f', request.client_addr,
                       request.method, request.path_qs, state.response.status_int,
                       state.response.content_length, elapsed)


class ResourcesHook(hooks.PecanHook):
    """Gives controllers the DB and the conductor client as request.db and
    request.conductor_api (injected in setup_app, so tests pass fakes)."""

    priority = 20

    def __init__(self, db, conductor_api):
        self.db = db
        self.conductor_api = conductor_api

    def on_route(self, state):
        state.request.db = self.db
        state.request.conductor_api = self.conductor_api


class ErrorHook(hooks.PecanHook):
    """Turns every exception, ours and pecan's, into the JSON error document."""

    priority = 30

    def on_error(self, state, e):
        get_context(state.request)
        return errors.response_for(e, state.request)
