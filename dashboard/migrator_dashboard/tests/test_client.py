"""The client module at its own boundary: HTTP is stubbed (requests.request), the catalog and
the token are the logged-in test user's."""

import json
from unittest import mock

import requests
from horizon import exceptions as horizon_exceptions

from migrator_dashboard.api import migrator
from migrator_dashboard.test import helpers


def response(status=200, body=None, text=None):
    resp = requests.Response()
    resp.status_code = status
    resp.reason = 'Reason'
    if body is not None:
        resp._content = json.dumps(body).encode()
    else:
        resp._content = (text or '').encode()
    return resp


@mock.patch('requests.request')
class ClientTests(helpers.MigratorAdminTestCase):

    def test_calls_the_catalog_endpoint_with_the_users_token(self, request):
        request.return_value = response(body={'hosts': [{'name': 'node1'}]})
        hosts = migrator.host_list(self.request)
        self.assertEqual([{'name': 'node1'}], hosts)
        method, url = request.call_args.args
        kwargs = request.call_args.kwargs
        self.assertEqual(('GET', helpers.MIGRATOR_URL + '/v1/hosts'), (method, url))
        self.assertEqual(self.request.user.token.id, kwargs['headers']['X-Auth-Token'])
        self.assertEqual(migrator.API_VERSION, kwargs['headers']['OpenStack-API-Version'])
        self.assertEqual(2, kwargs['timeout'])    # MIGRATOR_API_TIMEOUT of the test settings

    def test_body_is_json_with_its_content_type(self, request):
        request.return_value = response(202, body={'id': 'm1'})
        migrator.migration_create(self.request, 'guest1', type='live', target_host=None,
                                  max_downtime_ms=300)
        kwargs = request.call_args.kwargs
        self.assertEqual('application/json', kwargs['headers']['Content-Type'])
        self.assertEqual('{"instance": "guest1", "type": "live", "max_downtime_ms": 300}',
                         kwargs['data'])

    def test_post_without_body_still_says_json(self, request):
        request.return_value = response(202, body={'id': 'p1', 'status': 'applying'})
        migrator.plan_apply(self.request, 'p1')
        kwargs = request.call_args.kwargs
        self.assertEqual('application/json', kwargs['headers']['Content-Type'])
        self.assertIsNone(kwargs['data'])

    def test_api_error_carries_the_apis_message(self, request):
        request.return_value = response(409, body={'error': {
            'code': 409, 'title': 'Conflict',
            'message': 'Migration m1 already ended completed; there is nothing to abort.'}})
        with self.assertRaises(migrator.MigratorAPIError) as caught:
            migrator.migration_abort(self.request, 'm1')
        self.assertEqual(409, caught.exception.status)
        self.assertEqual('Migration m1 already ended completed; there is nothing to abort. '
                         '(HTTP 409)', str(caught.exception))
        self.assertIsInstance(caught.exception, horizon_exceptions.HorizonException)

    def test_error_without_json_body_keeps_its_text(self, request):
        request.return_value = response(502, text='Bad Gateway from the proxy')
        with self.assertRaises(migrator.MigratorAPIError) as caught:
            migrator.host_list(self.request)
        self.assertIn('Bad Gateway from the proxy (HTTP 502)', str(caught.exception))

    def test_unauthorized_logs_the_user_out(self, request):
        request.return_value = response(401, body={'error': {'message': 'token expired'}})
        with self.assertRaises(horizon_exceptions.NotAuthorized):
            migrator.host_list(self.request)

    def test_timeout_and_unreachable_say_so(self, request):
        request.side_effect = requests.Timeout('slow')
        with self.assertRaises(migrator.MigratorAPIError) as caught:
            migrator.host_list(self.request)
        self.assertIn('did not answer within 2 s', str(caught.exception))
        request.side_effect = requests.ConnectionError('refused')
        with self.assertRaises(migrator.MigratorAPIError) as caught:
            migrator.host_list(self.request)
        self.assertIn('Cannot reach the migrator API', str(caught.exception))

    def test_lists_follow_next_until_the_last_page(self, request):
        request.side_effect = [
            response(body={'migrations': [{'id': 'a'}, {'id': 'b'}], 'next': 'http://x'}),
            response(body={'migrations': [{'id': 'c'}]}),
        ]
        found = migrator.migration_list(self.request, status='running')
        self.assertEqual(['a', 'b', 'c'], [m['id'] for m in found])
        second = request.call_args_list[1].kwargs['params']
        self.assertEqual({'status': 'running', 'limit': 200, 'marker': 'b'}, second)

    def test_handled_error_becomes_a_message_not_a_500(self, request):
        request.return_value = response(503, body={'error': {
            'message': 'conductor did not answer within 30 s'}})
        with mock.patch('horizon.messages.error') as error:
            try:
                migrator.host_list(self.request)
            except Exception:
                horizon_exceptions.handle(self.request, 'Unable to list hosts.')
        error.assert_called_once()
        self.assertIn('conductor did not answer within 30 s', str(error.call_args.args[1]))


class CatalogTests(helpers.MigratorAdminTestCase):

    def _setup_test_data(self):
        super()._setup_test_data()
        self.service_catalog = [s for s in self.service_catalog if s['type'] != 'migration']

    def test_no_migration_endpoint_is_an_error_saying_what_to_register(self):
        with self.assertRaises(migrator.MigratorAPIError) as caught:
            migrator.host_list(self.request)
        self.assertIn("no 'migration' endpoint", str(caught.exception))
