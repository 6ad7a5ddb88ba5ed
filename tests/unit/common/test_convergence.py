import pytest

from migrator.common import convergence
from migrator.conductor import progress


def test_downtime_steps_start_low_and_end_at_the_maximum():
    assert convergence.downtime_steps(500, 5) == [100, 200, 300, 400, 500]
    assert convergence.downtime_steps(500, 1) == [500]
    assert convergence.downtime_steps(10, 3) == [4, 7, 10]
    assert convergence.downtime_steps(2, 10)[0] == 1


def test_completion_timeout_is_per_gib_of_data():
    assert convergence.completion_timeout(800, 2 ** 30) == 800
    assert convergence.completion_timeout(160, 128 * 2 ** 20) == 20
    assert convergence.completion_timeout(0, 2 ** 30) is None
    assert convergence.completion_timeout(800, 0) is None


def test_effective_takes_request_over_config():
    settings = convergence.effective({'bandwidth_mib': 8.0, 'post_copy': True,
                                      'auto_converge': None})
    assert settings['bandwidth_mib'] == 8 and isinstance(settings['bandwidth_mib'], int)
    assert settings['post_copy'] is True
    assert settings['auto_converge'] is False          # null takes the default
    assert settings['timeout_action'] == 'abort'
    assert convergence.requested({'instance': 'vm1', 'post_copy': False}) == {
        'post_copy': False}


def test_progress_values_percents_rate_and_eta():
    values = progress.progress_values({
        'data_total': 1000, 'data_remaining': 250, 'memory_total': 800,
        'memory_remaining': 200, 'disk_total': 200, 'disk_remaining': 50,
        'memory_bps': 100, 'disk_bps': 50, 'dirty_rate': 25, 'iteration': 3,
        'downtime_limit_ms': 200, 'elapsed_ms': 1500, 'post_copy': False})
    assert values['progress'] == 75.0
    assert values['memory_progress'] == 75.0
    assert values['disk_progress'] == 75.0
    assert values['transfer_rate'] == 150
    assert values['eta_seconds'] == 2.0          # 250 bytes at 150 - 25 bytes/s
    assert values['downtime_limit_ms'] == 200 and values['elapsed_ms'] == 1500
    assert 'post_copy' not in values


@pytest.mark.parametrize('dirty_rate', [150, 400])
def test_no_eta_while_the_guest_dirties_as_fast_as_it_is_sent(dirty_rate):
    values = progress.progress_values({'data_total': 1000, 'data_remaining': 500,
                                       'memory_bps': 150, 'dirty_rate': dirty_rate})
    assert values['progress'] == 50.0
    assert values['eta_seconds'] is None   # cleared, not left at an older estimate


CONTROLS = convergence.effective({})


@pytest.mark.parametrize('virt_type, version, setting, steps', [
    ('qemu', 7002022, 'auto', 1),          # TCG on Debian 12's QEMU: set once
    ('qemu', 0, 'auto', 1),                # TCG, version not reported yet: as old
    ('qemu', 9000000, 'auto', 10),         # TCG with the upstream fix
    ('kvm', 7002022, 'auto', 10),          # KVM's dirty log is not affected
    ('qemu', 7002022, 'always', 10),
    ('kvm', 9000000, 'never', 1),
])
def test_downtime_stepping_by_source_hypervisor(config, virt_type, version, setting, steps):
    config(live_migration_downtime_stepping=setting, group='libvirt')
    settled = convergence.for_source(CONTROLS,
                                     {'virt_type': virt_type, 'hypervisor_version': version})
    assert settled['downtime_steps'] == steps
    # Nothing else about the controls changes.
    assert {**settled, 'downtime_steps': 10} == CONTROLS


def test_no_live_controls_stay_none():
    assert convergence.for_source(None, {'virt_type': 'qemu'}) is None
