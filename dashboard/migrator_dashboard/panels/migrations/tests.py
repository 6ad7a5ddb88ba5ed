from unittest import mock

from django.urls import reverse

from migrator_dashboard.api import migrator
from migrator_dashboard.test import data, helpers

INDEX_URL = reverse('horizon:admin:migrations:index')
API = 'migrator_dashboard.api.migrator.'


class MigrationsAsAdminTests(helpers.MigratorAdminTestCase):

    @mock.patch(API + 'migration_list')
    def test_index_lists_migrations_with_actions(self, migration_list):
        migration_list.return_value = [data.MIGRATION_RUNNING, data.MIGRATION_DONE]
        res = self.client.get(INDEX_URL)
        self.assertTemplateUsed(res, 'admin/migrations/index.html')
        rows = res.context['table'].data
        self.assertEqual(['guest1', 'guest2'], [m['instance_name'] for m in rows])
        content = res.content.decode()
        running = data.MIGRATION_RUNNING['id']
        self.assertIn(f'id="migrations__row__{running}"', content)
        self.assertIn(f'migrations__row_{running}__action_abort', content)
        self.assertIn(f'migrations__row_{running}__action_force_complete', content)
        # a completed migration can be neither aborted nor forced
        done = data.MIGRATION_DONE['id']
        self.assertNotIn(f'migrations__row_{done}__action_abort', content)
        self.assertIn('data-progress="42.5"', content)
        self.assertIn('node1 \u2192 node2', content)
        # an in-flight row asks Horizon to refresh it; a finished one does not
        self.assertIn(f'data-update-url="{INDEX_URL}?action=row_update&amp;table=migrations'
                      f'&amp;obj_id={running}"', content)
        migration_list.assert_called_once_with(mock.ANY)

    @mock.patch(API + 'migration_list')
    def test_index_filters_on_the_server(self, migration_list):
        migration_list.return_value = []
        self.client.get(INDEX_URL)
        res = self.client.post(INDEX_URL, {'migrations__filter__q_field': 'host',
                                           'migrations__filter__q': 'node3'}, follow=True)
        self.assertEqual(200, res.status_code)
        migration_list.assert_called_with(mock.ANY, host='node3')
        self.assertIn('value="node3"', res.content.decode())

    @mock.patch(API + 'migration_list')
    def test_index_shows_api_error_as_message(self, migration_list):
        migration_list.side_effect = migrator.MigratorAPIError(
            'conductor did not answer within 30 s (HTTP 503)', 503)
        res = self.client.get(INDEX_URL)
        self.assertEqual(200, res.status_code)
        self.assertMessageCount(res, error=1)
        self.assertIn('conductor did not answer', res.content.decode())

    @mock.patch(API + 'migration_abort')
    @mock.patch(API + 'migration_list')
    def test_abort_row_action(self, migration_list, migration_abort):
        migration_list.return_value = [data.MIGRATION_RUNNING]
        mid = data.MIGRATION_RUNNING['id']
        res = self.client.post(INDEX_URL, {'action': f'migrations__abort__{mid}'})
        self.assertRedirectsNoFollow(res, INDEX_URL)
        migration_abort.assert_called_once_with(mock.ANY, mid)

    @mock.patch(API + 'migration_abort')
    @mock.patch(API + 'migration_list')
    def test_abort_refused_by_api_is_a_message(self, migration_list, migration_abort):
        migration_list.return_value = [data.MIGRATION_RUNNING]
        migration_abort.side_effect = migrator.MigratorAPIError(
            'Migration already ended completed; there is nothing to abort. (HTTP 409)', 409)
        mid = data.MIGRATION_RUNNING['id']
        res = self.client.post(INDEX_URL, {'action': f'migrations__abort__{mid}'})
        self.assertRedirectsNoFollow(res, INDEX_URL)
        self.assertMessageCount(error=1)

    @mock.patch(API + 'migration_force_complete')
    @mock.patch(API + 'migration_list')
    def test_force_complete_row_action(self, migration_list, force):
        migration_list.return_value = [data.MIGRATION_RUNNING]
        mid = data.MIGRATION_RUNNING['id']
        res = self.client.post(INDEX_URL, {'action': f'migrations__force_complete__{mid}'})
        self.assertRedirectsNoFollow(res, INDEX_URL)
        force.assert_called_once_with(mock.ANY, mid)

    @mock.patch(API + 'migration_get')
    def test_row_update_renders_the_fresh_row(self, migration_get):
        migration_get.return_value = dict(data.MIGRATION_RUNNING, progress=77.0)
        mid = data.MIGRATION_RUNNING['id']
        res = self.client.get(INDEX_URL, {'action': 'row_update', 'table': 'migrations',
                                          'obj_id': mid},
                              HTTP_X_REQUESTED_WITH='XMLHttpRequest')
        self.assertEqual(200, res.status_code)
        self.assertIn('data-progress="77.0"', res.content.decode())
        migration_get.assert_called_once_with(mock.ANY, mid)

    @mock.patch(API + 'migration_samples')
    @mock.patch(API + 'migration_get')
    def test_detail_shows_fields_events_and_chart(self, migration_get, samples):
        migration_get.return_value = data.migration_with_events()
        samples.return_value = data.SAMPLES
        mid = data.MIGRATION_RUNNING['id']
        res = self.client.get(reverse('horizon:admin:migrations:detail', args=(mid,)))
        self.assertTemplateUsed(res, 'admin/migrations/detail.html')
        content = res.content.decode()
        self.assertIn('id="migration-chart"', content)
        for series in ('data_remaining', 'transfer_rate', 'dirty_rate', 'downtime_limit_ms'):
            self.assertIn(f'data-series="{series}"', content)
        self.assertIn('libvirt migration job started', content)
        self.assertIn('conductor1', content)
        # a migration in flight: the page follows it
        self.assertIn('id="migration-live" data-in-flight="true"', content)

    @mock.patch(API + 'migration_samples', return_value=[])
    @mock.patch(API + 'migration_get')
    def test_detail_of_an_ended_migration_without_samples(self, migration_get, samples):
        migration_get.return_value = data.migration_with_events(data.MIGRATION_DONE)
        mid = data.MIGRATION_DONE['id']
        content = self.client.get(
            reverse('horizon:admin:migrations:detail', args=(mid,))).content.decode()
        self.assertIn('id="migration-live" data-in-flight="false"', content)
        self.assertIn('id="migration-chart-empty"', content)
        self.assertNotIn('id="migration-chart"', content)

    @mock.patch(API + 'migration_get')
    def test_detail_of_unknown_migration_redirects_with_message(self, migration_get):
        migration_get.side_effect = migrator.MigratorAPIError(
            "No migration has id 'x'. (HTTP 404)", 404)
        url = reverse('horizon:admin:migrations:detail', args=(data.MIGRATION_DONE['id'],))
        res = self.client.get(url)
        self.assertRedirectsNoFollow(res, INDEX_URL)


class MigrationsAsReaderTests(helpers.MigratorTestCase):

    @mock.patch(API + 'migration_list')
    def test_reader_sees_migrations_but_no_action(self, migration_list):
        migration_list.return_value = [data.MIGRATION_RUNNING]
        res = self.client.get(INDEX_URL)
        self.assertEqual(200, res.status_code)
        content = res.content.decode()
        self.assertIn('guest1', content)
        self.assertNotIn('__action_abort', content)
        self.assertNotIn('__action_force_complete', content)

    @mock.patch(API + 'migration_abort')
    @mock.patch(API + 'migration_list')
    def test_reader_cannot_post_an_abort(self, migration_list, migration_abort):
        migration_list.return_value = [data.MIGRATION_RUNNING]
        mid = data.MIGRATION_RUNNING['id']
        self.client.post(INDEX_URL, {'action': f'migrations__abort__{mid}'})
        migration_abort.assert_not_called()
