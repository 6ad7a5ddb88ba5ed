"""The migrator dashboard in headless Chromium against the real stack (stack.py): Keystone,
Horizon with the plugin, migrator-all over RabbitMQ, a three-host sandbox with three guests
on sandbox-host1. The DOM hooks are the plugin's (dashboard/migrator_dashboard/TESTING.rst).

One stack serves the module and the tests build on each other in file order: a guest moves
from the Instances panel, a second one's slowed migration is aborted, the first host is
drained and undrained with return (leaving the third host empty), a rebalance plan is applied,
and a reader looks at it all.
"""

import pytest
from selenium.webdriver.support.ui import Select

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


def _migrate_from_instances_panel(browser, stack, guest, target, bandwidth_mib):
    """Fills and submits the Instances panel's Migrate form; returns the migration the API
    then shows for the guest."""
    uuid = stack.api.get(f'/v1/instances/{guest}')['uuid']
    before = {m['id'] for m in stack.api.migrations(guest)}
    browser.open('/admin/migration_instances/')
    browser.click_row_action('instances', uuid, 'migrate')
    browser.find('#migrate_instance_form #id_type')
    answer = browser.find(f'#migrate-dry-run tr.dry-run-host[data-host="{target}"]')
    assert answer.get_attribute('data-possible') == 'true', answer.text
    # The convergence controls show the service's defaults.
    assert browser.find('#id_bandwidth_mib').get_attribute('placeholder') != ''
    Select(browser.find('#id_target_host')).select_by_value(target)
    browser.find('#id_bandwidth_mib').send_keys(str(bandwidth_mib))
    browser.screenshot('migrate-form')
    browser.find('#migrate_instance_form .modal-footer input.btn-primary, '
                 '.modal-footer input.btn-primary').click()
    browser.wait(lambda d: '/admin/migrations/' in d.current_url
                 or d.current_url.rstrip('/').endswith('/admin'), 'the Migrations panel')
    browser.wait_loaded()
    migration = browser.wait(
        lambda d: next((m for m in stack.api.migrations(guest) if m['id'] not in before),
                       None), 'the migration to be created')
    assert migration['target_host'] == target, migration
    return migration


def test_login_lands_on_the_migrations_panel(browser, stack):
    browser.login('admin', stack.password('admin'))
    assert '/admin/' in browser.driver.current_url
    browser.find('#migrations')
    browser.screenshot('landing')


def test_hosts_show_their_capacity(admin, stack):
    admin.open('/admin/migration_hosts/')
    for host in stack.host_names():
        row = f'#hosts__row__{host}'
        admin.find(f'{row} td.status_up')
        kinds = {}
        for cell in admin.find_all(f'{row} .host-capacity'):
            kinds[cell.get_attribute('data-kind')] = (
                float(cell.get_attribute('data-used')), float(cell.get_attribute('data-total')))
        assert {'memory', 'vcpus', 'disk'} <= set(kinds), (host, kinds)
        assert all(total > 0 for _used, total in kinds.values()), (host, kinds)
    # Three 128 MiB guests run on the first host, none on the others.
    memory = {h: float(admin.find(f'#hosts__row__{h} .host-capacity[data-kind="memory"]')
                       .get_attribute('data-used')) for h in stack.host_names()}
    assert memory[SOURCE] > memory['sandbox-host3'], memory
    admin.screenshot('hosts')


def test_migration_row_updates_without_reload(admin, stack):
    guest = stack.guests()[0]
    target = 'sandbox-host2'
    migration = _migrate_from_instances_panel(admin, stack, guest, target,
                                              WATCHABLE_BANDWIDTH)
    admin.mark_page()
    admin.find(_row(migration['id']))

    def running_with_progress(_driver):
        status, percent = _progress(admin, migration['id'])
        return status == 'running' and percent > 0
    admin.wait(running_with_progress, 'the row to show the migration running')
    # The picture for the docs: a bar well under way (or whatever the row shows by the end).
    admin.wait(lambda d: _progress(admin, migration['id'])[1] >= 20
               or _progress(admin, migration['id'])[0] != 'running', 'the bar to fill')
    shot = admin.screenshot('migrations-mid-migration')
    seen = _watch_migration(admin, migration['id'], ('completed',))

    assert admin.still_same_page(), 'the page was reloaded'
    running = [percent for status, percent in seen if status == 'running']
    assert len(set(running)) >= 2, f'the progress bar did not move: {seen}'
    assert seen[-1] == ('completed', 100.0), seen
    assert stack.where(guest) == [target]
    conftest.save_doc_image(shot, 'dashboard-migrations-in-flight.png')

    admin.find(f'{_row(migration["id"])} a[href*="{migration["id"]}"]').click()
    admin.wait_loaded()
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
    migration = _migrate_from_instances_panel(admin, stack, guest, 'sandbox-host3',
                                              CRAWL_BANDWIDTH)
    admin.wait(lambda d: _progress(admin, migration['id'])[0] == 'running',
               'the migration to run')
    admin.click_row_action('migrations', migration['id'], 'abort')
    admin.confirm()
    admin.wait(lambda d: d.find_element('css selector', '.alert-success'),
               'the abort to be acknowledged')
    admin.wait_loaded()
    _watch_migration(admin, migration['id'], ('cancelled', 'failed', 'completed'))
    assert _progress(admin, migration['id'])[0] == 'cancelled'
    assert stack.where(guest) == [SOURCE]


def _outcomes(browser):
    """{instance uuid: outcome} of the drain page's guest rows."""
    return {row.get_attribute('id').split('__row__')[1]:
            row.find_element('css selector', 'td[class*="status_"]').text.strip().lower()
            for row in browser.find_all('tr[id^="drain_items__row__"]')}


def _wait_outcomes(browser, expected_count):
    def final(_driver):
        outcomes = _outcomes(browser)
        done = len(outcomes) == expected_count and all(
            o in ('moved', 'gone', 'failed', 'cancelled') for o in outcomes.values())
        return outcomes if done else None
    return browser.wait(final, 'every guest of the drain to reach its outcome',
                        timeout=MIGRATION_TIMEOUT)


def _submit_modal(browser, form):
    browser.find(f'{form}')
    browser.find('.modal-footer input.btn-primary, .modal-footer button.btn-primary').click()


def test_drain_then_undrain_with_return(admin, stack):
    on_source = [g for g in stack.guests() if stack.where(g) == [SOURCE]]
    assert on_source, 'no guest left on the source to drain'
    admin.open('/admin/migration_hosts/')
    admin.click_row_action('hosts', SOURCE, 'drain')
    admin.find('#drain_host_form #id_mode')
    admin.find('#id_max_parallel').clear()
    admin.find('#id_max_parallel').send_keys('2')
    _submit_modal(admin, '#drain_host_form')
    admin.wait(lambda d: '/drains/' in d.current_url, 'the drain page')
    admin.wait_loaded()
    admin.mark_page()
    outcomes = _wait_outcomes(admin, len(on_source))
    admin.screenshot('drain-outcomes')
    assert admin.still_same_page(), 'the drain page was reloaded'
    assert set(outcomes.values()) == {'moved'}, outcomes
    for guest in on_source:
        assert stack.where(guest) not in ([SOURCE], []), guest

    admin.open('/admin/migration_hosts/')
    admin.click_row_action('hosts', SOURCE, 'undrain')
    assert admin.find('#undrain_host_form #id_return_guests').is_selected()
    _submit_modal(admin, '#undrain_host_form')
    admin.wait(lambda d: '/drains/' in d.current_url, 'the return job\'s drain page')
    admin.wait_loaded()
    outcomes = _wait_outcomes(admin, len(on_source))
    admin.screenshot('return-outcomes')
    assert set(outcomes.values()) == {'moved'}, outcomes
    for guest in on_source:
        assert stack.where(guest) == [SOURCE], guest


def _status(browser, table, row):
    return browser.find(f'#{table}__row__{row} td[class*="status_"]').text.strip().lower()


def test_create_review_and_apply_a_plan(admin, stack):
    admin.open('/admin/rebalance/')
    admin.find('#plans__action_create').click()
    admin.find('#create_plan_form #id_max_moves')
    admin.find('#id_min_gain').clear()
    admin.find('#id_min_gain').send_keys('0')
    _submit_modal(admin, '#create_plan_form')
    admin.wait(lambda d: d.current_url.rstrip('/').split('/')[-2] == 'rebalance'
               and d.current_url.rstrip('/').split('/')[-1] not in ('rebalance', 'create'),
               "the new plan's page")
    admin.wait_loaded()
    plan_id = admin.driver.current_url.rstrip('/').split('/')[-1]
    assert _status(admin, 'plan', plan_id) == 'planned'
    assert 'score' in admin.find('#plan-fields').text.lower()
    moves = admin.find_all('tr[id^="moves__row__"]')
    assert moves, 'the plan moves nothing'
    assert admin.find_all('#plan-jobsets tr.plan-jobset')
    assert admin.find_all('#plan-load-chart rect.load-now')
    assert admin.find_all('#plan-load-chart rect.load-after')
    admin.screenshot('plan-review')

    admin.click_row_action('plan', plan_id, 'apply')
    admin.confirm()
    admin.wait(lambda d: d.find_element('css selector', '.alert-success'),
               'the apply to be acknowledged')
    admin.wait_loaded()
    admin.wait(lambda d: _status(admin, 'plan', plan_id) in ('applied', 'partial', 'failed'),
               'the plan to be applied', timeout=MIGRATION_TIMEOUT)
    admin.screenshot('plan-applied')
    assert _status(admin, 'plan', plan_id) == 'applied'
    rows = [r.get_attribute('id').split('__row__')[1]
            for r in admin.find_all('tr[id^="moves__row__"]')]
    assert {_status(admin, 'moves', seq) for seq in rows} == {'completed'}
    plan = stack.api.get(f'/v1/plans/{plan_id}')
    for move in plan['moves']:
        assert stack.where(move['instance_name']) == [move['target_host']], move


def test_reader_finds_no_mutating_action(browser, stack):
    browser.login('reader', stack.password('reader'))
    for path, table, rows in (('/admin/', '#migrations', True),
                              ('/admin/migration_hosts/', '#hosts', True),
                              ('/admin/migration_instances/', '#instances', True),
                              ('/admin/rebalance/', '#plans', True),
                              ('/admin/migration_server_groups/', '#server_groups', False)):
        browser.open(path)
        browser.find(table)
        if rows:
            assert browser.find_all(f'{table} tbody tr[id*="__row__"]'), (
                f'{path} shows the reader nothing')
        assert browser.mutating_actions() == [], (path, browser.mutating_actions())
        browser.screenshot('reader' + path.replace('/', '-'))
