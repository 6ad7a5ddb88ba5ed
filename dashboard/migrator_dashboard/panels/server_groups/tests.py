from unittest import mock

from django.urls import reverse

from migrator_dashboard.api import migrator
from migrator_dashboard.test import data, helpers

INDEX_URL = reverse('horizon:admin:migration_server_groups:index')
CREATE_URL = reverse('horizon:admin:migration_server_groups:create')
DETAIL_URL = reverse('horizon:admin:migration_server_groups:detail',
                     args=(data.GROUP['id'],))
ADD_URL = reverse('horizon:admin:migration_server_groups:add_member',
                  args=(data.GROUP['id'],))
API = 'migrator_dashboard.api.migrator.'
GUEST1 = data.INSTANCES[0]['uuid']


@mock.patch(API + 'instance_list', mock.Mock(return_value=data.INSTANCES))
class ServerGroupsAsAdminTests(helpers.MigratorAdminTestCase):

    @mock.patch(API + 'server_group_list', return_value=[data.GROUP])
    def test_index_lists_groups_with_member_names(self, group_list):
        res = self.client.get(INDEX_URL)
        self.assertTemplateUsed(res, 'admin/migration_server_groups/index.html')
        content = res.content.decode()
        self.assertIn(f'id="server_groups__row__{data.GROUP["id"]}"', content)
        self.assertIn('guest1', content)
        self.assertIn('server_groups__action_create', content)
        self.assertIn(f'server_groups__row_{data.GROUP["id"]}__action_delete', content)

    @mock.patch(API + 'server_group_create', return_value=data.GROUP)
    def test_create_group(self, group_create):
        res = self.client.post(CREATE_URL, {'name': 'web', 'policy': 'anti-affinity',
                                            'members': [GUEST1]})
        self.assertNoFormErrors(res)
        self.assertRedirectsNoFollow(res, INDEX_URL)
        group_create.assert_called_once_with(mock.ANY, 'web', 'anti-affinity', [GUEST1])

    @mock.patch(API + 'server_group_create')
    def test_create_group_needs_a_name_and_a_known_policy(self, group_create):
        res = self.client.post(CREATE_URL, {'name': '', 'policy': 'soft-affinity'})
        self.assertFormErrors(res, 2)
        group_create.assert_not_called()

    @mock.patch(API + 'server_group_create')
    def test_name_taken_is_a_message(self, group_create):
        group_create.side_effect = migrator.MigratorAPIError(
            "A server group named 'web' exists already (HTTP 409)", 409)
        res = self.client.post(CREATE_URL, {'name': 'web', 'policy': 'affinity'})
        self.assertEqual(200, res.status_code)
        self.assertMessageCount(res, error=1)

    @mock.patch(API + 'server_group_delete')
    @mock.patch(API + 'server_group_list', return_value=[data.GROUP])
    def test_delete_group(self, group_list, group_delete):
        res = self.client.post(INDEX_URL,
                               {'action': f'server_groups__delete__{data.GROUP["id"]}'})
        self.assertRedirectsNoFollow(res, INDEX_URL)
        group_delete.assert_called_once_with(mock.ANY, data.GROUP['id'])

    @mock.patch(API + 'server_group_get', return_value=data.GROUP)
    def test_members_page(self, group_get):
        res = self.client.get(DETAIL_URL)
        content = res.content.decode()
        self.assertIn(f'id="members__row__{GUEST1}"', content)
        self.assertIn('members__action_add_member', content)
        self.assertIn(f'members__row_{GUEST1}__action_remove', content)

    @mock.patch(API + 'server_group_remove_member')
    @mock.patch(API + 'server_group_get', return_value=data.GROUP)
    def test_remove_member(self, group_get, remove):
        res = self.client.post(DETAIL_URL, {'action': f'members__remove__{GUEST1}'})
        self.assertRedirectsNoFollow(res, DETAIL_URL)
        remove.assert_called_once_with(mock.ANY, data.GROUP['id'], GUEST1)

    @mock.patch(API + 'server_group_add_member')
    def test_add_member(self, add):
        busy = data.INSTANCES[1]['uuid']
        res = self.client.post(ADD_URL, {'group': data.GROUP['id'], 'instance': busy})
        self.assertNoFormErrors(res)
        self.assertRedirectsNoFollow(res, DETAIL_URL)
        add.assert_called_once_with(mock.ANY, data.GROUP['id'], busy)


@mock.patch(API + 'instance_list', mock.Mock(return_value=data.INSTANCES))
class ServerGroupsAsReaderTests(helpers.MigratorTestCase):

    @mock.patch(API + 'server_group_get', return_value=data.GROUP)
    @mock.patch(API + 'server_group_list', return_value=[data.GROUP])
    def test_reader_sees_groups_and_members_without_actions(self, group_list, group_get):
        for url in (INDEX_URL, DETAIL_URL):
            res = self.client.get(url)
            self.assertEqual(200, res.status_code)
            content = res.content.decode()
            self.assertIn('guest1', content)
            for action in ('create', 'delete', 'add_member', 'remove'):
                self.assertNotIn(f'__action_{action}', content)
