"""Pecan hooks: a RequestContext per request, the DB and conductor handles, JSON errors."""

import time

from oslo_log import log as logging
from oslo_middleware import request_id as request_id_middleware
from pecan import hooks

from migrator.api import errors
from migrator.common import context

LOG = logging.getLogger(__name__)

REQUEST_ID_HEADER = 'X-Openstack-Request-Id'


def get_context(request):
    """The request's RequestContext, made on first use."""
    ctxt = request.context.get('migrator_context')
    if ctxt is None:
        kwargs = local_request_id(request)
        # No authentication yet: every caller is an admin.
        ctxt = context.RequestContext(is_admin=True, **kwargs)
        request.context['migrator_context'] = ctxt
    return ctxt


def local_request_id(request):
    """{'request_id': the id oslo.middleware's request_id made for this request}, or {} (a
    new one is made) without that layer. Never the client's X-Openstack-Request-Id: a caller
    must not be able to make its requests look like someone else's in the logs."""
    request_id = request.environ.get(request_id_middleware.ENV_REQUEST_ID)
    return {'request_id': request_id} if request_id else {}


class ContextHook(hooks.PecanHook):
    """Builds the RequestContext (with the request id oslo.middleware made for it),
    answers with the id in the same header, and logs one line per request."""

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
        LOG.info('%s "%s %s" status %s len %s time %.3f', request.client_addr,
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
