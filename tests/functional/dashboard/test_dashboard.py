"""The migrator dashboard in headless Chromium against the real stack (stack.py): Keystone,
Horizon with the plugin, migrator-all over RabbitMQ, a three-host sandbox with three guests
on sandbox-host1. The DOM hooks are the plugin's (dashboard/migrator_dashboard/TESTING.rst).

One stack serves the module and the tests build on each other in file order: a guest moves
from the Instances panel, a second one's slowed migration is aborted, the first host is
drained and undrained with return, a rebalance plan is applied, and a reader looks at it all.
"""

import pytest

from tests.functional.dashboard import conftest
from tests.functional.dashboard.stack import SOURCE

pytestmark = pytest.mark.functional

# MiB/s caps given in the Migrate form: 128 MiB of guest at 8 MiB/s (dirtying 2 MiB/s)
# takes ~20 s, long enough to watch the row; at 1 MiB/s it never converges.
WATCHABLE_BANDWIDTH = 8
CRAWL_BANDWIDTH = 1
MIGRATION_TIMEOUT = 300


def _row(migration_id):
    return f'#migrations__row__{migration_id}'


def _progress(browser, migration_id):
    bar = browser.find(f'{_row(migration_id)} .migration-progress')
    return bar.get_attribute('data-status'), float(bar.get_attribute('data-progress') or 0)


def _watch_migration(browser, migration_id, until, timeout=MIGRATION_TIMEOUT):
    """Reads the row's progress bar as Horizon's ajax updates rewrite it, until its status is
    one of `until`; returns the (status, percent) pairs seen, in order, without repeats."""
    seen = []

    def ended(_driver):
        value = _progress(browser, migration_id)
        if not seen or seen[-1] != value:
            seen.append(value)
        return value[0] in until
    browser.wait(ended, f'migration {migration_id} to end ({until})', timeout=timeout)
    return seen


def test_login_lands_on_the_migrations_panel(browser, stack):
    browser.login('admin', stack.password('admin'))
    assert '/admin/' in browser.driver.current_url
    browser.find('#migrations')
    browser.screenshot('landing')


def test_migration_row_updates_without_reload(admin, stack):
    guest = stack.guests()[0]
    target = 'sandbox-host2'
    migration = stack.api.post('/v1/migrations', {
        'instance': guest, 'type': 'live', 'target_host': target,
        'bandwidth_mib': WATCHABLE_BANDWIDTH})
    admin.open('/admin/migrations/')
    admin.mark_page()
    admin.find(_row(migration['id']))

    def running_with_progress(_driver):
        status, percent = _progress(admin, migration['id'])
        return status == 'running' and percent > 0
    admin.wait(running_with_progress, 'the row to show the migration running')
    shot = admin.screenshot('migrations-mid-migration')
    seen = _watch_migration(admin, migration['id'], ('completed',))

    assert admin.still_same_page(), 'the page was reloaded'
    running = [percent for status, percent in seen if status == 'running']
    assert len(set(running)) >= 2, f'the progress bar did not move: {seen}'
    assert seen[-1] == ('completed', 100.0), seen
    assert stack.where(guest) == [target]
    conftest.save_doc_image(shot, 'dashboard-migrations-in-flight.png')

    admin.open(f'/admin/migrations/{migration["id"]}/')
    chart = admin.find('#migration-chart')
    assert int(chart.get_attribute('data-samples')) >= 2
    series = {p.get_attribute('data-series')
              for p in admin.find_all('#migration-chart polyline.chart-series')}
    assert {'data_remaining', 'transfer_rate', 'dirty_rate'} <= series, series
    states = [e.get_attribute('data-to-state')
              for e in admin.find_all('#migration-events tr.migration-event')]
    assert 'completed' in states, states
    conftest.save_doc_image(admin.screenshot('migration-detail-chart'),
                            'dashboard-migration-detail.png')


def test_abort_a_slowed_migration(admin, stack):
    guest = stack.guests()[1]
    migration = stack.api.post('/v1/migrations', {
        'instance': guest, 'type': 'live', 'target_host': 'sandbox-host3',
        'bandwidth_mib': CRAWL_BANDWIDTH})
    admin.open('/admin/migrations/')
    admin.wait(lambda d: _progress(admin, migration['id'])[0] == 'running',
               'the migration to run')
    admin.mark_page()
    admin.click_and_confirm(admin.find(f'#migrations__row_{migration["id"]}__action_abort'))
    admin.wait_loaded()
    admin.find('.alert-success')
    _watch_migration(admin, migration['id'], ('cancelled', 'failed', 'completed'))
    assert _progress(admin, migration['id'])[0] == 'cancelled'
    assert stack.where(guest) == [SOURCE]
