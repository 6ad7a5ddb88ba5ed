"""Policy in code: the default rule of every API operation (entry point
oslo.policy.policies: migrator, for oslopolicy-sample-generator)."""

import itertools

from migrator.common.policies import (
    audit,
    base,
    conductors,
    drains,
    hosts,
    migrations,
    plans,
    server_groups,
)


def list_rules():
    return list(itertools.chain(
        base.list_rules(),
        migrations.list_rules(),
        hosts.list_rules(),
        drains.list_rules(),
        plans.list_rules(),
        server_groups.list_rules(),
        audit.list_rules(),
        conductors.list_rules(),
    ))
