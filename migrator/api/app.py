"""The WSGI application of migrator-api."""

import pecan

from migrator.api import (
    argspec_cache,
    auth,
    hooks,
    microversion,
    middleware,
    operations,
    read_cache,
)
from migrator.api.controllers import root


def setup_app(db=None, conductor_api=None):
    """Builds the API's WSGI application.

    db: a migrator.db.api.Database; by default the process-wide one from
    [database] connection. conductor_api: an object with the ConductorAPI methods
    select_destination() and migrate(); by default a real RPC client. Tests pass their own.
    Raises auth.AuthConfigError when [DEFAULT] auth_strategy's configuration cannot work.
    """
    if db is None:
        from migrator.db import api as db_api
        db = db_api.get_database()
    if conductor_api is None:
        from migrator.conductor import rpcapi
        conductor_api = rpcapi.ConductorAPI()
    argspec_cache.install()

    app = pecan.make_app(
        root.RootController(),
        hooks=[hooks.ContextHook(), microversion.MicroversionHook(),
               hooks.ResourcesHook(db, conductor_api), hooks.ErrorHook()],
        debug=False,
        force_canonical=False,
        # Host and instance names contain dots: never read "node1.example.com" as a
        # request for a ".com" rendering.
        guess_content_type_from_ext=False,
    )

    def authenticated(wsgi_app):
        # /healthcheck and /metrics answer before the authentication layer: a load
        # balancer's or Prometheus' probe carries no token. The read cache keys on the
        # identity the authentication layer sets, so it sits inside it.
        return operations.wrap(auth.wrap(read_cache.wrap(wsgi_app, db)), db)

    return middleware.wrap(app, authenticate=authenticated)
