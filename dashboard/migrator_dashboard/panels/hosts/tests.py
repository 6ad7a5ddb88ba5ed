from unittest import mock

from django.urls import reverse

from migrator_dashboard.api import migrator
from migrator_dashboard.test import data, helpers

INDEX_URL = reverse('horizon:admin:migration_hosts:index')
DRAIN_URL = reverse('horizon:admin:migration_hosts:drain', args=('node1',))
UNDRAIN_URL = reverse('horizon:admin:migration_hosts:undrain', args=('node2',))
DRAIN_DETAIL_URL = reverse('horizon:admin:migration_hosts:drain_detail',
                           args=(data.DRAIN['id'],))
API = 'migrator_dashboard.api.migrator.'


class HostsAsAdminTests(helpers.MigratorAdminTestCase):

    @mock.patch(API + 'drain_list', return_value=[data.DRAIN])
    @mock.patch(API + 'host_list', return_value=data.HOSTS)
    def test_index_shows_capacity_state_and_actions(self, host_list, drain_list):
        res = self.client.get(INDEX_URL)
        self.assertTemplateUsed(res, 'admin/migration_hosts/index.html')
        content = res.content.decode()
        self.assertIn('id="hosts__row__node1"', content)
        self.assertIn('data-kind="memory" data-used="512" data-claimed="256" '
                      'data-total="7451"', content)
        self.assertIn('data-kind="vcpus"', content)
        self.assertIn('data-kind="disk"', content)
        self.assertIn('maintenance (new DIMMs)', content)
        self.assertIn('in 1 / out 0', content)
        self.assertIn('hosts__row_node1__action_drain', content)
        self.assertIn('hosts__row_node1__action_disable', content)
        self.assertIn('hosts__row_node2__action_undrain', content)
        self.assertIn('hosts__row_node2__action_enable', content)
        self.assertNotIn('hosts__row_node1__action_undrain', content)
        self.assertIn(f'drains__row__{data.DRAIN["id"]}', content)

    @mock.patch(API + 'host_set_status')
    @mock.patch(API + 'drain_list', return_value=[])
    @mock.patch(API + 'host_list', return_value=data.HOSTS)
    def test_maintenance_action(self, host_list, drain_list, set_status):
        res = self.client.post(INDEX_URL, {'action': 'hosts__maintenance__node1'})
        self.assertRedirectsNoFollow(res, INDEX_URL)
        set_status.assert_called_once_with(mock.ANY, 'node1', 'maintenance',
                                           reason=mock.ANY)

    @mock.patch(API + 'host_set_status')
    @mock.patch(API + 'drain_list', return_value=[])
    @mock.patch(API + 'host_list', return_value=data.HOSTS)
    def test_enable_action(self, host_list, drain_list, set_status):
        res = self.client.post(INDEX_URL, {'action': 'hosts__enable__node2'})
        self.assertRedirectsNoFollow(res, INDEX_URL)
        set_status.assert_called_once_with(mock.ANY, 'node2', 'enabled', reason=None)

    @mock.patch(API + 'host_list', return_value=data.HOSTS)
    def test_drain_form_offers_the_other_hosts(self, host_list):
        res = self.client.get(DRAIN_URL)
        self.assertEqual(200, res.status_code)
        content = res.content.decode()
        self.assertIn('id="id_mode"', content)
        self.assertIn('id="id_max_parallel"', content)
        self.assertEqual([('node2', 'node2'), ('node3', 'node3')],
                         res.context['form'].fields['target_hosts'].choices)

    @mock.patch(API + 'host_drain', return_value=data.DRAIN)
    @mock.patch(API + 'host_list', return_value=data.HOSTS)
    def test_drain_form_starts_a_drain_and_shows_it(self, host_list, host_drain):
        res = self.client.post(DRAIN_URL, {'host': 'node1', 'mode': 'live',
                                           'max_parallel': '3'})
        self.assertNoFormErrors(res)
        self.assertRedirectsNoFollow(res, DRAIN_DETAIL_URL)
        host_drain.assert_called_once_with(mock.ANY, 'node1', mode='live', max_parallel=3,
                                           target_hosts=None)

    @mock.patch(API + 'host_drain')
    @mock.patch(API + 'host_list', return_value=data.HOSTS)
    def test_drain_form_refuses_bad_max_parallel(self, host_list, host_drain):
        res = self.client.post(DRAIN_URL, {'host': 'node1', 'mode': 'live',
                                           'max_parallel': '0'})
        self.assertFormErrors(res, 1)
        host_drain.assert_not_called()

    @mock.patch(API + 'host_drain')
    @mock.patch(API + 'host_list', return_value=data.HOSTS)
    def test_drain_refused_by_api_stays_on_form_with_message(self, host_list, host_drain):
        host_drain.side_effect = migrator.MigratorAPIError(
            'Host node1 already has a drain running (HTTP 409)', 409)
        res = self.client.post(DRAIN_URL, {'host': 'node1', 'mode': 'live'})
        self.assertEqual(200, res.status_code)
        self.assertMessageCount(res, error=1)
        self.assertIn('already has a drain running', res.content.decode())

    @mock.patch(API + 'host_undrain')
    def test_undrain_with_return_shows_the_return_job(self, host_undrain):
        host_undrain.return_value = {'host': data.HOSTS[1],
                                     'return': dict(data.DRAIN, kind='return')}
        res = self.client.post(UNDRAIN_URL, {'host': 'node2', 'return_guests': 'on'})
        self.assertRedirectsNoFollow(res, DRAIN_DETAIL_URL)
        host_undrain.assert_called_once_with(mock.ANY, 'node2', return_guests=True)

    @mock.patch(API + 'host_undrain')
    def test_undrain_without_return_goes_back_to_hosts(self, host_undrain):
        host_undrain.return_value = {'host': data.HOSTS[1], 'return': None}
        res = self.client.post(UNDRAIN_URL, {'host': 'node2'})
        self.assertRedirectsNoFollow(res, INDEX_URL)
        host_undrain.assert_called_once_with(mock.ANY, 'node2', return_guests=False)

    @mock.patch(API + 'drain_get', return_value=data.DRAIN)
    def test_drain_page_shows_each_guest(self, drain_get):
        res = self.client.get(DRAIN_DETAIL_URL)
        self.assertEqual(200, res.status_code)
        content = res.content.decode()
        self.assertIn('drain_items__row__5f0c7f3e-8a1d-4c39-9d61-0c2f1b8e4a77', content)
        self.assertIn('node2 has 1024 MiB of memory free', content)
        self.assertIn('data-progress="30.0"', content)
        self.assertIn(f'drain__row_{data.DRAIN["id"]}__action_cancel', content)

    @mock.patch(API + 'drain_get')
    def test_drain_item_row_update(self, drain_get):
        job = dict(data.DRAIN, items=[dict(data.DRAIN['items'][0], status='moved')])
        drain_get.return_value = job
        uuid = data.DRAIN['items'][0]['instance_uuid']
        res = self.client.get(DRAIN_DETAIL_URL, {'action': 'row_update',
                                                 'table': 'drain_items', 'obj_id': uuid},
                              HTTP_X_REQUESTED_WITH='XMLHttpRequest')
        self.assertEqual(200, res.status_code)
        self.assertIn('data-progress="100.0"', res.content.decode())


class HostsAsReaderTests(helpers.MigratorTestCase):

    @mock.patch(API + 'drain_list', return_value=[data.DRAIN])
    @mock.patch(API + 'host_list', return_value=data.HOSTS)
    def test_reader_sees_hosts_without_actions(self, host_list, drain_list):
        res = self.client.get(INDEX_URL)
        self.assertEqual(200, res.status_code)
        content = res.content.decode()
        self.assertIn('id="hosts__row__node1"', content)
        for action in ('drain', 'undrain', 'enable', 'disable', 'maintenance', 'cancel'):
            self.assertNotIn(f'__action_{action}', content)

    @mock.patch(API + 'host_drain')
    @mock.patch(API + 'host_list', return_value=data.HOSTS)
    def test_reader_cannot_open_the_drain_form(self, host_list, host_drain):
        res = self.client.post(DRAIN_URL, {'host': 'node1', 'mode': 'live'})
        self.assertNotEqual(200, res.status_code)
        host_drain.assert_not_called()
