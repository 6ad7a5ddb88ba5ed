"""Each migration kind is one unit of migrator.common.kinds; every list of kinds is derived
from it."""

import pytest

from migrator.api import schemas
from migrator.cmd import manage
from migrator.common import kinds
from migrator.conductor import manager, recovery
from migrator.conductor.scheduler import request_spec
from migrator.conductor.tasks import base
from migrator.db import models


@pytest.mark.parametrize('name', kinds.NAMES)
def test_a_kind_names_a_task_and_a_recovery_that_exist(name):
    kind = kinds.get(name)
    assert issubclass(manager.TASK_KINDS[name], base.MigrationTask)
    assert callable(getattr(recovery.MigrationRecovery, kind.recovery))


def test_api_db_and_cli_choices_are_the_registry():
    assert schemas.SUPPORTED_TYPES == list(kinds.NAMES) == ['live', 'cold']
    assert models.MIGRATION_TYPES == kinds.NAMES
    parser = manage.build_parser()
    args = parser.parse_args(['migration', 'create', 'vm1'])
    assert args.type == kinds.DEFAULT == 'live'
    with pytest.raises(SystemExit):
        parser.parse_args(['migration', 'create', 'vm1', '--type', 'warm'])


@pytest.mark.parametrize('name,block_migration,copies', [
    ('live', None, False), ('live', True, True), ('cold', None, True)])
def test_scheduling_traits(name, block_migration, copies):
    instance = {'uuid': 'u1', 'name': 'vm1', 'host': 'h1', 'memory_mb': 256, 'vcpus': 1,
                'disk_gb': 1}
    spec = request_spec.RequestSpec.from_instance(instance, name, block_migration)
    assert spec.copies_disks is copies
