"""Lists every option for oslo-config-generator (entry point oslo.config.opts: migrator)."""

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


def list_opts():
    result = []
    for module in (default, auth, database, api, all_in_one, conductor, drain, scheduler, compute,
                   libvirt, planner, metrics,
                   notifications, upgrade_levels):
        for group, opts in module.list_opts().items():
            result.append((group, opts))
    return result
