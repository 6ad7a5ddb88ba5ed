"""Request context carried from the API over RPC to every service.

The API builds it from the identity the authentication middleware put into the WSGI
environ (keystonemiddleware's auth_token headers: X-User-Id, X-Roles, ...); oslo.messaging
carries it to the conductor and on to the agents (common/rpc.py), and oslo.log prints its
request ids on every log line written while it is the thread's current context.

Who did what: `requester()` is the part of a context the database records with each
migration, drain, plan and event.
"""

import contextlib

from oslo_context import context

# The user recorded for requests served without authentication (auth_strategy noauth, the
# tests): no identity was asserted, so every caller is an admin, as before authentication.
NOAUTH_USER = 'noauth'
NOAUTH_ROLES = ('admin', 'reader')

# What the database keeps of the context that asked for something.
REQUESTER_FIELDS = ('user_id', 'user_name', 'project_id', 'project_name', 'request_id',
                    'global_request_id')

# Headers only an authentication middleware sets; any of them means an identity was given.
IDENTITY_ENVIRON_KEYS = ('HTTP_X_IDENTITY_STATUS', 'HTTP_X_USER_ID', 'HTTP_X_USER',
                         'HTTP_X_USER_NAME', 'HTTP_X_ROLES', 'HTTP_X_ROLE')


class RequestContext(context.RequestContext):
    """Who asked, and the request id that ties the API log to conductor and agent logs."""

    # False only for an API request whose credentials the auth middleware found invalid.
    authenticated = True

    def to_dict(self):
        # oslo.context leaves the names out (from_dict reads them): the conductor and the
        # agents record and log who asked by name too.
        values = super().to_dict()
        values.update(user_name=self.user_name, project_name=self.project_name,
                      domain_name=self.domain_name, user_domain_name=self.user_domain_name,
                      project_domain_name=self.project_domain_name)
        return values


def _set_current(ctxt):
    """Makes `ctxt` (None: no context) this thread's current one; oslo.context has no public
    way to unset it."""
    if ctxt is None:
        context._request_store.context = None
    else:
        ctxt.update_store()


def _detached(**kwargs):
    """A context that does not become this thread's current one (oslo.context stores every
    new context in a thread that has none, even with overwrite=False)."""
    previous = context.get_current()
    ctxt = RequestContext(overwrite=False, **kwargs)
    _set_current(previous)
    return ctxt


def get_admin_context():
    return _detached(is_admin=True)


def has_identity(environ):
    return any(key in environ for key in IDENTITY_ENVIRON_KEYS)


def from_environ(environ, request_id=None, global_request_id=None):
    """The context of an API request.

    With identity headers, the caller is who they say (oslo.context reads them as
    auth_token sets them) and is admin only through policy; without any, the API runs
    unauthenticated and the caller is the admin user 'noauth'. `request_id` is this API's own
    id of the request; `global_request_id` a valid id the client sent, kept apart so a
    client can never choose the local id.
    """
    kwargs = {}
    if request_id:
        kwargs['request_id'] = request_id
    if global_request_id:
        kwargs['global_request_id'] = global_request_id
    if has_identity(environ):
        ctxt = RequestContext.from_environ(environ, is_admin=False, **kwargs)
        # auth_token with delay_auth_decision passes a bad token on as 'Invalid'.
        ctxt.authenticated = environ.get('HTTP_X_IDENTITY_STATUS', 'Confirmed') == 'Confirmed'
        return ctxt
    return RequestContext(user_id=NOAUTH_USER, user_name=NOAUTH_USER, is_admin=True,
                          roles=list(NOAUTH_ROLES), **kwargs)


def requester(ctxt=None):
    """{user_id, user_name, project_id, project_name, request_id, global_request_id} of
    `ctxt`, or of this thread's current context; all None when there is none (work the
    services do on their own, such as recovery after a restart)."""
    if ctxt is None:
        ctxt = context.get_current()
    if ctxt is None:
        return dict.fromkeys(REQUESTER_FIELDS)
    return {field: getattr(ctxt, field, None) for field in REQUESTER_FIELDS}


def from_record(record):
    """A context for work that goes on for a recorded requester (a queued migration started
    later, a drain adopted after a restart): same user and request ids, for the logs and the
    events; admin, because the request was authorised when it was made."""
    values = {f: record.get(f) for f in REQUESTER_FIELDS if record.get(f)}
    return _detached(is_admin=True, **values)



@contextlib.contextmanager
def acting_for(ctxt):
    """Makes `ctxt` this thread's current context for the block (so the log lines and the
    events written meanwhile carry its request ids), then puts back the previous one."""
    previous = context.get_current()
    ctxt.update_store()
    try:
        yield ctxt
    finally:
        _set_current(previous)
