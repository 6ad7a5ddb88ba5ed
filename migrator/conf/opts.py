"""Lists every option for oslo-config-generator (entry point oslo.config.opts: migrator)."""

from migrator.conf import (
    all_in_one,
    api,
    auth,
    compute,
    conductor,
    convergence,
    database,
    default,
    drain,
    libvirt,
    metrics,
    notifications,
    planner,
    scheduler,
)


def list_opts():
    result = []
    for module in (default, auth, database, api, all_in_one, conductor, drain, scheduler, compute,
                   libvirt, planner, convergence, metrics,
                   notifications):
        for group, opts in module.list_opts().items():
            result.append((group, opts))
    return result
