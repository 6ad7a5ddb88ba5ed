"""GET /v1/conductors (microversion 1.3): each conductor's heartbeat, version and state, as
the conductors record them in the database."""

import datetime

import sqlalchemy as sa

from migrator.api import microversion, openapi
from migrator.conf import CONF
from migrator.db.models import conductors, utcnow
from tests.unit.api import fakes

SINCE = openapi.CONDUCTORS_SINCE
V13 = {'OpenStack-API-Version': f'migration {SINCE}'}


def _age(db, name, seconds):
    with db._write() as conn:
        conn.execute(sa.update(conductors).where(conductors.c.name == name).values(
            heartbeat_at=utcnow() - datetime.timedelta(seconds=seconds)))


def test_conductors_alive_dead_and_stopped(client, db):
    takeover = CONF.conductor.takeover_after
    db.conductor_register('cond-b', 'inc-b', takeover, machine='m2', pid=22, version='0.0.9')
    db.conductor_register('cond-a', 'inc-a', takeover, machine='m1', pid=11, version='0.1.0')
    db.conductor_register('cond-c', 'inc-c', takeover)
    db.conductor_stopped('cond-c', 'inc-c')
    _age(db, 'cond-b', takeover + 10)

    resp = client.get('/v1/conductors', headers=V13)
    assert resp.status_int == 200, resp.text
    assert resp.headers['OpenStack-API-Version'] == f'migration {SINCE}'
    listed = resp.json['conductors']
    assert [c['name'] for c in listed] == ['cond-a', 'cond-b', 'cond-c']
    a, b, c = listed
    assert (a['state'], a['version'], a['machine'], a['pid'], a['incarnation']) == \
        ('alive', '0.1.0', 'm1', 11, 'inc-a')
    assert 0 <= a['heartbeat_age_seconds'] < 60
    assert a['last_heartbeat'].endswith('Z') and a['stopped_at'] is None
    assert (b['state'], b['version']) == ('dead', '0.0.9')
    assert b['heartbeat_age_seconds'] >= takeover + 10
    assert c['state'] == 'stopped' and c['stopped_at'].endswith('Z')
    assert c['version'] is None


def test_conductors_need_their_microversion(client, db):
    db.conductor_register('cond-a', 'inc-a', 30)
    major, minor = SINCE.split('.')
    before = f'{major}.{int(minor) - 1}'
    for headers in ({}, {'OpenStack-API-Version': f'migration {before}'}):
        resp = client.get('/v1/conductors', headers=headers)
        fakes.assert_error(resp, 404, f'microversion {SINCE}', 'OpenStack-API-Version')
    links = {link['rel'] for link in client.get('/v1').json['links']}
    assert 'conductors' not in links
    links = {link['rel'] for link in client.get('/v1', headers=V13).json['links']}
    assert 'conductors' in links


def test_unknown_query_parameters_are_refused(client, db):
    resp = client.get('/v1/conductors?state=dead', headers=V13)
    fakes.assert_error(resp, 400, 'state')


def test_no_conductor_yet_is_an_empty_list(client, db):
    resp = client.get('/v1/conductors', headers=V13)
    assert resp.status_int == 200 and resp.json == {'conductors': []}


def test_the_microversion_history_names_the_endpoint():
    assert '/v1/conductors' in microversion.HISTORY[SINCE]
