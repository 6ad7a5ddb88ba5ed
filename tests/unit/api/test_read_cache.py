"""The API's read cache (migrator.api.read_cache): writes are seen, answers never cross
callers, nothing is kept longer than [api] read_cache_ttl."""

import base64
import threading

import pytest
from oslo_config import cfg
from webob import Request

from migrator.api import app as api_app
from migrator.api import read_cache
from migrator.common import htpasswd
from migrator.db import api as db_api
from tests.unit.api import fakes

CONF = cfg.CONF


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Counting:
    """A WSGI app that answers `status` with a body naming how many requests it served."""

    def __init__(self, status='200 OK'):
        self.status = status
        self.calls = 0
        self.during = None   # called while the answer is being made

    def __call__(self, environ, start_response):
        self.calls += 1
        if self.during is not None:
            self.during()
        start_response(self.status, [('Content-Type', 'application/json'),
                                     ('X-Openstack-Request-Id', environ.get(
                                         'openstack.request_id', 'req-none'))])
        return [f'{{"call": {self.calls}}}'.encode()]


def get(app, path='/v1/hosts', headers=None, request_id=None):
    environ = {'openstack.request_id': request_id} if request_id else {}
    req = Request.blank(path, headers=headers or {}, environ=environ)
    return req.get_response(app)


@pytest.fixture
def ttl(config):
    config('api', read_cache_ttl=1.0)


def test_an_answer_is_kept_for_the_ttl_and_no_longer(ttl):
    clock, inner = Clock(), Counting()
    cache = read_cache.ReadCache(inner, clock=clock)
    assert get(cache).json == {'call': 1}
    clock.now += 0.99
    assert get(cache).json == {'call': 1}
    clock.now += 0.02    # 1.01 s after the first request started
    assert get(cache).json == {'call': 2}
    assert inner.calls == 2


def test_ttl_zero_keeps_nothing(config):
    config('api', read_cache_ttl=0.0)
    inner = Counting()
    cache = read_cache.ReadCache(inner, clock=Clock())
    get(cache)
    get(cache)
    assert inner.calls == 2 and len(cache) == 0


def test_each_answer_has_its_own_request_id(ttl):
    cache = read_cache.ReadCache(Counting(), clock=Clock())
    first = get(cache, request_id='req-11111111-1111-1111-1111-111111111111')
    second = get(cache, request_id='req-22222222-2222-2222-2222-222222222222')
    assert second.json == first.json
    assert first.headers['X-Openstack-Request-Id'].startswith('req-1111')
    assert second.headers['X-Openstack-Request-Id'].startswith('req-2222')


@pytest.mark.parametrize('headers', [
    {'X-Roles': 'admin'}, {'X-Project-Id': 'other'}, {'X-User-Id': 'other'},
    {'OpenStack-System-Scope': 'all'}, {'X-Is-Admin-Project': 'True'},
    {'OpenStack-API-Version': 'migration 1.2'}, {'Accept': 'text/html'}])
def test_callers_versions_and_media_types_do_not_share(ttl, headers):
    inner = Counting()
    cache = read_cache.ReadCache(inner, clock=Clock())
    base = {'X-Roles': 'reader', 'X-Project-Id': 'ops', 'X-User-Id': 'bob'}
    assert get(cache, headers=base).json == {'call': 1}
    assert get(cache, headers={**base, **headers}).json == {'call': 2}
    assert get(cache, headers=base).json == {'call': 1}


@pytest.mark.parametrize('path', ['/v1/hosts?limit=1', '/v1/hosts/h2', '/v1/instances'])
def test_paths_and_queries_do_not_share(ttl, path):
    inner = Counting()
    cache = read_cache.ReadCache(inner, clock=Clock())
    get(cache, '/v1/hosts')
    assert get(cache, path).json == {'call': 2}


@pytest.mark.parametrize('path', ['/v1/migrations/m1/samples', '/v1/drains', '/healthcheck',
                                  '/v1/instances/vm1/observations', '/v1/plans'])
def test_other_resources_are_not_kept(ttl, path):
    inner = Counting()
    cache = read_cache.ReadCache(inner, clock=Clock())
    get(cache, path)
    assert get(cache, path).json == {'call': 2}


def test_errors_are_not_kept(ttl):
    inner = Counting('404 Not Found')
    cache = read_cache.ReadCache(inner, clock=Clock())
    get(cache)
    get(cache)
    assert inner.calls == 2


def test_a_write_request_empties_the_cache(ttl):
    inner = Counting()
    cache = read_cache.ReadCache(inner, clock=Clock())
    get(cache)
    Request.blank('/v1/migrations', method='POST').get_response(cache)
    assert get(cache).json == {'call': 3}


def test_an_answer_made_while_a_write_committed_is_not_kept(ttl, db):
    inner = Counting()
    cache = read_cache.ReadCache(inner, db=db, clock=Clock())
    # The write commits after the read started: what it read may predate the write.
    inner.during = lambda: fakes.add_host(db, 'host9')
    get(cache)
    inner.during = None
    assert get(cache).json == {'call': 2}
    assert get(cache).json == {'call': 2}


def test_the_same_requests_arriving_during_a_fill_wait_for_it(ttl):
    inner = Counting()
    cache = read_cache.ReadCache(inner, clock=Clock())
    arrived, release = threading.Event(), threading.Event()
    waiting = []

    def during():
        # The first request is making its answer: start three more of the same.
        inner.during = None
        for _ in range(3):
            t = threading.Thread(target=lambda: waiting.append(get(cache).json))
            t.start()
            waiting.append(t)
        arrived.set()
        release.wait(10)

    inner.during = during
    first = threading.Thread(target=lambda: waiting.append(get(cache).json))
    first.start()
    assert arrived.wait(10)
    # The three wait on the fill rather than calling the application.
    assert inner.calls == 1
    release.set()
    first.join(10)
    for t in [w for w in list(waiting) if isinstance(w, threading.Thread)]:
        t.join(10)
    answers = [w for w in waiting if isinstance(w, dict)]
    assert answers == [{'call': 1}] * 4
    assert inner.calls == 1


def test_a_fill_that_is_not_kept_lets_the_waiters_read_for_themselves(ttl):
    inner = Counting('500 Internal Server Error')
    cache = read_cache.ReadCache(inner, clock=Clock())
    get(cache)
    assert get(cache).status_int == 500 and inner.calls == 2 and len(cache) == 0


# -- through the whole API -------------------------------------------------------------------

@pytest.fixture
def users(tmp_path, config):
    path = tmp_path / 'htpasswd'
    htpasswd.set_user(str(path), 'alice', 'a', ['admin'], rounds=4)
    htpasswd.set_user(str(path), 'bob', 'b', ['reader'], 'ops', rounds=4)
    htpasswd.set_user(str(path), 'eve', 'e', ['nobody'], 'ops', rounds=4)
    config(auth_strategy='http_basic')
    config('api', http_basic_auth_user_file=str(path), read_cache_ttl=30.0)


def basic(user, password):
    token = base64.b64encode(f'{user}:{password}'.encode()).decode()
    return {'Authorization': f'Basic {token}'}


def cache_of(app):
    """The ReadCache layer inside the built application."""
    seen, todo = set(), [app]
    while todo:
        layer = todo.pop()
        if isinstance(layer, read_cache.ReadCache):
            return layer
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        todo.extend(v for v in vars(layer).values() if callable(v) and hasattr(v, '__dict__'))
    raise AssertionError('no ReadCache in the application')


def test_a_reader_and_an_admin_never_share_and_a_refused_caller_stays_refused(
        users, cluster, conductor):
    app = api_app.setup_app(db=cluster, conductor_api=conductor)
    client = fakes.WSGIClient(app)
    admin = client.get('/v1/hosts', headers=basic('alice', 'a'))
    reader = client.get('/v1/hosts', headers=basic('bob', 'b'))
    assert admin.status_int == reader.status_int == 200
    assert len(cache_of(app)) == 2
    refused = client.get('/v1/hosts', headers=basic('eve', 'e'))
    assert refused.status_int == 403, refused.text
    assert client.get('/v1/hosts').status_int == 401
    assert len(cache_of(app)) == 2


def test_a_write_through_the_database_is_seen_at_once(users, cluster, conductor):
    app = api_app.setup_app(db=cluster, conductor_api=conductor)
    client = fakes.WSGIClient(app)
    names = [h['name'] for h in client.get('/v1/hosts', headers=basic('bob', 'b')).json['hosts']]
    assert 'host4' not in names
    fakes.add_host(cluster, 'host4')
    names = [h['name'] for h in client.get('/v1/hosts', headers=basic('bob', 'b')).json['hosts']]
    assert 'host4' in names
    cluster.host_set_status('host1', 'disabled', 'test')
    one = client.get('/v1/hosts/host1', headers=basic('bob', 'b')).json
    assert one['status'] == 'disabled'


def test_a_write_through_the_api_is_seen_at_once(users, cluster, conductor):
    client = fakes.WSGIClient(api_app.setup_app(db=cluster, conductor_api=conductor))
    assert client.get('/v1/hosts/host1', headers=basic('alice', 'a')).json['status'] == \
        'enabled'
    resp = client.request('PUT', '/v1/hosts/host1',
                          body={'status': 'maintenance', 'reason': 'disk'},
                          headers=basic('alice', 'a'))
    assert resp.status_int == 200, resp.text
    assert client.get('/v1/hosts/host1', headers=basic('alice', 'a')).json['status'] == \
        'maintenance'


def test_a_write_of_another_process_is_seen_within_the_ttl(users, cluster, conductor,
                                                           config, tmp_path):
    app = api_app.setup_app(db=cluster, conductor_api=conductor)
    cache = cache_of(app)
    clock = Clock()
    cache.clock = clock
    client = fakes.WSGIClient(app)
    other = db_api.Database(cluster.url)   # another process's Database: no listener here
    assert client.get('/v1/hosts/host1', headers=basic('bob', 'b')).json['status'] == \
        'enabled'
    other.host_set_status('host1', 'disabled', 'elsewhere')
    clock.now += 29.0
    assert client.get('/v1/hosts/host1', headers=basic('bob', 'b')).json['status'] == \
        'enabled'
    clock.now += 1.5
    assert client.get('/v1/hosts/host1', headers=basic('bob', 'b')).json['status'] == \
        'disabled'
    other.dispose()


def test_concurrent_readers_get_whole_documents(users, cluster, conductor):
    client = fakes.WSGIClient(api_app.setup_app(db=cluster, conductor_api=conductor))
    expected = client.get('/v1/hosts', headers=basic('bob', 'b')).body
    bodies, errors = [], []

    def read():
        try:
            for _ in range(20):
                bodies.append(client.get('/v1/hosts', headers=basic('bob', 'b')).body)
        except Exception as exc:   # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert bodies == [expected] * 80
