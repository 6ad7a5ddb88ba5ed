"""oslo.config options, one module per group. Importing this registers all of them."""

from oslo_config import cfg

from migrator.conf import (
    all_in_one,
    api,
    auth,
    compute,
    conductor,
    database,
    default,
    drain,
    libvirt,
    metrics,
    notifications,
    planner,
    scheduler,
    upgrade_levels,
)

CONF = cfg.CONF

for _module in (default, auth, database, api, all_in_one, conductor, drain, scheduler, compute,
                libvirt, planner, metrics,
                notifications, upgrade_levels):
    _module.register_opts(CONF)
