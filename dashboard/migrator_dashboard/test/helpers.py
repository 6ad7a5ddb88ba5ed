"""Horizon test cases for the plugin: a user whose catalog has the migrator API, as an admin
or as a reader, with the migrator client module stubbed at its boundary."""

import copy

from openstack_dashboard.test import helpers

MIGRATOR_URL = 'http://migrator.example.com:9777'

MIGRATION_SERVICE = {
    'type': 'migration',
    'name': 'migrator',
    'endpoints_links': [],
    'endpoints': [{'region': 'RegionOne', 'interface': iface, 'url': MIGRATOR_URL}
                  for iface in ('admin', 'internal', 'public')],
}


class MigratorTestCase(helpers.TestCase):
    """Logged in as a reader (Horizon's default test user has member and reader)."""

    def _setup_test_data(self):
        super()._setup_test_data()
        self.service_catalog = copy.deepcopy(self.service_catalog) + [MIGRATION_SERVICE]


class MigratorAdminTestCase(MigratorTestCase):
    """Logged in as an admin (Keystone's admin role implies member and reader)."""

    def setActiveUser(self, *args, **kwargs):
        kwargs['roles'] = [{'id': '1', 'name': 'admin'}, {'id': '2', 'name': 'member'},
                           {'id': '3', 'name': 'reader'}]
        super().setActiveUser(*args, **kwargs)
