"""The requester the database records with each migration, drain, plan and event: that of
the request the current thread serves (the API's request, or the context that came with an
RPC message and that the conductor's job threads adopt), so no query takes a context
argument and every writer is covered."""

from migrator.common import context


def current():
    return context.requester()
