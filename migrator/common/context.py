"""Request context carried from the API over RPC to every service."""

from oslo_context import context


class RequestContext(context.RequestContext):
    """Who asked, and the request id that ties the API log to conductor and agent logs."""


def get_admin_context():
    return RequestContext(is_admin=True, overwrite=False)
