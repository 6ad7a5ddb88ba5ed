"""The WSGI application of migrator-api."""

import pecan

from migrator.api import errors, hooks, microversion, operations
from migrator.api.controllers import root


def setup_app(db=None, conductor_api=None):
    """Builds the API's WSGI application.

    db: a migrator.db.api.Database; by default the process-wide one from
    [database] connection. conductor_api: an object with the ConductorAPI methods
    select_destination() and migrate(); by default a real RPC client. Tests pass their own.
    """
    if db is None:
        from migrator.db import api as db_api
        db = db_api.get_database()
    if conductor_api is None:
        from migrator.conductor import rpcapi
        conductor_api = rpcapi.ConductorAPI()

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
    return operations.wrap(errors.FaultWrapper(app), db)
