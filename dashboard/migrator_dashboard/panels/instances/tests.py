from unittest import mock

from django.urls import reverse

from migrator_dashboard.api import migrator
from migrator_dashboard.test import data, helpers

INDEX_URL = reverse('horizon:admin:migration_instances:index')
GUEST1 = data.INSTANCES[0]
MIGRATE_URL = reverse('horizon:admin:migration_instances:migrate', args=(GUEST1['uuid'],))
MIGRATIONS_URL = reverse('horizon:admin:migrations:index')
API = 'migrator_dashboard.api.migrator.'


def stub_scheduler(test):
    for name, kwargs in (('instance_get', {'return_value': GUEST1}),
                         ('host_list', {'return_value': data.HOSTS}),
                         ('migration_dry_run', {'side_effect': data.dry_run})):
        patcher = mock.patch(API + name, **kwargs)
        setattr(test, name, patcher.start())
        test.addCleanup(patcher.stop)


class InstancesAsAdminTests(helpers.MigratorAdminTestCase):

    @mock.patch(API + 'instance_list', return_value=data.INSTANCES)
    def test_index_offers_migrate_except_while_migrating(self, instance_list):
        res = self.client.get(INDEX_URL)
        self.assertTemplateUsed(res, 'admin/migration_instances/index.html')
        content = res.content.decode()
        self.assertIn(f'instances__row_{GUEST1["uuid"]}__action_migrate', content)
        busy = data.INSTANCES[1]['uuid']
        self.assertIn(f'id="instances__row__{busy}"', content)
        self.assertNotIn(f'instances__row_{busy}__action_migrate', content)

    def test_migrate_form_shows_each_host_with_the_schedulers_answer(self):
        stub_scheduler(self)
        res = self.client.get(MIGRATE_URL)
        self.assertEqual(200, res.status_code)
        choices = dict(res.context['form'].fields['target_host'].choices)
        self.assertEqual({'', 'node2', 'node3'}, set(choices))
        self.assertIn('fits', str(choices['node2']))
        self.assertIn('refused by MemoryFilter', str(choices['node3']))
        content = res.content.decode()
        self.assertIn('data-host="node3" data-possible="false"', content)
        self.assertIn('data-host="node2" data-possible="true"', content)
        # the defaults the API would apply are shown with each control
        self.assertIn('Default: 500.', content)
        self.assertIn('placeholder="800"', content)
        # one dry run for the scheduler's own choice, one per other host
        self.assertEqual(3, self.migration_dry_run.call_count)

    @mock.patch(API + 'migration_create')
    def test_migrate_sends_only_what_was_set(self, migration_create):
        stub_scheduler(self)
        migration_create.return_value = data.MIGRATION_RUNNING
        res = self.client.post(MIGRATE_URL, {
            'instance': GUEST1['uuid'], 'type': 'live', 'target_host': 'node2',
            'block_migration': 'false', 'max_downtime_ms': '300', 'auto_converge': 'true'})
        self.assertNoFormErrors(res)
        self.assertRedirectsNoFollow(res, MIGRATIONS_URL)
        migration_create.assert_called_once_with(
            mock.ANY, GUEST1['uuid'], type='live', target_host='node2',
            block_migration=False, max_downtime_ms=300, auto_converge=True)

    @mock.patch(API + 'migration_create')
    def test_cold_migration_refuses_live_controls(self, migration_create):
        stub_scheduler(self)
        res = self.client.post(MIGRATE_URL, {
            'instance': GUEST1['uuid'], 'type': 'cold', 'target_host': '',
            'block_migration': 'auto', 'bandwidth_mib': '10'})
        self.assertFormErrors(res, 1)
        self.assertIn('bandwidth_mib apply to live migrations only', res.content.decode())
        migration_create.assert_not_called()

    @mock.patch(API + 'migration_create')
    def test_out_of_range_control_is_a_field_error(self, migration_create):
        stub_scheduler(self)
        res = self.client.post(MIGRATE_URL, {
            'instance': GUEST1['uuid'], 'type': 'live', 'target_host': '',
            'block_migration': 'auto', 'max_downtime_ms': '0'})
        self.assertFormErrors(res, 1)
        migration_create.assert_not_called()

    @mock.patch(API + 'migration_create')
    def test_refusal_by_the_api_is_shown(self, migration_create):
        stub_scheduler(self)
        migration_create.side_effect = migrator.MigratorAPIError(
            'No host can take instance guest1: target node3 refused by MemoryFilter '
            '(HTTP 409)', 409)
        res = self.client.post(MIGRATE_URL, {
            'instance': GUEST1['uuid'], 'type': 'live', 'target_host': 'node3',
            'block_migration': 'auto'})
        self.assertEqual(200, res.status_code)
        self.assertMessageCount(res, error=1)


class InstancesAsReaderTests(helpers.MigratorTestCase):

    @mock.patch(API + 'instance_list', return_value=data.INSTANCES)
    def test_reader_sees_instances_without_migrate(self, instance_list):
        res = self.client.get(INDEX_URL)
        content = res.content.decode()
        self.assertIn('guest1', content)
        self.assertNotIn('__action_migrate', content)

    @mock.patch(API + 'migration_create')
    def test_reader_cannot_post_a_migration(self, migration_create):
        stub_scheduler(self)
        res = self.client.post(MIGRATE_URL, {'instance': GUEST1['uuid'], 'type': 'live'})
        self.assertNotEqual(200, res.status_code)
        migration_create.assert_not_called()
