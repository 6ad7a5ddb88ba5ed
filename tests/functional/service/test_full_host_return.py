"""Claims and the agents' reported usage never count one guest twice (issue 11): a host that
is exactly full is drained, and every guest is returned to it while the guests dirty their
memory. migrator-all (SQLite, in-process bus) over a 3-host sandbox with three small guests
on sandbox-host1.

Every host offers exactly three guests' memory ([compute] reserved_host_memory_mb keeps the
rest), so sandbox-host1 is full before the drain and full again after the return. The agents
report every 10 s (and at once on a domain event), so a claim that stayed counted beside the
guest's own usage after it landed -- or beside its incoming domain while it arrived -- would
refuse the last guests of the return for lack of room.
"""


import pytest

from migrator.sandbox import probe
from tests.functional.service import crowded_host, processes

FULL = 'sandbox-host1'
GUESTS = 3
GUEST_MIB = 128


@pytest.fixture(scope='module')
def sandbox(tmp_path_factory):
    with crowded_host.sandbox_with_guests(tmp_path_factory, 'full-host', FULL, GUESTS,
                                          memory_mib=GUEST_MIB, dirty_rate_mib=2) as cluster:
        yield cluster


@pytest.fixture(scope='module')
def api(sandbox, tmp_path_factory):
    with crowded_host.all_in_one(sandbox, tmp_path_factory.mktemp('full-host-service'),
                                 GUESTS * GUEST_MIB,
                                 {'report_interval': 10, 'progress_interval': 0.5}) as service:
        yield service[0]


def _wait_for_job(api, job_id):
    def ended():
        body = api.get(f'/v1/drains/{job_id}').json()
        return body if body['status'] in ('completed', 'partial', 'cancelled',
                                           'failed') else None
    return processes.wait_until(ended, 300, f'job {job_id} to end', interval=0.2)


def test_every_guest_of_an_exactly_full_host_returns_to_it(sandbox, api):
    names = [g['name'] for g in sandbox['guests']]
    full = api.get(f'/v1/hosts/{FULL}').json()
    assert full['memory_mb_used'] == GUESTS * GUEST_MIB, full

    response = api.post(f'/v1/hosts/{FULL}/drain', {'mode': 'live'})
    assert response.status_code == 202, response.text
    job = _wait_for_job(api, response.json()['id'])
    assert job['status'] == 'completed', job

    ticks = {name: probe.latest_tick(name, cluster=sandbox) for name in names}
    response = api.post(f'/v1/hosts/{FULL}/undrain', {'return_guests': True})
    assert response.status_code == 202, response.text
    back = response.json()['return']
    assert len(back['items']) == GUESTS, back
    job = _wait_for_job(api, back['id'])
    assert job['status'] == 'completed', job
    assert all(i['status'] == 'moved' for i in job['items']), job['items']
    for name in names:
        assert probe.where(name, cluster=sandbox) == [FULL], name
        probe.wait_for_tick(name, above=ticks[name] + 1, cluster=sandbox)
    # Exactly full again, each guest counted once: nothing claimed beside the usage.
    processes.wait_until(
        lambda: api.get(f'/v1/hosts/{FULL}').json()['memory_mb_claimed'] == 0, 30,
        'the landed claims to be given back')
    assert api.get(f'/v1/hosts/{FULL}').json()['memory_mb_used'] == GUESTS * GUEST_MIB


pytestmark = pytest.mark.functional
