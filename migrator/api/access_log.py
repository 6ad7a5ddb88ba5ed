"""The API's access log: one line per request, at INFO, under the logger
`migrator.api.access`, with the request's own context (its X-Openstack-Request-Id and
caller) given explicitly.

Explicitly, because a line written for an answer from the read cache was formatted with
the thread's current context, which is the last uncached request that server thread
served: its id and caller, not the cached request's.

One logger for every request line, so that a deployment whose proxy already logs every
request can leave them out: `default_log_levels = ...,migrator.api.access=WARN`. A line
costs about 40-75 us of CPU through oslo.log (format, handler lock, write, flush), the
largest part of what a cached answer costs (docs: admin/performance.rst).
"""

import logging as std_logging

from oslo_log import log as logging

LOG = logging.getLogger('migrator.api.access')


def enabled():
    """False when the lines are not wanted (the logger is above INFO): nothing to make."""
    return LOG.isEnabledFor(std_logging.INFO)


def log(ctxt, msg, *args):
    """Logs `msg % args` at INFO with `ctxt` (a RequestContext, or None for none) as the
    line's context, whatever the current thread's is."""
    LOG.info(msg, *args, extra={'context': ctxt})
