"""Readers of the migrator reach Horizon's Admin dashboard, and nobody else more than before."""

from unittest import mock

import horizon
from django.test.utils import override_settings
from openstack_auth import utils as auth_utils

from migrator_dashboard.test import helpers


def deny_every_rule(rules, request):
    """A policy check as Horizon's Admin dashboard sees a non-admin: every rule refused."""
    return False


class ReaderAccessTests(helpers.MigratorTestCase):

    def _admin_access(self):
        # The Admin dashboard as deployed: guarded by policy rules (the test settings of
        # Horizon guard it with permissions instead, which the plugin extends likewise).
        admin = horizon.get_dashboard('admin')
        with override_settings(POLICY_CHECK_FUNCTION=deny_every_rule), \
                mock.patch.object(admin, 'policy_rules', (('identity', 'admin_required'),),
                                  create=True):
            return admin._can_access(self.request)

    def test_a_reader_with_the_migration_service_gets_in(self):
        self.assertTrue(self._admin_access())

    def test_a_reader_without_the_migration_service_does_not(self):
        self.setActiveUser(id=self.user.id, token=self.token, username=self.user.name,
                           tenant_id=self.tenant.id, roles=[{'id': '3', 'name': 'reader'}],
                           service_catalog=[s for s in self.service_catalog
                                            if s['type'] != 'migration'],
                           authorized_tenants=self.tenants.list())
        self.request.user = auth_utils.get_user(self.request)
        self.assertFalse(self._admin_access())

    def test_a_member_without_reader_does_not(self):
        self.setActiveUser(id=self.user.id, token=self.token, username=self.user.name,
                           tenant_id=self.tenant.id, roles=[{'id': '2', 'name': 'member'}],
                           service_catalog=self.service_catalog,
                           authorized_tenants=self.tenants.list())
        self.request.user = auth_utils.get_user(self.request)
        self.assertFalse(self._admin_access())
