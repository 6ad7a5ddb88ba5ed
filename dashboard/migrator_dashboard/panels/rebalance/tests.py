from unittest import mock

from django.urls import reverse

from migrator_dashboard.api import migrator
from migrator_dashboard.common import load_chart
from migrator_dashboard.test import data, helpers

INDEX_URL = reverse('horizon:admin:rebalance:index')
CREATE_URL = reverse('horizon:admin:rebalance:create')
DETAIL_URL = reverse('horizon:admin:rebalance:detail', args=(data.PLAN['id'],))
API = 'migrator_dashboard.api.migrator.'


class RebalanceAsAdminTests(helpers.MigratorAdminTestCase):

    @mock.patch(API + 'plan_list', return_value=[data.PLAN])
    def test_index_lists_plans_with_create_and_apply(self, plan_list):
        res = self.client.get(INDEX_URL)
        self.assertTemplateUsed(res, 'admin/rebalance/index.html')
        content = res.content.decode()
        self.assertIn('plans__action_create', content)
        self.assertIn(f'plans__row_{data.PLAN["id"]}__action_apply', content)
        self.assertIn('0.8165 \u2192 0.2357', content)

    @mock.patch(API + 'plan_create', return_value=data.PLAN)
    def test_create_plan_goes_to_its_review(self, plan_create):
        res = self.client.post(CREATE_URL, {'max_moves': '5', 'min_gain': '0.01',
                                            'max_parallel': ''})
        self.assertNoFormErrors(res)
        self.assertRedirectsNoFollow(res, DETAIL_URL)
        plan_create.assert_called_once_with(mock.ANY, max_moves=5, min_gain=0.01,
                                            max_parallel=None)

    @mock.patch(API + 'plan_create')
    def test_create_plan_refuses_zero_moves(self, plan_create):
        res = self.client.post(CREATE_URL, {'max_moves': '0'})
        self.assertFormErrors(res, 1)
        plan_create.assert_not_called()

    @mock.patch(API + 'plan_create')
    def test_create_plan_refused_by_api_is_a_message(self, plan_create):
        plan_create.side_effect = migrator.MigratorAPIError(
            'no host has reported its capacity yet (HTTP 409)', 409)
        res = self.client.post(CREATE_URL, {'max_moves': '5'})
        self.assertEqual(200, res.status_code)
        self.assertMessageCount(res, error=1)

    @mock.patch(API + 'host_list', return_value=data.HOSTS)
    @mock.patch(API + 'plan_get', return_value=data.PLAN)
    def test_review_shows_scores_jobsets_moves_and_load(self, plan_get, host_list):
        res = self.client.get(DETAIL_URL)
        self.assertTemplateUsed(res, 'admin/rebalance/detail.html')
        content = res.content.decode()
        self.assertIn('data-jobset="0"', content)
        self.assertIn('data-jobset="1"', content)
        self.assertIn('id="moves__row__1"', content)
        self.assertIn('id="plan-load-chart"', content)
        self.assertIn('class="load-after" data-host="node1" data-kind="memory"', content)
        self.assertIn(f'plan__row_{data.PLAN["id"]}__action_apply', content)

    @mock.patch(API + 'plan_apply')
    @mock.patch(API + 'host_list', return_value=data.HOSTS)
    @mock.patch(API + 'plan_get', return_value=data.PLAN)
    def test_apply_from_the_review(self, plan_get, host_list, plan_apply):
        res = self.client.post(DETAIL_URL, {'action': f'plan__apply__{data.PLAN["id"]}'})
        self.assertRedirectsNoFollow(res, DETAIL_URL)
        plan_apply.assert_called_once_with(mock.ANY, data.PLAN['id'])

    @mock.patch(API + 'plan_cancel')
    @mock.patch(API + 'host_list', return_value=data.HOSTS)
    @mock.patch(API + 'plan_get', return_value=data.PLAN)
    def test_cancel_from_the_review(self, plan_get, host_list, plan_cancel):
        content = self.client.get(DETAIL_URL).content.decode()
        self.assertIn(f'plan__row_{data.PLAN["id"]}__action_cancel', content)
        res = self.client.post(DETAIL_URL, {'action': f'plan__cancel__{data.PLAN["id"]}'})
        self.assertRedirectsNoFollow(res, DETAIL_URL)
        plan_cancel.assert_called_once_with(mock.ANY, data.PLAN['id'])

    @mock.patch(API + 'plan_list')
    def test_applied_plan_offers_neither_apply_nor_cancel(self, plan_list):
        plan_list.return_value = [dict(data.PLAN, status='applied')]
        content = self.client.get(INDEX_URL).content.decode()
        self.assertNotIn('__action_apply', content)
        self.assertNotIn('__action_cancel', content)

    @mock.patch(API + 'plan_get')
    def test_move_row_update_while_applying(self, plan_get):
        moves = [dict(data.PLAN['moves'][0], status='completed',
                      migration_id=data.MIGRATION_DONE['id'])]
        plan_get.return_value = dict(data.PLAN, status='applying', moves=moves)
        res = self.client.get(DETAIL_URL, {'action': 'row_update', 'table': 'moves',
                                           'obj_id': '1'},
                              HTTP_X_REQUESTED_WITH='XMLHttpRequest')
        self.assertEqual(200, res.status_code)
        self.assertIn('status_up', res.content.decode())


class LoadChartTests(helpers.MigratorTestCase):

    def test_moves_shift_load_from_source_to_target(self):
        hosts = [data.host('node1', memory_mb_used=2048, vcpus_used=4), data.host('node2'),
                 data.host('node3')]
        loads = load_chart.host_loads(hosts, data.PLAN['moves'])
        self.assertEqual((2048 / 7451, 512 / 7451), loads['node1']['memory'])
        self.assertEqual((4 / 8, 2 / 8), loads['node1']['vcpus'])
        self.assertEqual((512 / 7451, 1536 / 7451), loads['node2']['memory'])
        self.assertEqual((512 / 7451, 1024 / 7451), loads['node3']['memory'])
        svg = load_chart.load_chart(hosts, data.PLAN['moves'])
        self.assertIn('class="load-after" data-host="node1" data-kind="memory" '
                      f'data-load="{512 / 7451:.4f}"', svg)


class RebalanceAsReaderTests(helpers.MigratorTestCase):

    @mock.patch(API + 'host_list', return_value=data.HOSTS)
    @mock.patch(API + 'plan_get', return_value=data.PLAN)
    @mock.patch(API + 'plan_list', return_value=[data.PLAN])
    def test_reader_reviews_without_create_or_apply(self, plan_list, plan_get, host_list):
        for url in (INDEX_URL, DETAIL_URL):
            content = self.client.get(url).content.decode()
            self.assertNotIn('__action_create', content)
            self.assertNotIn('__action_apply', content)
            self.assertNotIn('__action_cancel', content)
        self.assertIn('id="plan-load-chart"', content)
