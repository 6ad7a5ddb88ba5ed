"""Policy: every API operation's rule, through the real API app, with the identity headers
keystonemiddleware's auth_token would set (admin, reader, a user without roles); an
operator's policy file; a refusal is a 403 naming the rule and changes nothing."""

import json

import pytest

from migrator.api import app as api_app
from migrator.api import auth, policy
from migrator.common import policies
from migrator.conductor.tasks import rebalance
from migrator.conf import CONF
from tests.unit.api import fakes


def identity(roles, user='alice', project='ops'):
    """The headers auth_token sets for a valid token of `user` in `project`."""
    return {
        'X-Identity-Status': 'Confirmed',
        'X-User-Id': f'{user}-id', 'X-User-Name': user,
        'X-User-Domain-Id': 'default', 'X-User-Domain-Name': 'Default',
        'X-Project-Id': f'{project}-id', 'X-Project-Name': project,
        'X-Project-Domain-Id': 'default', 'X-Project-Domain-Name': 'Default',
        'X-Roles': ','.join(roles),
    }


ADMIN = identity(['admin', 'member', 'reader'], user='root')
READER = identity(['reader'], user='rita')
NO_ROLES = identity([], user='nobody')

MIG = '11111111-2222-4333-8444-555555555555'
DRAIN = '66666666-7777-4888-9999-000000000000'

# Every operation of the API: (rule, method, path, body). Paths name the objects the `world`
# fixture makes; `None` body: none sent.
OPERATIONS = [
    ('migrator:migration:create', 'POST', '/v1/migrations',
     {'instance': 'vm2', 'type': 'live'}),
    ('migrator:migration:dry_run', 'POST', '/v1/migrations',
     {'instance': 'vm2', 'type': 'live', 'dry_run': True}),
    ('migrator:migration:list', 'GET', '/v1/migrations', None),
    ('migrator:migration:get', 'GET', f'/v1/migrations/{MIG}', None),
    ('migrator:migration:abort', 'DELETE', f'/v1/migrations/{MIG}', None),
    ('migrator:migration:force_complete', 'POST', f'/v1/migrations/{MIG}/action',
     {'force_complete': None}),
    ('migrator:migration:reset_state', 'POST', f'/v1/migrations/{MIG}/action',
     {'reset_state': {'state': 'failed', 'reason': 'stuck since the rack lost power'}}),
    ('migrator:migration:samples:list', 'GET', f'/v1/migrations/{MIG}/samples', None),
    ('migrator:host:list', 'GET', '/v1/hosts', None),
    ('migrator:host:get', 'GET', '/v1/hosts/host1', None),
    ('migrator:host:update', 'PUT', '/v1/hosts/host2',
     {'status': 'disabled', 'reason': 'disk swap'}),
    ('migrator:host:drain', 'POST', '/v1/hosts/host2/drain', {}),
    ('migrator:host:undrain', 'POST', '/v1/hosts/host1/undrain', {}),
    ('migrator:instance:list', 'GET', '/v1/instances', None),
    ('migrator:instance:get', 'GET', '/v1/instances/vm1', None),
    ('migrator:drain:list', 'GET', '/v1/drains', None),
    ('migrator:drain:get', 'GET', f'/v1/drains/{DRAIN}', None),
    ('migrator:drain:get', 'GET', '/v1/hosts/host3/drain', None),
    ('migrator:drain:cancel', 'DELETE', f'/v1/drains/{DRAIN}', None),
    ('migrator:drain:cancel', 'DELETE', '/v1/hosts/host3/drain', None),
    ('migrator:plan:create', 'POST', '/v1/plans', {'goal': 'balance'}),
    ('migrator:plan:list', 'GET', '/v1/plans', None),
    ('migrator:plan:get', 'GET', '/v1/plans/PLAN', None),
    ('migrator:plan:apply', 'POST', '/v1/plans/PLAN/apply', None),
    ('migrator:plan:cancel', 'POST', '/v1/plans/PLAN/cancel', None),
    ('migrator:server_group:list', 'GET', '/v1/server-groups', None),
    ('migrator:server_group:get', 'GET', '/v1/server-groups/web', None),
    ('migrator:server_group:create', 'POST', '/v1/server-groups',
     {'name': 'db', 'policy': 'affinity', 'members': []}),
    ('migrator:server_group:delete', 'DELETE', '/v1/server-groups/web', None),
    ('migrator:server_group:add_member', 'POST', '/v1/server-groups/web/members',
     {'instance': 'vm3'}),
    ('migrator:server_group:remove_member', 'DELETE', '/v1/server-groups/web/members/vm1',
     None),
    ('migrator:audit:get', 'GET', '/v1/audit', None),
    ('migrator:audit:get', 'POST', '/v1/audit', {}),
    ('migrator:audit:fix', 'POST', '/v1/audit', {'fix': True}),
    ('migrator:conductor:list', 'GET', '/v1/conductors', None),
]
READS = {'migrator:audit:get', 'migrator:migration:dry_run', 'migrator:migration:list',
         'migrator:migration:get', 'migrator:migration:samples:list', 'migrator:host:list',
         'migrator:host:get',
         'migrator:instance:list', 'migrator:instance:get', 'migrator:drain:list',
         'migrator:drain:get', 'migrator:plan:list', 'migrator:plan:get',
         'migrator:server_group:list', 'migrator:server_group:get',
         'migrator:conductor:list'}


@pytest.fixture
def app(db, conductor, monkeypatch):
    """The API app as it is behind keystonemiddleware's auth_token: the identity headers a
    test sends reach pecan as they are (the authentication layer, where the tree has one,
    is left out: its own tests cover it)."""
    monkeypatch.setattr(auth, 'wrap', lambda wsgi_app: wsgi_app)
    return api_app.setup_app(db=db, conductor_api=conductor)


@pytest.fixture(autouse=True)
def fresh_enforcer():
    policy.reset()
    yield
    CONF.clear_override('policy_file', group='oslo_policy')
    policy.reset()


@pytest.fixture
def world(db, conductor, cluster):
    """A migration (accepted), a drain of host3 (accepted), a plan (planned), a server group
    'web' with vm1, host1 in maintenance, and a clean audit."""
    db.migration_create({'id': MIG, 'instance_uuid': fakes.uuid_of('vm1'), 'type': 'live'})
    db.drain_create({'id': DRAIN, 'kind': 'drain', 'host': 'host3', 'mode': 'auto',
                     'max_parallel': 1}, host_status=('maintenance', 'drain'))
    db.host_set_status('host1', 'maintenance', 'by hand')
    conductor.planner = lambda goal, **kw: rebalance.create_plan(db, goal, **kw)['id']
    fakes.add_instances(db, 'host2', 'vm4', memory_mb=4096)
    plan = rebalance.create_plan(db, 'balance')
    db.server_group_create('web', 'anti-affinity', [fakes.uuid_of('vm1')])
    conductor.audit_answer = lambda fix: {'discrepancies': [], 'fixed': [],
                                          'hosts_checked': ['host1', 'host2', 'host3']}
    return {'plan': plan['id']}


def call(client, world, method, path, body, headers):
    path = path.replace('PLAN', world['plan'])
    raw = json.dumps(body) if body is not None else None
    # The newest microversion serves every operation (conductors: 1.3, plan cancel: 1.6).
    headers = dict(headers, **{'OpenStack-API-Version': 'migration latest'})
    return client.request(method, path, raw=raw, headers=headers)


def snapshot(db, conductor):
    """Everything a request could change, in the DB and asked of the conductor (an audit
    only changes something with fix)."""
    return {
        'migrations': db.migration_list(limit=None),
        'hosts': [(h['name'], h['status'], h['status_reason']) for h in db.host_list()],
        'drains': db.drain_list(None, 1000),
        'plans': db.plan_list(limit=1000),
        'groups': db.server_group_list(),
        'instances': db.instance_list(),
        'conductor': (list(conductor.casts), list(conductor.drains), list(conductor.aborts),
                      list(conductor.force_completes), list(conductor.plan_requests),
                      list(conductor.applied_plans),
                      [fix for fix in conductor.audits if fix]),
    }


def test_every_rule_is_an_operation_here_and_every_operation_has_its_rule():
    registered = {r.name for r in policies.list_rules()} - {'admin_api', 'reader_api'}
    assert registered == {op[0] for op in OPERATIONS}
    assert READS <= registered


@pytest.mark.parametrize('rule, method, path, body', OPERATIONS,
                         ids=[f'{o[0]}-{o[1]}-{o[2]}' for o in OPERATIONS])
def test_default_rule(client, db, conductor, world, rule, method, path, body):
    """A user without roles is refused; a reader only reads; an admin may do it. Each
    refusal is a 403 that names the rule and changes nothing."""
    before = snapshot(db, conductor)
    resp = call(client, world, method, path, body, NO_ROLES)
    fakes.assert_error(resp, 403, f"'{rule}'", 'nobody', 'roles none')
    assert snapshot(db, conductor) == before

    resp = call(client, world, method, path, body, READER)
    if rule in READS:
        assert resp.status_int < 300, resp.text
    else:
        error = fakes.assert_error(resp, 403, f"'{rule}'", 'rita', 'reader')
        assert 'policy_file' in error['message']
    assert snapshot(db, conductor) == before

    resp = call(client, world, method, path, body, ADMIN)
    assert resp.status_int not in (401, 403), resp.text
    assert resp.status_int < 500, resp.text


def test_invalid_token_is_401_and_changes_nothing(client, db, conductor, world):
    before = snapshot(db, conductor)
    headers = dict(ADMIN, **{'X-Identity-Status': 'Invalid'})
    resp = client.post('/v1/migrations', {'instance': 'vm2', 'type': 'live'}, headers=headers)
    fakes.assert_error(resp, 401, 'authenticate')
    assert snapshot(db, conductor) == before


def test_without_identity_the_caller_is_the_noauth_admin(client, world, conductor):
    resp = client.post('/v1/migrations', {'instance': 'vm2', 'type': 'live'})
    assert resp.status_int == 202, resp.text
    assert resp.json['requester']['user_name'] == 'noauth'


def test_policy_file_overrides_a_default(client, db, conductor, world, tmp_path):
    """An operator lets the 'operator' role (and only it) start migrations, and lets readers
    set host status."""
    policy_file = tmp_path / 'policy.yaml'
    policy_file.write_text('"migrator:migration:create": "role:operator"\n'
                           '"migrator:host:update": "rule:reader_api"\n')
    CONF.set_override('policy_file', str(policy_file), group='oslo_policy')
    policy.reset()
    body = {'instance': 'vm2', 'type': 'live'}

    before = snapshot(db, conductor)
    fakes.assert_error(client.post('/v1/migrations', body, headers=ADMIN), 403,
                       "'migrator:migration:create'")
    assert snapshot(db, conductor) == before

    operator = identity(['operator'], user='otto')
    resp = client.post('/v1/migrations', body, headers=operator)
    assert resp.status_int == 202, resp.text
    assert resp.json['requester']['user_name'] == 'otto'

    resp = client.request('PUT', '/v1/hosts/host2', raw=json.dumps(
        {'status': 'disabled', 'reason': 'rita says'}), headers=READER)
    assert resp.status_int == 200, resp.text
    assert db.host_get('host2')['status'] == 'disabled'
    # Rules the file does not name keep their defaults.
    fakes.assert_error(call(client, world, 'POST', '/v1/hosts/host2/drain', {}, READER), 403,
                       "'migrator:host:drain'")


def test_a_persona_is_redefined_in_one_place(client, world, tmp_path):
    policy_file = tmp_path / 'policy.yaml'
    policy_file.write_text('"reader_api": "role:auditor or role:admin"\n')
    CONF.set_override('policy_file', str(policy_file), group='oslo_policy')
    policy.reset()
    assert client.get('/v1/hosts', headers=READER).status_int == 403
    auditor = identity(['auditor'], user='audrey')
    assert client.get('/v1/hosts', headers=auditor).status_int == 200
    assert client.get('/v1/migrations', headers=auditor).status_int == 200
    fakes.assert_error(client.request('DELETE', f'/v1/migrations/{MIG}', headers=auditor),
                       403, "'migrator:migration:abort'")


def test_every_controller_operation_authorises_first():
    """A new operation without a rule would be open to anyone: every method pecan routes
    to in the v1 controllers authorises its rule (test_default_rule shows it happens before
    anything changes)."""
    import importlib
    import inspect
    import pkgutil

    from pecan import rest

    from migrator.api.controllers import v1

    checked = []
    for info in pkgutil.iter_modules(v1.__path__):
        module = importlib.import_module(f'{v1.__name__}.{info.name}')
        for cls in vars(module).values():
            if not (inspect.isclass(cls) and issubclass(cls, rest.RestController)
                    and cls.__module__ == module.__name__):
                continue
            names = {'get_all', 'get_one', 'get', 'post', 'put', 'delete', 'patch'}
            names |= set(getattr(cls, '_custom_actions', {}))
            for name in sorted(names & set(vars(cls))):
                checked.append(f'{cls.__name__}.{name}')
                assert 'policy.authorize(' in inspect.getsource(getattr(cls, name)), (
                    f'{cls.__name__}.{name} authorises no rule: add one to '
                    'migrator/common/policies and call policy.authorize first')
    assert len(checked) >= 28, checked
